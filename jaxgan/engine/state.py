"""TrainState: everything a run of any system needs to continue, as one pytree.

Parameters, mutable collections and EMAs are dicts by network name; optimizer
states by group name. The optimizers themselves (pure optax transformations)
are not state: the system rebuilds them from the config. ``data_step`` is the
position in the data stream (batches consumed), saved with the state and read
back on resume, so a resumed run sees the batches an uninterrupted run would,
whatever its schedule. ``rng`` is the run's base key (raw key data, saved like
any array): step ``s`` draws from ``fold_in(rng, s)``, so one compiled program
serves every seed.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp

from jaxgan import parallel

PyTree = Any
INIT_SALT = 0x1A17  # Folded into key(seed) for the initial parameters.


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # Steps done, over every phase (int32 scalar).
    data_step: jax.Array  # Real batches consumed (int32 scalar).
    rng: jax.Array  # uint32 key data of jax.random.key(seed).
    params: dict[str, PyTree]  # By network.
    collections: dict[str, PyTree]  # By network: {'batch_stats': ...}, spectral-norm vectors, ...
    opt_states: dict[str, PyTree]  # By group.
    ema: dict[str, PyTree]  # By network, for the system's EMA networks.
    # By trained network, with historical averaging on: the mean of its parameters at steps
    # 0..step (Salimans et al.'s (1/t) sum_i theta_i); empty otherwise.
    history: dict[str, PyTree]
    extra: PyTree  # The system's own non-differentiable state.

    def sampling_params(self, name: str) -> PyTree:
        """The parameters samples are drawn with: the EMA where one is kept."""
        return self.ema.get(name, self.params[name])

    def variables(self, name: str, *, use_ema: bool = True) -> dict:
        params = self.sampling_params(name) if use_ema else self.params[name]
        return {"params": params, **self.collections[name]}


def group_params(params: dict[str, PyTree], group) -> dict[str, PyTree]:
    return {n: params[n] for n in group.networks}


def trained_networks(system) -> tuple[str, ...]:
    """The networks some group of ``system`` updates, in the system's network order."""
    updated = {n for g in system.groups.values() for n in g.networks}
    return tuple(n for n in system.networks if n in updated)


def init_state(system, seed_key: jax.Array) -> TrainState:
    """Initialises every network of ``system`` and every group's optimizer state.

    ``seed_key`` is ``jax.random.key(config.seed)``, an argument so that one
    compiled initialiser serves every seed. Network ``i`` (in the system's order)
    is initialised from ``split(fold_in(seed_key, INIT_SALT), n)[i]``, in
    inference mode, so no cross-device collective runs outside the step.
    """
    names = list(system.networks)
    keys = jax.random.split(jax.random.fold_in(seed_key, INIT_SALT), len(names))
    params, collections = {}, {}
    for name, key in zip(names, keys, strict=True):
        args, kwargs = system.init_inputs(name)
        variables = system.networks[name].init(key, *args, **kwargs)
        params[name] = variables["params"]
        collections[name] = {k: v for k, v in variables.items() if k != "params"}
    opt_states = {g.name: g.optimizer.init(group_params(params, g))
                  for g in system.groups.values()}
    averaged = trained_networks(system) if system.historical_weight else ()
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        data_step=jnp.zeros((), jnp.int32),
        rng=jax.random.key_data(seed_key),
        params=params,
        collections=collections,
        opt_states=opt_states,
        ema={n: jax.tree.map(jnp.copy, params[n]) for n in system.ema},
        history={n: jax.tree.map(jnp.copy, params[n]) for n in averaged},
        extra=system.init_extra(),
    )


def make_init(system, mesh):
    """A jitted ``init(seed_key) -> TrainState``, replicated over ``mesh``."""
    return jax.jit(lambda key: init_state(system, key),
                   out_shardings=parallel.replicated(mesh))


def abstract_state(system, mesh) -> TrainState:
    """Shapes, dtypes and (replicated) shardings of the initial state, without computing it."""
    sharding = parallel.replicated(mesh)
    shapes = jax.eval_shape(lambda key: init_state(system, key), jax.random.key(0))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                        shapes)
