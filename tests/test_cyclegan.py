"""CycleGAN: both groups' losses through the system against an independent computation (values
and ``jax.grad``), the history pools as extra state, a step on 4 devices equal to 1, a run that
resumes bit-exactly (pools included), samples and translates, and configs refused before compute.

Networks at tiny widths on 28x28x3 images; data MNIST (faked) against MNIST-M built from it.
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from device_checks import assert_four_devices_equal_one, group_loss_on_one_device, with_sgd
from fake_data import write_mnist_cache
from jaxgan import config as config_lib
from jaxgan.config import ConfigError
from jaxgan.engine.state import init_state
from jaxgan.image_pool import query_pool
from jaxgan.systems import build_system
from jaxgan.systems.cyclegan import POOL_SALT

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 8
SIZE = 28


def _config(**overrides):
    sys.path.insert(0, os.path.join(REPO, "configs"))
    try:
        import cyclegan_mnist
    finally:
        sys.path.pop(0)
    c = cyclegan_mnist.get_config()
    c.model.g_width = c.model.d_width = 4
    c.cyclegan.blocks = 1
    c.cyclegan.d_layers = 1
    c.cyclegan.pool_size = 3
    c.model.fast_cpu_layers = False
    c.train.batch_size = BATCH
    for k, v in overrides.items():
        section, name = k.split("__")
        c[section][name] = v
    return c


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    draw = lambda: rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
    return {"image": draw(), "image_b": draw()}


def _setup(**overrides):
    config = _config(**overrides)
    config_lib.validate(config)
    system = build_system(config)
    return config, system, jax.device_get(init_state(system, jax.random.key(0)))


def _check_grads(got, want, networks):
    for name in networks:
        scale = max(float(jnp.abs(w).max()) for w in jax.tree.leaves(want[name]))
        assert scale > 0
        for a, b in zip(jax.tree.leaves(got[name]), jax.tree.leaves(want[name]), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("identity_weight", [0.5, 0.0])
def test_generator_loss_against_an_independent_computation(identity_weight):
    config, system, state = _setup(cyclegan__identity_weight=identity_weight)
    batch = _batch(1)
    a, b = jnp.asarray(batch["image"]), jnp.asarray(batch["image_b"])
    lam = config.cyclegan.cycle_weight

    def independent(params):
        run = lambda n, x: system.networks[n].apply({"params": params[n]}, x)
        fake_b, fake_a = run("g_ab", a), run("g_ba", b)
        adv = (jnp.mean((run("d_b", fake_b) - 1) ** 2) + jnp.mean((run("d_a", fake_a) - 1) ** 2))
        cycle = (jnp.mean(jnp.abs(run("g_ba", fake_b) - a))
                 + jnp.mean(jnp.abs(run("g_ab", fake_a) - b)))
        identity = jnp.mean(jnp.abs(run("g_ab", b) - b)) + jnp.mean(jnp.abs(run("g_ba", a) - a))
        return adv + lam * cycle + lam * identity_weight * identity

    fn = group_loss_on_one_device(system, "g", state, jax.random.key(3), BATCH)
    loss, metrics = fn(state.params, batch)
    np.testing.assert_allclose(float(loss), float(independent(state.params)), rtol=1e-5)
    assert ("identity" in metrics) == bool(identity_weight)
    got = jax.jit(jax.grad(lambda p: fn(p, batch)[0]))(state.params)
    _check_grads(got, jax.jit(jax.grad(independent))(state.params), ("g_ab", "g_ba"))


def test_critic_loss_takes_the_fakes_through_the_pools():
    config, system, state = _setup()
    batch = _batch(2)
    a, b = jnp.asarray(batch["image"]), jnp.asarray(batch["image_b"])
    key = jax.random.key(4)
    key_a, key_b = jax.random.split(jax.random.fold_in(key, POOL_SALT))
    run = lambda p, n, x: system.networks[n].apply({"params": p[n]}, x)
    pooled_a, pool_a = query_pool(state.extra["pool_a"], run(state.params, "g_ba", b), key_a)
    pooled_b, pool_b = query_pool(state.extra["pool_b"], run(state.params, "g_ab", a), key_b)

    def independent(params):
        total = 0.0
        for d, real, fake in (("d_a", a, pooled_a), ("d_b", b, pooled_b)):
            total += 0.5 * jnp.mean((run(params, d, real) - 1) ** 2 + run(params, d, fake) ** 2)
        return total

    fn = group_loss_on_one_device(system, "d", state, key, BATCH)
    loss, _ = fn(state.params, batch)
    np.testing.assert_allclose(float(loss), float(independent(state.params)), rtol=1e-5)
    got = jax.jit(jax.grad(lambda p: fn(p, batch)[0]))(state.params)
    _check_grads(got, jax.jit(jax.grad(independent))(state.params), ("d_a", "d_b"))
    # Through a step, the pools are the ones the query left (3 slots, filled by the first rows).
    system = with_sgd(system)
    _, one, _, _ = assert_four_devices_equal_one(system, [(batch,)], BATCH, seed=0)
    assert int(one.extra["pool_a"]["count"]) == 3
    assert float(jnp.abs(one.extra["pool_a"]["images"]).max()) > 0


@pytest.mark.parametrize("norm, steps", [("none", 2), ("instance", 1)])
def test_a_step_on_four_devices_equals_one_device(norm, steps):
    # Instance norm at these tiny widths can divide near-constant maps by as little as
    # sqrt(eps) ~ 3e-3, so the float rounding of a different reduction order (1e-7 after one step) grows to
    # 1e-4 in the next one: two chained steps are compared without it, one step with it.
    system = with_sgd(build_system(_config(cyclegan__norm=norm)))
    assert_four_devices_equal_one(system, [(_batch(10 + s),) for s in range(steps)], BATCH)


def _run_config(tmp_path, steps):
    c = _config()
    c.data.data_dir = write_mnist_cache(tmp_path / "data")
    c.data.prefetch = 1
    c.train.num_steps = steps
    c.train.log_every = 1
    c.train.checkpoint_every = 2
    c.train.sample_every = 2
    c.train.num_sample_images = 4
    return c


def test_resumes_bit_for_bit_with_its_pools_samples_and_translates(tmp_path):
    from jaxgan.engine import trainer
    from jaxgan.engine.sampling import sample_workdir
    from jaxgan.sample import translate_workdir

    straight = trainer.run(_run_config(tmp_path, 4), str(tmp_path / "straight"))
    workdir = str(tmp_path / "resumed")
    assert trainer.run(_run_config(tmp_path, 2), workdir)["step"] == 2
    resumed = trainer.run(_run_config(tmp_path, 4), workdir)
    for a, b in zip(jax.tree.leaves(straight["state"]), jax.tree.leaves(resumed["state"]),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(resumed["state"].extra["pool_b"]["count"]) == 3
    assert os.path.isfile(os.path.join(workdir, "samples", "cycles_0000004.png"))
    drawn = sample_workdir(workdir, 3, seed=1)
    assert drawn["images"].shape == (3, SIZE, SIZE, 3)
    images = np.random.default_rng(0).integers(0, 256, (5, SIZE, SIZE, 3), dtype=np.uint8)
    for direction in ("a2b", "b2a"):
        out = translate_workdir(workdir, images, direction)
        assert out.shape == images.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(translate_workdir(workdir, images[:2], direction), out[:2])
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    np.savez(tmp_path / "gray.npz", images=np.zeros((2, SIZE, SIZE, 1), np.uint8))
    cmd = [sys.executable, "-m", "jaxgan.sample", "--workdir", workdir, "--input",
           str(tmp_path / "gray.npz"), "--out", str(tmp_path / "y.npz")]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 1
    errors = [l for l in out.stderr.splitlines() if l.startswith("jaxgan.sample: error:")]
    assert len(errors) == 1 and "28x28x1 but the run was trained on 28x28x3" in errors[0]
    assert not os.path.exists(tmp_path / "y.npz")


def test_configs_that_cannot_train_fail_before_compute():
    for overrides, message in [
            ({"data__name": "mnist"}, "two unpaired domains"),
            ({"loss__name": "hinge"}, "loss.name='hinge'"),
            ({"optim__n_critic": 2}, "optim.n_critic=2"),
            ({"reg__gp_weight": 1.0}, "reg.gp_weight=1.0 does not apply"),
            ({"cyclegan__pool_size": -1}, "cyclegan.pool_size"),
            ({"cyclegan__d_layers": 4}, "PatchGAN")]:
        with pytest.raises(ConfigError, match=message):
            config_lib.validate(_config(**overrides))
