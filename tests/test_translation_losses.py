"""CycleGAN's cycle-consistency and identity losses against numpy and the hand-derived gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses

B, H, W, C = 3, 4, 5, 2
TRANSFORMS = {"eager": lambda f: f, "jit": jax.jit}
LOSSES = {"cycle_consistency": losses.cycle_consistency, "identity_loss": losses.identity_loss}


def images(seed, shape=(B, H, W, C)):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def apart(seed):
    """A pair of image batches whose every difference is at least 0.05 away from a tie at 0."""
    a = images(seed)
    step = np.random.default_rng(seed + 100).uniform(0.05, 0.5, a.shape).astype(np.float32)
    sign = np.where(np.random.default_rng(seed + 200).random(a.shape) < 0.5, -1.0, 1.0)
    return a, (a + sign * step).astype(np.float32)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("name", LOSSES)
def test_value_against_numpy(name, transform):
    fn = TRANSFORMS[transform](LOSSES[name])
    x, rec = images(0), images(1)
    out = fn(x, rec)
    assert out.shape == (B,) and out.dtype == jnp.float32
    expected = np.abs(x.astype(np.float64) - rec.astype(np.float64)).reshape(B, -1).mean(axis=1)
    np.testing.assert_allclose(np.asarray(out, np.float64), expected, rtol=1e-6, atol=1e-7)
    # Symmetric in its two arguments, zero on identical images.
    np.testing.assert_allclose(fn(rec, x), out, rtol=1e-6)
    np.testing.assert_array_equal(fn(x, x), np.zeros(B))


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("name", LOSSES)
def test_gradient_is_sign_over_count(name, transform):
    """d mean_b loss_b / d rec = sign(rec - x) / (B * d), and minus that for x, away from ties."""
    x, rec = apart(2)
    grad = TRANSFORMS[transform](
        jax.grad(lambda a, b: LOSSES[name](a, b).mean(), argnums=(0, 1)))
    gx, grec = grad(x, rec)
    n = x.size  # B examples of d = H * W * C values each.
    expected_x = np.sign(x.astype(np.float64) - rec.astype(np.float64)) / n
    assert np.all(expected_x != 0)
    np.testing.assert_allclose(gx, expected_x, rtol=1e-6, atol=0)
    np.testing.assert_allclose(grec, -expected_x, rtol=1e-6, atol=0)
    # Per example: the gradient of loss_b alone is sign / d on example b and 0 elsewhere.
    g0 = jax.grad(lambda b: LOSSES[name](x, b)[0])(rec)
    np.testing.assert_allclose(g0[0], -expected_x[0] * B, rtol=1e-6, atol=0)
    assert not np.any(g0[1:])


def test_any_rank_and_low_precision():
    x, rec = images(3, (B, 6)), images(4, (B, 6))
    expected = np.abs(x - rec).mean(axis=1)
    np.testing.assert_allclose(losses.cycle_consistency(x, rec), expected, rtol=1e-6)
    out = losses.identity_loss(jnp.asarray(x, jnp.bfloat16), jnp.asarray(rec, jnp.bfloat16))
    assert out.dtype == jnp.float32  # Promoted: the sum of many bfloat16 terms loses digits.
    np.testing.assert_allclose(out, expected, rtol=2e-2)


@pytest.mark.parametrize("name", LOSSES)
def test_mistakes_raise(name):
    with pytest.raises(ValueError, match="same shape"):
        LOSSES[name](images(0), images(1)[..., :1])
    with pytest.raises(ValueError, match="scalar"):
        LOSSES[name](jnp.float32(1.0), jnp.float32(0.0))
