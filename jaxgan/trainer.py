"""The training loop: validate, build, restore, step, log, sample, evaluate, checkpoint.

Everything that can be known to be wrong before training (config, workdir,
checkpoint compatibility, data, metric weights, a damaged checkpoint) is checked
first, in that order, so a mistake costs seconds and never touches what the
workdir already holds. A resume restores onto the abstract state and runs no
initialisation.

Stopping: SIGTERM saves a checkpoint after the current step and returns (on
several hosts, at the same step everywhere, through JAX's preemption service);
a non-finite loss or parameter raises :class:`TrainingError` without saving
over the last good checkpoint; a kill at any moment leaves the last complete
checkpoint, from which the next start continues bit for bit.
"""

from __future__ import annotations

import math
import os
import signal
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from jaxgan import checkpoint, data, models, parallel
from jaxgan import config as config_lib
from jaxgan.images import to_uint8
from jaxgan.logging import Progress, RunLogger
from jaxgan.state import GANState, init_state, make_optimizers
from jaxgan.train_step import make_train_step


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says why and what to do."""


_DIVERGED_FIX = ("Training diverged: lower --config.optim.g_lr / --config.optim.d_lr or raise "
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
def _all_finite(tree) -> jax.Array:
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def make_sampler(generator, z_dim: int, num_classes: int):
    """A jitted ``sample(state_vars, z, labels) -> images in [-1, 1]`` in inference mode."""

    @jax.jit
    def sample(variables, z, labels):
        return generator.apply(variables, z, labels, train=False)

    def run(state: GANState, z, labels, *, use_ema: bool = True):
        return sample(state.generator_variables(use_ema), z, labels)

    return run


def fixed_latents(seed: int, num: int, z_dim: int, num_classes: int):
    """The latent (and labels: each class in turn) used for every sample grid of a run."""
    z = jax.random.normal(jax.random.fold_in(jax.random.key(seed), 0x5A3), (num, z_dim))
    labels = (jnp.arange(num) % num_classes).astype(jnp.int32) if num_classes else None
    return z, labels


def initializer(config, mesh):
    """Models, optimizers and a jitted ``init(key) -> GANState`` (replicated); no compute."""
    generator, critic = models.build_models(config.model, config.data)
    g_tx, d_tx = make_optimizers(config.optim)
    image_shape = (config.data.image_size, config.data.image_size, config.data.channels)
    init = jax.jit(lambda key: init_state(
        key, generator, critic, g_tx, d_tx, z_dim=config.model.z_dim, image_shape=image_shape,
        num_classes=config.data.num_classes), out_shardings=parallel.replicated(mesh))
    key = jax.random.fold_in(jax.random.key(config.seed), 0x1A17)
    return generator, critic, g_tx, d_tx, init, key


def build(config, mesh):
    """Models, optimizers and the initial (replicated) state."""
    generator, critic, g_tx, d_tx, init, key = initializer(config, mesh)
    return generator, critic, g_tx, d_tx, init(key)


def abstract_state(init, key, mesh) -> GANState:
    """Shapes, dtypes and (replicated) shardings of ``init(key)``, without running it."""
    sharding = parallel.replicated(mesh)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                        jax.eval_shape(init, key))


def run(config, workdir: str) -> dict[str, Any]:
    """Trains ``config`` in ``workdir`` (resuming it if it holds checkpoints).

    Returns a summary: the final step, the last logged metrics, whether the run
    stopped early for preemption (SIGTERM), and the final state.
    """
    config_lib.validate(config)
    parallel.initialize_distributed()  # First: it picks how Preemption hears SIGTERM.
    with Preemption() as preemption:  # From here on a SIGTERM is a clean stop, not a crash.
        return _run(config, workdir, preemption)


def _run(config, workdir: str, preemption: Preemption) -> dict[str, Any]:
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.train.batch_size, mesh)
    primary = jax.process_index() == 0
    check_writable(workdir)
    checkpoint.check_workdir_config(workdir, config)
    source = data.load_dataset(config.data)
    # The metric's network weights are found now; its reference statistics (compute)
    # wait until the checkpoint has been read.
    extractor = eval_extractor(config, mesh) if config.eval.every else None
    generator, critic, g_tx, d_tx, init, init_key = initializer(config, mesh)
    n_critic = config.optim.n_critic
    batch = config.train.batch_size

    ckpt = checkpoint.Checkpointer(workdir, keep=config.train.keep_checkpoints)
    pipeline = logger = None
    last: dict[str, float] = {}
    preempted = False
    try:
        meta: dict[str, Any] = {}
        if ckpt.latest_step() is not None:
            # Against the abstract state: a resume (or a bad checkpoint) costs no init.
            state, meta = ckpt.restore(abstract_state(init, init_key, mesh))
            if primary:
                print(f"Resumed {workdir} at step {int(state.step)}.", flush=True)
        else:
            state = init(init_key)
        start = int(state.step)
        best = meta.get("best_metric", math.inf)

        def last_good() -> str:
            step = ckpt.latest_step()
            return (f"The last good checkpoint (step {step}) is intact in {workdir}"
                    if step is not None else f"No checkpoint was written yet in {workdir}")

        def save(step: int, *, is_best: bool = False):
            if not bool(_all_finite((state.g_params, state.d_params))):
                raise TrainingError(f"Parameters are not finite at step {step}; not saving them. "
                                    f"{last_good()}. {_DIVERGED_FIX}")
            if jax.process_count() > 1:
                digest = parallel.check_same_on_all_hosts(state, "training state")
                if primary:
                    print(f"Checkpoint {step}: the state is identical on all "
                          f"{jax.process_count()} processes (fingerprint {digest[:16]}).",
                          flush=True)
            ckpt.save(step, state, {"step": step, "data_step": step * n_critic,
                                    "best_metric": best}, best=is_best)

        step_fn = make_train_step(config, generator, critic, g_tx, d_tx, mesh)
        pipeline = data.Pipeline(source, global_batch_size=batch, mesh=mesh, seed=config.seed,
                                 start_step=start * n_critic, random_flip=config.data.random_flip,
                                 prefetch=config.data.prefetch)
        logger = RunLogger(workdir, enabled=primary, resume_step=start)
        progress = Progress(config.train.num_steps, start, enabled=primary)
        sampler = make_sampler(generator, config.model.z_dim, config.data.num_classes)
        grid_z, grid_labels = fixed_latents(config.seed, config.train.num_sample_images,
                                            config.model.z_dim, config.data.num_classes)
        use_ema = bool(config.train.ema_decay)
        evaluator = (make_run_evaluator(config, source, mesh, extractor)
                     if extractor is not None else None)

        steps = range(start + 1, config.train.num_steps + 1)
        if preemption.requested:  # SIGTERM while starting: nothing new to save.
            preempted, steps = True, range(0)
            if primary:
                print(f"SIGTERM before the first step; {last_good()}. Exiting.", flush=True)
        t_step = time.perf_counter()
        for step in steps:
            batches = tuple(next(pipeline) for _ in range(n_critic))
            state, metrics = step_fn(state, batches)
            if step == start + 1:
                jax.block_until_ready(state.step)
                compile_s = time.perf_counter() - t_step
                progress.restart_clock(step)
                if primary:
                    print(f"First step (compile + run) took {compile_s:.1f} s.", flush=True)
            if step % config.train.log_every == 0 or step == config.train.num_steps:
                last = {k: float(v) for k, v in jax.device_get(metrics).items()}
                if not all(math.isfinite(v) for v in last.values()):
                    bad = sorted(k for k, v in last.items() if not math.isfinite(v))
                    raise TrainingError(f"Non-finite {', '.join(bad)} at step {step}. "
                                        f"{last_good()}. {_DIVERGED_FIX}")
                rate = progress.rate(step)
                last["img_per_sec"] = rate * batch * n_critic
                last["step_time_s"] = 1.0 / rate if rate > 0 else float("nan")
                logger.scalars(step, last)
                progress.line(step, batch * n_critic, last)
            if step % config.train.sample_every == 0 or step == config.train.num_steps:
                # Every host runs the sampler (one program over the mesh); process 0 writes.
                logger.image_grid(step, to_uint8(sampler(state, grid_z, grid_labels,
                                                         use_ema=use_ema)))
            is_best = False
            if evaluator is not None and (step % config.eval.every == 0
                                          or step == config.train.num_steps):
                results = evaluator(_generate_fn(sampler, state, config, step, use_ema))
                logger.scalars(step, results, file=f"metric-{config.eval.metric}.jsonl")
                logger.scalars(step, results)
                value = next(iter(results.values()))
                if value < best:
                    best, is_best = value, True
            preempted = preemption.reached(step)
            if (step % config.train.checkpoint_every == 0 or step == config.train.num_steps
                    or is_best or preempted):
                save(step, is_best=is_best)
            if preempted:
                if primary:
                    print(f"SIGTERM: saved step {step} in {workdir}; exiting.", flush=True)
                break
    finally:
        if pipeline is not None:
            pipeline.close()
        ckpt.close()
        if logger is not None:
            logger.close()
    return {"step": int(state.step), "metrics": last, "preempted": preempted, "state": state}


def eval_extractor(config, mesh):
    """The evaluation metric's feature network; raises (e.g. missing weights) before any compute."""
    if config.eval.metric == "fid":
        from jaxgan.metrics.features import inception_extractor

        return inception_extractor(mesh=mesh)
    from jaxgan.metrics.classifier import classifier_extractor

    return classifier_extractor(config.data.name, mesh=mesh)


def make_run_evaluator(config, source, mesh, extractor):
    """The evaluator of ``config.eval`` against ``source``'s images (shared with the SGAN trainer)."""
    from jaxgan import metrics  # Lazy: the feature network is only built when asked for.

    return metrics.make_evaluator(config.eval, config.data, source.images, mesh,
                                  extractor=extractor)


def _generate_fn(sampler, state, config, step: int, use_ema: bool):
    """``generate(num) -> uint8 images`` for the evaluator, from a key fixed by the step."""

    def generate(num: int) -> np.ndarray:
        key = jax.random.fold_in(jax.random.key(config.seed), 0xE7A1 + step)
        out, bs = [], 256
        for i in range(0, num, bs):
            n = min(bs, num - i)
            k = jax.random.fold_in(key, i)
            z = jax.random.normal(k, (n, config.model.z_dim))
            labels = (jax.random.randint(jax.random.fold_in(k, 1), (n,), 0,
                                         config.data.num_classes)
                      if config.data.num_classes else None)
            out.append(to_uint8(sampler(state, z, labels, use_ema=use_ema)))
        return np.concatenate(out)

    return generate
