"""The training loop of every system: validate, build, restore, step, log, sample, evaluate, save.

Everything that can be known to be wrong before training (config, workdir,
checkpoint compatibility, data, metric weights, a system's input files, a
damaged checkpoint) is checked first, in that order, so a mistake costs
seconds and never touches what the workdir already holds. A resume restores
onto the abstract state and runs no initialisation; the data stream continues
from the position saved in the state.

The run walks the system's phases (one compiled step each) over one step
counter, which numbers checkpoints and log records. Stopping: SIGTERM saves a
checkpoint after the current step and returns; a non-finite loss or
parameter raises :class:`TrainingError` without saving over the last good
checkpoint; a kill at any moment leaves the last complete checkpoint, from
which the next start continues bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any, Callable

import jax
import numpy as np

from jaxgan import config as config_lib
from jaxgan import data, parallel, systems
from jaxgan.engine import checkpoint
from jaxgan.engine.sampling import EVAL_SALT, Sampler
from jaxgan.engine.state import abstract_state, make_init
from jaxgan.engine.step import make_step
from jaxgan.engine.stopping import (DIVERGED_FIX, Preemption, TrainingError, all_finite,
                                    check_writable)
from jaxgan.images import to_uint8
from jaxgan.logging import Progress, RunLogger

__all__ = ["Programs", "TrainingError", "programs", "run"]

# Config fields that change no compiled program: runs differing only in these share them.
SCHEDULE_FIELDS = ("seed", "eval", "train.num_steps", "train.log_every", "train.checkpoint_every",
                   "train.sample_every", "train.keep_checkpoints", "train.num_sample_images",
                   "data.data_dir", "data.prefetch", "data.name")


@dataclasses.dataclass
class Programs:
    """The jitted pieces of one system config, shared by every seed (see :func:`programs`)."""

    system: Any  # The system the programs were built from (its schedule may be another run's).
    init: Callable  # seed key -> replicated TrainState
    abstract: Any  # The state's shapes and shardings.
    sampler: Sampler
    _mesh: Any
    _global_batch: int
    _steps: dict[str, Callable] = dataclasses.field(default_factory=dict)

    def step(self, phase) -> Callable:
        """The compiled step of ``phase`` (built on first use)."""
        if phase.name not in self._steps:
            self._steps[phase.name] = make_step(self.system, phase, self._mesh, self._global_batch)
        return self._steps[phase.name]


_PROGRAMS: dict[tuple[str, Any], Programs] = {}


def _signature(config, system) -> str:
    fields = json.loads(config.to_json_best_effort())
    for dotted in SCHEDULE_FIELDS + tuple(getattr(system, "schedule_fields", ())):
        node, *rest = dotted.split(".")
        if rest:
            fields.get(node, {}).pop(rest[0], None)
        else:
            fields.pop(node, None)
    fields["__system__"] = f"{type(system).__module__}.{type(system).__qualname__}"
    return json.dumps(fields, sort_keys=True)


def programs(config, mesh, system=None) -> Programs:
    """The jitted init, steps and sampler of ``config``, built once per process and mesh.

    A sweep over seeds (or data sets of one shape) reuses the compiled programs:
    the seed enters through the state, never as a traced constant.
    """
    system = system or systems.build_system(config)
    key = (_signature(config, system), mesh)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = Programs(system=system, init=make_init(system, mesh),
                                  abstract=abstract_state(system, mesh), sampler=Sampler(system),
                                  _mesh=mesh, _global_batch=config.train.batch_size)
    return _PROGRAMS[key]


def run(config, workdir: str) -> dict[str, Any]:
    """Trains ``config`` in ``workdir`` (resuming it if it holds checkpoints).

    Returns a summary: the final step, the last logged metrics, whether the run
    stopped early for preemption (SIGTERM), what the phase ends reported, and
    the final state.
    """
    config_lib.validate(config)
    parallel.initialize_distributed()  # First: it picks how Preemption hears SIGTERM.
    with Preemption() as preemption:  # From here on a SIGTERM is a clean stop, not a crash.
        return _run(config, workdir, preemption)


@dataclasses.dataclass
class RunInfo:
    """What a system's phase-end hook may use of the running loop."""

    workdir: str
    primary: bool
    mesh: Any
    source: Any
    programs: Programs


def _run(config, workdir: str, preemption: Preemption) -> dict[str, Any]:
    system = systems.build_system(config)
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.train.batch_size, mesh)
    primary = jax.process_index() == 0
    check_writable(workdir)
    checkpoint.check_workdir_config(workdir, config, system.structural_fields)
    source = system.load_data()
    # The metric's network weights are found now; its reference statistics (compute)
    # wait until the checkpoint has been read.
    extractor = eval_extractor(config, mesh) if config.eval.every else None
    prog = programs(config, mesh, system)
    system.preflight(prog.abstract)
    batch = config.train.batch_size
    total = system.total_steps

    ckpt = checkpoint.Checkpointer(workdir, keep=config.train.keep_checkpoints)
    pipeline = logger = None
    summary: dict[str, Any] = {"metrics": {}, "preempted": False}
    try:
        meta: dict[str, Any] = {}
        resumed = ckpt.latest_step() is not None
        if resumed:  # Against the abstract state: a resume (or a bad checkpoint) costs no init.
            state, meta = ckpt.restore(prog.abstract)
            if primary:
                print(f"Resumed {workdir} at step {int(state.step)}.", flush=True)
        else:
            state = system.initial_state(prog.init(jax.random.key(config.seed)), mesh)
        start = int(state.step)
        best = meta.get("best_metric", math.inf)

        def last_good() -> str:
            step = ckpt.latest_step()
            return (f"The last good checkpoint (step {step}) is intact in {workdir}"
                    if step is not None else f"No checkpoint was written yet in {workdir}")

        def save(step: int, *, is_best: bool = False):
            if not bool(all_finite(state.params)):
                raise TrainingError(f"Parameters are not finite at step {step}; not saving them. "
                                    f"{last_good()}. {DIVERGED_FIX}")
            if jax.process_count() > 1:
                digest = parallel.check_same_on_all_hosts(state, "training state")
                if primary:
                    print(f"Checkpoint {step}: the state is identical on all "
                          f"{jax.process_count()} processes (fingerprint {digest[:16]}).",
                          flush=True)
            ckpt.save(step, state, {"step": step, "data_step": int(state.data_step),
                                    "phase": system.phase_at(step).name, "best_metric": best},
                      best=is_best)

        pipeline = data.Pipeline(source, global_batch_size=batch, mesh=mesh, seed=config.seed,
                                 start_step=int(state.data_step),
                                 random_flip=config.data.random_flip,
                                 prefetch=config.data.prefetch)
        # From the checkpoint's step (0 on a fresh start): drops what a run that died after it
        # logged, so the logs read as one run.
        logger = RunLogger(workdir, enabled=primary, resume_step=start)
        progress = Progress(total, start, enabled=primary)
        sampler = prog.sampler
        grid_latents, grid_labels, grid_columns = system.grid_inputs(
            config.seed, config.train.num_sample_images)
        evaluator = (make_run_evaluator(config, source, mesh, extractor)
                     if extractor is not None else None)
        info = RunInfo(workdir, primary, mesh, source, prog)
        phase_index = {p.name: i for i, p in enumerate(system.phases)}
        phase_ends = np.cumsum([p.steps for p in system.phases]).tolist()

        def log(step: int, metrics, phase, images_per_step: int, reported) -> None:
            values = {k: float(v) for k, v in jax.device_get(metrics).items()}
            bad = sorted(k for k, v in values.items() if not math.isfinite(v))
            if bad:
                raise TrainingError(f"Non-finite {', '.join(bad)} at step {step}. "
                                    f"{last_good()}. {DIVERGED_FIX}")
            rate = progress.rate(step)
            if math.isfinite(rate) and rate > 0:  # None yet on the first (compiling) step.
                values["img_per_sec"] = rate * images_per_step
                values["step_time_s"] = 1.0 / rate
            if len(system.phases) > 1:
                values["phase"] = phase_index[phase.name]
            values.update(reported)
            logger.scalars(step, values)
            progress.line(step, images_per_step, values)
            summary["metrics"] = values

        steps = range(start + 1, total + 1)
        if preemption.requested:  # SIGTERM while starting: nothing new to save.
            summary["preempted"], steps = True, range(0)
            if primary:
                print(f"SIGTERM before the first step; {last_good()}. Exiting.", flush=True)
        compiled: set[str] = set()
        for step in steps:
            phase = system.phase_at(step)
            step_fn = prog.step(phase)
            n_batches = system.batches_per_step(phase)
            t0 = time.perf_counter()
            batches = tuple(next(pipeline) for _ in range(n_batches))
            state, metrics = step_fn(state, batches)
            if phase.name not in compiled:  # This run's first step of the phase compiles.
                compiled.add(phase.name)
                jax.block_until_ready(state.step)
                progress.restart_clock(step)
                if primary:
                    print(f"First {phase.name} step (compile + run) took "
                          f"{time.perf_counter() - t0:.1f} s.", flush=True)
            last = step == total
            phase_end = step in phase_ends
            reported = system.on_phase_end(phase, state, info) if phase_end and not last else {}
            summary.update(reported)
            if step % config.train.log_every == 0 or last or phase_end:
                log(step, metrics, phase, batch * max(n_batches, 1), reported)
            if step % config.train.sample_every == 0 or last:
                # Every host runs the sampler (one program over the mesh); process 0 writes.
                logger.image_grid(step, to_uint8(sampler.images(state, grid_latents, grid_labels)),
                                  ncols=grid_columns)
                for tag, images in system.grids(sampler, state, step, final=last).items():
                    logger.image_grid(step, images, tag=tag)
            is_best = False
            if evaluator is not None and (step % config.eval.every == 0 or last):
                results = evaluator(_generate_fn(sampler, state, config.seed, step))
                logger.scalars(step, results, file=f"metric-{config.eval.metric}.jsonl")
                logger.scalars(step, results)
                value = next(iter(results.values()))
                if value < best:
                    best, is_best = value, True
            summary["preempted"] = preemption.reached(step)
            if (step % config.train.checkpoint_every == 0 or last or is_best or phase_end
                    or summary["preempted"]):
                save(step, is_best=is_best)
            if summary["preempted"]:
                if primary:
                    print(f"SIGTERM: saved step {step} in {workdir}; exiting.", flush=True)
                break
    finally:
        if pipeline is not None:
            pipeline.close()
        ckpt.close()
        if logger is not None:
            logger.close()
    summary.update(step=int(state.step), state=state)
    return summary


def eval_extractor(config, mesh):
    """The evaluation metric's feature network; raises (e.g. missing weights) before any compute."""
    if config.eval.metric == "fid":
        from jaxgan.metrics.features import inception_extractor

        return inception_extractor(mesh=mesh)
    from jaxgan.metrics.classifier import classifier_extractor

    return classifier_extractor(config.data.name, mesh=mesh)


def make_run_evaluator(config, source, mesh, extractor):
    """The evaluator of ``config.eval`` against ``source``'s images."""
    from jaxgan import metrics  # Lazy: the feature network is only built when asked for.

    return metrics.make_evaluator(config.eval, config.data, source.images, mesh,
                                  extractor=extractor)


def _generate_fn(sampler: Sampler, state, seed: int, step: int):
    """``generate(num) -> uint8 images`` for the evaluator, from a key fixed by the step."""

    def generate(num: int) -> np.ndarray:
        key = jax.random.fold_in(jax.random.key(seed), EVAL_SALT + step)
        return sampler.generate(state, key, num, sampler.labels_for(key, num))

    return generate
