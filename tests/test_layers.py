"""The fast conv layers are exact against stock Flax (values, gradients, second order) and PyTorch."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxgan.models import layers
from jaxgan.models.errors import ModelConfigError
from jaxgan.models.fast_conv import FastConv, conv2d, tap_weight_grad
from jaxgan.models.fast_conv_transpose import FastConvTranspose


def normal(shape, seed):
    """float32 N(0, 1) from numpy: no random-number kernel to compile."""
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def assert_close(actual, expected, rtol=1e-5):
    """float32 agreement: relative, with an absolute floor scaled by the reference's magnitude."""
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * max(1.0, float(np.abs(e).max())))


def _grads(layer, params, x, c, per_example):
    """Output, first-order grads and gradient-penalty-style second-order grads, in one jit."""

    def f(p, x):
        return jnp.sum(jnp.tanh(layer.apply(p, x)) * c)

    def penalty(p, x):  # ||d f / d x||^2, differentiated again w.r.t. params and input.
        return jnp.sum(jax.grad(f, argnums=1)(p, x) ** 2)

    def per_example_penalty(p, x):  # The trainer maps the critic's penalty over single examples.
        def one(xi, ci):
            return jnp.sum(jax.grad(lambda x: jnp.sum(jnp.tanh(layer.apply(p, x[None])) * ci))(xi) ** 2)

        return jnp.sum(jax.vmap(one)(x, c))

    @jax.jit
    def all_grads(p, x):
        out = [layer.apply(p, x), jax.grad(f, argnums=(0, 1))(p, x), jax.grad(penalty, argnums=(0, 1))(p, x)]
        if per_example:
            out.append(jax.grad(per_example_penalty, argnums=(0, 1))(p, x))
        return out

    return all_grads(params, x)


def _random_params(layer, x, seed):
    """Parameters of the layer's shapes drawn with numpy (no compiled initializer needed)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(layer.init, jax.random.key(0), x)
    return jax.tree.map(lambda s: jnp.asarray(0.3 * rng.standard_normal(s.shape), s.dtype), shapes)


def _compare(stock, fast, x_shape, seed=0, per_example=True):
    x = normal(x_shape, seed)
    params = _random_params(stock, x, seed + 1)
    assert jax.tree.structure(jax.eval_shape(fast.init, jax.random.key(0), x)) == jax.tree.structure(params)
    c = normal(jax.eval_shape(stock.apply, params, x).shape, seed + 2)
    assert_close(_grads(fast, params, x, c, per_example), _grads(stock, params, x, c, per_example))


def test_fast_layers_initialise_like_stock_layers():
    """Same names, shapes and initial values from the same key: checkpoints are interchangeable."""
    x = jnp.ones((2, 8, 8, 3))
    pairs = [(nn.Conv(5, (4, 4), strides=2), FastConv(5, (4, 4), strides=2)),
             (nn.ConvTranspose(4, (4, 4), strides=(2, 2), transpose_kernel=True),
              FastConvTranspose(4, transpose_kernel=True))]
    inits = jax.jit(lambda k: [(s.init(k, x), f.init(k, x)) for s, f in pairs])(jax.random.key(1))
    for stock_vars, fast_vars in inits:
        assert jax.tree.map(jnp.shape, fast_vars) == jax.tree.map(jnp.shape, stock_vars)
        for a, b in zip(jax.tree.leaves(fast_vars), jax.tree.leaves(stock_vars), strict=True):
            np.testing.assert_array_equal(a, b)


# (layer kwargs, whether the critic uses it and so the per-example penalty path is checked)
# (layer kwargs, weight-gradient path, whether the critic uses the layer and so the per-example
# penalty path is checked). These channel counts are below TAP_MIN_CHANNELS, so 'auto' is XLA's.
CONV_CASES = [
    (dict(features=5, kernel_size=(4, 4), strides=2, padding=((1, 1), (1, 1))), "taps", True),  # DCGAN
    (dict(features=5, kernel_size=(3, 3)), "taps", True),  # ResNet, 'SAME'
    (dict(features=1, kernel_size=(4, 4), padding="VALID"), "taps", True),  # DCGAN score, 4x4 map
    (dict(features=3, kernel_size=(1, 1)), "taps", True),  # shortcuts and 1x1 heads
    (dict(features=5, kernel_size=(4, 4), strides=2, padding=((1, 1), (1, 1))), "auto", True),
    (dict(features=4, kernel_size=(3, 3), strides=2, padding="SAME"), "taps", False),  # uneven pads
    (dict(features=4, kernel_size=(3, 2), strides=(1, 2), padding=1, use_bias=False), "taps", False),
    (dict(features=4, kernel_size=(3, 2), strides=(1, 2), padding=1, use_bias=False), "xla", False),
]


@pytest.mark.parametrize("kw,weight_grad,per_example", CONV_CASES, ids=lambda v: str(v))
def test_fast_conv_matches_flax_conv(kw, weight_grad, per_example):
    shape = (3, 9, 9, 3) if kw.get("padding") == "SAME" and kw.get("strides") == 2 else (3, 8, 8, 3)
    _compare(nn.Conv(**kw), FastConv(**kw, weight_grad=weight_grad), shape, per_example=per_example)


@pytest.mark.parametrize("method,weight_grad", [("adjoint", "taps"), ("phases", "taps"), ("adjoint", "xla")])
@pytest.mark.parametrize("transpose_kernel", [True, False])
def test_fast_conv_transpose_matches_flax(method, weight_grad, transpose_kernel):
    stock = nn.ConvTranspose(6, (4, 4), strides=(2, 2), padding="SAME", transpose_kernel=transpose_kernel)
    fast = FastConvTranspose(6, transpose_kernel=transpose_kernel, method=method, weight_grad=weight_grad)
    # Generators are not differentiated per example; one input channel checks the narrow case.
    _compare(stock, fast, (2, 5, 4, 1 if transpose_kernel else 3), per_example=False)


@pytest.mark.parametrize("fast", [False, True])
def test_conv_transpose_layer_equals_pytorch(fast):
    """Our up-sampling layer is PyTorch's ConvTranspose2d(Cin, Cout, 4, stride=2, padding=1)."""
    layer = layers.conv_transpose_4x4(6, fast=fast, name="up")
    x = normal((2, 5, 4, 3), 3)
    params = {"params": {"kernel": normal((4, 4, 6, 3), 4), "bias": jnp.arange(6.0) / 10}}
    c = normal((2, 10, 8, 6), 5)
    y, vjp = jax.vjp(jax.jit(layer.apply), params, x)
    dparams, dx = vjp(c)

    t = torch.nn.ConvTranspose2d(3, 6, 4, stride=2, padding=1)
    with torch.no_grad():  # Flax [4, 4, Cout, Cin] -> torch [Cin, Cout, 4, 4].
        t.weight.copy_(torch.tensor(np.asarray(params["params"]["kernel"]).transpose(3, 2, 0, 1)))
        t.bias.copy_(torch.tensor(np.asarray(params["params"]["bias"])))
    tx = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2), requires_grad=True)
    ty = t(tx)
    ty.backward(torch.tensor(np.asarray(c).transpose(0, 3, 1, 2)))
    assert_close(y, ty.detach().numpy().transpose(0, 2, 3, 1))
    assert_close(dx, tx.grad.numpy().transpose(0, 2, 3, 1))
    assert_close(dparams["params"]["kernel"], t.weight.grad.numpy().transpose(2, 3, 1, 0))
    assert_close(dparams["params"]["bias"], t.bias.grad.numpy())


def test_tap_weight_grad_matches_direct_sum():
    """dW[a, b] = sum_{n,i,j} xpad[n, s i + a, s j + b]^T g[n, i, j], summed in numpy."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    g = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)
    pads, strides = ((1, 2), (0, 1)), (2, 2)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0))).astype(np.float64)
    want = np.zeros((3, 3, 3, 5))
    for a in range(3):
        for b in range(3):
            for i in range(4):
                for j in range(3):
                    want[a, b] += xp[:, 2 * i + a, 2 * j + b].T @ g[:, i, j].astype(np.float64)
    assert_close(tap_weight_grad(jnp.asarray(x), jnp.asarray(g), (3, 3), strides, pads), want)


def test_spectral_norm_wrapped_fast_conv_matches_stock():
    x, c = normal((3, 8, 8, 2), 6), normal((3, 4, 4, 5), 7)

    class Net(nn.Module):
        fast: bool

        @nn.compact
        def __call__(self, x, train):
            kw = dict(strides=2, padding=((1, 1), (1, 1)), name="c")
            layer = FastConv(5, (4, 4), weight_grad="taps", **kw) if self.fast else nn.Conv(5, (4, 4), **kw)
            return layers.maybe_sn(layer, x, enabled=True, train=train)

    stock, fast = Net(False), Net(True)
    v = jax.eval_shape(lambda: stock.init(jax.random.key(0), x, False))
    assert jax.eval_shape(lambda: fast.init(jax.random.key(0), x, False)) == v
    v = {"params": {"c": {"kernel": 0.3 * normal((4, 4, 2, 5), 8), "bias": normal((5,), 9)}},
         "batch_stats": {"c_sn": {"c/kernel/u": normal((1, 5), 10), "c/kernel/sigma": jnp.ones(())}}}

    def loss(net):
        def f(params, x):
            y, upd = net.apply({**v, "params": params}, x, True, mutable=["batch_stats"])
            return jnp.sum(y * c), upd
        return jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))

    assert_close(loss(fast)(v["params"], x), loss(stock)(v["params"], x))


def test_fast_layers_reject_what_they_do_not_compute():
    x = jnp.ones((1, 4, 4, 2))
    with pytest.raises(ModelConfigError, match="4x4, stride-2"):
        jax.eval_shape(FastConvTranspose(3, kernel_size=(3, 3)).init, jax.random.key(0), x)
    with pytest.raises(ModelConfigError, match="CIRCULAR"):
        jax.eval_shape(FastConv(3, (3, 3), padding="CIRCULAR").init, jax.random.key(0), x)
    with pytest.raises(ModelConfigError, match="method"):
        jax.eval_shape(FastConvTranspose(3, method="fft").init, jax.random.key(0), x)
    with pytest.raises(ModelConfigError, match="weight_grad"):
        jax.eval_shape(FastConv(3, (3, 3), weight_grad="fast").init, jax.random.key(0), x)


def test_conv2d_forward_is_lax_conv():
    x, w = normal((2, 6, 6, 3), 11), normal((3, 3, 3, 4), 12)
    want = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
        x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")))(x, w)
    got = jax.jit(lambda x, w: conv2d(x, w, (1, 1), ((1, 1), (1, 1))))(x, w)
    np.testing.assert_array_equal(got, want)


def test_conditional_batch_norm_matches_formula():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 3, 2)).astype(np.float32) * 3 + 1
    labels = np.array([0, 2, 2, 1])
    bn = layers.ConditionalBatchNorm(num_classes=3)
    gamma = rng.standard_normal((3, 2)).astype(np.float32)
    beta = rng.standard_normal((3, 2)).astype(np.float32)
    params = {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}
    stats = {"bn": {"mean": jnp.zeros(2), "var": jnp.ones(2)}}
    shapes = jax.eval_shape(functools.partial(bn.init, train=False), jax.random.key(0), x, labels)
    want_shapes = {"params": params, "batch_stats": stats}
    assert jax.tree.map(jnp.shape, shapes) == jax.tree.map(jnp.shape, want_shapes)

    @jax.jit
    def run(x, labels):
        y, upd = bn.apply({"params": params, "batch_stats": stats}, x, labels, train=True,
                          mutable=["batch_stats"])
        eval_one = bn.apply({"params": params, **upd}, x[:1], labels[:1], train=False)
        eval_all = bn.apply({"params": params, **upd}, x, labels, train=False)
        return y, upd, eval_one, eval_all

    y, upd, eval_one, eval_all = run(x, labels)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    want = (x - mean) / np.sqrt(var + 1e-5) * gamma[labels][:, None, None] + beta[labels][:, None, None]
    assert_close(y, want)
    assert_close(upd["batch_stats"]["bn"]["mean"], 0.1 * mean)  # momentum 0.9 from zeros
    # Evaluation uses the running statistics: each example on its own gives the same output.
    assert_close(eval_one, eval_all[:1])
    with pytest.raises(ModelConfigError, match="needs int labels"):
        jax.eval_shape(functools.partial(bn.apply, train=False), {"params": params, **upd}, x, None)


def test_pooling_and_upsampling_helpers():
    x = np.random.default_rng(13).standard_normal((2, 6, 4, 3)).astype(np.float32)
    want_pool = x.reshape(2, 3, 2, 2, 2, 3).mean(axis=(2, 4))
    assert_close(jax.jit(layers.avg_pool_2x2)(x), want_pool)
    np.testing.assert_array_equal(jax.jit(layers.upsample_2x)(x), x.repeat(2, axis=1).repeat(2, axis=2))


def test_projection_is_inner_product_with_class_embedding():
    h = normal((3, 2, 2, 5), 14)
    labels = jnp.array([1, 0, 1])

    class Proj(nn.Module):
        @nn.compact
        def __call__(self, h, labels):
            return layers.projection(h, labels, num_classes=2, spectral_norm=False, train=False)

    table = normal((2, 5), 15)
    out = jax.jit(Proj().apply)({"params": {"embed": {"embedding": table}}}, h, labels)
    e = np.asarray(table)[np.asarray(labels)]
    assert out.shape == (3, 2, 2)
    assert_close(out, np.einsum("bijf,bf->bij", np.asarray(h), e))


@pytest.mark.parametrize("weight_grad", ["taps", "xla"])
def test_fast_layers_inside_shard_map(weight_grad):
    """Per-replica gradients (and a per-example penalty) under shard_map, replicated weights,
    equal the same computation on the whole batch: cotangents get the mesh sum JAX's own
    transposes would insert."""
    mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    conv = FastConv(3, (4, 4), strides=2, padding=((1, 1), (1, 1)), weight_grad=weight_grad)
    up = FastConvTranspose(2, transpose_kernel=True, weight_grad=weight_grad)
    x = normal((8, 4, 4, 2), 16)
    p_up = _random_params(up, x, 17)
    p_conv = _random_params(conv, jnp.zeros((8, 8, 8, 2)), 18)

    def loss(p_up, p_conv, x):  # a tiny generator -> critic with a per-example gradient penalty
        img = jnp.tanh(up.apply(p_up, x))
        score = jnp.sum(conv.apply(p_conv, img))
        gx = jax.vmap(jax.grad(lambda im: jnp.sum(conv.apply(p_conv, im[None]) ** 2)))(img)
        return score + jnp.sum(gx ** 2)

    def local(p_up, p_conv, x):
        return jax.grad(lambda a, b: jax.lax.psum(loss(a, b, x), "data"), argnums=(0, 1))(p_up, p_conv)

    P = jax.sharding.PartitionSpec
    mapped = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(), P(), P("data")), out_specs=P()))
    want = jax.jit(jax.grad(loss, argnums=(0, 1)))(p_up, p_conv, x)
    assert_close(mapped(p_up, p_conv, x), want)
