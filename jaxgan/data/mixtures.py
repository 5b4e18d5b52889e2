"""2-D Gaussian mixtures for mode-collapse experiments, and the two metrics reported on them.

The ring of 8 (Metz et al., "Unrolled Generative Adversarial Networks", ICLR
2017; Srivastava et al., "VEEGAN", NeurIPS 2017) puts 8 equal Gaussians at
angles 2*pi*k/8 on a circle of radius 2 with std 0.02. (PacGAN's released code
uses radius 1 and std 0.01: the same shape, scaled by 1/2.) The grid of 25
(VEEGAN; Lin et al., "PacGAN", NeurIPS 2018) puts 25 equal Gaussians at
{-4, -2, 0, 2, 4}^2 with std 0.05.

These are points, not images: samplers plus metrics, not an ArraySource.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

RING_RADIUS, RING_STD = 2.0, 0.02
GRID_SPACING, GRID_STD = 2.0, 0.05


def ring_centers(num_modes: int = 8, radius: float = RING_RADIUS) -> np.ndarray:
    """float32 ``[num_modes, 2]``: ``radius * (cos(2 pi k / K), sin(2 pi k / K))``."""
    angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
    return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)


def grid_centers(side: int = 5, spacing: float = GRID_SPACING) -> np.ndarray:
    """float32 ``[side**2, 2]``: a centered square grid, ``{-4, -2, 0, 2, 4}^2`` by default."""
    axis = (np.arange(side) - (side - 1) / 2.0) * spacing
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)


@functools.partial(jax.jit, static_argnums=1)
def sample_mixture(key: jax.Array, n: int, centers, std: float) -> jax.Array:
    """``n`` points from the equal-weight mixture of isotropic Gaussians at ``centers``.

    Args:
      key: a PRNG key.
      n: number of points.
      centers: ``[K, 2]`` mode means.
      std: the standard deviation of every component, per coordinate.

    Returns:
      float32 ``[n, 2]``.
    """
    k_mode, k_noise = jax.random.split(key)
    centers = jnp.asarray(centers, jnp.float32)
    mode = jax.random.randint(k_mode, (n,), 0, centers.shape[0])
    return centers[mode] + std * jax.random.normal(k_noise, (n, centers.shape[1]), jnp.float32)


def sample_ring(key: jax.Array, n: int, *, num_modes: int = 8, radius: float = RING_RADIUS,
                std: float = RING_STD) -> jax.Array:
    """``n`` points from the ring of 8 Gaussians (Unrolled GAN, VEEGAN): float32 ``[n, 2]``.

    >>> x = sample_ring(jax.random.key(0), 1000)
    >>> x.shape, bool(jnp.all(jnp.abs(jnp.linalg.norm(x, axis=1) - 2.0) < 0.1))
    ((1000, 2), True)
    """
    return sample_mixture(key, n, ring_centers(num_modes, radius), std)


def sample_grid(key: jax.Array, n: int, *, side: int = 5, spacing: float = GRID_SPACING,
                std: float = GRID_STD) -> jax.Array:
    """``n`` points from the 5x5 grid of Gaussians (VEEGAN, PacGAN): float32 ``[n, 2]``.

    >>> x = sample_grid(jax.random.key(0), 1000)
    >>> x.shape, bool(jnp.all(jnp.abs(x) < 4.5))
    ((1000, 2), True)
    """
    return sample_mixture(key, n, grid_centers(side, spacing), std)


def mode_counts(samples, centers, std: float, *, num_std: float = 3.0) -> np.ndarray:
    """How many samples each mode registers: samples whose nearest mode it is, within ``num_std``.

    A sample registers with its nearest center when its distance to it is
    below ``num_std * std`` (for isotropic components this is the
    Mahalanobis distance below ``num_std``), as in PacGAN's released
    evaluation code; samples further away register nowhere.

    Args:
      samples: ``[n, 2]`` generated points.
      centers: ``[K, 2]`` mode means.
      std: the components' standard deviation.
      num_std: the radius, in standard deviations.

    Returns:
      int64 ``[K]``.

    >>> c = ring_centers()
    >>> mode_counts(np.concatenate([c[:2], c[:1] + 0.07]), c, 0.02).tolist()
    [1, 1, 0, 0, 0, 0, 0, 0]
    """
    x = np.asarray(samples, np.float64)
    c = np.asarray(centers, np.float64)
    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(axis=1)
    close = d2[np.arange(len(x)), nearest] < (num_std * std) ** 2
    return np.bincount(nearest[close], minlength=len(c))


def modes_covered(samples, centers, std: float, *, num_std: float = 3.0,
                  min_count: int = 1) -> int:
    """Number of modes with at least ``min_count`` high-quality samples.

    The "modes" column of VEEGAN's and PacGAN's 2D-ring and 2D-grid tables,
    computed as PacGAN's code computes it: a mode counts as covered when at
    least one sample (``min_count=1``) registers with it (see
    :func:`mode_counts`); PacGAN evaluates 2,500 samples. Raise
    ``min_count`` for a stricter notion.

    Reference: Lin, Khetan, Fanti, Oh, "PacGAN: The power of two samples in
    generative adversarial networks", NeurIPS 2018; Srivastava et al.,
    "VEEGAN", NeurIPS 2017.

    >>> modes_covered(ring_centers()[:3], ring_centers(), 0.02)
    3
    """
    return int((mode_counts(samples, centers, std, num_std=num_std) >= min_count).sum())


def high_quality_fraction(samples, centers, std: float, *, num_std: float = 3.0) -> float:
    """Share of samples within ``num_std`` standard deviations of some mode.

    The "high quality samples" column of VEEGAN and PacGAN (reported there
    as a percentage, here as a fraction in [0, 1]).

    Reference: Srivastava et al., "VEEGAN", NeurIPS 2017; Lin et al.,
    "PacGAN", NeurIPS 2018.

    >>> high_quality_fraction(np.array([[2.0, 0.0], [0.0, 0.0]]), ring_centers(), 0.02)
    0.5
    """
    n = len(np.asarray(samples))
    return float(mode_counts(samples, centers, std, num_std=num_std).sum() / n) if n else 0.0


def ring_metrics(samples, *, num_std: float = 3.0, min_count: int = 1) -> dict[str, float]:
    """``{"modes": covered of 8, "high_quality": fraction}`` for the default ring."""
    c = ring_centers()
    return {"modes": modes_covered(samples, c, RING_STD, num_std=num_std, min_count=min_count),
            "high_quality": high_quality_fraction(samples, c, RING_STD, num_std=num_std)}


def grid_metrics(samples, *, num_std: float = 3.0, min_count: int = 1) -> dict[str, float]:
    """``{"modes": covered of 25, "high_quality": fraction}`` for the default grid."""
    c = grid_centers()
    return {"modes": modes_covered(samples, c, GRID_STD, num_std=num_std, min_count=min_count),
            "high_quality": high_quality_fraction(samples, c, GRID_STD, num_std=num_std)}
