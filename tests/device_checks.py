"""The engine's device-count guarantee, checked the same way for every system: the same steps
from the same state on one device and on four give the same state and metrics; and a group's
loss as the step computes it, for comparison with an independent computation."""

import dataclasses

import jax
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from jaxgan import parallel
from jaxgan.engine.context import Context
from jaxgan.engine.state import init_state
from jaxgan.engine.step import make_step


def with_sgd(system, lr: float = 0.05):
    """``system`` with plain SGD for every group: updates stay proportional to the gradients
    (Adam's first step is lr * sign(g), which hides gradient differences)."""
    system.groups = {n: dataclasses.replace(g, optimizer=optax.sgd(lr))
                     for n, g in system.groups.items()}
    return system


def run_on(system, init, devices, batches, global_batch: int):
    """``len(batches)`` steps of the first phase from ``init`` on ``devices``; each item of
    ``batches`` is one step's tuple of host batch dicts. Returns ``(state, [metrics])``."""
    mesh = parallel.make_mesh(devices)
    step = make_step(system, system.phases[0], mesh, global_batch=global_batch)
    state = parallel.replicate(mesh, init)
    metrics = []
    for host_batches in batches:
        state, m = step(state, tuple(parallel.host_to_global(mesh, b) for b in host_batches))
        metrics.append(jax.device_get(m))
    return jax.device_get(state), metrics


def assert_four_devices_equal_one(system, batches, global_batch: int, *, seed: int = 3,
                                  rtol: float = 2e-4, atol: float = 2e-6):
    """Runs ``batches`` on 1 and on 4 devices from ``init_state(key(seed))`` and compares every
    leaf of the final states and every metric of every step; returns ``(init, one, four, m4)``."""
    assert jax.device_count() >= 4, "conftest.py gives 4 fake CPU devices"
    init = jax.device_get(init_state(system, jax.random.key(seed)))
    one, m1 = run_on(system, init, jax.devices()[:1], batches, global_batch)
    four, m4 = run_on(system, init, jax.devices()[:4], batches, global_batch)
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(four), strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   rtol=rtol, atol=atol)
    for a, b in zip(m1, m4, strict=True):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)
    return init, one, four, m4


def group_loss_on_one_device(system, group: str, state, key, local_batch: int):
    """``(params, batch) -> (loss, metrics)``: the system's own loss of ``group`` as the step
    computes it, on one device, jitted (to compare with an independent computation)."""
    mesh = parallel.make_mesh(jax.devices()[:1])

    def replica(params, batch):
        ctx = Context(system.networks, params, state.collections, key, local_batch=local_batch,
                      extra=state.extra, step=state.step)
        return system.groups[group].loss(ctx, batch)

    return jax.jit(jax.shard_map(replica, mesh=mesh, in_specs=(P(), P(parallel.DATA_AXIS)),
                                 out_specs=(P(), P()), check_vma=False))
