"""Generators and critics: shapes, ranges, conditioning, collections, errors, fast == stock."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgan import config as jaxgan_config
from jaxgan import models
from jaxgan.models import (ARCHS, ModelConfigError, UnknownArchError, build_models, dcgan, fast_conv,
                           infogan_arch, resnet)

B = 3


def model_cfg(**kw):
    base = dict(arch="dcgan", z_dim=8, g_width=4, d_width=4, critic_map=1, spectral_norm=False,
                fast_cpu_layers=True)
    return ml_collections.ConfigDict({**base, **kw})


def data_cfg(**kw):
    return ml_collections.ConfigDict({**dict(image_size=32, channels=1, num_classes=0), **kw})


def tiny_pair(arch, image_size, channels=1, critic_map=1, num_classes=0, fast_cpu_layers=True,
              spectral_norm=False):
    t = ARCHS[arch].TINY
    common = dict(image_size=image_size, channels=channels, num_classes=num_classes,
                  fast_cpu_layers=fast_cpu_layers)
    g = ARCHS[arch].Generator(**common, **t["generator"])
    d = ARCHS[arch].Critic(**common, critic_map=critic_map, spectral_norm=spectral_norm, **t["critic"])
    return g, d


def normal(shape, seed, scale=1.0):
    """float32 N(0, scale^2) from numpy: no random-number kernel to compile."""
    return jnp.asarray(scale * np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def fake_variables(module, seed, *args, **kwargs):
    """Variables of the module's init shapes drawn with numpy: no initializer is compiled.

    Weights ~ N(0, 1 / fan_in), biases ~ N(0, 0.1^2), running variances and sigmas 1, means 0,
    power-iteration vectors N(0, 1), conditional batch-norm scales 1 + N(0, 0.5^2) so classes differ.
    """
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(functools.partial(module.init, **kwargs), jax.random.key(0), *args)

    def fill(path, s):
        key = jax.tree_util.keystr(path)
        if key.endswith("['var']") or key.endswith("['sigma']"):
            return jnp.ones(s.shape, s.dtype)
        if key.endswith("['mean']"):
            return jnp.zeros(s.shape, s.dtype)
        if key.endswith("['bias']"):
            return jnp.asarray(0.1 * rng.standard_normal(s.shape), s.dtype)
        if "['gamma']" in key:
            return jnp.asarray(1 + 0.5 * rng.standard_normal(s.shape), s.dtype)
        fan_in = int(np.prod(s.shape[:-1])) if len(s.shape) > 1 and "['u']" not in key else 1
        return jnp.asarray(rng.standard_normal(s.shape) / np.sqrt(fan_in), s.dtype)

    return jax.tree_util.tree_map_with_path(fill, shapes)


@functools.partial(jax.jit, static_argnums=0)
def _critic(d, dv, x, labels):
    """The critic in eval mode on the batch, and on each example alone (vmapped)."""
    scores, feats = d.apply(dv, x, labels, train=False, return_features=True)
    # Scoring each example on its own must agree: no coupling across the batch in the critic.
    if labels is None:
        alone = jax.vmap(lambda xi: d.apply(dv, xi[None], train=False)[0])(x)
    else:
        alone = jax.vmap(lambda xi, yi: d.apply(dv, xi[None], yi[None], train=False)[0])(x, labels)
    return scores, feats, alone


def run_pair(g, d, z, labels=None):
    gv = fake_variables(g, 0, z, labels, train=False)
    x = jax.jit(functools.partial(g.apply, train=False))(gv, z, labels)
    dv = fake_variables(d, 1, x, labels, train=False)
    return (x, *_critic(d, dv, x, labels))


@pytest.mark.parametrize("arch,size", [(a, s) for a, m in ARCHS.items() for s in m.SUPPORTED_IMAGE_SIZES])
def test_shapes_ranges_and_independence(arch, size):
    channels = 3 if size != 32 else 1
    g, _ = tiny_pair(arch, size, channels)
    z = normal((B, g.z_dim), 1, scale=3.0)
    x = jax.jit(functools.partial(g.apply, train=False))(fake_variables(g, 0, z, train=False), z)
    assert x.shape == (B, size, size, channels) and x.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(x))) <= 1.0 and float(jnp.std(x)) > 0
    for n in ARCHS[arch].SUPPORTED_CRITIC_MAPS[size]:
        _, d = tiny_pair(arch, size, channels, critic_map=n)
        scores, feats, alone = _critic(d, fake_variables(d, n, x, train=False), x, None)
        assert scores.shape == (B, n, n) and scores.dtype == jnp.float32
        assert feats.ndim == 2 and feats.shape[0] == B
        assert bool(jnp.all(jnp.isfinite(scores))) and float(jnp.std(scores)) > 0
        np.testing.assert_allclose(alone, scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_conditional_models_use_labels(arch):
    n = ARCHS[arch].SUPPORTED_CRITIC_MAPS[32][-1]
    g, d = tiny_pair(arch, 32, 1, num_classes=5, critic_map=n)
    z = jnp.tile(normal((1, g.z_dim), 2), (B, 1))  # one z, three labels
    labels = jnp.array([0, 3, 4], jnp.int32)
    x, scores, _, alone = run_pair(g, d, z, labels)
    assert x.shape == (B, 32, 32, 1) and scores.shape == (B, n, n)
    assert float(jnp.abs(x[0] - x[1]).max()) > 0  # same z, other class: another image
    np.testing.assert_allclose(alone, scores, rtol=1e-5, atol=1e-5)
    with pytest.raises(ModelConfigError, match="needs int labels"):
        jax.eval_shape(functools.partial(g.init, train=False), jax.random.key(0), z)


def test_projection_term_of_conditional_critic():
    """Two labels on one image differ by exactly <e_a - e_b, h> (projection discriminator)."""
    d = dcgan.Critic(32, 1, 4, critic_map=1, num_classes=3)
    x = jnp.tile(normal((1, 32, 32, 1), 3), (2, 1, 1, 1))
    labels = jnp.array([0, 2], jnp.int32)
    v = fake_variables(d, 2, x, labels, train=False)
    scores, feats = jax.jit(functools.partial(d.apply, train=False, return_features=True))(v, x, labels)
    e = v["params"]["embed"]["embedding"]
    assert feats.shape == (2, 4 * 4 * 16)  # the flattened 4x4 map the score layer reads
    np.testing.assert_allclose(scores[0, 0, 0] - scores[1, 0, 0], jnp.dot(e[0] - e[2], feats[0]),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_spectral_norm_vectors_move_only_in_train_mode(arch):
    _, d = tiny_pair(arch, 32, 1, spectral_norm=True)
    x = normal((B, 32, 32, 1), 4)
    v = fake_variables(d, 3, x, train=False)

    @jax.jit
    def run(v):
        _, eval_upd = d.apply(v, x, train=False, mutable=["batch_stats"])
        _, train_upd = d.apply(v, x, train=True, mutable=["batch_stats"])
        return eval_upd, train_upd

    eval_upd, train_upd = run(v)
    assert jax.tree.leaves(v["batch_stats"])  # u and sigma exist for every layer
    for a, b in zip(jax.tree.leaves(eval_upd), jax.tree.leaves(v["batch_stats"]), strict=True):
        np.testing.assert_array_equal(a, b)
    moved = [not np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(train_upd), jax.tree.leaves(v["batch_stats"]), strict=True)]
    assert all(moved)
    # sigma is the power-iteration estimate of each kernel's largest singular value.
    for path, sigma in jax.tree_util.tree_leaves_with_path(train_upd):
        if "sigma" in jax.tree_util.keystr(path):
            assert float(sigma) > 0


def test_generator_batch_stats_train_versus_eval():
    g = dcgan.Generator(32, 1, 4, 8)
    z = normal((4, 8), 5)
    v = fake_variables(g, 4, z, train=False)

    @jax.jit
    def run(v):
        x_train, upd = g.apply(v, z, train=True, mutable=["batch_stats"])
        x_train_half, _ = g.apply(v, z[:2], train=True, mutable=["batch_stats"])
        v2 = {**v, **upd}
        return upd, x_train, x_train_half, g.apply(v2, z, train=False), g.apply(v2, z[:2], train=False)

    upd, x_train, x_train_half, x_eval, x_eval_half = run(v)
    assert set(v) == {"params", "batch_stats"}
    for new, old in zip(jax.tree.leaves(upd["batch_stats"]), jax.tree.leaves(v["batch_stats"]), strict=True):
        assert float(jnp.abs(new - old).max()) > 0  # running means and variances move
    # Training mode normalizes with the batch's statistics, evaluation with the running ones.
    assert float(jnp.abs(x_train_half - x_train[:2]).max()) > 1e-4
    np.testing.assert_allclose(x_eval_half, x_eval[:2], rtol=1e-5, atol=1e-6)


def test_synchronised_batch_norm_over_a_mapped_axis():
    """bn_axis_name (set by the trainer) makes per-replica batch norm use the global batch."""
    g = dcgan.Generator(32, 1, 4, 8)
    z = normal((4, 8), 6)
    gs = g.clone(bn_axis_name="data")
    v = fake_variables(g, 5, z, train=False)

    @jax.jit
    def run(v):
        whole, _ = g.apply(v, z, train=True, mutable=["batch_stats"])
        split, _ = jax.vmap(lambda zz: gs.apply(v, zz, train=True, mutable=["batch_stats"]),
                            axis_name="data")(z.reshape(2, 2, 8))
        return whole, split.reshape(whole.shape)

    whole, split = run(v)
    np.testing.assert_allclose(split, whole, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch,size", [(a, s) for a, m in sorted(ARCHS.items())
                                       for s in m.SUPPORTED_IMAGE_SIZES])
def test_fast_layers_keep_the_variable_tree(arch, size):
    """Checkpoints do not depend on fast_cpu_layers: same names, shapes, collections."""
    labels = jnp.array([1, 0], jnp.int32)
    pairs = [tiny_pair(arch, size, 3, num_classes=2, spectral_norm=True, fast_cpu_layers=f) for f in (0, 1)]
    (g_slow, d_slow), (g_fast, d_fast) = pairs
    z, x = jnp.zeros((2, g_slow.z_dim)), jnp.zeros((2, size, size, 3))
    for slow, fast, inp in ((g_slow, g_fast, z), (d_slow, d_fast, x)):
        assert (jax.eval_shape(functools.partial(fast.init, train=False), jax.random.key(0), inp, labels)
                == jax.eval_shape(functools.partial(slow.init, train=False), jax.random.key(0), inp, labels))


# ResNet's layers are each checked against stock (tests/test_layers.py); the whole-model check
# of its gradients compiles two large programs, so it runs with the slow tests.
@pytest.mark.parametrize("arch", ["dcgan", "infogan", pytest.param("resnet", marks=pytest.mark.slow)])
def test_fast_layers_do_not_change_values_or_gradients(arch):
    """Same values and gradients with and without fast layers (for DCGAN also of a gradient
    penalty: the critic's input gradient differentiated again)."""
    kw = dict(critic_map=ARCHS[arch].SUPPORTED_CRITIC_MAPS[32][-1], num_classes=2)
    g_slow, d_slow = tiny_pair(arch, 32, 1, fast_cpu_layers=False, **kw)
    g_fast, d_fast = tiny_pair(arch, 32, 1, fast_cpu_layers=True, **kw)
    if arch != "resnet":  # Wide enough that some layers take the tap-product weight gradient.
        g_slow, d_slow, g_fast, d_fast = (m.clone(width=32) for m in (g_slow, d_slow, g_fast, d_fast))
        assert 64 * 32 >= fast_conv.TAP_MIN_CHANNELS  # G's first up layer, D's second conv
    z = normal((2, g_slow.z_dim), 7)
    labels = jnp.array([1, 0], jnp.int32)
    x_shape = jax.ShapeDtypeStruct((2, 32, 32, 1), jnp.float32)
    gv, dv = fake_variables(g_slow, 6, z, labels, train=False), fake_variables(d_slow, 7, x_shape, labels,
                                                                               train=False)

    def everything(g, d, gv, dv):
        def loss(gp, dp):
            x, _ = g.apply({**gv, "params": gp}, z, labels, train=True, mutable=["batch_stats"])
            s = d.apply({**dv, "params": dp}, x, labels, train=False)
            if arch == "resnet":  # Second order is checked layer by layer; once here for the rest.
                return jnp.mean(s)
            gx = jax.grad(lambda x: jnp.sum(d.apply({**dv, "params": dp}, x, labels, train=False)))(x)
            return jnp.mean(s) + jnp.mean(gx ** 2)

        return jax.value_and_grad(loss, argnums=(0, 1))(gv["params"], dv["params"])

    slow = jax.jit(lambda gv, dv: everything(g_slow, d_slow, gv, dv))(gv, dv)
    fast = jax.jit(lambda gv, dv: everything(g_fast, d_fast, gv, dv))(gv, dv)
    assert jax.tree.structure(slow) == jax.tree.structure(fast)
    for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(slow), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * max(1.0, float(jnp.abs(b).max())))


def test_infogan_networks_have_the_papers_layers():
    """Width 64 on 28x28 digits is Chen et al.'s (and Lucic et al.'s) MNIST networks."""
    g = infogan_arch.Generator(image_size=28, channels=1, width=64, z_dim=74)
    d = infogan_arch.Critic(image_size=28, channels=1, width=64, norm="batch")
    gp = jax.eval_shape(functools.partial(g.init, train=False), jax.random.key(0),
                        jnp.zeros((2, 74)))["params"]
    dp = jax.eval_shape(functools.partial(d.init, train=False), jax.random.key(0),
                        jnp.zeros((2, 28, 28, 1)))["params"]
    shapes = lambda p: {k: v["kernel"].shape for k, v in p.items() if "kernel" in v}
    assert shapes(gp) == {"fc0": (74, 1024), "fc1": (1024, 7 * 7 * 128), "up0": (4, 4, 64, 128),
                          "up1": (4, 4, 1, 64)}
    assert shapes(dp) == {"down0": (4, 4, 1, 64), "down1": (4, 4, 64, 128),
                          "fc": (7 * 7 * 128, 1024), "score": (1024, 1)}
    assert sorted(k for k in dp if k.startswith("norm")) == ["norm1", "norm2"]  # BN after both
    with pytest.raises(ModelConfigError, match=r"infogan takes image sizes \(28, 32\), not 64"):
        build_models(model_cfg(arch="infogan"), data_cfg(image_size=64))
    with pytest.raises(ModelConfigError, match="model.d_norm='layer'.*arch 'resnet'"):
        build_models(model_cfg(arch="resnet", d_norm="layer"), data_cfg())


def test_infogan_generator_activation_is_a_choice_of_that_arch():
    """'lrelu' (Lucic et al.'s code) uses the same parameters and changes the output, since
    the batch-normalised pre-activations have negative entries that ReLU drops."""
    z = jax.random.uniform(jax.random.key(1), (6, 8), minval=-1.0, maxval=1.0)
    relu, lrelu = (infogan_arch.Generator(image_size=28, channels=1, width=4, z_dim=8,
                                          fast_cpu_layers=False, activation=a)
                   for a in ("relu", "lrelu"))
    variables = relu.init(jax.random.key(0), z, train=False)
    capture = lambda g: g.apply(variables, z, train=True, mutable=["batch_stats", "intermediates"],
                                capture_intermediates=lambda m, _: m.name == "bn0")[1]
    pre = capture(relu)["intermediates"]["bn0"]["__call__"][0]
    assert pre.shape == (6, 64) and bool(jnp.any(pre < 0))
    out_relu, _ = relu.apply(variables, z, train=True, mutable=["batch_stats"])
    out_lrelu, _ = lrelu.apply(variables, z, train=True, mutable=["batch_stats"])
    assert not np.allclose(out_relu, out_lrelu)  # negative pre-activations now pass at 0.2
    g, _ = build_models(model_cfg(arch="infogan", g_activation="lrelu"), data_cfg(image_size=28))
    assert g.activation == "lrelu"
    with pytest.raises(ModelConfigError, match="model.g_activation='lrelu' is not one of .*'dcgan'"):
        build_models(model_cfg(g_activation="lrelu"), data_cfg())


def test_build_models_from_config():
    g, d = build_models(model_cfg(critic_map=8, spectral_norm=True),
                        data_cfg(image_size=64, channels=3, num_classes=10))
    assert isinstance(g, dcgan.Generator) and isinstance(d, dcgan.Critic)
    assert (g.image_size, g.channels, g.width, g.z_dim, g.num_classes, g.fast_cpu_layers) == (
        64, 3, 4, 8, 10, True)
    assert (d.critic_map, d.spectral_norm, d.width, d.num_classes) == (8, True, 4, 10)
    g, d = build_models(model_cfg(arch="resnet", g_width=2, d_width=3), data_cfg(image_size=48))
    assert isinstance(g, resnet.Generator) and d.spectral_norm and d.width == 3
    base = jaxgan_config.base_config()  # the documented defaults build as they are
    g, d = build_models(base.model, base.data)
    assert (g.image_size, d.critic_map, g.fast_cpu_layers) == (32, 1, True)


@pytest.mark.parametrize("model_kw,data_kw,match", [
    (dict(), dict(image_size=28), r"dcgan takes image sizes \(32, 64\), not 28"),
    (dict(critic_map=2), dict(), r"critic maps \(1, 4, 8\), not 2"),
    (dict(arch="resnet", critic_map=8), dict(image_size=48), r"critic maps \(1, 4\), not 8"),
    (dict(arch="resnet", critic_map=8), dict(), r"critic maps \(1, 4\), not 8"),
    (dict(arch="resnet"), dict(image_size=128), r"resnet takes image sizes \(32, 48, 64\)"),
    (dict(g_width=0), dict(), r"model.g_width must be an integer >= 1"),
    (dict(), dict(num_classes=-1), r"data.num_classes must be an integer >= 0"),
    (dict(critic_global=True), dict(), r"critic_map=1 is one score already: set .*critic_map=4 or 8"),
    (dict(arch="resnet", critic_map=4, critic_global=True), dict(), r"for arch 'dcgan' only"),
])
def test_config_errors_are_clear_and_early(model_kw, data_kw, match):
    with pytest.raises(ModelConfigError, match=match):
        models.check_config(model_cfg(**model_kw), data_cfg(**data_kw))
    with pytest.raises(ModelConfigError, match=match):
        build_models(model_cfg(**model_kw), data_cfg(**data_kw))


def test_unknown_arch_names_the_choices():
    with pytest.raises(UnknownArchError, match=r"unknown model.arch 'no_such_net'.*dcgan, .*resnet") as e:
        models.get_arch("no_such_net")
    assert isinstance(e.value, ValueError)
    with pytest.raises(UnknownArchError):
        build_models(model_cfg(arch="stylegan"), data_cfg())
    assert models.get_arch("resnet") is resnet


def test_wrong_inputs_fail_with_the_fix():
    g, d = tiny_pair("dcgan", 32, 1)
    with pytest.raises(ModelConfigError, match=r"images \[B, 32, 32, 1\], got \(2, 28, 28, 1\)"):
        jax.eval_shape(functools.partial(d.init, train=False), jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
    with pytest.raises(ModelConfigError, match=r"z of shape \[B, 8\]"):
        jax.eval_shape(functools.partial(g.init, train=False), jax.random.key(0), jnp.zeros((2, 7)))


def test_dcgan_layer_plan_and_layer_norm_option():
    assert dcgan.generator_channels(32, 64) == [256, 128, 64]
    assert dcgan.generator_channels(64, 64) == [512, 256, 128, 64]
    assert dcgan.critic_layers(32, 64, 1) == [(64, 2), (128, 2), (256, 2)]
    assert dcgan.critic_layers(32, 64, 4) == [(64, 2), (128, 2), (256, 2)]
    assert dcgan.critic_layers(32, 64, 8) == [(64, 2), (128, 2), (256, 1)]
    assert dcgan.critic_layers(64, 64, 4) == [(64, 2), (128, 2), (256, 2), (512, 2)]
    assert dcgan.critic_layers(64, 64, 8) == [(64, 2), (128, 2), (256, 2), (512, 1)]
    d = dcgan.Critic(32, 1, 4, critic_map=8, norm="layer")
    x = jnp.zeros((2, 32, 32, 1))
    shapes = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), x, train=False))
    assert shapes[0].shape == (2, 8, 8) and "ln1" in shapes[1]["params"]
    kernels = {k: v["kernel"].shape for k, v in shapes[1]["params"].items() if "kernel" in v}
    assert kernels == {"down0": (4, 4, 1, 4), "down1": (4, 4, 4, 8), "same2": (3, 3, 8, 16),
                       "score": (1, 1, 16, 1)}


def test_dcgan_matches_a_pytorch_reference():
    """The DCGAN generator (train-mode batch norm) and critics equal the same nets in PyTorch."""
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    w, zd = 4, 8
    g = dcgan.Generator(32, 1, w, zd)
    z = normal((3, zd), 20)
    gv = fake_variables(g, 21, z, train=False)
    x, _ = jax.jit(functools.partial(g.apply, train=True, mutable=["batch_stats"]))(gv, z)

    def t(a):
        return torch.tensor(np.asarray(a))

    p = gv["params"]
    tg_proj = tnn.Linear(zd, 16 * 4 * w, bias=False)
    ups = [tnn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),
           tnn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), tnn.ConvTranspose2d(w, 1, 4, 2, 1)]
    bns = [tnn.BatchNorm2d(c) for c in (4 * w, 2 * w, w)]
    with torch.no_grad():
        # Flax reshapes the projection to NHWC, PyTorch to NCHW: reorder the output units.
        k = np.asarray(p["project"]["kernel"]).reshape(zd, 4, 4, 4 * w).transpose(0, 3, 1, 2)
        tg_proj.weight.copy_(t(k.reshape(zd, -1).T))
        for i, up in enumerate(ups, start=1):
            up.weight.copy_(t(np.asarray(p[f"up{i}"]["kernel"]).transpose(3, 2, 0, 1)))
        ups[-1].bias.copy_(t(p["up3"]["bias"]))
        for i, bn in enumerate(bns):
            bn.weight.copy_(t(p[f"bn{i}"]["bn"]["scale"]))
            bn.bias.copy_(t(p[f"bn{i}"]["bn"]["bias"]))
        h = torch.relu(bns[0](tg_proj(t(z)).reshape(3, 4 * w, 4, 4)))
        h = torch.relu(bns[1](ups[0](h)))
        h = torch.relu(bns[2](ups[1](h)))
        want = torch.tanh(ups[2](h)).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(x, want, rtol=1e-5, atol=1e-5)

    for n in (1, 4):
        d = dcgan.Critic(32, 1, w, critic_map=n)
        dv = fake_variables(d, 22 + n, x, train=False)
        scores = jax.jit(functools.partial(d.apply, train=False))(dv, x)
        q = dv["params"]
        convs = [tnn.Conv2d(ci, co, 4, 2, 1) for ci, co in ((1, w), (w, 2 * w), (2 * w, 4 * w))]
        head = tnn.Conv2d(4 * w, 1, 4 if n == 1 else 1)
        with torch.no_grad():
            for name, conv in [*((f"down{i}", c) for i, c in enumerate(convs)), ("score", head)]:
                conv.weight.copy_(t(np.asarray(q[name]["kernel"]).transpose(3, 2, 0, 1)))
                conv.bias.copy_(t(q[name]["bias"]))
            h = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2))
            for conv in convs:
                h = tnn.functional.leaky_relu(conv(h), 0.2)
            want = head(h)[:, 0].numpy()
        np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-5)


def test_resnet_local_map_keeps_the_global_scale():
    """x 64 on the 2x2-pooled 8x8 map: the mean of the 4x4 scores is the global head's score
    with the same weights (sum pooling over 8x8 = 16 x the mean of 64 x 2x2 means)."""
    x = normal((2, 32, 32, 1), 30)
    d1, d4 = (resnet.Critic(32, 1, 2, critic_map=n) for n in (1, 4))
    v = fake_variables(d1, 31, x, train=False)
    assert jax.eval_shape(functools.partial(d4.init, train=False), jax.random.key(0), x) == jax.eval_shape(
        functools.partial(d1.init, train=False), jax.random.key(0), x)

    @jax.jit
    def run(v):
        return d1.apply(v, x, train=False), d4.apply(v, x, train=False)

    s1, s4 = run(v)
    assert s1.shape == (2, 1, 1) and s4.shape == (2, 4, 4)
    np.testing.assert_allclose(s4.mean(axis=(1, 2)), s1[:, 0, 0], rtol=1e-5, atol=1e-5)
    assert float(jnp.std(s4)) > 0


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_linear_generator_output_is_the_tanh_generators_preactivation(arch):
    module = ARCHS[arch]
    kwargs = dict(image_size=32, channels=1, **module.TINY["generator"])
    z = jax.random.normal(jax.random.key(1), (3, kwargs["z_dim"]))
    tanh_g = module.Generator(**kwargs)
    linear_g = module.Generator(**kwargs, output="linear")
    variables = tanh_g.init(jax.random.key(0), z, train=False)
    pre = linear_g.apply(variables, z, train=False)
    np.testing.assert_allclose(np.tanh(np.asarray(pre)), tanh_g.apply(variables, z, train=False),
                               atol=1e-6)
    with pytest.raises(ModelConfigError, match="'tanh' or 'linear'"):
        module.Generator(**kwargs, output="sigmoid").init(jax.random.key(0), z, train=False)


@pytest.mark.parametrize("size, n", [(32, 8), (32, 4), (64, 8)])
@pytest.mark.parametrize("fast", [False, True])
def test_global_score_adds_one_whole_image_score_to_every_cell(size, n, fast):
    with_global = dcgan.Critic(size, 1, 4, critic_map=n, global_score=True, fast_cpu_layers=fast)
    local_only = dcgan.Critic(size, 1, 4, critic_map=n, fast_cpu_layers=fast)
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (3, size, size, 1)), jnp.float32)
    params = with_global.init(jax.random.key(0), x, train=False)["params"]
    down = (n // 4).bit_length() - 1  # 8x8 -> 4x4 takes one stride-2 conv; 4x4 none
    assert sorted(k for k in params if k.startswith("global")) == (
        [f"global_down{i}" for i in range(down)] + ["global_score"])
    shared = {k: v for k, v in params.items() if not k.startswith("global")}
    diff = with_global.apply({"params": params}, x, train=False) - local_only.apply(
        {"params": shared}, x, train=False)
    assert diff.shape == (3, n, n)
    # One score per image, the same in every cell, and not the same for every image.
    np.testing.assert_allclose(diff, jnp.broadcast_to(diff[:, :1, :1], diff.shape), atol=1e-6)
    assert float(jnp.std(diff[:, 0, 0])) > 1e-6
    with pytest.raises(ModelConfigError, match="already global"):
        dcgan.Critic(size, 1, 4, critic_map=1, global_score=True).init(jax.random.key(0), x,
                                                                      train=False)
