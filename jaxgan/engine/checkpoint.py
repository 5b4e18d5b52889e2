"""Checkpoints: Orbax around the train state of any system, plus the run's metadata.

Layout under the workdir::

    config.json              the config the run started with (checked on resume)
    checkpoints/<step>/      the last ``keep`` checkpoints: state + meta.json
    best/<step>/             the checkpoint with the best evaluation metric so far

Orbax writes each checkpoint into a temporary directory
(``<step>.orbax-checkpoint-tmp-*``) and renames it when it is complete, so a
process killed mid-write leaves the previous checkpoints intact; the next start
ignores the half-written directory and deletes it. On several hosts every
process calls :meth:`Checkpointer.save` and Orbax writes collectively (each
replicated array once). Restores go against an abstract target tree: without
one, optax's named tuples come back as lists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import os
import sys
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

from jaxgan import config as config_lib
from jaxgan import parallel
from jaxgan.engine.state import TrainState

FINGERPRINT_KEY = "state_fingerprint"  # In each checkpoint's meta; checked on restore.

# Fields every system's saved state depends on; each system adds its own
# (System.structural_fields). Resuming a workdir whose config differs in one
# of these cannot work.
COMMON_STRUCTURAL_FIELDS = ("system", "data.image_size", "data.channels", "data.num_classes")


class CheckpointError(RuntimeError):
    """A checkpoint or workdir that cannot be used; the message says what to do."""


# TrainState fields that are written only when they hold something, so that a checkpoint
# from before the field existed restores as a state whose field is empty.
OPTIONAL_FIELDS = ("history",)


def _on_disk(state) -> dict[str, Any]:
    """``state`` as the tree a checkpoint holds: its fields by name, empty optional ones left out."""
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    return {k: v for k, v in fields.items() if not (k in OPTIONAL_FIELDS and not v)}


def _from_disk(abstract_state, tree: dict[str, Any]):
    return abstract_state.replace(**{**{k: {} for k in OPTIONAL_FIELDS}, **tree})


def _get(config, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part] if part in node else None
        if node is None:
            return None
    return node


def has_checkpoint(workdir: str) -> bool:
    """Whether ``workdir/checkpoints`` holds a complete (renamed, not temporary) checkpoint."""
    directory = os.path.join(workdir, "checkpoints")
    return os.path.isdir(directory) and any(n.isdigit() for n in os.listdir(directory))


def check_workdir_config(workdir: str, config: ml_collections.ConfigDict,
                         structural_fields=()) -> None:
    """Raises if ``workdir`` holds checkpoints of a run whose config is structurally different.

    Otherwise writes ``config.json`` (a run that stopped before its first
    checkpoint left nothing to be compatible with). Both happen before any compute.
    """
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path) and has_checkpoint(workdir):
        saved = load_workdir_config(workdir)
        fields = COMMON_STRUCTURAL_FIELDS + tuple(structural_fields)
        diffs = [f"{k}: {_get(saved, k)!r} in the workdir, {_get(config, k)!r} now"
                 for k in fields if _json(_get(saved, k)) != _json(_get(config, k))]
        if diffs:
            raise CheckpointError(
                f"The workdir {workdir} holds a run with an incompatible config ("
                + "; ".join(diffs) + "). Resume it with its own config, or pass a new --workdir.")
        return
    if jax.process_index() == 0:
        # Written whole or not at all: other hosts may be reading it right now.
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(config.to_json_best_effort(indent=2))
        os.replace(tmp, path)


def _json(value) -> str:
    """A comparable form of a config value (a tuple read back from JSON is a list)."""
    return json.dumps(value, default=list, sort_keys=True)


def load_workdir_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a workdir's run started with, with any field it predates at its default."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise CheckpointError(
            f"{workdir} is not a jaxgan workdir (no config.json). Pass the --workdir of a training run.")
    with open(path) as f:
        try:
            saved = ml_collections.ConfigDict(json.load(f))
        except json.JSONDecodeError as e:
            raise CheckpointError(
                f"{path} is not valid JSON ({e}); the workdir is damaged. Restore the file or "
                "start a new run with another --workdir.") from None
    return config_lib.upgrade(saved)


@contextlib.contextmanager
def _quiet_abandoned_reads():
    """Logs, instead of printing, the errors of array reads abandoned after the first failure.

    Orbax reads the arrays concurrently; when one read fails on a damaged file the
    others' errors surface as "Exception ignored in <coroutine>" tracebacks. The
    first error is reported; the rest go to the debug log.
    """
    previous = sys.unraisablehook

    def hook(unraisable):
        logging.debug("Abandoned checkpoint read: %s", unraisable.exc_value)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        gc.collect()  # Finalise the abandoned reads while the hook is in place.
        sys.unraisablehook = previous


class Checkpointer:
    """Saves and restores TrainState with the run's metadata (data position, best metric)."""

    def __init__(self, workdir: str, *, keep: int = 3):
        self.workdir = os.path.abspath(workdir)
        self._latest = ocp.CheckpointManager(
            os.path.join(self.workdir, "checkpoints"),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                cleanup_tmp_directories=True),
            item_names=("state", "meta"))
        self._best = ocp.CheckpointManager(
            os.path.join(self.workdir, "best"),
            options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True,
                                                cleanup_tmp_directories=True),
            item_names=("state", "meta"))

    def latest_step(self) -> int | None:
        return self._latest.latest_step()

    def save(self, step: int, state: TrainState, meta: dict[str, Any], *, best: bool = False) -> None:
        """Saves ``state`` at ``step`` (and as the best one if ``best``); blocks until written.

        ``meta`` gets the state's fingerprint (:func:`jaxgan.parallel.tree_digest`),
        which :meth:`restore` checks: Orbax's array files carry no checksum, so a
        flipped byte would otherwise come back as a silently different state.
        """
        meta = {**meta, FINGERPRINT_KEY: parallel.tree_digest(state)}
        args = ocp.args.Composite(state=ocp.args.StandardSave(_on_disk(state)),
                                  meta=ocp.args.JsonSave(meta))
        self._latest.save(step, args=args, force=True)
        if best:
            if step in self._best.all_steps():
                # Written by a run that died before checkpoints/<step> was complete and
                # was resumed from an earlier step: this is the same step, redone.
                self._best.delete(step)
            self._best.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(_on_disk(state)), meta=ocp.args.JsonSave(meta)),
                force=True)
        self.wait()

    def wait(self) -> None:
        self._latest.wait_until_finished()
        self._best.wait_until_finished()

    def restore(self, abstract_state: TrainState, step: int | None = None,
                *, best: bool = False) -> tuple[TrainState, dict[str, Any]]:
        """Restores the latest (or given, or best) checkpoint onto ``abstract_state``'s shardings."""
        manager = self._best if best else self._latest
        step = manager.latest_step() if step is None else step
        if step is None:
            where = "best/" if best else "checkpoints/"
            raise CheckpointError(f"No checkpoint in {os.path.join(self.workdir, where)}. "
                                  "Train first, or pass the --workdir of a run that saved one.")
        step_dir = os.path.join(str(manager.directory), str(step))
        fix = ("Move that directory aside to resume from the previous checkpoint, or start a "
               "new run with another --workdir.")
        try:
            with _quiet_abandoned_reads():
                restored = manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_on_disk(abstract_state)),
                    meta=ocp.args.JsonRestore()))
        except Exception as e:  # Orbax raises many types for damaged files.
            first = (str(e).splitlines() or [""])[0].split(" See full TensorStore")[0]
            first = first[:200].rstrip(". ")
            raise CheckpointError(
                f"The checkpoint {step_dir} cannot be read ({type(e).__name__}: {first}). It is "
                f"damaged or was written by an incompatible config. {fix}") from e
        meta = dict(restored["meta"] or {})
        expected = meta.pop(FINGERPRINT_KEY, None)
        state = _from_disk(abstract_state, restored["state"])
        if expected is not None and parallel.tree_digest(state) != expected:
            raise CheckpointError(
                f"The checkpoint {step_dir} is damaged: the state read back differs from the "
                f"state that was saved (its fingerprint does not match). {fix}")
        return state, meta

    def close(self) -> None:
        self.wait()
        self._latest.close()
        self._best.close()


def abstract_like(state: TrainState) -> TrainState:
    """The restore target: shapes, dtypes and shardings of ``state``, no data."""
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
