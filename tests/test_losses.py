"""The adversarial, energy and auxiliary losses against float64 numpy formulas and hand-derived gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from jaxgan import losses

B, N = 8, 4  # batch, side of a critic's score map


def sp(x):
    """softplus in float64, stable at +-100."""
    return np.logaddexp(0.0, x)


def sig(x):
    return special.expit(x)


def scores(seed, shape):
    """Random logits with some saturated entries at +-100, in float32."""
    rng = np.random.default_rng(seed)
    x = 3.0 * rng.standard_normal(shape)
    flat = x.reshape(-1)
    flat[:: 5] = 100.0
    flat[2:: 7] = -100.0
    return x.astype(np.float32)


def ex_mean(x):
    return x.reshape(x.shape[0], -1).mean(axis=1)


# (d_fn, real-term(r), fake-term(f), d real-term/dr, d fake-term/df), all per score, float64.
T = 0.9
D_CASES = {
    "minimax": (losses.minimax_d, lambda r: sp(-r), sp, lambda r: sig(r) - 1.0, sig),
    "minimax_smoothed": (functools.partial(losses.minimax_d, real_label=T),
                         lambda r: T * sp(-r) + (1 - T) * sp(r), sp, lambda r: sig(r) - T, sig),
    "lsgan": (losses.lsgan_d, lambda r: (r - 1) ** 2, lambda f: f ** 2,
              lambda r: 2 * (r - 1), lambda f: 2 * f),
    "wasserstein": (losses.wasserstein_d, lambda r: -r, lambda f: f,
                    lambda r: -np.ones_like(r), lambda f: np.ones_like(f)),
    "hinge": (losses.hinge_d, lambda r: np.maximum(0, 1 - r), lambda f: np.maximum(0, 1 + f),
              lambda r: -(r < 1).astype(float), lambda f: (f > -1).astype(float)),
}
# (g_fn, term(f), d term/df)
G_CASES = {
    "minimax": (losses.minimax_g, lambda f: -sp(f), lambda f: -sig(f)),
    "nonsaturating": (losses.nonsaturating_g, lambda f: sp(-f), lambda f: sig(f) - 1.0),
    "lsgan": (losses.lsgan_g, lambda f: (f - 1) ** 2, lambda f: 2 * (f - 1)),
    "wasserstein": (losses.wasserstein_g, lambda f: -f, lambda f: -np.ones_like(f)),
    "hinge": (losses.hinge_g, lambda f: -f, lambda f: -np.ones_like(f)),
}
SHAPES = [(B,), (B, N, N)]
TRANSFORMS = {"eager": lambda f: f, "jit": jax.jit}


def close(actual, expected, rtol=2e-6, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=atol)


def close_mean(actual, *terms):
    """Per-example means of float32 terms against float64, within the float32 summation bound.

    A float32 mean of ``n`` terms is off by at most about ``n * eps * mean|term|``: with
    entries of +-100 beside entries near 1, that bound, not the result's size, sets the
    tolerance.
    """
    expected = sum(ex_mean(t) for t in terms)
    n = terms[0][0].size
    bound = n * np.finfo(np.float32).eps * sum(ex_mean(np.abs(t)) for t in terms)
    err = np.abs(np.asarray(actual, np.float64) - expected)
    assert np.all(err <= bound + 1e-6 * np.abs(expected) + 1e-7), (err, bound)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", D_CASES)
def test_discriminator_loss_value_and_gradient(name, shape, transform):
    fn, real_term, fake_term, d_real, d_fake = D_CASES[name]
    r, f = scores(0, shape), scores(1, shape)
    r64, f64 = r.astype(np.float64), f.astype(np.float64)
    out = TRANSFORMS[transform](fn)(r, f)
    assert out.shape == (B,) and out.dtype == jnp.float32
    close_mean(out, real_term(r64), fake_term(f64))

    gr, gf = TRANSFORMS[transform](jax.grad(lambda a, b: fn(a, b).mean(), argnums=(0, 1)))(r, f)
    assert np.all(np.isfinite(gr)) and np.all(np.isfinite(gf))
    count = r.size  # d(mean over batch of per-example means)/d(score) = 1 / (B * cells)
    close(gr, d_real(r64) / count, rtol=1e-5, atol=1e-9)
    close(gf, d_fake(f64) / count, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", G_CASES)
def test_generator_loss_value_and_gradient(name, shape, transform):
    fn, term, d_term = G_CASES[name]
    f = scores(2, shape)
    f64 = f.astype(np.float64)
    out = TRANSFORMS[transform](fn)(f)
    assert out.shape == (B,)
    close_mean(out, term(f64))
    g = TRANSFORMS[transform](jax.grad(lambda a: fn(a).mean()))(f)
    assert np.all(np.isfinite(g))
    close(g, d_term(f64) / f.size, rtol=1e-5, atol=1e-9)


def test_saturated_logits_are_exact():
    """At +-100 the naive log(sigmoid) is -inf or 0 * inf; the stable forms are exact."""
    big = jnp.array([100.0, -100.0])
    close(losses.minimax_d(big, -big), [0.0, 200.0])
    close(losses.nonsaturating_g(big), [0.0, 100.0])
    close(losses.minimax_g(big), [-100.0, 0.0])
    close(jax.grad(lambda f: losses.nonsaturating_g(f).sum())(big), [0.0, -1.0])


def test_real_and_fake_may_have_different_map_shapes():
    r, f = scores(3, (B,)), scores(4, (B, N, N))
    close(losses.hinge_d(r, f), np.maximum(0, 1 - r) + ex_mean(np.maximum(0, 1 + f.astype(float))))


def test_low_precision_scores_are_promoted():
    f = jnp.array([[0.5, -3.0]], jnp.bfloat16)
    out = losses.nonsaturating_g(f)
    assert out.dtype == jnp.float32
    close(out, [np.mean(sp(-np.array([0.5, -3.0])))])


def test_registry_pairs_and_signatures():
    assert {"minimax", "nonsaturating", "lsgan", "wasserstein", "hinge"} <= set(losses.LOSSES)
    assert losses.get_loss("nonsaturating").d is losses.minimax_d
    assert losses.get_loss("minimax") == (losses.minimax_d, losses.minimax_g)
    r, f = scores(5, (B, N, N)), scores(6, (B, N, N))
    for name in losses.LOSSES:
        d_fn, g_fn = losses.get_loss(name)
        assert d_fn(r, f).shape == (B,) and g_fn(f).shape == (B,)


def test_unknown_loss_names_the_choices():
    with pytest.raises(losses.UnknownLossError) as err:
        losses.get_loss("wgan")
    assert isinstance(err.value, ValueError)
    for name in losses.LOSSES:
        assert repr(name) in str(err.value)
    with pytest.raises(ValueError, match="valid choices"):
        losses.get_loss(None)


def test_shape_and_argument_mistakes_raise():
    with pytest.raises(ValueError, match="batch size"):
        losses.hinge_d(jnp.zeros(4), jnp.zeros(5))
    with pytest.raises(ValueError, match="scalar"):
        losses.wasserstein_g(jnp.float32(1.0))
    with pytest.raises(ValueError, match="real_label"):
        losses.minimax_d(jnp.zeros(2), jnp.zeros(2), real_label=1.5)


# ---- EBGAN ------------------------------------------------------------------

def test_reconstruction_energy():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((B, N, N, 3)).astype(np.float32)
    rec = rng.standard_normal((B, N, N, 3)).astype(np.float32)
    x64, rec64 = x.astype(float), rec.astype(float)
    close(losses.reconstruction_energy(x, rec, power=1), ex_mean(np.abs(x64 - rec64)))
    close(losses.reconstruction_energy(x, rec, power=2), ex_mean((x64 - rec64) ** 2), rtol=1e-5)
    g = jax.grad(lambda r: losses.reconstruction_energy(x, r, power=2).mean())(rec)
    close(g, 2 * (rec64 - x64) / x.size, rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match="same shape"):
        losses.reconstruction_energy(x, rec[:, :2], power=2)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_ebgan(transform):
    rng = np.random.default_rng(8)
    real = rng.uniform(0, 2, (B, N, N)).astype(np.float32)  # per-pixel energies
    fake = rng.uniform(0, 2, (B, N, N)).astype(np.float32)
    m = 1.0
    d = TRANSFORMS[transform](functools.partial(losses.ebgan_d, margin=m))
    er, ef = ex_mean(real.astype(float)), ex_mean(fake.astype(float))
    assert np.any(ef < m) and np.any(ef > m)  # both sides of the hinge are exercised
    close(d(real, fake), er + np.maximum(0, m - ef))
    close(losses.ebgan_g(fake), ef)
    gr, gf = jax.grad(lambda a, b: d(a, b).mean(), argnums=(0, 1))(real, fake)
    close(gr, np.full(real.shape, 1.0 / real.size), rtol=1e-6, atol=0)
    close(gf, np.broadcast_to(-(ef < m).astype(float)[:, None, None] / real.size, fake.shape), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="margin"):
        losses.ebgan_d(real, fake, margin=0.0)


def test_pullaway_term_value_and_gradient():
    rng = np.random.default_rng(9)
    s = rng.standard_normal((6, 5)).astype(np.float32)
    s64 = s.astype(float)
    n = s.shape[0]
    norms = np.linalg.norm(s64, axis=1)
    u = s64 / norms[:, None]
    c = u @ u.T
    expected = sum(c[i, j] ** 2 for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    close(losses.pullaway_term(s), expected)
    # d/ds_i = 4 / (N (N-1) ||s_i||) * sum_{j != i} c_ij (u_j - c_ij u_i)
    grad = np.zeros_like(s64)
    for i in range(n):
        for j in range(n):
            if j != i:
                grad[i] += c[i, j] * (u[j] - c[i, j] * u[i])
        grad[i] *= 4.0 / (n * (n - 1) * norms[i])
    close(jax.grad(losses.pullaway_term)(s), grad, rtol=1e-4, atol=1e-7)
    # An all-zero embedding counts as orthogonal and keeps gradients finite.
    z = s.copy()
    z[0] = 0
    assert np.all(np.isfinite(jax.grad(losses.pullaway_term)(z)))
    with pytest.raises(ValueError, match="at least 2"):
        losses.pullaway_term(s[:1])


# ---- BEGAN ------------------------------------------------------------------

def test_began_losses_and_gradients():
    rng = np.random.default_rng(10)
    real = rng.uniform(0, 1, (B, N, N)).astype(np.float32)
    fake = rng.uniform(0, 1, (B, N, N)).astype(np.float32)
    k = 0.3
    er, ef = ex_mean(real.astype(float)), ex_mean(fake.astype(float))
    close(losses.began_d(real, fake, k=k), er - k * ef)
    close(losses.began_g(fake), ef)
    gr, gf, gk = jax.grad(lambda a, b, k: losses.began_d(a, b, k=k).mean(), argnums=(0, 1, 2))(
        real, fake, jnp.float32(k))
    close(gr, np.full(real.shape, 1.0 / real.size), rtol=1e-6, atol=0)
    close(gf, np.full(fake.shape, -k / fake.size), rtol=1e-6, atol=0)
    assert gk == 0.0  # k is a controller state, not trained by gradient


def test_began_k_controller_and_convergence():
    rng = np.random.default_rng(11)
    real = rng.uniform(0, 1, (B,)).astype(np.float32)
    fake = rng.uniform(0, 1, (B,)).astype(np.float32)
    gamma, lam = 0.5, 0.01
    mr, mf = real.astype(float).mean(), fake.astype(float).mean()
    step = jax.jit(functools.partial(losses.began_update_k, gamma=gamma, lambda_k=lam))
    close(step(0.4, real, fake), 0.4 + lam * (gamma * mr - mf))
    close(losses.began_update_k(0.0, real, 10 * fake, gamma=gamma, lambda_k=1.0), 0.0, atol=0)
    close(losses.began_update_k(1.0, 10 * real, fake, gamma=gamma, lambda_k=1.0), 1.0, atol=0)
    # Unclipped (Lucic et al.'s code): k goes below 0.
    close(losses.began_update_k(0.0, real, 10 * fake, gamma=gamma, lambda_k=1.0, clip=False),
          gamma * mr - 10 * mf)
    close(losses.began_convergence(real, fake, gamma=gamma), mr + abs(gamma * mr - mf))
    with pytest.raises(ValueError, match="gamma"):
        losses.began_update_k(0.0, real, fake, gamma=1.5, lambda_k=0.001)


# ---- AC-GAN and InfoGAN -----------------------------------------------------

@pytest.mark.parametrize("transform", TRANSFORMS)
def test_auxiliary_classifier(transform):
    rng = np.random.default_rng(12)
    k = 5
    logits = (3 * rng.standard_normal((B, k))).astype(np.float32)
    logits[0, 1], logits[1, 3] = 100.0, -100.0
    labels = rng.integers(0, k, B)
    labels[1] = 3
    l64 = logits.astype(float)
    expected = special.logsumexp(l64, axis=1) - l64[np.arange(B), labels]
    fn = TRANSFORMS[transform](losses.auxiliary_classifier)
    close(fn(logits, labels), expected, rtol=1e-6, atol=1e-5)
    one_hot = np.eye(k, dtype=np.float32)[labels]
    close(fn(logits, one_hot), expected, rtol=1e-6, atol=1e-5)
    g = jax.grad(lambda a: fn(a, labels).mean())(logits)
    close(g, (special.softmax(l64, axis=1) - np.eye(k)[labels]) / B, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        losses.auxiliary_classifier(logits, np.full(B, 5))


def test_infogan_categorical_and_gaussian_bound():
    rng = np.random.default_rng(13)
    k, dim = 10, 3
    logits = (2 * rng.standard_normal((B, k))).astype(np.float32)
    cat = rng.integers(0, k, B)
    mean = rng.standard_normal((B, dim)).astype(np.float32)
    log_std = (0.3 * rng.standard_normal((B, dim))).astype(np.float32)
    codes = rng.uniform(-1, 1, (B, dim)).astype(np.float32)
    l64 = logits.astype(float)
    cat_ref = l64[np.arange(B), cat] - special.logsumexp(l64, axis=1) + np.log(k)
    gauss = stats.norm.logpdf(codes.astype(float), mean.astype(float), np.exp(log_std.astype(float)))
    cont_ref = gauss.sum(axis=1) + dim * np.log(2.0)  # H(U(-1, 1)) = log 2 per dimension

    mi = losses.infogan_mutual_information
    close(mi(categorical_logits=logits, categorical_codes=cat), cat_ref, rtol=1e-5, atol=1e-5)
    close(mi(continuous_mean=mean, continuous_codes=codes, continuous_log_std=log_std), cont_ref,
          rtol=1e-5, atol=1e-5)
    both = jax.jit(mi)(categorical_logits=logits, categorical_codes=cat, continuous_mean=mean,
                       continuous_codes=codes, continuous_log_std=log_std)
    close(both, cat_ref + cont_ref, rtol=1e-5, atol=1e-5)
    # Unit std and a normal prior: H(N(0, 1)) = log(2 pi e) / 2 per dimension.
    unit_ref = (stats.norm.logpdf(codes.astype(float), mean.astype(float)).sum(axis=1)
                + dim * 0.5 * np.log(2 * np.pi * np.e))
    close(mi(continuous_mean=mean, continuous_codes=codes, continuous_prior="normal"), unit_ref,
          rtol=1e-5, atol=1e-5)
    # Gradient of the bound w.r.t. Q's mean: (c - mu) / sigma^2, per dimension.
    g = jax.grad(lambda m: mi(continuous_mean=m, continuous_codes=codes,
                              continuous_log_std=log_std).mean())(mean)
    close(g, (codes - mean).astype(float) / np.exp(2 * log_std.astype(float)) / B, rtol=1e-5,
          atol=1e-7)
    # The bound never exceeds H(c) for a categorical code.
    assert np.all(np.asarray(mi(categorical_logits=logits, categorical_codes=cat)) <= np.log(k) + 1e-6)


def test_infogan_argument_mistakes():
    with pytest.raises(ValueError, match="needs codes"):
        losses.infogan_mutual_information()
    with pytest.raises(ValueError, match="both"):
        losses.infogan_mutual_information(categorical_logits=jnp.zeros((2, 3)))
    with pytest.raises(losses.UnknownLossError, match="'uniform', 'normal'"):
        losses.infogan_mutual_information(continuous_mean=jnp.zeros((2, 1)),
                                          continuous_codes=jnp.zeros((2, 1)),
                                          continuous_prior="laplace")
