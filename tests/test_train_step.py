"""The engine's data-parallel step on the single-pair GAN system: device-count
independence and exact gradients.

Small inline modules keep these tests about the step itself: a generator with
batch norm (whose statistics must span the global batch) and a critic with
spectral norm (whose vectors move once per critic update) and an n x n map.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import flax.linen as nn
import pytest

from jaxgan import losses, parallel
from jaxgan.config import base_config
from jaxgan.engine.state import init_state
from jaxgan.engine.step import make_step
from jaxgan.systems.gan import GAN

IMG = (8, 8, 1)


class TinyGenerator(nn.Module):
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, z, labels=None, *, train):
        # No bias before batch norm: its true gradient is 0, and Adam would turn the
        # rounding noise in it into full-size steps of arbitrary sign.
        h = nn.Dense(16, use_bias=False)(z)
        h = nn.BatchNorm(use_running_average=not train, axis_name=self.bn_axis_name)(h)
        h = nn.relu(h)
        return jnp.tanh(nn.Dense(int(np.prod(IMG)))(h)).reshape((-1, *IMG))


class TinyCritic(nn.Module):
    critic_map: int = 2

    @nn.compact
    def __call__(self, x, labels=None, *, train):
        h = nn.SpectralNorm(nn.Conv(4, (3, 3), strides=(2, 2)))(x, update_stats=train)
        h = nn.leaky_relu(h, 0.2)
        if self.critic_map == 2:
            h = nn.avg_pool(h, (2, 2), (2, 2))  # 4x4 -> 2x2 map.
        return nn.Conv(1, (1, 1))(h)[..., 0]


def _config(**overrides):
    c = base_config()
    c.model.z_dim = 5
    c.data.num_classes = 0
    c.loss.name = "hinge"
    c.loss.lga = "lga"
    c.reg.gp_weight = 1.0
    c.optim.n_critic = 2
    c.train.ema_decay = 0.9
    for k, v in overrides.items():
        section, name = k.split("__")
        c[section][name] = v
    return c


def _system(config, g_tx=None, d_tx=None):
    config.data.image_size, config.data.channels = IMG[0], IMG[2]
    system = GAN(config, networks=(TinyGenerator(), TinyCritic()))
    groups = dict(system.groups)
    groups["g"] = dataclasses.replace(groups["g"], optimizer=g_tx or optax.adam(1e-2, b1=0.0, b2=0.9))
    groups["d"] = dataclasses.replace(groups["d"], optimizer=d_tx or optax.adam(1e-2, b1=0.0, b2=0.9))
    system.groups = groups
    return system


def _setup(config, mesh, g_tx=None, d_tx=None):
    system = _system(config, g_tx, d_tx)
    state = parallel.replicate(mesh, init_state(system, jax.random.key(config.seed)))
    step = make_step(system, system.phases[0], mesh, global_batch=8)
    return state, step


def _batches(mesh, n_critic, global_batch, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_critic):
        host = {"image": rng.uniform(-1, 1, (global_batch, *IMG)).astype(np.float32),
                "label": np.zeros((global_batch,), np.int32)}
        out.append(parallel.host_to_global(mesh, host))
    return tuple(out)


def _run(config, devices, steps=2):
    mesh = parallel.make_mesh(devices)
    state, step = _setup(config, mesh)
    metrics = None
    for s in range(steps):
        state, metrics = step(state, _batches(mesh, config.optim.n_critic, 8, seed=s))
    return jax.device_get(state), jax.device_get(metrics)


@pytest.mark.parametrize("overrides", [
    {},  # hinge + LGA + GP, batch norm G, spectral norm D, two critic updates.
    {"loss__name": "wasserstein", "loss__lga": "none", "reg__gp_weight": 10.0},
    {"loss__name": "nonsaturating", "loss__lga": "none", "reg__gp_weight": 0.0,
     "reg__r1_weight": 1.0},
    {"loss__name": "wasserstein", "loss__lga": "sign_preserving", "reg__gp_weight": 10.0,
     "reg__drift_weight": 0.5},
])
def test_four_devices_equal_one_device(overrides):
    assert jax.device_count() >= 4, "conftest.py should give 4 fake CPU devices"
    config = _config(**overrides)
    one_state, one_metrics = _run(config, jax.devices()[:1])
    four_state, four_metrics = _run(config, jax.devices()[:4])
    assert int(one_state.step) == int(four_state.step) == 2
    for a, b in zip(jax.tree.leaves(one_state), jax.tree.leaves(four_state), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
    for k in one_metrics:
        np.testing.assert_allclose(one_metrics[k], four_metrics[k], rtol=2e-5, atol=2e-6)


def test_critic_gradient_is_the_global_batch_mean():
    """With SGD(lr=1) the critic's update is minus the gradient of the global-batch mean loss."""
    config = _config(loss__lga="none", reg__gp_weight=0.0, optim__n_critic=1)
    mesh = parallel.make_mesh(jax.devices()[:4])
    sgd = optax.sgd(1.0)
    state0, step = _setup(config, mesh, g_tx=optax.sgd(0.0), d_tx=sgd)
    host = jax.device_get(state0)
    batches = _batches(mesh, 1, 8)
    new_state, _ = step(jax.tree.map(jnp.copy, state0), batches)

    # Independent computation: the same draws, no shard_map, plain jax.grad.
    gen, crit = TinyGenerator(), TinyCritic()
    key = jax.random.fold_in(jax.random.key(config.seed), 0)
    critic_key, _ = jax.random.split(key)
    z_key, _ = jax.random.split(jax.random.fold_in(critic_key, 0))
    z = jax.random.normal(jax.random.split(z_key)[0], (8, config.model.z_dim))
    fake, _ = gen.apply(host.variables("g", use_ema=False), z, None, train=True,
                        mutable=["batch_stats"])
    real = jnp.asarray(jax.device_get(batches[0]["image"]))

    def loss(d_params):
        scores, _ = crit.apply({"params": d_params, **host.collections["d"]},
                               jnp.concatenate([real, fake]),
                               None, train=True, mutable=["batch_stats"])
        return losses.hinge_d(scores[:8], scores[8:]).mean()

    grads = jax.grad(loss)(host.params["d"])
    expected = jax.tree.map(lambda p, g: p - g, host.params["d"], grads)
    got = jax.device_get(new_state.params["d"])
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_spectral_norm_vectors_move_once_per_critic_update():
    config = _config(loss__lga="none", reg__gp_weight=1.0, optim__n_critic=1)
    mesh = parallel.make_mesh(jax.devices()[:1])
    state, step = _setup(config, mesh)
    u_before = np.asarray(jax.tree.leaves(state.collections["d"])[-1]).copy()
    new_state, _ = step(state, _batches(mesh, 1, 8))
    u_after = np.asarray(jax.tree.leaves(new_state.collections["d"])[-1])
    assert not np.allclose(u_before, u_after)


def test_step_is_reproducible():
    config = _config()
    a, _ = _run(config, jax.devices()[:2], steps=1)
    b, _ = _run(config, jax.devices()[:2], steps=1)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("fast", [False, True])
def test_gp_on_the_whole_batch_equals_gp_example_by_example(fast):
    """The step runs the critic once on the batch for the penalty; exact for a per-example critic."""
    from jaxgan import regularizers
    from jaxgan.models import dcgan

    critic = dcgan.Critic(image_size=32, channels=1, width=4, critic_map=8, fast_cpu_layers=fast)
    rng = np.random.default_rng(0)
    real, fake = (jnp.asarray(rng.uniform(-1, 1, (6, 32, 32, 1)), jnp.float32) for _ in range(2))
    eps = jnp.asarray(rng.uniform(0, 1, 6), jnp.float32)
    params = critic.init(jax.random.key(0), real, train=False)["params"]

    def batched(p):
        fn = lambda x: critic.apply({"params": p}, x, train=False)
        return regularizers.gradient_penalty(fn, real, fake, epsilon=eps)

    def one_by_one(p):
        def one(r, f, e):
            fn = lambda x: critic.apply({"params": p}, x, train=False)
            return regularizers.gradient_penalty(fn, r[None], f[None], epsilon=e[None])[0]
        return jax.vmap(one)(real, fake, eps)

    np.testing.assert_allclose(batched(params), one_by_one(params), rtol=1e-5)
    assert float(jnp.std(batched(params))) > 0  # distinct per example, not a broadcast
    g_batched = jax.grad(lambda p: batched(p).mean())(params)
    g_single = jax.grad(lambda p: one_by_one(p).mean())(params)
    for a, b in zip(jax.tree.leaves(g_batched), jax.tree.leaves(g_single), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * float(jnp.abs(b).max()))


def test_drift_term_is_added_to_the_critic_loss():
    config = _config(loss__name="wasserstein", loss__lga="none", reg__gp_weight=2.0,
                     reg__drift_weight=0.5, optim__n_critic=1)
    _, m = _run(config, jax.devices()[:2], steps=1)
    assert float(m["drift"]) > 0
    np.testing.assert_allclose(m["d_loss"], m["d_adv"] + 2.0 * m["gp"] + 0.5 * m["drift"],
                               rtol=1e-5, atol=1e-6)
    _, m = _run(_config(loss__name="wasserstein", loss__lga="none"), jax.devices()[:1], steps=1)
    assert "drift" not in m  # off by default
