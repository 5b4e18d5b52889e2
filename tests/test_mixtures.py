"""Gaussian-mixture samplers and the mode metrics, against closed forms and hand-made samples."""

import itertools
import math

import jax
import numpy as np
import pytest

from jaxgan.data import mixtures


def test_centers():
    ring = mixtures.ring_centers()
    assert ring.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0, rtol=1e-6)
    np.testing.assert_allclose(ring[2], [0.0, 2.0], atol=1e-6)  # 90 degrees.
    grid = mixtures.grid_centers()
    want = {(x, y) for x, y in itertools.product((-4, -2, 0, 2, 4), repeat=2)}
    assert {tuple(map(int, c)) for c in grid} == want and grid.shape == (25, 2)


@pytest.mark.parametrize("which", ["ring", "grid"])
def test_samples_follow_the_mixture(which):
    n = 40_000
    if which == "ring":
        x = np.asarray(jax.jit(mixtures.sample_ring, static_argnums=1)(jax.random.key(1), n))
        centers, std = mixtures.ring_centers(), mixtures.RING_STD
    else:
        x = np.asarray(mixtures.sample_grid(jax.random.key(1), n))
        centers, std = mixtures.grid_centers(), mixtures.GRID_STD
    assert x.shape == (n, 2) and x.dtype == np.float32
    k = len(centers)
    nearest = ((x[:, None] - centers[None]) ** 2).sum(-1).argmin(1)
    freq = np.bincount(nearest, minlength=k) / n
    tol = 5 * math.sqrt((1 / k) * (1 - 1 / k) / n)  # 5 binomial standard errors.
    np.testing.assert_allclose(freq, 1 / k, atol=tol)
    resid = x - centers[nearest]
    np.testing.assert_allclose(resid.std(axis=0), std, rtol=0.03)
    # |resid| / std is Rayleigh, so P(within 3 std) = 1 - exp(-9/2).
    p = 1 - math.exp(-4.5)
    hq = mixtures.high_quality_fraction(x, centers, std)
    assert abs(hq - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert mixtures.modes_covered(x, centers, std) == k


def test_metrics_on_hand_made_ring_samples():
    c, s = mixtures.ring_centers(), mixtures.RING_STD
    samples = np.array([
        c[0] + [2.99 * s, 0.0],  # just inside mode 0
        c[0] + [0.0, -1.5 * s],
        c[0],
        c[5] + [2.0 * s, 2.0 * s],  # distance 2.83 std: inside mode 5
        c[3] + [3.01 * s, 0.0],  # just outside mode 3
        [0.0, 0.0],  # the centre of the ring: no mode
    ])
    assert mixtures.mode_counts(samples, c, s).tolist() == [3, 0, 0, 0, 0, 1, 0, 0]
    assert mixtures.modes_covered(samples, c, s) == 2
    assert mixtures.modes_covered(samples, c, s, min_count=2) == 1
    assert mixtures.high_quality_fraction(samples, c, s) == pytest.approx(4 / 6)
    assert mixtures.ring_metrics(samples) == {"modes": 2, "high_quality": pytest.approx(4 / 6)}
    assert mixtures.high_quality_fraction(samples, c, s, num_std=4.0) == pytest.approx(5 / 6)


def test_metrics_on_a_collapsed_grid_generator():
    c = mixtures.grid_centers()
    collapsed = np.repeat(c[12:13], 100, axis=0)  # All mass on the centre mode.
    assert mixtures.grid_metrics(collapsed) == {"modes": 1, "high_quality": 1.0}
    halfway = (c[0] + c[1]) / 2  # Between two modes: 1 unit = 20 std from both.
    m = mixtures.grid_metrics(np.concatenate([collapsed, np.repeat(halfway[None], 100, 0)]))
    assert m == {"modes": 1, "high_quality": 0.5}
    assert mixtures.high_quality_fraction(np.zeros((0, 2)), c, 0.05) == 0.0
