"""Stopping a run well: preemption (SIGTERM), non-finite values, an unwritable workdir.

SIGTERM saves a checkpoint after the current step and returns (on several
hosts, at the same step everywhere, through JAX's preemption service); a
non-finite loss or parameter raises :class:`TrainingError` without saving
over the last good checkpoint.
"""

from __future__ import annotations

import os
import signal

import jax
import jax.numpy as jnp
from jax.experimental import multihost_utils


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says why and what to do."""


DIVERGED_FIX = ("Training diverged: lower --config.optim.g_lr / --config.optim.d_lr or raise "
                 "the penalty weight (--config.reg.gp_weight), then run the command again; it "
                 "resumes from the last good checkpoint.")


class Preemption:
    """SIGTERM (a preemption notice) becomes "save a checkpoint and stop", on every host at once.

    One process: a Python handler sets a flag that the loop reads after each step.
    Several processes (``jax.distributed`` running): JAX's preemption service owns
    SIGTERM, tells every host, and :meth:`reached` turns true at the same step
    everywhere, so the collective save cannot deadlock on hosts a step apart.
    """

    def __init__(self):
        self.requested = False
        self._previous = None
        self._synced = False

    def __enter__(self):
        self._synced = jax.distributed.is_initialized()
        if not self._synced:
            try:
                self._previous = signal.signal(signal.SIGTERM, self._handle)
            except ValueError:  # Not the main thread (e.g. called from a worker): no handler.
                self._previous = None
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def reached(self, step: int) -> bool:
        """Whether to save and stop after ``step``; call it once per step on every host."""
        if self._synced:
            self.requested = self.requested or multihost_utils.reached_preemption_sync_point(step)
        return self.requested

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def check_writable(workdir: str) -> None:
    """Raises TrainingError unless files can be created in ``workdir`` (made if missing)."""
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, f".write_test_{jax.process_index()}_{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise TrainingError(f"The workdir {workdir} cannot be written ({e.strerror}: "
                            f"{e.filename}). Pass a --workdir on a writable disk, or fix its "
                            "permissions.") from None


@jax.jit
def all_finite(tree) -> jax.Array:
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
