"""Minibatch discrimination, minibatch standard deviation and virtual batch norm: values and
gradients against independent computations, their batch (in)dependence, device-count
independence through the engine, the reference batch in checkpoints, and bad settings."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan import parallel
from jaxgan.config import ConfigError
from jaxgan.engine import checkpoint
from jaxgan.models import ModelConfigError, infogan_arch, minibatch, mlp, vbn
from jaxgan.parallel import DATA_AXIS
from jaxgan.systems import build_system
from device_checks import assert_four_devices_equal_one, with_sgd
from test_conditional_systems import BATCH, _batch, _config

RNG = np.random.default_rng(0)


def _close_grads(f, g, *args):
    got = jax.grad(f, argnums=tuple(range(len(args))))(*args)
    want = jax.grad(g, argnums=tuple(range(len(args))))(*args)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


# ---- minibatch discrimination ------------------------------------------------------------

def _mbd_loops(f, t, kernels, dim):
    """o(x_i)_b = sum_j exp(-sum_c |M_ibc - M_jbc|), one pair at a time."""
    m = [jnp.reshape(f[i] @ t, (kernels, dim)) for i in range(f.shape[0])]
    rows = []
    for i in range(f.shape[0]):
        rows.append(jnp.stack([sum(jnp.exp(-jnp.sum(jnp.abs(m[i][b] - m[j][b])))
                                   for j in range(f.shape[0])) for b in range(kernels)]))
    return jnp.concatenate([f, jnp.stack(rows)], -1)


def test_minibatch_discrimination_matches_the_pairwise_sum():
    f = jnp.asarray(RNG.standard_normal((5, 4)), jnp.float32)
    layer = minibatch.MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
    params = layer.init(jax.random.key(0), f)
    t = jnp.asarray(RNG.standard_normal((4, 6)), jnp.float32) * 0.5  # O(1) distances.
    params = {"params": {"T": t}}
    np.testing.assert_allclose(layer.apply(params, f), _mbd_loops(f, t, 3, 2), rtol=1e-5)
    _close_grads(lambda f_, t_: jnp.sum(jnp.sin(layer.apply({"params": {"T": t_}}, f_))),
                 lambda f_, t_: jnp.sum(jnp.sin(_mbd_loops(f_, t_, 3, 2))), f, t)


def test_minibatch_discrimination_sees_the_global_batch_across_devices():
    f = jnp.asarray(RNG.standard_normal((8, 4)), jnp.float32)
    t = {"params": {"T": jnp.asarray(RNG.standard_normal((4, 6)), jnp.float32) * 0.5}}
    whole = minibatch.MinibatchDiscrimination(3, 2).apply(t, f)
    mesh = parallel.make_mesh(jax.devices()[:4])
    layer = minibatch.MinibatchDiscrimination(3, 2, axis_name=DATA_AXIS)
    split = jax.shard_map(lambda x: layer.apply(t, x), mesh=mesh,
                          in_specs=jax.sharding.PartitionSpec(DATA_AXIS),
                          out_specs=jax.sharding.PartitionSpec(DATA_AXIS))(f)
    np.testing.assert_allclose(split, whole, rtol=1e-5)


# ---- minibatch standard deviation --------------------------------------------------------

def _mbstd_numpy(h, group):
    h = np.asarray(h, np.float64)
    out = []
    for start in range(0, len(h), group):
        g = h[start:start + group]
        std = np.sqrt(((g - g.mean(0)) ** 2).mean(0) + 1e-8).mean()
        out += [np.concatenate([x, np.full(x.shape[:-1] + (1,), std)], -1) for x in g]
    return np.stack(out)


def test_minibatch_stddev_matches_numpy_and_its_gradient_an_independent_form():
    h = jnp.asarray(RNG.standard_normal((8, 3, 3, 5)), jnp.float32)
    np.testing.assert_allclose(minibatch.minibatch_stddev(h, 4), _mbstd_numpy(h, 4), rtol=1e-5)

    def direct(x):
        groups = [x[i:i + 4] for i in (0, 4)]
        stds = [jnp.mean(jnp.sqrt(jnp.var(g, axis=0) + 1e-8)) for g in groups]
        col = jnp.concatenate([jnp.full((4, 3, 3, 1), s) for s in stds])
        return jnp.concatenate([x, col], -1)

    _close_grads(lambda x: jnp.sum(jnp.cos(minibatch.minibatch_stddev(x, 4))),
                 lambda x: jnp.sum(jnp.cos(direct(x))), h)
    with pytest.raises(ModelConfigError, match="holds 8: make it a multiple of "
                                               "model.minibatch_std=3"):
        minibatch.minibatch_stddev(h, 3)


# ---- virtual batch norm ------------------------------------------------------------------

def _vbn_numpy(x, n_ref, scale, bias, eps=1e-5):
    x = np.asarray(x, np.float64)
    ref, own = x[:n_ref], x[n_ref:]
    axes = tuple(range(x.ndim - 1))
    mu_r, s_r = ref.mean(axes), (ref ** 2).mean(axes)
    out = [(r - mu_r) / np.sqrt(s_r - mu_r ** 2 + eps) for r in ref]
    for e in own:
        pos = tuple(range(e.ndim - 1))
        mu = e.mean(pos) / (n_ref + 1) + mu_r * n_ref / (n_ref + 1)
        s = (e ** 2).mean(pos) / (n_ref + 1) + s_r * n_ref / (n_ref + 1)
        out.append((e - mu) / np.sqrt(s - mu ** 2 + eps))
    return np.stack(out) * scale + bias


@pytest.mark.parametrize("shape", [(7, 6), (7, 4, 4, 3)])
def test_virtual_batch_norm_matches_numpy_and_its_gradient_an_independent_form(shape):
    x = jnp.asarray(RNG.standard_normal(shape) + 0.5, jnp.float32)
    c = shape[-1]
    scale = jnp.asarray(RNG.uniform(0.5, 1.5, c), jnp.float32)
    bias = jnp.asarray(RNG.standard_normal(c), jnp.float32)
    layer = vbn.VirtualBatchNorm(reference=4)
    apply = lambda x_, s_, b_: layer.apply({"params": {"scale": s_, "bias": b_}}, x_)
    np.testing.assert_allclose(apply(x, scale, bias), _vbn_numpy(x, 4, scale, bias),
                               rtol=1e-4, atol=1e-5)

    def direct(x_, s_, b_):
        pos = tuple(range(1, x_.ndim - 1))
        every = tuple(range(x_.ndim - 1))
        ref = x_[:4]
        mu_r, s_r = jnp.mean(ref, every), jnp.mean(ref ** 2, every)
        rows = [(ref - mu_r) / jnp.sqrt(s_r - mu_r ** 2 + 1e-5)]
        for e in x_[4:]:
            e = e[None]
            mu = (jnp.mean(e, pos, keepdims=True) + 4 * mu_r) / 5
            s = (jnp.mean(e ** 2, pos, keepdims=True) + 4 * s_r) / 5
            rows.append((e - mu) / jnp.sqrt(s - mu ** 2 + 1e-5))
        return jnp.concatenate(rows) * s_ + b_

    _close_grads(lambda *a: jnp.sum(jnp.tanh(apply(*a))), lambda *a: jnp.sum(jnp.tanh(direct(*a))),
                 x, scale, bias)


@pytest.mark.parametrize("build", [
    lambda: infogan_arch.Generator(image_size=28, channels=1, width=4, z_dim=8, norm="virtual",
                                   vbn_reference=5),
    lambda: mlp.Generator(width=8, depth=2, vbn_reference=5),
])
def test_a_vbn_generator_draws_each_example_from_its_latent_and_the_reference_alone(build):
    g = build()
    z = jax.random.normal(jax.random.key(1), (4, g.z_dim))
    variables = g.init(jax.random.key(0), z, train=False)
    assert variables["vbn"]["reference"]["reference_z"].shape == (5, g.z_dim)
    out = g.apply(variables, z, train=True)
    assert out.shape[0] == 4
    others = z.at[1:].set(jax.random.normal(jax.random.key(2), (3, g.z_dim)) * 3.0)
    np.testing.assert_allclose(g.apply(variables, others, train=True)[0], out[0], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(g.apply(variables, z[:1], train=False)[0], out[0], rtol=1e-5,
                               atol=1e-6)
    # A batch-norm generator, by contrast, draws example 0 differently in another batch.
    plain = dataclasses.replace(g, **({"norm": "batch"} if hasattr(g, "norm")
                                      else {"vbn_reference": 0}))
    pv = plain.init(jax.random.key(0), z, train=False)
    a, _ = plain.apply(pv, z, train=True, mutable=["batch_stats"])
    b, _ = plain.apply(pv, others, train=True, mutable=["batch_stats"])
    assert not np.allclose(a[0], b[0], atol=1e-4)


# ---- through the GAN system and the engine -----------------------------------------------

def _tricks_config(**overrides):
    base = {"data__num_classes": 0, "model__d_norm": "none", "model__arch": "infogan",
            "data__image_size": 28, "model__g_norm": "virtual", "model__vbn_reference": 6,
            "model__minibatch_kernels": 3, "model__minibatch_kernel_dim": 2,
            "model__minibatch_std": 2, "loss__name": "nonsaturating"}
    return _config("gan", **{**base, **overrides})


def _batch28(seed):
    b = _batch(seed)
    return {"image": b["image"][:, 2:30, 2:30], "label": b["label"]}


def test_a_step_with_vbn_and_minibatch_layers_on_four_devices_equals_one_device(tmp_path):
    config = _tricks_config()
    config_lib.validate(config)
    system = with_sgd(build_system(config))
    init, one, _, _ = assert_four_devices_equal_one(
        system, [(_batch28(10 + s),) for s in range(2)], BATCH, rtol=2e-5)
    assert "vbn" in init.collections["g"] and "minibatch" in init.params["d"]
    # The reference batch is fixed (training does not move it) and comes back from a checkpoint.
    np.testing.assert_array_equal(one.collections["g"]["vbn"]["reference"]
                                  ["reference_z"], init.collections["g"]["vbn"]["reference"]
                                  ["reference_z"])
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    one = parallel.replicate(parallel.make_mesh(jax.devices()[:1]), one)
    ckpt.save(2, one, {"data_step": 2})
    back, _ = ckpt.restore(checkpoint.abstract_like(one))
    ckpt.close()
    assert parallel.tree_digest(back) == parallel.tree_digest(one)


@pytest.mark.parametrize("bad,match", [
    ({"reg__gp_weight": 1.0}, "a critic that judges batches \\(model.minibatch_kernels=3\\)"),
    ({"model__arch": "resnet", "data__image_size": 32, "model__g_norm": "batch",
      "model__conditioning": "projection"},
     "arch 'resnet' has no minibatch layers"),
    ({"model__minibatch_kernels": -1}, "model.minibatch_kernels must be an integer >= 0"),
    ({"data__num_classes": 10, "model__minibatch_kernels": 0, "model__minibatch_std": 0},
     "model.g_norm='virtual' keeps a reference batch"),
    ({"model__vbn_reference": 0}, "model.vbn_reference must be an integer >= 1"),
    ({"model__g_norm": "layer"}, "model.g_norm='layer' is not one of \\('batch', 'virtual'\\)"),
])
def test_bad_settings_are_refused_before_compute(bad, match):
    with pytest.raises((ConfigError, ModelConfigError), match=match):
        config_lib.validate(_tricks_config(**bad))


def test_energy_systems_refuse_minibatch_layers():
    c = _tricks_config(model__g_norm="batch")
    c.system = "began"
    with pytest.raises(ConfigError, match="model.minibatch_kernels=3 adds layers to a scoring"):
        config_lib.validate(c)
