"""The one train step: every group of a phase, in order, jitted, data-parallel, state donated.

``make_step(system, phase, mesh, global_batch)`` returns
``step(state, batches) -> (state, metrics)``. ``batches`` is a tuple of
``system.batches_per_step(phase)`` batch dicts, each sharded over the
``'data'`` mesh axis; repeat ``r`` of a data-consuming group sees batch ``r``.

The step is written per replica and mapped with ``jax.shard_map``. Three
things make its result independent of the number of devices, which a test
pins for every system:

* each group's loss is ``pmean``-ed over ``'data'`` before differentiation.
  Under ``check_vma`` the transpose of that replicated-to-varying boundary
  sums the per-replica gradients, so the gradient of the pmean-ed loss is
  exactly the gradient of the global-batch mean (pmean-ing the gradients
  again would multiply them by the device count);
* every draw is made for the whole global batch from ``fold_in(rng, step)``
  and each replica takes its own rows (:class:`~jaxgan.engine.context.Context`);
* networks with batch norm get ``bn_axis_name='data'``: global-batch statistics.

Historical averaging (``system.historical_weight`` > 0, Salimans et al. 2016)
is the engine's, so every system has it: each group's loss gains
``w * sum_n ||theta_n - mean_{i<=t} theta_n[i]||^2`` over its networks, and
after each step the mean folds in the new parameters (``state.history``).

Keys: the step's key ``fold_in(rng, step)`` is split into one key per group
of the phase; a group that consumes data, or repeats, folds the repeat index
into its key for each update. Metrics of a repeated group are its last
update's.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jax.sharding import PartitionSpec as P

from jaxgan import regularizers
from jaxgan.engine.context import Context
from jaxgan.engine.state import TrainState, group_params
from jaxgan.parallel import DATA_AXIS


def step_networks(system) -> dict[str, Any]:
    """The system's networks as the step runs them: batch norm over the global batch."""
    return {name: (net.clone(bn_axis_name=DATA_AXIS) if hasattr(net, "bn_axis_name") else net)
            for name, net in system.networks.items()}


def _update(networks, group, state: TrainState, batch, key, local_batch: int,
            historical_weight: float = 0.0):
    """One optimizer update of ``group``: returns the new state and its (global) metrics."""
    trainable = group_params(state.params, group)

    def loss_fn(own):
        ctx = Context(networks, {**state.params, **own}, state.collections, key, local_batch,
                      extra=state.extra, step=state.step)
        loss, metrics = group.loss(ctx, batch)
        loss = lax.pmean(loss, DATA_AXIS)
        if historical_weight:  # Replicated parameters: the same on every replica.
            distance = sum(regularizers.historical_average(own[n], state.history[n])
                           for n in group.networks)
            metrics = {**metrics, f"{group.name}_historical": distance}
            loss = loss + historical_weight * distance
        return loss, (metrics, ctx.updated_collections(), ctx.updated_extra())

    (loss, (metrics, collections, extra)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        trainable)
    updates, opt_state = group.optimizer.update(grads, state.opt_states[group.name], trainable)
    new = optax.apply_updates(trainable, updates)
    if group.constrain is not None:
        new = group.constrain(new)
    metrics = {k: lax.pmean(v, DATA_AXIS) for k, v in metrics.items()}
    metrics[f"{group.name}_loss"] = loss
    metrics[f"{group.name}_grad_norm"] = optax.tree.norm(grads)
    state = state.replace(params={**state.params, **new},
                          collections={**state.collections, **collections},
                          extra={**state.extra, **extra} if extra else state.extra,
                          opt_states={**state.opt_states, group.name: opt_state})
    return state, metrics


def _run_group(networks, group, state, batches, key, local_batch, historical_weight=0.0):
    """Every repeat of ``group`` this step (scanned when it repeats or consumes data)."""
    update = lambda st, batch, k: _update(networks, group, st, batch, k, local_batch,
                                          historical_weight)
    if not group.data and group.repeats == 1:
        return update(state, None, key)
    if group.repeats == 1:  # No loop: a one-trip scan would carry (and copy) the whole state.
        return update(state, jax.tree.map(lambda b: b[0], batches), jax.random.fold_in(key, 0))

    def body(st, inputs):
        r = inputs[0]
        return update(st, inputs[1] if group.data else None, jax.random.fold_in(key, r))

    xs = (jnp.arange(group.repeats),)
    if group.data:
        xs += (jax.tree.map(lambda b: b[:group.repeats], batches),)
    state, metrics = lax.scan(body, state, xs)
    return state, jax.tree.map(lambda m: m[-1], metrics)


def _every(group, state, run: Callable):
    """Runs ``run(state)`` on the steps of the group's cadence; zeros its metrics elsewhere."""
    if group.every == 1:
        return run(state)
    skipped = jax.eval_shape(run, state)[1]
    return lax.cond(state.step % group.every == 0, run,
                    lambda st: (st, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), skipped)),
                    state)


def _ema(decay: float, ema, params):
    return {n: jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema[n], params[n])
            for n in ema}


def make_replica_step(system, phase, global_batch: int, num_devices: int):
    """The per-replica step of ``phase`` (to run inside ``shard_map`` over ``'data'``)."""
    networks = step_networks(system)
    groups = [system.groups[name] for name in phase.groups]
    num_batches = system.batches_per_step(phase)
    local_batch = global_batch // num_devices
    historical_weight = system.historical_weight

    def replica_step(state: TrainState, batches):
        key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
        keys = jax.random.split(key, len(groups))
        stacked = (jax.tree.map(lambda *b: jnp.stack(b), *batches) if num_batches else None)
        metrics: dict[str, jax.Array] = {}
        for group, group_key in zip(groups, keys, strict=True):
            run = lambda st, g=group, k=group_key: _run_group(networks, g, st, stacked, k,
                                                              local_batch, historical_weight)
            state, group_metrics = _every(group, state, run)
            metrics.update(group_metrics)
        ema = _ema(system.ema_decay, state.ema, state.params) if state.ema else state.ema
        extra = system.update_extra(state.extra, metrics, state.step)
        # state.history averages steps 0..step; fold in the parameters of step + 1.
        history = {n: regularizers.update_historical_average(h, state.params[n], state.step + 1)
                   for n, h in state.history.items()}
        state = state.replace(ema=ema, extra=extra, history=history, step=state.step + 1,
                              data_step=state.data_step + num_batches)
        return state, metrics

    return replica_step


def make_step(system, phase, mesh, global_batch: int) -> Callable[..., Any]:
    """The jitted, data-parallel ``step(state, batches) -> (state, metrics)`` of ``phase``."""
    replica_step = make_replica_step(system, phase, global_batch, mesh.size)
    mapped = jax.shard_map(replica_step, mesh=mesh, in_specs=(P(), P(DATA_AXIS)),
                           out_specs=(P(), P()))
    return jax.jit(mapped, donate_argnums=(0,))
