"""Precision/recall and density/coverage: against plain numpy loops, known values, and evaluate.

The reference below computes every distance in float64 with numpy (full matrices
for the radii, k-th smallest by ``np.partition``; memberships by double loops over
``np.linalg.norm``), sharing nothing with the blocked float32 JAX code under test.
"""

import numpy as np
import pytest
from test_metrics_evaluate import PARAMS, images, numpy_features, tiny_extractor

from jaxgan import evaluate
from jaxgan.metrics import coverage, density_coverage, precision_recall, sources


def knn_radii(points, k):
    """Distance from each point to its k-th nearest other point (float64, full matrix)."""
    d = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)  # Leaves each point out of its own neighbours.
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def reference(real, fake, k_pr, k_dc):
    """All four metrics from their definitions, by double loops; also the smallest relative gap
    between a distance and the radius it is compared with (float32 agrees beyond rounding)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    n, m = len(real), len(fake)
    r_pr, f_pr, r_dc = knn_radii(real, k_pr), knn_radii(fake, k_pr), knn_radii(real, k_dc)
    in_real_manifold = np.zeros(m, bool)
    in_fake_manifold = np.zeros(n, bool)
    balls_holding = np.zeros(m, int)  # Real k_dc-balls around each fake point.
    ball_has_fake = np.zeros(n, bool)
    gaps = []
    for i in range(n):
        for j in range(m):
            dist = np.linalg.norm(real[i] - fake[j])
            in_real_manifold[j] |= dist <= r_pr[i]
            in_fake_manifold[i] |= dist <= f_pr[j]
            balls_holding[j] += dist <= r_dc[i]
            ball_has_fake[i] |= dist <= r_dc[i]
            gaps += [abs(dist - r) / r for r in (r_pr[i], f_pr[j], r_dc[i])]
    values = {"precision": in_real_manifold.mean(), "recall": in_fake_manifold.mean(),
              "density": balls_holding.sum() / (k_dc * m), "coverage": ball_has_fake.mean()}
    return values, min(gaps)


def both(real, fake, k_pr, k_dc, **kw):
    return {**precision_recall(real, fake, k=k_pr, **kw),
            **density_coverage(real, fake, k=k_dc, **kw)}


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_matches_numpy_loops(k):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(40, 5))
    fake = rng.normal(size=(37, 5)) * 1.3 + 0.4  # Overlapping, not identical: values in (0, 1).
    expected, gap = reference(real, fake, k, k)
    assert gap > 1e-5  # No distance within float32 rounding (~1e-7) of a radius.
    got = both(real, fake, k, k)
    assert got == pytest.approx(expected, abs=1e-12)
    assert 0 < got["precision"] < 1  # Not a trivial case.
    # Block size changes memory, not results (7 leaves a padded last block; 1 is one row a block).
    for batch in (1, 7):
        assert both(real, fake, k, k, batch=batch) == got


def test_float32_distances_are_translation_invariant():
    # Features far from the origin (as Inception's, all positive): the expansion
    # |a|^2 + |b|^2 - 2ab would lose every digit at |a|^2 ~ 8e6 without centring.
    rng = np.random.default_rng(11)
    real = rng.normal(size=(30, 8))
    fake = rng.normal(size=(33, 8)) + 0.3
    expected, gap = reference(real, fake, 3, 5)
    assert gap > 1e-5
    assert both(real + 1000.0, fake + 1000.0, 3, 5) == pytest.approx(expected, abs=1e-12)
    # Inception-sized features (d = 2048), float32 input.
    real = rng.gamma(1.0, 0.4, size=(24, 2048)).astype(np.float32)
    fake = rng.gamma(1.0, 0.4, size=(20, 2048)).astype(np.float32)
    expected, gap = reference(real, fake, 3, 5)
    assert gap > 1e-5
    assert both(real, fake, 3, 5) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("batch", [7, 1024])
def test_identical_sets(k, batch):
    # Each real point is a fake one, so every fake lies in (at least) its own real ball and
    # every real ball holds a fake: precision = recall = coverage = 1. Density: the closed ball
    # B(x_i, r_i) holds x_i itself and its k nearest neighbours, the k-th exactly on the
    # boundary (distinct random points: no other ties), so sum_j sum_i 1[...] = N (k + 1) and
    # density = N (k + 1) / (k N) = (k + 1) / k. (With open balls it would be k / k = 1.)
    x = np.random.default_rng(5).normal(size=(40, 6)).astype(np.float32)
    got = both(x, x.copy(), k, k, batch=batch)
    assert got == {"precision": 1.0, "recall": 1.0, "density": (k + 1) / k, "coverage": 1.0}


def test_far_apart_sets_score_zero():
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(20, 3)), rng.normal(size=(25, 3)) + 100.0
    # Radii are a few units; the sets are ~170 apart, so no point is in the other side's balls.
    assert both(real, fake, 3, 5) == {"precision": 0.0, "recall": 0.0, "density": 0.0,
                                      "coverage": 0.0}


def test_hand_computed_1d():
    real = np.array([[0.0], [1.0], [3.0], [7.0]])
    fake = np.array([[0.5], [2.0], [12.0], [13.0]])
    # k = 1. Real radii (nearest other real): 0 -> 1, 1 -> 1, 3 -> 2, 7 -> 4, so the balls are
    # [-1, 1], [0, 2], [1, 5], [3, 11]. Fake 0.5 is in the first two; fake 2 in [0, 2] (on its
    # boundary: closed balls count it) and [1, 5]; 12 and 13 in none.
    #   precision = 2/4; density = (2 + 2 + 0 + 0) / (1 * 4) = 1; coverage: [3, 11] holds no
    #   fake, so 3/4.
    # Fake radii: 0.5 -> 1.5, 2 -> 1.5, 12 -> 1, 13 -> 1: balls [-1, 2], [0.5, 3.5], [11, 13],
    # [12, 14]; reals 0, 1, 3 are inside, 7 is not: recall = 3/4.
    assert both(real, fake, 1, 1) == {"precision": 0.5, "recall": 0.75, "density": 1.0,
                                      "coverage": 0.75}
    # k = 2. Real radii (2nd nearest other real): 0 -> 3, 1 -> 2, 3 -> 3, 7 -> 6: balls [-3, 3],
    # [-1, 3], [0, 6], [1, 13]. Fake 0.5 is in the first three (6.5 from 7 > 6), fake 2 in all
    # four, 12 in [1, 13], 13 on its boundary:
    #   precision = 4/4; density = (3 + 4 + 1 + 1) / (2 * 4) = 9/8; coverage = 4/4.
    # Fake radii: 0.5 -> 11.5, 2 -> 10, 12 -> 10, 13 -> 11: [-11, 12] holds every real, recall = 1.
    assert both(real, fake, 2, 2) == {"precision": 1.0, "recall": 1.0, "density": 1.125,
                                      "coverage": 1.0}


def test_hand_computed_2d():
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    fake = np.array([[0.5, 0.5], [3.0, 3.0]])
    # k = 1: every corner's nearest other corner is 1 away. The centre is sqrt(1/2) ~ 0.71 from
    # each corner (inside all 4 balls); (3, 3) is sqrt(8) ~ 2.83 from (1, 1) (in none).
    #   precision = 1/2; density = (4 + 0) / (1 * 2) = 2; coverage = 4/4.
    # The two fakes are each other's nearest, sqrt(12.5) ~ 3.54 apart, and every corner is
    # within 0.71 of the centre: recall = 1.
    assert both(square, fake, 1, 1) == {"precision": 0.5, "recall": 1.0, "density": 2.0,
                                        "coverage": 1.0}
    # k = 3: the 3rd nearest other corner is the diagonal one, sqrt(2) ~ 1.41 away; the centre
    # is still in all 4 balls, (3, 3) in none: density = 4 / (3 * 2) = 2/3, coverage = 1.
    assert density_coverage(square, fake, k=3) == pytest.approx(
        {"density": 2 / 3, "coverage": 1.0}, abs=1e-15)


def test_bad_inputs_fail_before_computing(monkeypatch):
    def no_distances(*args, **kwargs):
        raise AssertionError("distances computed before the inputs were checked")

    monkeypatch.setattr(coverage, "_knn_radii2", no_distances)
    x = np.zeros((10, 4))
    cases = [
        (lambda: precision_recall(np.zeros(10), x), "2-D"),
        (lambda: density_coverage(x, np.zeros((2, 3, 4))), "fake features must be a 2-D"),
        (lambda: precision_recall(x, np.zeros((10, 5))), "4-dim, fake ones 5-dim"),
        (lambda: precision_recall(x[:3], x, k=3), "real features have 3 rows; k=3 needs at least"),
        (lambda: precision_recall(x, x[:2], k=2), "fake features have 2 rows"),
        (lambda: density_coverage(x, x[:0]), "fake features have 0 rows"),
        (lambda: density_coverage(x, x, k=0), "k=0 must be an integer >= 1"),
        (lambda: density_coverage(x, x, k=2.5), "must be an integer"),
        (lambda: precision_recall(x, x, k=True), "must be an integer"),
        (lambda: precision_recall(x, x, batch=0), "batch=0"),
        (lambda: density_coverage(np.full((10, 4), np.nan), x), "NaN or infinity"),
        (lambda: density_coverage(x, np.array([["a"] * 4] * 3)), "real numbers"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    # density/coverage needs no fake radii: one fake point is enough. Reals on a diagonal,
    # (i, i, i, i): consecutive ones 2 apart, so the 2nd-NN radii are 4 at the end, 2 inside.
    # (-0.5, ...) is 1 from the first (inside its ball) and 3 from the second (outside).
    monkeypatch.undo()
    line = x + np.arange(10.0)[:, None]
    assert density_coverage(line, x[:1] - 0.5, k=2) == {"density": 0.5, "coverage": 0.1}


def test_evaluate_pr_dc_on_injected_features():
    fake_imgs, real_imgs = images(24, 21), images(30, 22)
    fake = sources.Input("fake.npz", images=fake_imgs)
    real = sources.Input("real/", images=real_imgs)
    inception = tiny_extractor()
    clf_params = {"scale": np.float32(1.0), "w": PARAMS["w"] * 2}
    classifier = tiny_extractor(name="tiny_classifier", params=clf_params)

    out = evaluate.evaluate(fake, real, ["fid", "pr", "dc"], extractors={"inception": inception})
    expected, gap = reference(numpy_features(real_imgs, PARAMS)[0],
                              numpy_features(fake_imgs, PARAMS)[0], 3, 5)
    assert gap > 1e-5
    for name in ("precision", "recall", "density", "coverage"):
        assert out[f"{name}24"] == pytest.approx(expected[name], abs=1e-12)
    assert out["fid24"] == evaluate.evaluate(fake, real, ["fid"],
                                             extractors={"inception": inception})["fid24"]
    assert out["protocol"]["pr"].endswith("k=3, closed Euclidean k-NN balls in tiny feat "
                                          "features, 30 real / 24 fake")
    assert "k=5" in out["protocol"]["dc"] and "30 real / 24 fake" in out["protocol"]["dc"]

    # The classifier's features instead, with other k; no Inception is built (none injected).
    out = evaluate.evaluate(fake, real, ["classifier_fid", "pr", "dc"],
                            extractors={"classifier": classifier}, coverage_features="classifier",
                            pr_k=2, dc_k=4)
    expected, gap = reference(numpy_features(real_imgs, clf_params)[0],
                              numpy_features(fake_imgs, clf_params)[0], 2, 4)
    assert gap > 1e-5
    for name in ("precision", "recall", "density", "coverage"):
        assert out[f"{name}24"] == pytest.approx(expected[name], abs=1e-12)
    alone = evaluate.evaluate(fake, real, ["classifier_fid"], extractors={"classifier": classifier})
    assert {k: v for k, v in out.items() if k.startswith("class")} == {
        k: v for k, v in alone.items() if k.startswith("class")}
    assert "k=2" in out["protocol"]["pr"] and "tiny_classifier feat" in out["protocol"]["pr"]
    assert "inception" not in out["protocol"]


def test_evaluate_refuses_pr_dc_requests_before_features(tmp_path):
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError("features computed before the request was checked")

    ext = {"inception": Untouchable(), "classifier": Untouchable()}
    fake = sources.Input("fake.npz", images=images(6, 1))
    real = sources.Input("r", images=images(5, 2))
    stats = sources.Input("stats.npz", mu=np.zeros(16), sigma=np.eye(16), meta={"num_images": 50})
    for metric in ("pr", "dc"):
        with pytest.raises(evaluate.EvaluateError, match="not statistics \\(stats.npz\\)"):
            evaluate.evaluate(fake, stats, [metric], extractors=ext)
        with pytest.raises(evaluate.EvaluateError, match="not statistics \\(stats.npz\\)"):
            evaluate.evaluate(stats, real, [metric], extractors=ext)
        with pytest.raises(evaluate.EvaluateError, match="pass --real"):
            evaluate.evaluate(fake, None, [metric], extractors=ext)
        with pytest.raises(evaluate.EvaluateError, match="choose from"):
            evaluate.evaluate(fake, real, [metric], extractors=ext, coverage_features="vgg")
    with pytest.raises(evaluate.EvaluateError, match="--pr_k=0 must be >= 1"):
        evaluate.evaluate(fake, real, ["pr"], extractors=ext, pr_k=0)
    with pytest.raises(evaluate.EvaluateError, match="at least 6 real images, r has 5"):
        evaluate.evaluate(fake, real, ["dc"], extractors=ext, dc_k=5)
    with pytest.raises(evaluate.EvaluateError, match="at least 6 fake images, r has 5"):
        evaluate.evaluate(real, fake, ["pr"], extractors=ext, pr_k=5)
