"""CGAN, AC-GAN and InfoGAN: their losses against independent computations (values and
``jax.grad``), a step on 4 devices equal to 1, and end-to-end runs that resume bit-exactly
and honour the sampling contract (labels and codes round-trip; bad requests fail clearly).

Networks are DCGAN at ``TINY`` widths on 32x32 images.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

from device_checks import assert_four_devices_equal_one, with_sgd
from fake_data import write_mnist_cache
from jaxgan import config as config_lib
from jaxgan import parallel
from jaxgan.config import ConfigError
from jaxgan.engine.context import Context
from jaxgan.engine.state import init_state
from jaxgan.models import ModelConfigError, dcgan
from jaxgan.systems import build_system
from jaxgan.systems.mnist_configs import digit_config

BATCH = 8
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(system, **overrides):
    c = digit_config(system, labels=system != "infogan")
    c.model.z_dim = 6
    c.model.g_width = dcgan.TINY["generator"]["width"]
    c.model.d_width = dcgan.TINY["critic"]["width"]
    c.model.conditioning = "concat"
    c.infogan.categorical, c.infogan.continuous = 4, 2
    c.infogan.continuous_weight = 0.5  # Unlike the categorical's 1: the weights must apply.
    c.infogan.q_hidden = 8
    c.acgan.class_weight = 0.7
    c.train.batch_size = BATCH
    for k, v in overrides.items():
        section, name = k.split("__")
        c[section][name] = v
    return c


def _batch(seed=0, n=BATCH):
    rng = np.random.default_rng(seed)
    return {"image": rng.uniform(-1, 1, (n, 32, 32, 1)).astype(np.float32),
            "label": rng.integers(0, 10, n).astype(np.int32)}


def _loss_fn(system, group, collections, key, batch):
    """``params -> (loss, metrics)``: the system's own loss of ``group`` on one device."""
    mesh = parallel.make_mesh(jax.devices()[:1])

    def replica(params, batch):
        ctx = Context(system.networks, params, collections, key, local_batch=BATCH)
        return system.groups[group].loss(ctx, batch)

    # Jitted: op by op, these networks' losses and gradients take minutes.
    return jax.jit(jax.shard_map(replica, mesh=mesh, in_specs=(P(), P(parallel.DATA_AXIS)),
                                 out_specs=(P(), P()), check_vma=False)), batch


def _setup(system_name, **overrides):
    config = _config(system_name, **overrides)
    config_lib.validate(config)
    system = build_system(config)
    state = jax.device_get(init_state(system, jax.random.key(0)))
    return config, system, state


def _fake(system, state, z, labels):
    """The generator's training-mode images (batch statistics of this batch)."""
    out, _ = system.networks["g"].apply(state.variables("g", use_ema=False), z, labels,
                                        train=True, mutable=["batch_stats"])
    return out


def _judge(critic, params, collections, x, labels=None, **kwargs):
    """The critic in train mode on one batch (a batch-norm critic: this batch's statistics)."""
    out, _ = critic.apply({"params": params, **collections}, x, labels, train=True,
                          mutable=["batch_stats"], **kwargs)
    return out


def _judge_apart(critic, params, collections, real, fake, labels=None, fake_labels=None,
                 **kwargs):
    """Real and fake batches judged apart (as a DCGAN critic with batch norm must be)."""
    a = _judge(critic, params, collections, real, labels, **kwargs)
    b = _judge(critic, params, collections, fake, fake_labels, **kwargs)
    return jax.tree.map(lambda u, v: jnp.concatenate([u, v]), a, b)


def _gan_draws(config, key):
    """GAN._draw's latents and uniformly random classes from ``key``."""
    z_key, y_key = jax.random.split(key)
    return (jax.random.normal(z_key, (BATCH, config.model.z_dim)),
            jax.random.randint(y_key, (BATCH,), 0, 10))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    m = logits.max(-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))


def _check_grads(system_loss, independent_loss, params):
    got = jax.jit(jax.grad(lambda p: system_loss(p)[0]))(params)
    want = jax.jit(jax.grad(independent_loss))(params)
    scale = max(float(jnp.abs(g).max()) for g in jax.tree.leaves(want))
    assert scale > 0
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=1e-5 * scale)


# ---- AC-GAN -------------------------------------------------------------------------------

def test_acgan_critic_and_generator_losses_against_an_independent_computation():
    config, system, state = _setup("acgan")
    key = jax.random.key(11)
    batch = _batch()
    w = config.acgan.class_weight
    z, y = _gan_draws(config, jax.random.split(key)[0])  # The critic's update draws from this.
    fake = _fake(system, state, z, y)
    critic, cols = system.networks["d"], state.collections["d"]
    real = jnp.asarray(batch["image"])

    def outputs(d_params):
        return _judge_apart(critic, d_params, cols, real, fake, heads=True)

    scores, heads = outputs(state.params["d"])
    s, logits = np.asarray(scores, np.float64).reshape(2 * BATCH), np.asarray(heads["class"])
    ce = -_log_softmax(logits)[np.arange(2 * BATCH), np.concatenate([batch["label"], y])]
    want = (np.mean(_softplus(-s[:BATCH])) + np.mean(_softplus(s[BATCH:]))
            + w * (ce[:BATCH].mean() + ce[BATCH:].mean()))
    fn, b = _loss_fn(system, "d", state.collections, key, batch)
    loss, metrics = fn(state.params, b)
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)
    np.testing.assert_allclose(float(metrics["class_real"]), ce[:BATCH].mean(), rtol=1e-5)

    def independent_d(params):
        scores, heads = outputs(params["d"])
        scores = scores.reshape(-1)
        labels = jnp.concatenate([jnp.asarray(batch["label"]), y])
        ce = optax.softmax_cross_entropy_with_integer_labels(heads["class"], labels)
        return (jax.nn.softplus(-scores[:BATCH]).mean() + jax.nn.softplus(scores[BATCH:]).mean()
                + w * (ce[:BATCH].mean() + ce[BATCH:].mean()))

    _check_grads(lambda p: fn(p, b), independent_d, {"d": state.params["d"], "g": state.params["g"]})

    # The generator: -log D(G(z, c)) plus the class term, through G's training-mode images.
    z, y = _gan_draws(config, key)

    def independent_g(params):
        fake, _ = system.networks["g"].apply({"params": params["g"], **state.collections["g"]},
                                             z, y, train=True, mutable=["batch_stats"])
        scores, heads = _judge(critic, params["d"], cols, fake, heads=True)
        ce = optax.softmax_cross_entropy_with_integer_labels(heads["class"], y)
        return jax.nn.softplus(-scores.reshape(-1)).mean() + w * ce.mean()

    fn, b = _loss_fn(system, "g", state.collections, key, None)
    loss, metrics = fn(state.params, b)
    np.testing.assert_allclose(float(loss), float(independent_g(state.params)), rtol=1e-5)
    _check_grads(lambda p: fn(p, b), independent_g, state.params)


# ---- InfoGAN ------------------------------------------------------------------------------

def _information(logits, means, codes, continuous, weights):
    """numpy: lambda_c (log Q(c|x) + log K) + lambda_u (sum_j log N(u_j; mu_j, 1) + L log 2)."""
    k, l = logits.shape[1], means.shape[1]
    cat = _log_softmax(logits)[np.arange(len(codes)), codes] + np.log(k)
    cont = (-0.5 * np.log(2 * np.pi) - 0.5 * (np.asarray(continuous, np.float64)
                                               - np.asarray(means, np.float64)) ** 2).sum(1)
    return weights[0] * cat.mean() + weights[1] * (cont.mean() + l * np.log(2.0))


def _info_draws(config, key):
    z_key, c_key, u_key = jax.random.split(key, 3)
    i = config.infogan
    return (jax.random.normal(z_key, (BATCH, config.model.z_dim)),
            jax.random.randint(c_key, (BATCH,), 0, i.categorical),
            jax.random.uniform(u_key, (BATCH, i.continuous), minval=-1.0, maxval=1.0))


def _info_input(z, codes, continuous, k):
    return jnp.concatenate([z, jax.nn.one_hot(codes, k), continuous], axis=-1)


def _jnp_information(heads, codes, continuous, weights, k):
    cat = -optax.softmax_cross_entropy_with_integer_labels(heads["code"], codes) + jnp.log(k)
    cont = jnp.sum(-0.5 * jnp.log(2 * jnp.pi) - 0.5 * (continuous - heads["continuous"]) ** 2
                   + jnp.log(2.0), axis=1)
    return weights[0] * cat.mean() + weights[1] * cont.mean()


def test_infogan_critic_and_generator_losses_against_an_independent_computation():
    config, system, state = _setup("infogan")
    i = config.infogan
    weights, k = (i.categorical_weight, i.continuous_weight), i.categorical
    key = jax.random.key(5)
    batch = _batch(1)
    z, codes, cont = _info_draws(config, jax.random.split(key)[0])
    fake = _fake(system, state, _info_input(z, codes, cont, k), None)
    critic, cols = system.networks["d"], state.collections["d"]
    real = jnp.asarray(batch["image"])
    scores, heads = _judge_apart(critic, state.params["d"], cols, real, fake, heads=True)
    s = np.asarray(scores, np.float64).reshape(-1)
    info = _information(np.asarray(heads["code"])[BATCH:], np.asarray(heads["continuous"])[BATCH:],
                        np.asarray(codes), cont, weights)
    want = np.mean(_softplus(-s[:BATCH])) + np.mean(_softplus(s[BATCH:])) - info
    fn, b = _loss_fn(system, "d", state.collections, key, batch)
    loss, metrics = fn(state.params, b)
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)
    assert 0.0 <= float(metrics["d_code_accuracy"]) <= 1.0

    def independent_d(params):
        scores, heads = _judge_apart(critic, params["d"], cols, real, fake, heads=True)
        scores = scores.reshape(-1)
        fake_heads = {n: v[BATCH:] for n, v in heads.items()}
        return (jax.nn.softplus(-scores[:BATCH]).mean() + jax.nn.softplus(scores[BATCH:]).mean()
                - _jnp_information(fake_heads, codes, cont, weights, k))

    _check_grads(lambda p: fn(p, b), independent_d, state.params)

    z, codes, cont = _info_draws(config, key)

    def independent_g(params):
        fake, _ = system.networks["g"].apply({"params": params["g"], **state.collections["g"]},
                                             _info_input(z, codes, cont, k), None, train=True,
                                             mutable=["batch_stats"])
        scores, heads = _judge(critic, params["d"], cols, fake, heads=True)
        return (jax.nn.softplus(-scores.reshape(-1)).mean()
                - _jnp_information(heads, codes, cont, weights, k))

    fn, b = _loss_fn(system, "g", state.collections, key, None)
    loss, metrics = fn(state.params, b)
    np.testing.assert_allclose(float(loss), float(independent_g(state.params)), rtol=1e-5)
    assert float(metrics["mi_categorical"]) <= np.log(k) + 1e-6  # A bound on H(c) = log K.
    _check_grads(lambda p: fn(p, b), independent_g, state.params)


# ---- CGAN ---------------------------------------------------------------------------------

@pytest.mark.parametrize("conditioning,d_norm", [("concat", "batch"), ("projection", "none")])
def test_cgan_critic_loss_is_the_conditional_minimax_of_d_x_given_y(conditioning, d_norm):
    config, system, state = _setup("cgan", model__conditioning=conditioning, model__d_norm=d_norm)
    key = jax.random.key(2)
    batch = _batch(2)
    z, y = _gan_draws(config, jax.random.split(key)[0])
    fake = _fake(system, state, z, y)
    critic, cols = system.networks["d"], state.collections["d"]
    real = jnp.asarray(batch["image"])
    s = np.asarray(_judge_apart(critic, state.params["d"], cols, real, fake, batch["label"], y),
                   np.float64).reshape(-1)
    fn, b = _loss_fn(system, "d", state.collections, key, batch)
    loss, _ = fn(state.params, b)
    np.testing.assert_allclose(float(loss), np.mean(_softplus(-s[:BATCH]))
                               + np.mean(_softplus(s[BATCH:])), rtol=1e-5)
    # The label matters: the same images judged with other labels score differently.
    other = _judge_apart(critic, state.params["d"], cols, real, fake, (batch["label"] + 1) % 10,
                         (y + 1) % 10)
    assert not np.allclose(np.asarray(other).reshape(-1), s, atol=1e-6)


# ---- the engine's guarantees ---------------------------------------------------------------

@pytest.mark.parametrize("system_name", ["cgan", "acgan", "infogan"])
def test_a_step_on_four_devices_equals_one_device(system_name):
    system = with_sgd(build_system(_config(system_name)))
    init, _, four, _ = assert_four_devices_equal_one(
        system, [(_batch(10 + s),) for s in range(2)], BATCH)
    for name in ("g", "d"):
        assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(init.params[name]),
                                                         jax.tree.leaves(four.params[name])))


def _e2e_config(system_name, steps, data_dir):
    c = _config(system_name)
    c.data.data_dir = str(data_dir)
    c.data.prefetch = 1
    c.train.num_steps = steps
    c.train.log_every = 1
    c.train.checkpoint_every = 2
    c.train.sample_every = 2
    c.train.num_sample_images = 8
    return c


@pytest.mark.parametrize("system_name", ["acgan", "infogan"])
def test_trainer_resumes_bit_for_bit_and_samples_by_label_or_code(system_name, tmp_path):
    from jaxgan.engine import trainer
    from jaxgan.engine.sampling import sample_workdir

    data_dir = write_mnist_cache(tmp_path / "data")
    straight = trainer.run(_e2e_config(system_name, 4, data_dir), str(tmp_path / "straight"))
    workdir = str(tmp_path / "resumed")
    assert trainer.run(_e2e_config(system_name, 2, data_dir), workdir)["step"] == 2
    resumed = trainer.run(_e2e_config(system_name, 4, data_dir), workdir)
    assert resumed["step"] == 4
    for a, b in zip(jax.tree.leaves(straight["state"]), jax.tree.leaves(resumed["state"]),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        assert [r["step"] for r in map(json.loads, f) if "g_loss" in r] == [1, 2, 3, 4]
    samples = set(os.listdir(os.path.join(workdir, "samples")))
    assert "samples_0000004.png" in samples

    drawn = sample_workdir(workdir, 6, seed=1)
    assert drawn["images"].shape == (6, 32, 32, 1) and drawn["images"].dtype == np.uint8
    again = sample_workdir(workdir, 6, seed=1)
    for k in drawn:
        np.testing.assert_array_equal(drawn[k], again[k])
    if system_name == "acgan":
        assert set(drawn) == {"images", "labels"} and set(drawn["labels"]) <= set(range(10))
        threes = sample_workdir(workdir, 4, seed=1, label=3)
        assert list(threes["labels"]) == [3, 3, 3, 3]
        with pytest.raises(ValueError, match="--label 12 is not a class of this run"):
            sample_workdir(workdir, 4, label=12)
        with pytest.raises(ValueError, match="no latent factor 'code'"):
            sample_workdir(workdir, 4, code=1)
    else:
        assert set(drawn) == {"images", "codes", "continuous"}
        assert drawn["codes"].shape == (6,) and set(drawn["codes"]) <= set(range(4))
        assert drawn["continuous"].shape == (6, 2) and np.abs(drawn["continuous"]).max() <= 1
        twos = sample_workdir(workdir, 5, seed=1, code=2)
        assert list(twos["codes"]) == [2] * 5
        with pytest.raises(ValueError, match="--code 4 is not a categorical code"):
            sample_workdir(workdir, 4, code=4)
        with pytest.raises(ValueError, match="unconditional"):
            sample_workdir(workdir, 4, label=1)
        assert {"continuous0_0000004.png", "continuous1_0000004.png"} <= samples


def test_sample_command_writes_labels_and_rejects_a_class_the_run_lacks(tmp_path):
    from jaxgan.engine import trainer

    data_dir = write_mnist_cache(tmp_path / "data")
    workdir = str(tmp_path / "cgan")
    trainer.run(_e2e_config("cgan", 2, data_dir), workdir)
    out = tmp_path / "s.npz"
    cmd = [sys.executable, "-m", "jaxgan.sample", "--workdir", workdir, "--num", "5",
           "--out", str(out)]
    done = subprocess.run(cmd + ["--label", "3"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    with np.load(out) as z:
        assert sorted(z.files) == ["images", "labels"]
        assert z["images"].shape == (5, 32, 32, 1) and list(z["labels"]) == [3] * 5
    bad = subprocess.run(cmd + ["--label", "12"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1
    assert "error: --label 12 is not a class of this run (0..9)." in bad.stderr


# ---- bad input ---------------------------------------------------------------------------

def test_conditional_configs_without_labels_fail_before_compute(tmp_path):
    from PIL import Image

    from jaxgan.engine import trainer

    with pytest.raises(ConfigError, match="d_norm='batch'"):
        config_lib.validate(_config("cgan", reg__gp_weight=10.0))
    with pytest.raises(ConfigError, match="'cgan' is conditioned on class labels"):
        config_lib.validate(_config("cgan", data__num_classes=0))
    with pytest.raises(ConfigError, match="'acgan' is conditioned on class labels"):
        config_lib.validate(_config("acgan", data__num_classes=0))
    with pytest.raises(ConfigError, match="'infogan' learns its codes without labels"):
        config_lib.validate(_config("infogan", data__num_classes=10))
    with pytest.raises(ConfigError, match="'infogan' draws its noise from N"):
        config_lib.validate(_config("infogan", model__z_prior="uniform"))
    with pytest.raises(ModelConfigError, match="conditioning='bogus' is not one of"):
        config_lib.validate(_config("cgan", model__conditioning="bogus"))
    # A data set without labels (a flat folder of images) for a conditional system.
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    c = _config("cgan", data__name="image_folder", data__data_dir=str(folder))
    c.data.channels = 3
    with pytest.raises(ValueError, match="has no labels: a conditional system"):
        trainer.run(c, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run" / "checkpoints")
