"""The context a group's loss runs in: its networks, their collections, its randomness.

Inside the step every loss is written for one replica's rows of the global
batch. :class:`Context` gives it three things:

* ``ctx.apply(name, *args, mutable=..., **kwargs)`` calls network ``name``
  with the current parameters (the ones being differentiated for the group's
  own networks) and its mutable collections (batch statistics, spectral-norm
  vectors). ``mutable="update"`` keeps the new collections and is allowed once
  per network per update: that call is the one that moves spectral-norm
  vectors and running statistics, and later calls see its result.
  ``mutable="discard"`` runs a train-mode call whose new statistics are
  dropped (e.g. the generator inside the critic's update); the default,
  ``"frozen"``, changes nothing.
* draws for the whole global batch (``ctx.normal``, ``ctx.uniform``,
  ``ctx.randint``, ``ctx.per_example_keys``), of which each replica takes its
  own rows, so a run does not depend on the device count;
* ``ctx.key``: this update's key, ``fold_in(key(seed), step)`` split by group
  and folded with the repeat index.

A loss may also replace an entry of the system's extra state with
``ctx.set_extra(name, value)`` (an image pool queried with this update's
fakes): the new value is the state's from this update on, for the next
groups and for ``update_extra``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.parallel import DATA_AXIS

MUTABLE_MODES = ("frozen", "update", "discard")


def local_rows_of(x: jax.Array, local_batch: int) -> jax.Array:
    """This replica's rows of an array drawn for the whole global batch."""
    start = lax.axis_index(DATA_AXIS) * local_batch
    return lax.dynamic_slice_in_dim(x, start, local_batch, axis=0)


class Context:
    """Networks, collections and randomness for one update of one group (inside the step)."""

    def __init__(self, networks, params, collections, key, local_batch: int, extra=None,
                 step=None):
        self._networks = networks
        self._params = params
        self._collections = dict(collections)
        self._updated: dict[str, Any] = {}
        self._extra_updates: dict[str, Any] = {}
        self.key = key
        self.local_batch = local_batch
        self.extra = extra
        self.step = step

    @property
    def global_batch(self) -> int:
        return self.local_batch * lax.axis_size(DATA_AXIS)

    # ---- networks ---------------------------------------------------------------------
    def params(self, name: str):
        return self._params[name]

    def variables(self, name: str) -> dict:
        return {"params": self._params[name], **self._collections[name]}

    def apply(self, name: str, *args, mutable: str = "frozen", method=None, **kwargs):
        """``networks[name].apply`` with the current parameters and collections."""
        if mutable not in MUTABLE_MODES:
            raise ValueError(f"mutable={mutable!r} is not one of {MUTABLE_MODES}.")
        net, collections = self._networks[name], self._collections[name]
        variables = {"params": self._params[name], **collections}
        if mutable == "frozen" or not collections:
            return net.apply(variables, *args, method=method, **kwargs)
        out, new = net.apply(variables, *args, method=method, mutable=list(collections), **kwargs)
        if mutable == "update":
            if name in self._updated:
                raise ValueError(f"network {name!r} updated its collections twice in one update; "
                                 "only one call per update may use mutable='update'.")
            self._updated[name] = new
            self._collections[name] = new
        return out

    def function(self, name: str, *args, **kwargs) -> Callable[[jax.Array], jax.Array]:
        """Network ``name`` as a function of its first input, collections frozen (penalties)."""
        return lambda x: self.apply(name, x, *args, **kwargs)

    def updated_collections(self) -> dict[str, Any]:
        return dict(self._updated)

    def gather_global(self, x: jax.Array) -> jax.Array:
        """Every replica's rows of ``x`` in global-batch order, as one replicated value.

        Each replica's rows are placed in zeros and the placements summed over the mesh, so
        every value is its own plus zeros (exact), and the result is typed as the same on
        every replica, as a value written with :meth:`set_extra` must be (``lax.all_gather``
        gives the same numbers but is typed per replica)."""
        full = jnp.zeros((x.shape[0] * lax.axis_size(DATA_AXIS), *x.shape[1:]), x.dtype)
        full = lax.dynamic_update_slice_in_dim(full, x, lax.axis_index(DATA_AXIS) * x.shape[0], 0)
        return lax.psum(full, DATA_AXIS)

    # ---- extra state ----------------------------------------------------------------------
    def set_extra(self, name: str, value) -> None:
        """Replaces ``extra[name]`` from this update on. ``value`` must have the entry's
        structure, shapes and dtypes, and be the same on every replica: compute it from
        global-batch values (:meth:`gather_global`, ``pmean``), never from this replica's rows
        alone, or the state would depend on the device count."""
        if not self.extra or name not in self.extra:
            raise KeyError(f"the system's extra state has no entry {name!r} to set; declare it "
                           f"in init_extra() (it has {sorted(self.extra or {})}).")
        want = jax.tree.structure(self.extra[name])
        if jax.tree.structure(value) != want:
            raise ValueError(f"extra[{name!r}] must keep its structure {want}, got "
                             f"{jax.tree.structure(value)}.")
        self._extra_updates[name] = value
        self.extra = {**self.extra, name: value}

    def updated_extra(self) -> dict[str, Any]:
        return dict(self._extra_updates)

    # ---- randomness for the global batch -------------------------------------------------
    def rows(self, x: jax.Array) -> jax.Array:
        """This replica's rows of ``x``, drawn for the global batch."""
        return local_rows_of(x, self.local_batch)

    def normal(self, key: jax.Array, *shape, dtype=None) -> jax.Array:
        """``N(0, 1)`` of shape ``[local_batch, *shape]``, this replica's rows of a global draw."""
        kw = {} if dtype is None else {"dtype": dtype}
        return self.rows(jax.random.normal(key, (self.global_batch, *shape), **kw))

    def uniform(self, key: jax.Array, *shape, minval=0.0, maxval=1.0) -> jax.Array:
        return self.rows(jax.random.uniform(key, (self.global_batch, *shape), minval=minval,
                                            maxval=maxval))

    def randint(self, key: jax.Array, minval: int, maxval: int) -> jax.Array:
        """Integers in ``[minval, maxval)``, one per example."""
        return self.rows(jax.random.randint(key, (self.global_batch,), minval, maxval))

    def per_example_keys(self, key: jax.Array, local_rows: int | None = None) -> jax.Array:
        """One key per example of the global batch; this replica's rows. ``local_rows``: a
        replica's row count when it is not the batch's (e.g. packs of examples)."""
        n = local_rows or self.local_batch
        return local_rows_of(jax.random.split(key, n * lax.axis_size(DATA_AXIS)), n)

    def replica_key(self, key: jax.Array) -> jax.Array:
        """A key of this replica's own (for draws that depend on the replica's data)."""
        return jax.random.fold_in(key, lax.axis_index(DATA_AXIS))
