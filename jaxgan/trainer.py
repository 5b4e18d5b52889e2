"""The training loop: validate, build, restore, step, log, sample, evaluate, checkpoint.

Everything that can be known to be wrong before training (config, data,
workdir, checkpoint compatibility) is checked first, in that order, so a
mistake costs seconds and never touches what the workdir already holds.
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

from jaxgan import checkpoint, data, models, parallel
from jaxgan import config as config_lib
from jaxgan.images import to_uint8
from jaxgan.logging import Progress, RunLogger
from jaxgan.state import GANState, init_state, make_optimizers
from jaxgan.train_step import make_train_step


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says why and what to do."""


class _Preemption:
    """Turns SIGTERM into a flag the loop checks after each step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # Not the main thread (e.g. called from a worker): no handler.
            self._previous = None
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _check_writable(workdir: str) -> None:
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, f".write_test_{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise TrainingError(f"The workdir {workdir} cannot be written ({e.strerror}). Pass a "
                            "--workdir on a writable disk, or fix its permissions.") from None


def _all_finite(tree) -> bool:
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return bool(all(np.isfinite(np.asarray(jnp.sum(x))) for x in leaves))


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


def build(config, mesh):
    """Models, optimizers and the initial (replicated) state; no training compute."""
    generator, critic = models.build_models(config.model, config.data)
    g_tx, d_tx = make_optimizers(config.optim)
    image_shape = (config.data.image_size, config.data.image_size, config.data.channels)
    init = jax.jit(lambda key: init_state(
        key, generator, critic, g_tx, d_tx, z_dim=config.model.z_dim, image_shape=image_shape,
        num_classes=config.data.num_classes), out_shardings=parallel.replicated(mesh))
    state = init(jax.random.fold_in(jax.random.key(config.seed), 0x1A17))
    return generator, critic, g_tx, d_tx, state


def run(config, workdir: str) -> dict[str, Any]:
    """Trains ``config`` in ``workdir`` (resuming it if it holds checkpoints).

    Returns a summary: the final step, the last logged metrics and whether the
    run stopped early for preemption.
    """
    config_lib.validate(config)
    parallel.initialize_distributed()
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.train.batch_size, mesh)
    primary = jax.process_index() == 0
    _check_writable(workdir)
    checkpoint.check_workdir_config(workdir, config)
    source = data.load_dataset(config.data)

    generator, critic, g_tx, d_tx, state = build(config, mesh)
    ckpt = checkpoint.Checkpointer(workdir, keep=config.train.keep_checkpoints)
    meta: dict[str, Any] = {}
    if ckpt.latest_step() is not None:
        state, meta = ckpt.restore(checkpoint.abstract_like(state))
        print(f"Resumed {workdir} at step {int(state.step)}.", flush=True)
    start = int(state.step)
    n_critic = config.optim.n_critic
    batch = config.train.batch_size

    step_fn = make_train_step(config, generator, critic, g_tx, d_tx, mesh)
    pipeline = data.Pipeline(source, global_batch_size=batch, mesh=mesh, seed=config.seed,
                             start_step=start * n_critic, random_flip=config.data.random_flip,
                             prefetch=config.data.prefetch)
    logger = RunLogger(workdir, enabled=primary)
    progress = Progress(config.train.num_steps, start, enabled=primary)
    sampler = make_sampler(generator, config.model.z_dim, config.data.num_classes)
    grid_z, grid_labels = fixed_latents(config.seed, config.train.num_sample_images,
                                        config.model.z_dim, config.data.num_classes)
    use_ema = bool(config.train.ema_decay)
    evaluator = _make_evaluator(config, source, mesh) if config.eval.every else None
    best = meta.get("best_metric", math.inf)

    def save(step: int, *, is_best: bool = False):
        if not _all_finite((state.g_params, state.d_params)):
            raise TrainingError(
                f"Parameters are not finite at step {step}; not saving over the last good "
                f"checkpoint (step {ckpt.latest_step()}). Lower the learning rates or raise the "
                "penalty weight, then resume from it.")
        ckpt.save(step, state, {"step": step, "data_step": step * n_critic, "best_metric": best},
                  best=is_best)

    last: dict[str, float] = {}
    preempted = False
    t_step = time.perf_counter()
    try:
        with _Preemption() as preemption:
            for step in range(start + 1, config.train.num_steps + 1):
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
                        raise TrainingError(
                            f"Non-finite {', '.join(bad)} at step {step}. The last good checkpoint "
                            f"(step {ckpt.latest_step()}) is intact in {workdir}. Lower the "
                            "learning rates or raise the penalty weight, then resume from it.")
                    rate = progress.rate(step)
                    last["img_per_sec"] = rate * batch * n_critic
                    last["step_time_s"] = 1.0 / rate if rate > 0 else float("nan")
                    logger.scalars(step, last)
                    progress.line(step, batch * n_critic, last)
                if step % config.train.sample_every == 0 or step == config.train.num_steps:
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
                if (step % config.train.checkpoint_every == 0 or step == config.train.num_steps
                        or is_best or preemption.requested):
                    save(step, is_best=is_best)
                if preemption.requested:
                    preempted = True
                    if primary:
                        print(f"SIGTERM: saved step {step} in {workdir}; exiting.", flush=True)
                    break
    finally:
        pipeline.close()
        ckpt.close()
        logger.close()
    return {"step": int(state.step), "metrics": last, "preempted": preempted, "state": state}


def _make_evaluator(config, source, mesh):
    from jaxgan import metrics  # Lazy: the Inception network is only built when asked for.

    return metrics.make_evaluator(config.eval, config.data, source.images, mesh)


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
