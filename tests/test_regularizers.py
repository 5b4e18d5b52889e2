"""Regularizers against closed forms: linear and quadratic critics whose input gradients are known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import regularizers

B, H, W, C = 4, 3, 3, 2
N = 2  # side of a map-valued critic's output


def images(seed, shape=(B, H, W, C), low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def linear_critic(w):
    """D(x) = <w, x>: its input gradient is w everywhere."""
    return lambda x: jnp.einsum("bhwc,hwc->b", x, w)


def map_critic(wm):
    """An n x n map of linear scores: D(x)_ij = <wm_ij, x>; the mean score's gradient is mean_ij wm_ij."""
    return lambda x: jnp.einsum("bhwc,ijhwc->bij", x, wm)


def quadratic_critic(a):
    """D(x) = a * ||x||^2 / 2: its input gradient is a * x."""
    return lambda x: 0.5 * a * jnp.sum(jnp.square(x), axis=(1, 2, 3))


def close(actual, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=atol)


# ---- WGAN-GP ----------------------------------------------------------------

@pytest.mark.parametrize("jit", [False, True])
def test_gp_of_a_linear_critic(jit):
    w = images(0, (H, W, C))
    gp_fn = lambda r, f, k: regularizers.gradient_penalty(linear_critic(w), r, f, k)
    gp = (jax.jit(gp_fn) if jit else gp_fn)(images(1), images(2), jax.random.key(0))
    assert gp.shape == (B,)
    close(gp, np.full(B, (np.linalg.norm(w.astype(float)) - 1.0) ** 2))


def test_gp_of_a_map_valued_critic():
    wm = images(3, (N, N, H, W, C))
    gp = regularizers.gradient_penalty(map_critic(wm), images(1), images(2), jax.random.key(1),
                                       target=0.5)
    g = wm.astype(float).mean(axis=(0, 1))  # the map is reduced to its mean score first
    close(gp, np.full(B, (np.linalg.norm(g) - 0.5) ** 2))


def test_gp_norm_is_over_all_dimensions_not_per_channel():
    # Per-channel gradient norms 0.6 and 0.8: the whole gradient has norm exactly 1.
    w = np.zeros((H, W, C), np.float32)
    w[0, 0, 0], w[1, 2, 1] = 0.6, 0.8
    gp = regularizers.gradient_penalty(linear_critic(w), images(1), images(2), jax.random.key(2))
    close(gp, np.zeros(B), atol=1e-6)
    per_channel_bug = np.mean([(0.6 - 1.0) ** 2, (0.8 - 1.0) ** 2])  # = 0.1
    assert not np.allclose(np.asarray(gp), per_channel_bug, atol=1e-2)


def test_gp_interpolates_per_example():
    real, fake, key = images(4), images(5), jax.random.key(3)
    gp = regularizers.gradient_penalty(quadratic_critic(1.0), real, fake, key)
    eps = np.asarray(jax.random.uniform(key, (B, 1, 1, 1)), np.float64)  # the documented draw
    x_hat = eps * real + (1 - eps) * fake
    close(gp, (np.linalg.norm(x_hat.reshape(B, -1), axis=1) - 1.0) ** 2)
    assert len(np.unique(eps)) == B  # one epsilon per example, not one per batch


def test_gp_gradient_wrt_critic_parameters():
    """The double backward pass, against the hand-derived d/dtheta of (||grad_x D|| - 1)^2."""
    w = images(6, (H, W, C))
    real, fake, key = images(1), images(2), jax.random.key(4)
    gw = jax.grad(lambda w: regularizers.gradient_penalty(linear_critic(w), real, fake, key).mean())(w)
    norm = np.linalg.norm(w.astype(float))
    close(gw, 2 * (norm - 1) * w / norm)

    a = 1.7
    ga = jax.grad(lambda a: regularizers.gradient_penalty(quadratic_critic(a), real, fake,
                                                          key).mean())(a)
    eps = np.asarray(jax.random.uniform(key, (B, 1, 1, 1)), np.float64)
    r = np.linalg.norm((eps * real + (1 - eps) * fake).reshape(B, -1), axis=1)
    close(ga, np.mean(2 * (a * r - 1) * r))


def test_gp_of_a_flat_critic_is_finite():
    zero = np.zeros((H, W, C), np.float32)
    real, fake, key = images(1), images(2), jax.random.key(5)
    close(regularizers.gradient_penalty(linear_critic(zero), real, fake, key), np.ones(B))
    g = jax.grad(lambda w: regularizers.gradient_penalty(linear_critic(w), real, fake, key).mean())(zero)
    assert np.all(np.isfinite(g))


def test_gp_with_given_epsilon_equals_the_drawn_one():
    real, fake, key = images(4), images(5), jax.random.key(3)
    eps = jax.random.uniform(key, (B, 1, 1, 1)).reshape(B)  # the documented draw, flattened
    for critic in (quadratic_critic(1.3), map_critic(images(3, (N, N, H, W, C)))):
        close(regularizers.gradient_penalty(critic, real, fake, epsilon=eps),
              np.asarray(regularizers.gradient_penalty(critic, real, fake, key)))
    # epsilon = 1 puts x_hat on the real data, 0 on the fake.
    for e, x in ((1.0, real), (0.0, fake)):
        gp = regularizers.gradient_penalty(quadratic_critic(1.0), real, fake, epsilon=jnp.full(B, e))
        close(gp, (np.linalg.norm(x.reshape(B, -1).astype(float), axis=1) - 1.0) ** 2)


def test_gp_mistakes_raise():
    with pytest.raises(ValueError, match="either key .* or epsilon"):
        regularizers.gradient_penalty(quadratic_critic(1.0), images(1), images(2))
    with pytest.raises(ValueError, match="either key .* or epsilon"):
        regularizers.gradient_penalty(quadratic_critic(1.0), images(1), images(2), jax.random.key(0),
                                      epsilon=jnp.ones(B))
    with pytest.raises(ValueError, match=r"epsilon has shape \(2,\); it must be \[B\]"):
        regularizers.gradient_penalty(quadratic_critic(1.0), images(1), images(2), epsilon=jnp.ones(2))
    w = images(0, (H, W, C))
    with pytest.raises(ValueError, match="same shape"):
        regularizers.gradient_penalty(linear_critic(w), images(1), images(2)[:2], jax.random.key(0))
    with pytest.raises(ValueError, match="one score"):
        regularizers.gradient_penalty(lambda x: jnp.sum(x), images(1), images(2), jax.random.key(0))


# ---- DRAGAN -----------------------------------------------------------------

def test_dragan_of_a_linear_critic():
    w = images(7, (H, W, C))
    gp = jax.jit(lambda r, k: regularizers.dragan_penalty(linear_critic(w), r, k))(
        images(1), jax.random.key(6))
    close(gp, np.full(B, (np.linalg.norm(w.astype(float)) - 1.0) ** 2))


def test_dragan_points_follow_the_documented_draws():
    real, key, c = images(8), jax.random.key(7), 0.5
    gp = regularizers.dragan_penalty(quadratic_critic(1.0), real, key, perturb_scale=c)
    k_delta, k_alpha = jax.random.split(key)
    u = np.asarray(jax.random.uniform(k_delta, real.shape), np.float64)
    alpha = np.asarray(jax.random.uniform(k_alpha, (B, 1, 1, 1)), np.float64)
    x_hat = real + alpha * c * real.astype(np.float64).std() * u
    close(gp, (np.linalg.norm(x_hat.reshape(B, -1), axis=1) - 1.0) ** 2)
    # No perturbation: the penalty at the data itself.
    gp0 = regularizers.dragan_penalty(quadratic_critic(1.0), real, key, perturb_scale=0.0)
    close(gp0, (np.linalg.norm(real.reshape(B, -1).astype(float), axis=1) - 1.0) ** 2)


def test_dragan_perturbation_range_and_mean():
    """Reads each perturbed point back from the penalty: x <= x_hat <= x + c std(x), E = c std / 4."""
    n, c = 4096, 0.5
    x = np.random.default_rng(9).uniform(1.0, 2.0, (n, 1)).astype(np.float32)
    critic = lambda v: 0.5 * jnp.sum(jnp.square(v), axis=1)  # gradient = x_hat > 0
    x_hat = np.sqrt(np.asarray(regularizers.dragan_penalty(critic, x, jax.random.key(8),
                                                           target=0.0, perturb_scale=c), np.float64))
    frac = (x_hat - x[:, 0]) / (c * x.astype(np.float64).std())
    assert frac.min() >= -1e-5 and frac.max() <= 1.0 + 1e-5
    # alpha * u with alpha, u ~ U[0, 1] independent: mean 1/4, std 0.22 (standard error 0.0034).
    assert abs(frac.mean() - 0.25) < 0.015


# ---- R1 ---------------------------------------------------------------------

def test_r1_closed_forms_and_gradient():
    w = images(10, (H, W, C))
    real = images(11)
    close(jax.jit(lambda r: regularizers.r1_penalty(linear_critic(w), r))(real),
          np.full(B, np.sum(w.astype(float) ** 2)))
    wm = images(12, (N, N, H, W, C))
    close(regularizers.r1_penalty(map_critic(wm), real),
          np.full(B, np.sum(wm.astype(float).mean(axis=(0, 1)) ** 2)))
    close(regularizers.r1_penalty(quadratic_critic(2.0), real),
          4.0 * np.sum(real.astype(float).reshape(B, -1) ** 2, axis=1))
    gw = jax.grad(lambda w: regularizers.r1_penalty(linear_critic(w), real).mean())(w)
    close(gw, 2 * w.astype(float))


# ---- weight clipping --------------------------------------------------------

def test_clip_weights():
    rng = np.random.default_rng(13)
    params = {"dense": {"kernel": rng.standard_normal((5, 4)).astype(np.float32),
                        "bias": (0.01 * rng.standard_normal(4)).astype(np.float32)},
              "count": np.array([7, -7], np.int32)}
    c = 0.05
    for clipped in (regularizers.clip_weights(params, c),
                    jax.jit(regularizers.clip_weights)(params, c)):
        for name in ("kernel", "bias"):
            got, orig = np.asarray(clipped["dense"][name]), params["dense"][name]
            assert np.all(got >= -np.float32(c)) and np.all(got <= np.float32(c))
            inside = np.abs(orig) <= c
            np.testing.assert_array_equal(got[inside], orig[inside])
            np.testing.assert_array_equal(got[~inside], np.sign(orig[~inside]) * np.float32(c))
        np.testing.assert_array_equal(clipped["count"], params["count"])
    with pytest.raises(ValueError, match="positive"):
        regularizers.clip_weights(params, 0.0)


# ---- feature matching and historical averaging ------------------------------

def test_feature_matching():
    real, fake = images(14, (6, 3, 3, 4)), images(15, (5, 3, 3, 4))  # batch sizes may differ
    diff = real.astype(float).mean(axis=0) - fake.astype(float).mean(axis=0)
    close(jax.jit(regularizers.feature_matching)(real, fake), np.sum(diff ** 2))
    g = jax.grad(regularizers.feature_matching, argnums=1)(real, fake)
    close(g, np.broadcast_to(-2 * diff / fake.shape[0], fake.shape))
    with pytest.raises(ValueError, match="feature shape"):
        regularizers.feature_matching(real, fake[..., :2])


def test_historical_average_and_its_update():
    rng = np.random.default_rng(16)
    history = [{"a": rng.standard_normal((3, 2)).astype(np.float32),
                "b": rng.standard_normal(4).astype(np.float32)} for _ in range(5)]
    avg = jax.tree.map(np.zeros_like, history[0])
    update = jax.jit(regularizers.update_historical_average)
    for t, p in enumerate(history):
        avg = update(avg, p, t)
    mean = {k: np.mean([h[k].astype(float) for h in history], axis=0) for k in history[0]}
    for k in mean:
        close(avg[k], mean[k])

    theta = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in history[0].items()}
    close(regularizers.historical_average(theta, avg),
          sum(np.sum((theta[k].astype(float) - mean[k]) ** 2) for k in mean))
    g_theta, g_avg = jax.grad(regularizers.historical_average, argnums=(0, 1))(theta, avg)
    for k in mean:
        close(g_theta[k], 2 * (theta[k].astype(float) - np.asarray(avg[k], float)))
        np.testing.assert_array_equal(g_avg[k], 0.0)  # the average is a constant target
    with pytest.raises(ValueError, match="tree structures"):
        regularizers.historical_average(theta, {"a": avg["a"]})


# ---- drift ------------------------------------------------------------------

def test_drift_penalty_value_and_gradient():
    scores = images(11, (B, N, N))  # map scores: reduced to their mean per example first
    means = scores.astype(float).mean(axis=(1, 2))
    close(regularizers.drift_penalty(scores), means ** 2)
    close(regularizers.drift_penalty(means.astype(np.float32)), means ** 2)
    # d/dY_ij of mean_b (mean_ij Y)^2 = 2 * mean_b / (B * N * N)
    g = jax.grad(lambda y: regularizers.drift_penalty(y).mean())(scores)
    close(g, np.broadcast_to((2 * means / (B * N * N))[:, None, None], scores.shape))
