"""FID, KID, IS and feature statistics against independent numpy / scipy / mpmath computations."""

import itertools

import mpmath
import numpy as np
import pytest
import scipy.linalg

from jaxgan.metrics import fid, kid, stats
from jaxgan.metrics.inception_score import inception_score


def random_cov(rng, d, n):
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    return x.mean(0), np.cov(x, rowvar=False), x


def scipy_fid(mu1, s1, mu2, s2):
    """The TTUR / pytorch-fid formula, written out independently."""
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_scipy_on_well_conditioned_statistics():
    rng = np.random.default_rng(0)
    mu1, s1, _ = random_cov(rng, 48, 400)
    mu2, s2, _ = random_cov(rng, 48, 400)
    expected = scipy_fid(mu1, s1, mu2, s2)
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    assert fid.frechet_distance_sqrtm(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_fid_of_identical_statistics_is_zero():
    rng = np.random.default_rng(1)
    mu, s, x = random_cov(rng, 64, 500)
    assert abs(fid.frechet_distance(mu, s, mu, s)) < 1e-10 * np.trace(s)
    # Singular (fewer samples than dimensions), as FID at small sample sizes is.
    mu, s, _ = random_cov(rng, 64, 20)
    assert abs(fid.frechet_distance(mu, s, mu, s)) < 1e-10 * np.trace(s)


def test_trace_sqrt_of_commuting_near_singular_covariances_has_closed_form():
    """S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T: tr sqrt(S1 S2) = sum sqrt(a b)."""
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(32, 32)))
    # Eigenvalues down to 1e-6 and 1e-5 of the largest; products down to ~1e-11.
    a = np.logspace(0, -6, 32)
    b = rng.permutation(np.logspace(1, -5, 32))
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    # Rounding S1, S2 to float64 moves an eigenvalue lambda of S1 S2 by ~eps * 10, its root by
    # ~eps * 10 / (2 sqrt(lambda)) <= 4e-10: 32 of them stay below 1e-8 of the sum.
    assert fid.trace_sqrt_product(s1, s2) == pytest.approx(np.sum(np.sqrt(a * b)), rel=1e-8)
    # Exactly singular, with different null spaces: the zero products add nothing.
    a[::3], b[1::4] = 0.0, 0.0
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    assert fid.trace_sqrt_product(s1, s2) == pytest.approx(np.sum(np.sqrt(a * b)), rel=1e-8)


def integer_cov(rng, rows, d, scale):
    """X^T X with small-integer X: computed exactly in float64, so of rank exactly ``rows``."""
    x = rng.integers(-4, 5, size=(rows, d)).astype(np.float64)
    return (x.T @ x) * scale


def mp_trace_sqrt(s1, s2):
    """tr sqrt(S1 S2) from the eigenvalues of S1 S2 at 60 digits (exact float64 inputs)."""
    with mpmath.workdps(60):
        ev = mpmath.eig(mpmath.matrix(s1.tolist()) * mpmath.matrix(s2.tolist()), left=False,
                        right=False)
        return float(sum(mpmath.sqrt(max(mpmath.re(e), 0)) for e in ev))


def test_trace_sqrt_of_singular_covariances_against_mpmath():
    """Rank 7 and 10 covariances in 24 dims (non-commuting), exact in float64."""
    rng = np.random.default_rng(3)
    s1, s2 = integer_cov(rng, 7, 24, 0.25), integer_cov(rng, 10, 24, 0.125)
    exact = mp_trace_sqrt(s1, s2)
    assert fid.trace_sqrt_product(s1, s2) == pytest.approx(exact, rel=1e-10)
    mu = np.zeros(24)
    full = np.trace(s1) + np.trace(s2) - 2 * exact
    assert fid.frechet_distance(mu, s1, mu, s2) == pytest.approx(full, rel=1e-10)


def test_trace_sqrt_of_nearly_singular_covariances_against_mpmath():
    """As above plus 2^-27 I: 14 eigenvalues of S1 S2 near 1e-7 of the largest, still resolved."""
    rng = np.random.default_rng(4)
    s1 = integer_cov(rng, 7, 24, 0.25) + 2.0 ** -27 * np.eye(24)
    s2 = integer_cov(rng, 10, 24, 0.125) + 2.0 ** -27 * np.eye(24)
    exact = mp_trace_sqrt(s1, s2)
    # eigh's absolute error eps * ||M|| (~1e-11) on a smallest eigenvalue near 1e-7 moves its root
    # by ~2e-8; twenty such roots against a sum of ~70: well under 1e-8 relative.
    assert fid.trace_sqrt_product(s1, s2) == pytest.approx(exact, rel=1e-8)


def test_fid_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="different networks"):
        fid.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_feature_stats_streaming_equals_numpy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1003, 16)) * rng.uniform(0.01, 10, 16) + 1e4  # Large mean, small spread.
    s = stats.FeatureStats()
    for chunk in np.array_split(x, [1, 64, 500, 999]):
        s.update(chunk)
    assert s.n == 1003
    np.testing.assert_allclose(s.mean, x.mean(0), rtol=1e-14)
    # The inputs themselves carry eps * 1e4 ~ 2e-12 of rounding: compare at 1e-11 of the scale.
    ref = np.cov(x, rowvar=False)
    np.testing.assert_allclose(s.cov, ref, rtol=0, atol=1e-11 * np.abs(ref).max())


def test_stats_npz_round_trip_and_pytorch_fid_files(tmp_path):
    rng = np.random.default_rng(5)
    mu, sigma, _ = random_cov(rng, 8, 50)
    path = str(tmp_path / "ref.npz")
    stats.save_stats(path, mu, sigma, num_images=50, protocol={"name": "x", "weights": "w"})
    m2, s2, meta = stats.load_stats(path, dim=8)
    np.testing.assert_array_equal(m2, mu)
    np.testing.assert_array_equal(s2, sigma)
    assert meta == {"num_images": 50, "protocol": {"name": "x", "weights": "w"}}
    with np.load(path) as z:  # pytorch-fid reads exactly these two keys.
        np.testing.assert_array_equal(z["mu"], mu)
        np.testing.assert_array_equal(z["sigma"], sigma)
    np.savez(tmp_path / "pytorch_fid.npz", mu=mu, sigma=sigma)  # As pytorch-fid writes them.
    assert stats.load_stats(str(tmp_path / "pytorch_fid.npz"))[2] == {}
    assert stats.is_stats_file(str(tmp_path / "pytorch_fid.npz"))
    with pytest.raises(stats.StatsFileError, match="another network"):
        stats.load_stats(path, dim=2048)
    np.savez(tmp_path / "images.npz", images=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(stats.StatsFileError, match="not the statistics"):
        stats.load_stats(str(tmp_path / "images.npz"))
    with pytest.raises(FileNotFoundError, match="save_real_stats"):
        stats.load_stats(str(tmp_path / "missing.npz"))


def brute_force_mmd2(x, y):
    """Unbiased MMD^2 by explicit loops over pairs (Gretton et al. 2012, eq. 3)."""
    d = x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    kxy = sum(k(a, b) for a in x for b in y) / (m * n)
    return kxx + kyy - 2 * kxy


def test_kid_matches_brute_force():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(25, 6)), rng.normal(size=(25, 6)) * 1.5 + 0.3
    expected = brute_force_mmd2(x, y)
    assert kid.mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-12)
    # One subset of every sample: the subset order cannot change the statistic.
    mean, std = kid.kernel_inception_distance(x, y, num_subsets=3, subset_size=25, seed=1)
    assert mean == pytest.approx(expected, rel=1e-12) and std < 1e-12
    # Smaller subsets: the mean over subsets of brute-force values on the same draws.
    m = 10
    rng_draws = np.random.default_rng(7)
    draws = [(rng_draws.choice(25, m, replace=False), rng_draws.choice(25, m, replace=False))
             for _ in range(4)]
    values = [brute_force_mmd2(x[i], y[j]) for i, j in draws]
    mean, std = kid.kernel_inception_distance(x, y, num_subsets=4, subset_size=m, seed=7)
    assert mean == pytest.approx(np.mean(values), rel=1e-12)
    assert std == pytest.approx(np.std(values), rel=1e-9)


def test_inception_score_limits_and_reference_formula():
    mean, std = inception_score(np.zeros((50, 1008)))
    assert mean == pytest.approx(1.0, abs=1e-12) and std < 1e-12
    rng = np.random.default_rng(8)
    const = np.tile(rng.normal(size=(1, 10)), (40, 1))  # Every image predicts the same.
    mean, std = inception_score(const, splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12) and std < 1e-12
    # Balanced confident one-hot predictions over K classes in every split: IS = K.
    k = 10
    onehot = np.eye(k)[np.tile(np.arange(k), 10)] * 200.0
    mean, std = inception_score(onehot, splits=10)
    assert mean == pytest.approx(k, rel=1e-12) and std < 1e-9
    # Random logits: StyleGAN's / OpenAI's formula on probabilities, written out.
    logits = rng.normal(size=(103, 12)) * 3
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(5):
        part = p[i * 103 // 5:(i + 1) * 103 // 5]
        kl = part * (np.log(part) - np.log(np.mean(part, axis=0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    mean, std = inception_score(logits, splits=5)
    assert mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert std == pytest.approx(np.std(scores), rel=1e-9)
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.zeros((5, 3)), splits=10)
