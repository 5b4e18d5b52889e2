"""BiGAN: the joint-pair losses (values and ``jax.grad`` against closed forms), the networks, both
groups' losses through the system against an independent computation, a step on 4 devices
equal to 1, a run that resumes bit-exactly, samples and encodes, the encoder-feature measures,
and the bad input of ``jaxgan.encode``.

Networks at ``TINY`` widths on 28x28 images.
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
from jaxgan import losses
from jaxgan.config import ConfigError
from jaxgan.engine.state import init_state
from jaxgan.metrics import representation as rep
from jaxgan.models import bigan as nets
from jaxgan.systems import build_system

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 8
SIZE = 28


def _config(**overrides):
    sys.path.insert(0, os.path.join(REPO, "configs"))
    try:
        import bigan_mnist
    finally:
        sys.path.pop(0)
    c = bigan_mnist.get_config()
    c.model.z_dim = nets.TINY["z_dim"]
    c.model.g_width = c.model.d_width = c.bigan.e_width = nets.TINY["width"]
    c.model.d_norm = "none"
    c.train.batch_size = BATCH
    for k, v in overrides.items():
        section, name = k.split("__")
        c[section][name] = v
    return c


def _images(seed=0, n=BATCH):
    return np.random.default_rng(seed).uniform(-1, 1, (n, SIZE, SIZE, 1)).astype(np.float32)


# ---- the losses ---------------------------------------------------------------------------

def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_joint_pair_losses_values_and_gradients_against_closed_forms():
    rng = np.random.default_rng(0)
    r, f = rng.normal(0, 2, 6), rng.normal(0, 2, 6)
    np.testing.assert_allclose(losses.bigan_d(r, f), _softplus(-r) + _softplus(f), rtol=1e-6)
    np.testing.assert_allclose(losses.bigan_ge(r, f), _softplus(r) + _softplus(-f), rtol=1e-6)
    np.testing.assert_allclose(losses.bigan_ge(r, f, nonsaturating=False),
                               -(_softplus(-r) + _softplus(f)), rtol=1e-6)
    # The critic's value: log D(x, E(x)) + log(1 - D(G(z), z)), D = sigmoid.
    value = np.log(_sigmoid(r)) + np.log(1 - _sigmoid(f))
    np.testing.assert_allclose(losses.bigan_d(r, f), -value, rtol=1e-6)
    for fn, (dr, df) in [
            (losses.bigan_d, (_sigmoid(r) - 1, _sigmoid(f))),
            (losses.bigan_ge, (_sigmoid(r), _sigmoid(f) - 1)),
            (lambda a, b: losses.bigan_ge(a, b, nonsaturating=False),
             (1 - _sigmoid(r), -_sigmoid(f)))]:
        for wrap in (lambda g: g, jax.jit):
            gr, gf = wrap(jax.grad(lambda a, b: jnp.sum(fn(a, b)), argnums=(0, 1)))(
                jnp.asarray(r, jnp.float32), jnp.asarray(f, jnp.float32))
            np.testing.assert_allclose(gr, dr, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(gf, df, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="batch size"):
        losses.bigan_d(jnp.zeros(3), jnp.zeros(4))


# ---- the networks -------------------------------------------------------------------------

def test_networks_shapes_and_the_critic_reads_both_halves_of_the_pair():
    x = jnp.asarray(_images(0, 3))
    z = jax.random.uniform(jax.random.key(0), (3, 4), minval=-1, maxval=1)
    g = nets.Generator((SIZE, SIZE, 1), width=8)
    out, _ = g.init_with_output(jax.random.key(1), z, train=False)
    assert out.shape == (3, SIZE, SIZE, 1) and float(jnp.abs(out).max()) <= 1.0
    e = nets.Encoder(4, width=8)
    (code, features), _ = e.init_with_output(jax.random.key(2), x, train=False,
                                             return_features=True)
    assert code.shape == (3, 4) and features.shape == (3, 8)
    for norm in nets.NORMS:
        d = nets.JointCritic(width=8, norm=norm)
        variables = d.init(jax.random.key(3), x, z, train=False)
        score = d.apply(variables, x, z, train=False)
        assert score.shape == (3,)
        assert not np.allclose(score, d.apply(variables, x, -z, train=False))  # reads z
        assert not np.allclose(score, d.apply(variables, -x, z, train=False))  # reads x
        assert ("bn1" in variables["params"]) == (norm == "batch")


# ---- the two groups through the system --------------------------------------------------------

@pytest.mark.parametrize("nonsaturating", [True, False])
def test_both_groups_against_an_independent_computation(nonsaturating):
    config = _config(**({} if nonsaturating else {"loss__name": "minimax"}))
    config_lib.validate(config)
    system = build_system(config)
    state = jax.device_get(init_state(system, jax.random.key(0)))
    key = jax.random.key(7)
    batch = {"image": _images(1)}
    x = jnp.asarray(batch["image"])
    z = jax.random.uniform(key, (BATCH, 4), minval=-1.0, maxval=1.0)  # ctx.uniform's draw

    def run(name, params, *args):
        out, _ = system.networks[name].apply({**state.collections[name], "params": params[name]},
                                            *args, train=True, mutable=["batch_stats"])
        return out

    def scores(params):
        d = lambda a, b: system.networks["d"].apply({"params": params["d"]}, a, b, train=True)
        return d(x, run("e", params, x)), d(run("g", params, z), z)

    def independent(params, group):
        r, f = scores(params)
        if group == "d":
            return jnp.mean(jax.nn.softplus(-r) + jax.nn.softplus(f))
        if nonsaturating:
            return jnp.mean(jax.nn.softplus(r) + jax.nn.softplus(-f))
        return -jnp.mean(jax.nn.softplus(-r) + jax.nn.softplus(f))

    for group, trained in (("d", ("d",)), ("ge", ("g", "e"))):
        fn = group_loss_on_one_device(system, group, state, key, BATCH)
        loss, metrics = fn(state.params, batch)
        np.testing.assert_allclose(float(loss), float(independent(state.params, group)),
                                   rtol=1e-5)
        got = jax.jit(jax.grad(lambda p: fn(p, batch)[0]))(state.params)
        want = jax.jit(jax.grad(lambda p: independent(p, group)))(state.params)
        for name in trained:
            scale = max(float(jnp.abs(w).max()) for w in jax.tree.leaves(want[name]))
            assert scale > 0
            for a, b in zip(jax.tree.leaves(got[name]), jax.tree.leaves(want[name]), strict=True):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4,
                                           atol=1e-5 * scale)
    np.testing.assert_allclose(float(metrics["code_rms"]),
                               float(jnp.sqrt(jnp.mean(run("e", state.params, x) ** 2))),
                               rtol=1e-5)


# ---- the engine's guarantees ---------------------------------------------------------------

@pytest.mark.parametrize("d_norm", ["batch", "none"])
def test_a_step_on_four_devices_equals_one_device(d_norm):
    system = with_sgd(build_system(_config(model__d_norm=d_norm)))
    assert_four_devices_equal_one(system, [({"image": _images(10 + s)},) for s in range(2)],
                                  BATCH)


def _run_config(tmp_path, steps):
    c = _config(model__d_norm="batch")
    c.data.data_dir = write_mnist_cache(tmp_path / "data")
    c.data.prefetch = 1
    c.train.num_steps = steps
    c.train.log_every = 1
    c.train.checkpoint_every = 2
    c.train.sample_every = 2
    c.train.num_sample_images = 4
    return c


def test_resumes_bit_for_bit_samples_encodes_and_draws_reconstructions(tmp_path):
    from jaxgan.encode import encode_workdir
    from jaxgan.engine import trainer
    from jaxgan.engine.sampling import sample_workdir

    straight = trainer.run(_run_config(tmp_path, 4), str(tmp_path / "straight"))
    workdir = str(tmp_path / "resumed")
    assert trainer.run(_run_config(tmp_path, 2), workdir)["step"] == 2
    resumed = trainer.run(_run_config(tmp_path, 4), workdir)
    for a, b in zip(jax.tree.leaves(straight["state"]), jax.tree.leaves(resumed["state"]),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert os.path.isfile(os.path.join(workdir, "samples", "reconstructions_0000004.png"))
    drawn = sample_workdir(workdir, 3, seed=1)
    assert drawn["images"].shape == (3, SIZE, SIZE, 1)
    images = ((_images(3, 5) + 1) * 127.5).astype(np.uint8)
    codes = encode_workdir(workdir, images, features=True)
    assert codes["z"].shape == (5, 4) and codes["features"].shape == (5, 8)
    # Inference mode: an image's code does not depend on the rest of its batch.
    np.testing.assert_allclose(encode_workdir(workdir, images[:2])["z"], codes["z"][:2],
                               rtol=1e-5, atol=1e-6)


def test_encode_command_bad_input_one_clear_line(tmp_path):
    from jaxgan.engine import trainer

    workdir = str(tmp_path / "run")
    trainer.run(_run_config(tmp_path, 1), workdir)
    np.savez(tmp_path / "wrong.npz", images=np.zeros((2, 32, 32, 1), np.uint8))
    np.savez(tmp_path / "floats.npz", images=np.zeros((2, SIZE, SIZE, 1), np.float32))
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    cases = [(tmp_path / "wrong.npz", "are 32x32x1 but the run was trained on 28x28x1"),
             (tmp_path / "floats.npz", "must be uint8"),
             (tmp_path / "missing.npz", "does not exist")]
    for path, message in cases:
        out = subprocess.run([sys.executable, "-m", "jaxgan.encode", "--workdir", workdir,
                              "--input", str(path), "--out", str(tmp_path / "z.npz")],
                             capture_output=True, text=True, env=env, cwd=REPO)
        assert out.returncode == 1, out.stderr
        errors = [l for l in out.stderr.splitlines() if l.startswith("jaxgan.encode: error:")]
        assert len(errors) == 1 and message in errors[0], out.stderr
    assert not os.path.exists(tmp_path / "z.npz")


def test_encode_refuses_a_workdir_of_another_system(tmp_path):
    from jaxgan.encode import encode_workdir

    os.makedirs(tmp_path / "w")
    c = _config()
    c.system = "gan"
    with open(tmp_path / "w" / "config.json", "w") as f:
        f.write(c.to_json())
    with pytest.raises(ValueError, match="system 'gan', which has no encoder"):
        encode_workdir(str(tmp_path / "w"), np.zeros((1, SIZE, SIZE, 1), np.uint8))


def test_configs_that_cannot_train_fail_before_compute():
    for overrides, message in [
            ({"data__num_classes": 10}, "'bigan' is unconditional"),
            ({"loss__name": "hinge"}, "loss.name='hinge'"),
            ({"model__arch": "dcgan"}, "model.arch='dcgan' does not apply"),
            ({"reg__gp_weight": 10.0}, "reg.gp_weight=10.0 does not apply"),
            ({"model__d_norm": "layer"}, "norm must be one of"),
            ({"bigan__e_width": 0}, "bigan.e_width")]:
        with pytest.raises(ConfigError, match=message):
            config_lib.validate(_config(**overrides))


# ---- the encoder-feature measures ------------------------------------------------------------

def test_nearest_neighbour_accuracy_against_brute_force():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(200, 5)), rng.normal(size=(50, 5))
    train_y, test_y = rng.integers(0, 3, 200), rng.integers(0, 3, 50)
    for metric in rep.METRICS:
        if metric == "cosine":
            a = train / np.linalg.norm(train, axis=1, keepdims=True)
            b = test / np.linalg.norm(test, axis=1, keepdims=True)
            dist = 1 - b @ a.T
        else:
            dist = np.linalg.norm(test[:, None] - train[None], axis=2)
        want = np.mean(train_y[np.argmin(dist, axis=1)] == test_y)
        got = rep.nearest_neighbour_accuracy(train, train_y, test, test_y, metric=metric, chunk=7)
        assert got == pytest.approx(want)


def test_linear_probe_reaches_the_regularised_optimum():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0.4, 1, (150, 3)), rng.normal(-0.4, 1, (150, 3))])
    y = np.repeat([0, 1], 150)
    l2 = 1e-3
    probe = rep.fit_linear_probe(x, y, classes=2, l2=l2)
    xs = (x - probe["mean"]) / probe["std"]
    logits = xs @ probe["w"] + probe["b"]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = p - np.eye(2)[y]
    # The gradient of mean cross-entropy + l2 ||W||^2, by hand, vanishes at the fit.
    np.testing.assert_allclose(xs.T @ residual / len(x) + 2 * l2 * probe["w"], 0, atol=1e-5)
    np.testing.assert_allclose(residual.mean(0), 0, atol=1e-5)
    want = np.mean(np.argmax(logits, axis=1) == y)
    assert rep.linear_probe_accuracy(x, y, x, y, l2=l2) == pytest.approx(want)
    assert want > 0.6


def test_reconstruction_errors_and_their_baseline():
    x = np.random.default_rng(2).uniform(-1, 1, (4, 3, 3, 1))
    error, baseline = rep.reconstruction_errors(x, x)
    assert error == 0.0
    unit = (x.reshape(4, -1) + 1) / 2
    assert baseline == pytest.approx(np.mean(np.linalg.norm(np.roll(unit, -1, 0) - unit, axis=1)))
