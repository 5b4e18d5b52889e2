"""The Local Gradient Amplifier: forward values, and the exact gradient -A/(B*n*n) everywhere it runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxgan import losses

# Powers of two: dividing by B*n*n is then exact in float32, so gradients compare bit for bit.
B, N = 8, 4


def amplifier(y, mode):
    """The amplifier A of each mode, in numpy (independent of the library's code)."""
    return {"lga": np.minimum(y, 1.0),
            "zero": np.minimum(y, 0.0),
            "sign_preserving": np.maximum(1.0, 1.0 - y)}[mode]


def score_map(seed=0, lead=(B,)):
    """A critic map with cells on every side of 0 and 1, including +-100."""
    rng = np.random.default_rng(seed)
    y = (2.0 * rng.standard_normal(lead + (N, N))).astype(np.float32)
    flat = y.reshape(-1)
    flat[:4] = [-100.0, -0.5, 0.5, 100.0]
    return y


def expected_grad(y, mode):
    a = amplifier(y, mode).astype(np.float32)
    return -(a / np.float32(B * N * N))


def g_mean(y, mode):
    return losses.lga_g(y, mode).mean()


def test_modes():
    assert losses.LGA_MODES == ("lga", "zero", "sign_preserving")


@pytest.mark.parametrize("mode", losses.LGA_MODES)
def test_forward_values(mode):
    y = score_map()
    y64 = y.astype(np.float64)
    np.testing.assert_allclose(losses.lga(y, mode), y64 * amplifier(y64, mode), rtol=1e-6)
    out = losses.lga_g(y, mode)
    assert out.shape == (B,)
    np.testing.assert_allclose(out, -(y64 * amplifier(y64, mode)).mean(axis=(1, 2)), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("mode", losses.LGA_MODES)
def test_gradient_exact_eager_and_jit(mode):
    y = score_map()
    want = expected_grad(y, mode)
    np.testing.assert_array_equal(jax.grad(g_mean)(y, mode), want)
    np.testing.assert_array_equal(jax.jit(jax.grad(g_mean), static_argnums=1)(y, mode), want)


@pytest.mark.parametrize("mode", losses.LGA_MODES)
def test_gradient_exact_under_vmap(mode):
    y = score_map(1, lead=(3, B))  # three independent [B, n, n] maps
    got = jax.vmap(jax.grad(g_mean), in_axes=(0, None))(y, mode)
    np.testing.assert_array_equal(got, expected_grad(y, mode))


@pytest.mark.parametrize("mode", losses.LGA_MODES)
def test_gradient_exact_inside_shard_map(mode):
    assert jax.device_count() == 4, "conftest.py provides 4 fake CPU devices"
    mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    y = score_map(2)
    want = expected_grad(y, mode)

    # The per-example loss mapped over the mesh, differentiated from outside.
    per_example = jax.shard_map(lambda u: losses.lga_g(u, mode), mesh=mesh,
                                in_specs=P("data"), out_specs=P("data"))
    outside = jax.jit(jax.grad(lambda u: per_example(u).mean()))(y)
    np.testing.assert_array_equal(outside, want)

    # The trainer's pattern: each replica differentiates the pmean of its local mean.
    def local(u):
        return jax.grad(lambda v: jax.lax.pmean(losses.lga_g(v, mode).mean(), "data"))(u)

    inside = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=P("data"), out_specs=P("data")))(y)
    np.testing.assert_array_equal(inside, want)


def test_amplifier_is_held_constant():
    """The backward pass is A, not the product rule's derivative of Y * min(Y, 1) (2Y below 1)."""
    y = jnp.array([-2.0, 0.25, 0.5, 3.0])
    custom = jax.grad(lambda v: losses.lga(v).sum())(y)
    product_rule = jax.grad(lambda v: (v * jnp.minimum(v, 1.0)).sum())(y)
    np.testing.assert_array_equal(custom, [-2.0, 0.25, 0.5, 1.0])
    np.testing.assert_array_equal(product_rule, [-4.0, 0.5, 1.0, 1.0])


def test_sign_of_each_mode_against_the_plain_hinge_gradient():
    """The ambiguity the docstring names, pinned: the literal rule flips the sign at Y < 0."""
    y = score_map(3)
    plain = np.asarray(jax.grad(lambda u: losses.hinge_g(u).mean())(y))
    assert np.all(plain < 0)  # every cell pushed towards "more real"
    literal = np.asarray(jax.grad(g_mean)(y, "lga"))
    assert np.all(literal[y < 0] > 0)  # pushed towards "more fake": the opposite sign
    assert np.all(literal[y > 0] < 0)
    np.testing.assert_array_equal(literal[y >= 1], plain[y >= 1])
    zero = np.asarray(jax.grad(g_mean)(y, "zero"))
    assert np.all(zero[y < 0] > 0) and np.all(zero[y >= 0] == 0)
    keep = np.asarray(jax.grad(g_mean)(y, "sign_preserving"))
    assert np.all(keep < 0)  # never flipped
    np.testing.assert_array_equal(keep[y >= 0], plain[y >= 0])  # real-looking cells: plain
    assert np.all(keep[y < 0] < plain[y < 0])  # fake-looking cells: amplified
    # ... by 1 + |Y|, growing with how fake the cell looks.
    np.testing.assert_allclose(keep[y < 0] / plain[y < 0], 1.0 - y[y < 0], rtol=1e-6)


def test_finite_at_large_scores():
    y = jnp.array([[[-100.0, 100.0], [-1e4, 1e4]]])
    for mode in losses.LGA_MODES:
        assert np.all(np.isfinite(losses.lga_g(y, mode)))
        assert np.all(np.isfinite(jax.grad(g_mean)(y, mode)))


@pytest.mark.parametrize("bad", ["none", "LGA", "", None])
def test_unknown_mode_names_the_valid_ones(bad):
    for fn in (losses.lga, losses.lga_g):
        with pytest.raises(losses.UnknownLossError) as err:
            fn(jnp.zeros((2, N, N)), bad)
        assert isinstance(err.value, ValueError)
        for mode in losses.LGA_MODES:
            assert repr(mode) in str(err.value)
