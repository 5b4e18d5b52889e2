"""The single-pair GAN's tricks through its losses: feature matching, PacGAN packing and
DiffAugment, each against an independent computation, and a step with all of them on four
devices equal to one device."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import augment
from jaxgan import config as config_lib
from jaxgan.config import ConfigError
from jaxgan.engine.state import init_state
from jaxgan.systems import build_system
from jaxgan.systems.gan import AUGMENT_SALT, pack
from device_checks import assert_four_devices_equal_one, with_sgd
from test_conditional_systems import (BATCH, _batch, _check_grads, _config, _fake, _loss_fn,
                                      _softplus)


def _setup(**overrides):
    config = _config("gan", **{"data__num_classes": 0, "model__d_norm": "none", **overrides})
    config_lib.validate(config)
    system = build_system(config)
    state = jax.device_get(init_state(system, jax.random.key(0)))
    # Critic weights scaled up from their N(0, 0.02) init, so scores and features are O(1)
    # and a wrong input would show in the losses.
    loud = jax.tree.map(lambda w: 6.0 * w, state.params["d"])
    return config, system, state.replace(params={**state.params, "d": loud})


def _z(config, key, update="g"):
    """GAN._draw's latents in the ``update`` ('g' or 'd') of ``key`` (no labels drawn)."""
    if update == "d":  # The critic's update splits off its penalty key first.
        key = jax.random.split(key)[0]
    return jax.random.normal(jax.random.split(key)[0], (BATCH, config.model.z_dim))


def _features(system, state, x):
    _, f = system.networks["d"].apply(state.variables("d", use_ema=False), x, None, train=False,
                                      return_features=True)
    return f.reshape(f.shape[0], -1)


def test_pack_joins_runs_of_consecutive_examples_along_the_last_axis():
    x = np.arange(4 * 3 * 2 * 2, dtype=np.float32).reshape(4, 3, 2, 2)
    want = np.stack([np.concatenate([x[0], x[1]], -1), np.concatenate([x[2], x[3]], -1)])
    np.testing.assert_array_equal(pack(jnp.asarray(x), 2), want)
    assert pack(jnp.asarray(x), 1) is not None and pack(jnp.asarray(x), 4).shape == (1, 3, 2, 8)
    with pytest.raises(ValueError, match="model.pack=3 .* a replica holds 4"):
        pack(jnp.asarray(x), 3)


def test_feature_matching_alone_is_the_squared_distance_of_feature_means():
    config, system, state = _setup(loss__feature_matching=1.0, loss__g_adversarial=False)
    assert system.groups["g"].data  # It reads a real batch.
    key, batch = jax.random.key(4), _batch(4)
    z = _z(config, key)
    real = jnp.asarray(batch["image"])

    def independent(g_params):
        variables = {**state.variables("g", use_ema=False), "params": g_params}
        fake, _ = system.networks["g"].apply(variables, z, None, train=True,
                                             mutable=["batch_stats"])
        diff = jnp.mean(_features(system, state, real), 0) - jnp.mean(
            _features(system, state, fake), 0)
        return jnp.sum(diff ** 2)

    fn, b = _loss_fn(system, "g", state.collections, key, batch)
    loss, metrics = fn(state.params, b)
    f_real = np.asarray(_features(system, state, real), np.float64)
    f_fake = np.asarray(_features(system, state, _fake(system, state, z, None)), np.float64)
    want = np.sum((f_real.mean(0) - f_fake.mean(0)) ** 2)
    np.testing.assert_allclose(float(loss), want, rtol=1e-4)
    np.testing.assert_allclose(float(metrics["feature_matching"]), want, rtol=1e-4)
    _check_grads(lambda p: fn({**state.params, "g": p}, b), independent, state.params["g"])


def test_feature_matching_is_added_to_the_adversarial_loss():
    config, system, state = _setup(loss__feature_matching=0.3, loss__name="nonsaturating")
    key, batch = jax.random.key(5), _batch(5)
    fake = _fake(system, state, _z(config, key), None)
    s = np.asarray(system.networks["d"].apply(state.variables("d", use_ema=False), fake, None,
                                              train=False), np.float64).reshape(-1)
    assert np.abs(s).max() > 5e-3  # Far enough from 0 that softplus(-s) tells them apart.
    fn, b = _loss_fn(system, "g", state.collections, key, batch)
    loss, metrics = fn(state.params, b)
    np.testing.assert_allclose(float(metrics["g_adv"]), np.mean(_softplus(-s)), rtol=1e-5)
    np.testing.assert_allclose(float(loss), np.mean(_softplus(-s))
                               + 0.3 * float(metrics["feature_matching"]), rtol=1e-5)


def test_a_packed_critic_judges_pairs_and_its_loss_is_over_packs():
    config, system, state = _setup(model__pack=2, loss__name="nonsaturating")
    key, batch = jax.random.key(6), _batch(6)
    fake = _fake(system, state, _z(config, key, "d"), None)
    real = np.asarray(batch["image"])
    joined = lambda x: np.concatenate([np.asarray(x)[0::2], np.asarray(x)[1::2]], axis=-1)
    critic = lambda x: np.asarray(system.networks["d"].apply(
        state.variables("d", use_ema=False), jnp.asarray(x), None, train=True),
        np.float64).reshape(-1)
    s_real, s_fake = critic(joined(real)), critic(joined(fake))
    assert s_real.shape == (BATCH // 2,) and np.std(np.concatenate([s_real, s_fake])) > 0.05
    fn, b = _loss_fn(system, "d", state.collections, key, batch)
    loss, _ = fn(state.params, b)
    np.testing.assert_allclose(float(loss), np.mean(_softplus(-s_real))
                               + np.mean(_softplus(s_fake)), rtol=1e-5)


def test_diffaugment_transforms_real_and_fake_with_one_key_per_example():
    config, system, state = _setup(reg__diffaugment="translation,cutout", loss__name="wasserstein")
    key, batch = jax.random.key(7), _batch(7)
    fake = _fake(system, state, _z(config, key, "d"), None)
    aug_key = jax.random.fold_in(key, AUGMENT_SALT)
    views = [augment.diff_augment(x, jax.random.split(jax.random.fold_in(aug_key, i), BATCH),
                                  ("translation", "cutout"))
             for i, x in enumerate((jnp.asarray(batch["image"]), fake))]
    assert not np.allclose(views[0], batch["image"])
    critic = lambda x: np.asarray(system.networks["d"].apply(
        state.variables("d", use_ema=False), x, None, train=True), np.float64)
    fn, b = _loss_fn(system, "d", state.collections, key, batch)
    loss, _ = fn(state.params, b)
    want = np.mean(critic(views[1])) - np.mean(critic(views[0]))
    plain = np.mean(critic(fake)) - np.mean(critic(jnp.asarray(batch["image"])))
    assert abs(want - plain) > 1e-3  # The augmentation changes the loss measurably.
    np.testing.assert_allclose(float(loss), want, rtol=1e-4)


@pytest.mark.parametrize("bad,match", [
    ({"model__pack": 3}, "model.pack=3 must divide train.batch_size=8"),
    ({"model__pack": 2, "data__num_classes": 10}, "a conditional run"),
    ({"reg__diffaugment": "color,flip"}, "reg.diffaugment: DiffAugment policy 'color,flip'"),
    ({"loss__g_adversarial": False}, "loss.feature_matching=0: set it > 0"),
    ({"loss__feature_matching": -1.0}, "loss.feature_matching=-1.0 must be >= 0"),
])
def test_bad_trick_settings_are_refused_before_compute(bad, match):
    config = _config("gan", **{"data__num_classes": 0, "model__d_norm": "none", **bad})
    with pytest.raises(ConfigError, match=match):
        config_lib.validate(config)


def test_systems_with_their_own_losses_refuse_the_pair_tricks():
    config = _config("acgan", model__pack=2)
    with pytest.raises(ConfigError, match="model.pack=2 is built into the single-pair losses"):
        config_lib.validate(config)


def test_a_step_with_every_trick_on_four_devices_equals_one_device():
    config = _config("gan", data__num_classes=0, model__d_norm="none", model__pack=2,
                     reg__diffaugment="color,translation,cutout", loss__feature_matching=0.5,
                     loss__name="nonsaturating", reg__gp_weight=1.0)
    config_lib.validate(config)
    system = with_sgd(build_system(config))
    _, _, _, metrics = assert_four_devices_equal_one(
        system, [(_batch(10 + s),) for s in range(2)], BATCH, rtol=2e-5)
    assert "feature_matching" in metrics[-1] and "gp" in metrics[-1]
