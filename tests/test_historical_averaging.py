"""Historical averaging (Salimans et al. 2016) as the engine applies it to every system: the
running mean of past parameters, the term it adds to each group's loss, its gradient, its
device-count independence and its place in checkpoints."""

import dataclasses
import importlib.util
import os

import jax
import numpy as np
import optax
import pytest

from jaxgan import parallel
from jaxgan.config import ConfigError, base_config, validate
from jaxgan.engine import checkpoint
from jaxgan.engine.checkpoint import abstract_like
from jaxgan.engine.state import init_state
from jaxgan.engine.step import make_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    "ring_gan", os.path.join(ROOT, "docs", "examples", "ring_gan.py"))
ring_gan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ring_gan)

LR = 0.05


def _system(weight):
    c = base_config()
    c.reg.historical_weight = weight
    c.train.num_steps = 4
    system = ring_gan.RingGAN(c)
    # Plain SGD, so an update is -LR times the gradient and the term's gradient shows in it.
    system.groups = {k: dataclasses.replace(g, optimizer=optax.sgd(LR))
                     for k, g in system.groups.items()}
    return system


def _steps(system, devices, num, state=None, batch=8):
    mesh = parallel.make_mesh(devices)
    if state is None:
        state = init_state(system, jax.random.key(0))
    state = parallel.replicate(mesh, state)
    step = make_step(system, system.phases[0], mesh, batch)
    states, metrics = [jax.device_get(state)], []
    for _ in range(num):
        state, m = step(state, ())
        states.append(jax.device_get(state))
        metrics.append(jax.device_get(m))
    return states, metrics


def _sq_distance(a, b):
    return sum(float(np.sum((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_history_is_the_mean_of_every_past_parameter_vector():
    states, metrics = _steps(_system(0.5), jax.devices()[:1], 3)
    assert set(states[0].history) == {"g", "d"}
    for t, state in enumerate(states):
        for name in ("g", "d"):
            mean = jax.tree.map(lambda *p: np.mean(np.stack(p), 0),
                                *[s.params[name] for s in states[:t + 1]])
            for a, b in zip(jax.tree.leaves(state.history[name]), jax.tree.leaves(mean)):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # Logged per group: ||theta_t - mean(theta_0..theta_t)||^2 of the state the step started
    # from (the generator's parameters do not change in the critic's update).
    for t in range(3):
        for name in ("g", "d"):
            expected = _sq_distance(states[t].params[name], states[t].history[name])
            np.testing.assert_allclose(metrics[t][f"{name}_historical"], expected,
                                       rtol=1e-4, atol=1e-12)
    assert metrics[0]["d_historical"] == 0.0 and metrics[1]["d_historical"] > 0.0


def test_the_term_adds_2_w_times_theta_minus_mean_to_the_gradient():
    """From one state, the critic's SGD update with weight w minus the one without it is
    -LR * 2w (theta - mean): the gradient of w ||theta - mean||^2 with the mean held fixed."""
    w = 0.5
    states, _ = _steps(_system(w), jax.devices()[:1], 2)
    start = states[1]  # History differs from the parameters here.
    with_term, m_with = _steps(_system(w), jax.devices()[:1], 1, state=start)
    # The same state without the history field: the system without the term.
    without, m_without = _steps(_system(0.0), jax.devices()[:1], 1,
                                state=start.replace(history={}))
    delta = jax.tree.map(lambda a, b: np.asarray(a) - np.asarray(b),
                         with_term[1].params["d"], without[1].params["d"])
    expected = jax.tree.map(lambda p, h: -LR * 2 * w * (np.asarray(p) - np.asarray(h)),
                            start.params["d"], start.history["d"])
    for a, b in zip(jax.tree.leaves(delta), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    # The critic's logged loss is its adversarial loss plus w times the distance.
    distance = _sq_distance(start.params["d"], start.history["d"])
    np.testing.assert_allclose(m_with[0]["d_loss"], m_without[0]["d_loss"] + w * distance,
                               rtol=1e-5)


def test_four_devices_equal_one_device():
    one, m1 = _steps(_system(0.3), jax.devices()[:1], 3)
    four, m4 = _steps(_system(0.3), jax.devices()[:4], 3)
    for a, b in zip(jax.tree.leaves(one[-1]), jax.tree.leaves(four[-1]), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
    for a, b in zip(m1, m4, strict=True):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=2e-5, atol=2e-6, err_msg=k)


def test_history_is_checkpointed_and_a_state_without_it_still_restores(tmp_path):
    mesh = parallel.make_mesh(jax.devices()[:1])
    states, _ = _steps(_system(0.3), jax.devices()[:1], 2)
    plain, _ = _steps(_system(0.0), jax.devices()[:1], 1)
    for name, state in (("with", states[-1]), ("without", plain[-1])):
        state = parallel.replicate(mesh, state)
        ckpt = checkpoint.Checkpointer(str(tmp_path / name))
        ckpt.save(1, state, {"data_step": 0})
        back, _ = ckpt.restore(abstract_like(state))
        ckpt.close()
        assert jax.tree.structure(back) == jax.tree.structure(state)
        assert parallel.tree_digest(back) == parallel.tree_digest(state)
    # Without the term the field is empty and not written: a checkpoint from before the
    # field existed has the same tree, and reads back the same way.
    assert not plain[-1].history


def test_a_negative_weight_is_refused():
    c = base_config()
    c.reg.historical_weight = -1.0
    with pytest.raises(ConfigError, match="reg.historical_weight=-1.0 must be >= 0"):
        validate(c)
