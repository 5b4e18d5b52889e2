"""EBGAN and BEGAN: the autoencoder critic, their losses through the system against an
independent computation (values and ``jax.grad``), BEGAN's k controller and M_global, a step
on 4 devices equal to 1, and a run that resumes bit-exactly (k included) and samples.

Networks: the InfoGAN generator and the autoencoder at ``TINY`` widths on 28x28 images.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from device_checks import assert_four_devices_equal_one, group_loss_on_one_device, with_sgd
from fake_data import write_mnist_cache
from jaxgan import config as config_lib
from jaxgan.config import ConfigError
from jaxgan.engine.state import init_state
from jaxgan.models import autoencoder
from jaxgan.models.autoencoder import Autoencoder
from jaxgan.systems import build_system
from jaxgan.systems.mnist_configs import digit_config, use_infogan_networks

BATCH = 8
SIZE = 28


def _config(system, **overrides):
    c = use_infogan_networks(digit_config(system, labels=False))
    c.model.d_norm = "none"
    c.model.z_dim = 6
    c.model.z_prior = "uniform"
    c.model.g_width = 4
    c.model.d_width = autoencoder.TINY["width"]
    c.energy.code_dim = autoencoder.TINY["code_dim"]
    c.energy.margin = 0.9
    c.energy.pullaway_weight = 0.3
    c.energy.gamma = 0.6
    c.energy.lambda_k = 0.05  # Large, so k visibly moves in a few steps.
    c.energy.k_init = 0.2
    c.train.batch_size = BATCH
    for k, v in overrides.items():
        section, name = k.split("__")
        c[section][name] = v
    return c


def _images(seed=0, n=BATCH):
    return np.random.default_rng(seed).uniform(-1, 1, (n, SIZE, SIZE, 1)).astype(np.float32)


def _setup(system_name, **overrides):
    config = _config(system_name, **overrides)
    config_lib.validate(config)
    system = build_system(config)
    return config, system, jax.device_get(init_state(system, jax.random.key(0)))


def _loss_fn(system, group, state, key, batch):
    del batch
    return group_loss_on_one_device(system, group, state, key, BATCH)


def _uniform_z(key, config):
    """GAN._draw's z (uniform prior): the first of the key's two splits."""
    z_key, _ = jax.random.split(key)
    return jax.random.uniform(z_key, (BATCH, config.model.z_dim), minval=-1.0, maxval=1.0)


def _fake(system, state, params, z):
    out, _ = system.networks["g"].apply({**state.collections["g"], "params": params["g"]}, z,
                                        train=True, mutable=["batch_stats"])
    return out


def _autoencode(system, params, x, train):
    return system.networks["d"].apply({"params": params["d"]}, x, train=train)


def _check_grads(system_loss, independent_loss, params):
    got = jax.jit(jax.grad(lambda p: system_loss(p)[0]))(params)
    want = jax.jit(jax.grad(independent_loss))(params)
    scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(want))
    assert scale > 0
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=1e-5 * scale)


def _pullaway_numpy(codes):
    s = np.asarray(codes, np.float64)
    n = s.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                total += (s[i] @ s[j]) ** 2 / ((s[i] @ s[i]) * (s[j] @ s[j]))
    return total / (n * (n - 1))


# ---- the autoencoder critic ----------------------------------------------------------------

@pytest.mark.parametrize("size", [28, 32])
def test_autoencoder_reconstructs_at_the_input_shape_through_its_code(size):
    ae = Autoencoder(image_size=size, channels=3, width=4, code_dim=5, norm="batch")
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)), jnp.float32)
    variables = ae.init(jax.random.key(0), x, train=False)
    (recon, code), _ = ae.apply(variables, x, train=True, mutable=["batch_stats"])
    assert recon.shape == x.shape and code.shape == (2, 5)
    assert float(jnp.abs(recon).max()) <= 1.0
    p = variables["params"]
    side = size // 4
    assert p["code"]["kernel"].shape == (side * side * 8, 5)  # conv 2w = 8 at S/4, flattened
    assert p["dec_fc"]["kernel"].shape == (5, side * side * 8)
    assert sorted(k for k in p if k.startswith("bn")) == ["bn_code", "bn_dec0", "bn_dec1"]
    plain = Autoencoder(image_size=size, channels=3, width=4, code_dim=5)
    assert not any(k.startswith("bn") for k in plain.init(jax.random.key(0), x, train=False)["params"])


# ---- EBGAN --------------------------------------------------------------------------------

def test_ebgan_losses_against_an_independent_computation():
    config, system, state = _setup("ebgan")
    key = jax.random.key(5)
    batch = {"image": _images(1)}
    m, w = config.energy.margin, config.energy.pullaway_weight

    def independent_d(params):
        fake = jax.lax.stop_gradient(_fake(system, state, params, _uniform_z(key, config)))
        x = jnp.concatenate([batch["image"], fake])
        recon, _ = _autoencode(system, params, x, train=True)
        energy = jnp.mean((x - recon) ** 2, axis=(1, 2, 3))
        return jnp.mean(energy[:BATCH]) + jnp.mean(jnp.maximum(0.0, m - energy[BATCH:]))

    fn = _loss_fn(system, "d", state, key, batch)
    loss, metrics = fn(state.params, batch)
    np.testing.assert_allclose(float(loss), float(independent_d(state.params)), rtol=1e-5)
    assert 0.0 < float(metrics["fake_within_margin"]) <= 1.0  # the hinge is active
    _check_grads(lambda p: fn(p, batch), independent_d, state.params)

    def independent_g(params):
        fake = _fake(system, state, params, _uniform_z(key, config))
        recon, codes = _autoencode(system, params, fake, train=False)
        unit = codes / jnp.linalg.norm(codes, axis=1, keepdims=True)
        cos2 = (unit @ unit.T) ** 2
        pullaway = (jnp.sum(cos2) - jnp.trace(cos2)) / (BATCH * (BATCH - 1))
        return jnp.mean((fake - recon) ** 2) + w * pullaway

    fn = _loss_fn(system, "g", state, key, None)
    loss, metrics = fn(state.params, None)
    np.testing.assert_allclose(float(loss), float(independent_g(state.params)), rtol=1e-5)
    fake = _fake(system, state, state.params, _uniform_z(key, config))
    _, codes = _autoencode(system, state.params, fake, train=False)
    np.testing.assert_allclose(float(metrics["pullaway"]), _pullaway_numpy(codes), rtol=1e-4)
    _check_grads(lambda p: fn(p, None), independent_g, state.params)


# ---- BEGAN --------------------------------------------------------------------------------

def test_began_losses_k_and_m_global_against_an_independent_computation():
    config, system, state = _setup("began")
    key = jax.random.key(6)
    batch = {"image": _images(2)}
    e = config.energy
    k0 = float(state.extra["k"])
    assert k0 == pytest.approx(e.k_init)

    def energies(params, x):
        recon, _ = _autoencode(system, params, x, train=True)
        # On [0, 1] pixels: |(x+1)/2 - (r+1)/2| = |x - r| / 2 (computed so: near-zero
        # reconstructions of near-zero fakes would lose their sign in (x+1)/2 otherwise).
        return 0.5 * jnp.mean(jnp.abs(x - recon), axis=(1, 2, 3))

    def independent_d(params):
        fake = jax.lax.stop_gradient(_fake(system, state, params, _uniform_z(key, config)))
        energy = energies(params, jnp.concatenate([batch["image"], fake]))
        return jnp.mean(energy[:BATCH]) - k0 * jnp.mean(energy[BATCH:])

    fn = _loss_fn(system, "d", state, key, batch)
    loss, metrics = fn(state.params, batch)
    np.testing.assert_allclose(float(loss), float(independent_d(state.params)), rtol=1e-5)
    _check_grads(lambda p: fn(p, batch), independent_d, state.params)

    fake = _fake(system, state, state.params, _uniform_z(key, config))
    energy = np.asarray(energies(state.params, jnp.concatenate([batch["image"], fake])),
                        np.float64)
    real_l, fake_l = energy[:BATCH].mean(), energy[BATCH:].mean()
    np.testing.assert_allclose(float(metrics["real_energy"]), real_l, rtol=1e-5)
    np.testing.assert_allclose(float(metrics["m_global"]),
                               real_l + abs(e.gamma * real_l - fake_l), rtol=1e-5)
    assert float(metrics["k"]) == pytest.approx(k0)
    k1 = float(system.update_extra(state.extra, metrics, state.step)["k"])
    np.testing.assert_allclose(k1, np.clip(k0 + e.lambda_k * (e.gamma * real_l - fake_l), 0, 1),
                               rtol=1e-5)
    # The controller clips to [0, 1].
    far = {"real_energy": jnp.float32(0.0), "fake_energy": jnp.float32(100.0)}
    assert float(system.update_extra(state.extra, far, state.step)["k"]) == 0.0
    system.clip_k = False  # Lucic et al.'s code: k may go below 0.
    np.testing.assert_allclose(float(system.update_extra(state.extra, far, state.step)["k"]),
                               k0 + e.lambda_k * (-100.0), rtol=1e-5)
    system.clip_k = True

    def independent_g(params):
        fake = _fake(system, state, params, _uniform_z(key, config))
        recon, _ = _autoencode(system, params, fake, train=False)
        return jnp.mean(jnp.abs(fake - recon)) / 2

    fn = _loss_fn(system, "g", state, key, None)
    loss, _ = fn(state.params, None)
    np.testing.assert_allclose(float(loss), float(independent_g(state.params)), rtol=1e-5)
    _check_grads(lambda p: fn(p, None), independent_g, state.params)


# ---- the engine's guarantees ---------------------------------------------------------------

@pytest.mark.parametrize("system_name", ["began", "ebgan"])
def test_a_step_on_four_devices_equals_one_device(system_name):
    config = _config(system_name)
    system = with_sgd(build_system(config))
    _, _, four, _ = assert_four_devices_equal_one(
        system, [({"image": _images(10 + s)},) for s in range(3)], BATCH)
    if system_name == "began":
        assert float(four.extra["k"]) != pytest.approx(config.energy.k_init)  # k moved


def test_began_resumes_bit_for_bit_with_its_k_and_samples(tmp_path):
    from jaxgan.engine import trainer
    from jaxgan.engine.sampling import sample_workdir

    def config(steps):
        c = _config("began")
        c.data.data_dir = write_mnist_cache(tmp_path / "data")
        c.data.prefetch = 1
        c.train.num_steps = steps
        c.train.log_every = 1
        c.train.checkpoint_every = 2
        c.train.sample_every = 2
        c.train.num_sample_images = 4
        return c

    straight = trainer.run(config(4), str(tmp_path / "straight"))
    workdir = str(tmp_path / "resumed")
    assert trainer.run(config(2), workdir)["step"] == 2
    resumed = trainer.run(config(4), workdir)
    for a, b in zip(jax.tree.leaves(straight["state"]), jax.tree.leaves(resumed["state"]),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert float(resumed["state"].extra["k"]) != pytest.approx(0.2)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [r for r in map(json.loads, f) if "g_loss" in r]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all({"k", "m_global", "real_energy", "fake_energy"} <= set(r) for r in rows)
    drawn = sample_workdir(workdir, 3, seed=1)
    assert set(drawn) == {"images"} and drawn["images"].shape == (3, SIZE, SIZE, 1)


# ---- bad input ---------------------------------------------------------------------------

def test_energy_configs_that_cannot_train_fail_before_compute():
    with pytest.raises(ConfigError, match="reg.gp_weight=10.0 acts on critic scores"):
        config_lib.validate(_config("began", reg__gp_weight=10.0))
    with pytest.raises(ConfigError, match="'ebgan' is unconditional"):
        config_lib.validate(_config("ebgan", data__num_classes=10))
    with pytest.raises(ConfigError, match=r"energy.gamma=1.5 must lie in \(0, 1\]"):
        config_lib.validate(_config("began", energy__gamma=1.5))
    with pytest.raises(ConfigError, match="energy.margin=0.0 must be > 0"):
        config_lib.validate(_config("ebgan", energy__margin=0.0))
    with pytest.raises(ConfigError, match="norm must be one of .*'layer'"):
        config_lib.validate(_config("began", model__d_norm="layer"))
    with pytest.raises(ConfigError, match="model.z_prior='cauchy'"):
        config_lib.validate(_config("began", model__z_prior="cauchy"))


def test_uniform_z_prior_is_what_training_and_sampling_draw():
    system = build_system(_config("began"))  # model.z_prior = 'uniform'
    z = np.asarray(system.latents(jax.random.key(0), 4000))
    assert z.shape == (4000, 6) and np.abs(z).max() <= 1.0
    np.testing.assert_allclose(z.var(), 1 / 3, rtol=0.05)  # U(-1, 1), not N(0, 1)
    normal = build_system(_config("began", model__z_prior="normal"))
    assert np.abs(np.asarray(normal.latents(jax.random.key(0), 4000))).max() > 2.0
