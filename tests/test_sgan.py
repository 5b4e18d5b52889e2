"""Stacked GAN: losses against numpy, shapes through the stack, device-count independence,
sample diversity, and a tiny end-to-end run that checkpoints, resumes and samples.

Networks are at ``jaxgan.models.sgan.TINY`` sizes; SGD in the step tests keeps
updates proportional to gradients, so 1 and 4 devices can be compared tightly
(Adam's first step is ``lr * sign(g)``, which turns rounding noise in a
near-zero gradient into a full-size difference).
"""

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import stats
from scipy.spatial.distance import pdist

from fake_data import write_mnist_cache
from jaxgan import losses as gan_losses
from jaxgan import parallel
from jaxgan.config import ConfigError
from jaxgan.engine.sampling import Sampler, generate_from_workdir
from jaxgan.engine.state import init_state
from jaxgan.engine.step import make_step
from jaxgan.losses import stacked as losses
from jaxgan.metrics import diversity
from jaxgan.models import sgan as models
from jaxgan.system import Phase
from jaxgan.systems import sgan_config
from jaxgan.systems.sgan import StackedGAN

RNG = np.random.default_rng(0)


def _softplus(x):
    return np.logaddexp(0.0, x)


# ---- losses against independent numpy computations --------------------------------------

def test_discriminator_adversarial_is_half_binary_cross_entropy():
    real, fake = RNG.normal(size=6) * 3, RNG.normal(size=6) * 3
    got = losses.discriminator_adversarial(gan_losses.minimax_d, real, fake)
    d_real, d_fake = 1 / (1 + np.exp(-real)), 1 / (1 + np.exp(-fake))
    want = 0.5 * (-np.log(d_real) - np.log(1 - d_fake))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_label_conditional_is_cross_entropy_with_softmax_gradient():
    logits, labels = RNG.normal(size=(5, 4)).astype(np.float32), np.array([0, 3, 1, 1, 2])
    z = logits - logits.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    np.testing.assert_allclose(losses.label_conditional(logits, labels),
                               -log_p[np.arange(5), labels], rtol=1e-5)
    grad = jax.grad(lambda x: jnp.sum(losses.label_conditional(x, labels)))(logits)
    np.testing.assert_allclose(grad, np.exp(log_p) - np.eye(4)[labels], atol=1e-6)


def test_feature_conditional_and_entropy_mean_squared_error_and_gradients():
    a, b = RNG.normal(size=(3, 7)).astype(np.float32), RNG.normal(size=(3, 7)).astype(np.float32)
    want = np.mean((a - b) ** 2, axis=1)
    for fn in (losses.feature_conditional, losses.entropy):
        np.testing.assert_allclose(fn(a, b), want, rtol=1e-5)
        np.testing.assert_allclose(jax.jit(fn)(a, b), want, rtol=1e-5)
        grad = jax.grad(lambda x: jnp.sum(fn(x, b)))(a)
        np.testing.assert_allclose(grad, 2 * (a - b) / 7, rtol=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        losses.entropy(a, b[:, :3])


def test_entropy_is_gaussian_negative_log_likelihood_up_to_scale_and_constant():
    # -log N(z; q, s^2 I) = Z/2 log(2 pi s^2) + ||z - q||^2 / (2 s^2) = const + Z/(2 s^2) * L_ent.
    q, z, s = RNG.normal(size=(4, 5)), RNG.uniform(size=(4, 5)), 0.7
    nll = -stats.norm.logpdf(z, loc=q, scale=s).sum(1)
    const = 5 / 2 * np.log(2 * np.pi * s ** 2)
    np.testing.assert_allclose(const + 5 / (2 * s ** 2) * np.asarray(losses.entropy(q, z)), nll,
                               rtol=1e-5)


def test_scale_gradient_couples_the_stacks_as_in_joint_training():
    # L1 depends on a (the top generator); L0 on h = a * x and b (the bottom one).
    x = 1.5

    def total(params):
        a, b = params
        h = losses.scale_gradient(a * x, jnp.float32(0.01))
        loss1 = (a - 2.0) ** 2
        loss0 = (b * h - 1.0) ** 2
        return loss1 + loss0

    a, b = 0.3, -0.8
    ga, gb = jax.jit(jax.grad(total))((a, b))
    r = b * a * x - 1.0
    np.testing.assert_allclose(ga, 2 * (a - 2.0) + 0.01 * 2 * r * b * x, rtol=1e-5)
    np.testing.assert_allclose(gb, 2 * r * a * x, rtol=1e-5)
    np.testing.assert_allclose(losses.scale_gradient(jnp.arange(3.0), 0.5), [0, 1, 2])


# ---- networks ---------------------------------------------------------------------------

def _config(stacked=True, image_size=28, channels=1, batch=8):
    c = sgan_config.sgan_config("mnist")
    for k, v in models.TINY.items():
        c.sgan[k] = v
    c.sgan.stacked = stacked
    c.data.image_size, c.data.channels = image_size, channels
    c.train.batch_size = batch
    return c


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3)])
def test_shapes_through_the_stack(size, channels):
    c = _config(image_size=size, channels=channels)
    system = StackedGAN(c)
    nets = system.networks
    s, b = c.sgan, 3

    def forward(key):
        state = init_state(system, key)
        y = jnp.array([0, 4, 9])
        z1 = jax.random.uniform(jax.random.key(1), (b, s.z1_dim))
        z0 = jax.random.uniform(jax.random.key(2), (b, s.z0_dim))
        h1 = nets["g1"].apply(state.variables("g1"), z1, y, train=False)
        x = nets["g0"].apply(state.variables("g0"), z0, h1, train=False)
        enc = nets["encoder"].apply(state.variables("encoder"), x)
        return (h1, x, enc, nets["d1"].apply(state.variables("d1"), h1),
                nets["d0"].apply(state.variables("d0"), x))

    # Shapes need no compilation (the sampling test runs the stack and checks values).
    h1, x, enc, (score1, q1), (score0, q0) = jax.eval_shape(forward, jax.random.key(0))
    assert h1.shape == (b, s.feature_dim)
    assert x.shape == (b, size, size, channels)
    assert enc["fc3"].shape == (b, s.feature_dim) and enc["logits"].shape == (b, 10)
    assert score1.shape == score0.shape == (b,)
    assert q1.shape == (b, s.z1_dim) and q0.shape == (b, s.z0_dim)


def test_unsupported_sizes_and_fields_raise_before_compute():
    with pytest.raises(models.ModelConfigError, match="28"):
        models.start_size(30)
    c = _config()
    c.sgan.independent_steps = c.train.num_steps + 1
    with pytest.raises(ConfigError, match="independent_steps"):
        sgan_config.validate(c)
    c = _config()
    c.reg.gp_weight = 1.0
    with pytest.raises(ConfigError, match="penalty"):
        sgan_config.validate(c)
    c = _config()
    c.sgan.encoder_path = "/nonexistent/encoder.npz"
    with pytest.raises(FileNotFoundError, match="encoder_path"):
        sgan_config.validate(c)


# ---- the data-parallel steps: 4 devices == 1 device ------------------------------------

PHASES = {"encoder": Phase("encoder", 1, ("encoder",)),
          "independent": Phase("independent", 1, ("d", "g")),
          "joint": Phase("joint", 1, ("d_joint", "g_joint"))}


def _sgd_system(config, lr=0.05):
    system = StackedGAN(config)
    system.groups = {k: dataclasses.replace(g, optimizer=optax.sgd(lr))
                     for k, g in system.groups.items()}
    return system


def _run_steps(config, mesh, init, batches, schedule):
    """``schedule``: one of 'encoder', 'independent', 'joint' per batch."""
    system = _sgd_system(config)
    state = parallel.replicate(mesh, init)
    steps = {k: make_step(system, phase, mesh, config.train.batch_size)
             for k, phase in PHASES.items()}
    metrics = []
    for kind, host in zip(schedule, batches, strict=True):
        state, m = steps[kind](state, (parallel.host_to_global(mesh, host),))
        metrics.append(jax.device_get(m))
    return jax.device_get(state), metrics


def test_encoder_independent_and_joint_steps_on_four_devices_equal_one_device():
    schedule = ("encoder", "independent", "joint")
    assert jax.device_count() >= 4, "conftest.py gives 4 fake CPU devices"
    config = _config(stacked=True, batch=8)
    system = _sgd_system(config)
    init = jax.device_get(jax.jit(lambda k: init_state(system, k))(jax.random.key(3)))
    rng = np.random.default_rng(1)
    batches = [{"image": rng.uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32),
                "label": rng.integers(0, 10, 8).astype(np.int32)} for _ in schedule]
    one, m1 = _run_steps(config, parallel.make_mesh(jax.devices()[:1]), init, batches, schedule)
    four, m4 = _run_steps(config, parallel.make_mesh(jax.devices()[:4]), init, batches, schedule)
    assert int(four.step) == len(schedule) and int(four.data_step) == len(schedule)
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(four), strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   rtol=2e-4, atol=2e-6)
    for a, b in zip(m1, m4, strict=True):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=2e-4, atol=2e-6, err_msg=k)
    # Every trained network moved (so the comparison is not of untouched parameters).
    for name in ("encoder", "g1", "g0", "d1", "d0"):
        moved = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(init.params[name]),
                                                       jax.tree.leaves(four.params[name]),
                                                       strict=True)]
        assert all(moved), name


def test_single_stack_step_traces_with_its_losses():
    # The ablation's one-generator baseline: G(z, y) -> image, L_cond through the whole
    # encoder. Tracing (no compilation) checks its step builds and what it reports.
    config = _config(stacked=False, batch=8)
    system = _sgd_system(config)
    mesh = parallel.make_mesh(jax.devices()[:4])
    state = jax.eval_shape(lambda k: init_state(system, k), jax.random.key(0))
    assert set(state.params) == {"encoder", "g0", "d0"}
    assert [p.name for p in system.phases] == ["encoder", "independent"]
    step = make_step(system, PHASES["independent"], mesh, 8)
    batch = {"image": jax.ShapeDtypeStruct((8, 28, 28, 1), jnp.float32),
             "label": jax.ShapeDtypeStruct((8,), jnp.int32)}
    new_state, metrics = jax.eval_shape(step, state, (batch,))
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert {"g0_adv", "g0_cond", "g0_ent", "d0_adv", "d0_ent"} <= set(metrics)
    assert not any(k.startswith(("g1", "d1")) for k in metrics)


# ---- sampling ----------------------------------------------------------------------------

def _calibrate_batch_norm(nets, state, z1, z0, labels):
    """The state with every BN running statistic set to its value on this batch.

    At initialisation the running variance is 1 while the activations are tiny, so
    inference-mode samples are all ~0. One train-mode pass returns
    ``new = 0.9 old + 0.1 batch`` (momentum 0.9), from which the batch statistics
    follow exactly; G1 first, then G0 on G1's (now inference-mode) output.
    """
    def batch_stats(net, variables, *args):
        _, new = net.apply(variables, *args, train=True, mutable=["batch_stats"])
        return jax.tree.map(lambda n, o: (n - 0.9 * o) / 0.1, new["batch_stats"],
                            variables["batch_stats"])

    g1 = batch_stats(nets["g1"], state.variables("g1"), z1, labels)
    h1 = nets["g1"].apply({"params": state.params["g1"], "batch_stats": g1}, z1, labels,
                          train=False)
    g0 = batch_stats(nets["g0"], state.variables("g0"), z0, h1)
    return state.replace(collections={**state.collections, "g1": {"batch_stats": g1},
                                      "g0": {"batch_stats": g0}})


def test_fixed_label_and_varying_z0_give_distinct_images():
    c = _config()
    system = StackedGAN(c)
    nets = system.networks
    n, s = 8, c.sgan
    k1, k0, kc1, kc0 = jax.random.split(jax.random.key(1), 4)

    @jax.jit
    def calibrated_state(key):
        state = init_state(system, key)
        return _calibrate_batch_norm(nets, state, jax.random.uniform(kc1, (64, s.z1_dim)),
                                     jax.random.uniform(kc0, (64, s.z0_dim)),
                                     jnp.arange(64, dtype=jnp.int32) % 10)

    state = calibrated_state(jax.random.key(5))
    sampler = Sampler(system)
    labels = jnp.full((n,), 7, jnp.int32)
    z1 = jnp.tile(jax.random.uniform(k1, (1, s.z1_dim)), (n, 1))
    z0 = jax.random.uniform(k0, (n, s.z0_dim))
    x = np.asarray(sampler.images(state, {"z1": z1, "z0": z0}, labels))
    assert x.shape == (n, 28, 28, 1) and np.all(np.abs(x) <= 1)
    h1 = nets["g1"].apply(state.variables("g1"), z1, labels, train=False)
    assert bool(jnp.all(h1 >= 0))  # fc3 features are ReLU outputs, as the encoder's.
    scale = np.sqrt(np.mean(x ** 2))
    assert scale > 1e-3, scale  # Calibrated: the images are not all ~0.
    distances = pdist(x.reshape(n, -1)) / np.sqrt(x[0].size)
    assert distances.min() > 0.01 * scale, (distances.min(), scale)
    np.testing.assert_array_equal(x, sampler.images(state, {"z1": z1, "z0": z0}, labels))
    same = np.asarray(sampler.images(state, {"z1": z1, "z0": jnp.tile(z0[:1], (n, 1))}, labels))
    assert pdist(same.reshape(n, -1)).max() < 1e-6 * np.sqrt(x[0].size)


def test_mean_pairwise_distance_and_per_class_diversity_against_scipy():
    x = RNG.normal(size=(9, 4, 4, 1))
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    d = x.shape[1] * x.shape[2]
    assert np.isclose(diversity.mean_pairwise_distance(x), pdist(x.reshape(9, -1)).mean() / 4)
    want = np.mean([pdist(x[labels == k].reshape(-1, d)).mean() / np.sqrt(d) for k in range(3)])
    assert np.isclose(diversity.per_class_diversity(x, labels, 3), want)


# ---- a tiny end-to-end run: checkpoints, encoder file, resume, sampling --------------------

def _e2e_config(num_steps, data_dir):
    c = _config(batch=16)
    c.data.name = "mnist"
    c.data.data_dir = str(data_dir)
    c.sgan.encoder_steps = 2
    c.sgan.independent_steps = 2
    c.sgan.samples_per_class = 2
    c.train.num_steps = num_steps
    c.train.log_every = 1
    c.train.checkpoint_every = 2
    c.train.sample_every = 100
    return c


def test_trainer_writes_checkpoints_resumes_bit_for_bit_and_samples(tmp_path):
    from jaxgan.engine import trainer

    write_mnist_cache(tmp_path / "data")
    config = lambda n: _e2e_config(n, tmp_path / "data")
    straight = trainer.run(config(4), str(tmp_path / "straight"))
    assert straight["step"] == 6  # 2 encoder steps, then 4 GAN steps.
    assert 0.0 <= straight["encoder_test_accuracy"] <= 1.0
    workdir = str(tmp_path / "resumed")
    first = trainer.run(config(3), workdir)  # Stops in the joint phase, at GAN step 3.
    assert first["step"] == 5
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4", "5"]
    assert os.path.isfile(os.path.join(workdir, "encoder.npz"))
    resumed = trainer.run(config(4), workdir)
    assert resumed["step"] == 6
    for a, b in zip(jax.tree.leaves(straight["state"]), jax.tree.leaves(resumed["state"]),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    steps = [r["step"] for r in records if "g_loss" in r]
    assert steps == [3, 4, 5, 6]  # Steps of GAN steps 1..4, each logged once.
    assert {r["phase"] for r in records if "phase" in r} == {0, 1, 2}
    samples = os.listdir(os.path.join(workdir, "samples"))
    assert {f"class{k}_0000006.png" for k in range(10)} <= set(samples)
    assert "reconstructions_0000006.png" in samples
    # jaxgan.sample on the workdir: the stacked generator, one label per image.
    images, labels = generate_from_workdir(workdir, 5, seed=1)
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (5,) and set(labels) <= set(range(10))
    sevens, labels = generate_from_workdir(workdir, 3, seed=1, label=7)
    assert list(labels) == [7, 7, 7]
    with pytest.raises(ValueError, match="not a class"):
        generate_from_workdir(workdir, 3, label=10)
    # A pre-trained encoder is reused: no encoder phase, the same encoder parameters.
    reuse = config(1)
    reuse.sgan.independent_steps = 1
    reuse.sgan.encoder_path = os.path.join(workdir, "encoder.npz")
    out = trainer.run(reuse, str(tmp_path / "reuse"))
    assert out["step"] == 1
    for a, b in zip(jax.tree.leaves(out["state"].params["encoder"]),
                    jax.tree.leaves(resumed["state"].params["encoder"]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_non_finite_loss_and_incompatible_workdir_stop_before_harm(tmp_path):
    from jaxgan.engine import checkpoint, trainer

    data_dir = write_mnist_cache(tmp_path / "data")
    c = _e2e_config(2, data_dir)
    c.train.checkpoint_every = 1
    c.sgan.encoder_lr = 1e30  # Step 1 moves the encoder's weights to ~1e30: step 2 overflows.
    workdir = tmp_path / "diverges"
    with pytest.raises(trainer.TrainingError, match="Non-finite .* at step 2") as e:
        trainer.run(c, str(workdir))
    assert f"The last good checkpoint (step 1) is intact in {workdir}" in str(e.value)
    assert sorted(os.listdir(workdir / "checkpoints")) == ["1"]

    good = tmp_path / "good"
    trainer.run(_e2e_config(2, data_dir), str(good))
    before = sorted(os.listdir(good / "checkpoints"))
    other = _e2e_config(3, data_dir)
    other.sgan.g0_width = 8
    with pytest.raises(checkpoint.CheckpointError, match="sgan.g0_width: 4 in the workdir, 8 now"):
        trainer.run(other, str(good))
    assert sorted(os.listdir(good / "checkpoints")) == before
