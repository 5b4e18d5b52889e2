"""The Stacked GAN loop: encoder pre-training, independent stacks, joint training.

``python -m jaxgan.train --config configs/sgan_mnist.py`` lands in :func:`run`
(``jaxgan.train`` sends every config with an ``sgan`` section here). The run
has three phases, one global step counter over them (the checkpoint number and
the position in the data stream)::

    global step 1 .. E            encoder E trained as a classifier (skipped with
                                  sgan.encoder_path); writes <workdir>/encoder.npz
    GAN step 1 .. I               each stack trained independently, G0 on real fc3
    GAN step I+1 .. num_steps     the stack trained jointly, end to end

As :mod:`jaxgan.trainer`: everything that can be known to be wrong (config,
workdir, data, a saved encoder) is checked before any compute; a resumed run
continues where the last checkpoint left it, with the same batches and noise.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import checkpoint, data, images, parallel
from jaxgan.logging import Progress, RunLogger
from jaxgan.sgan import config as sgan_config
from jaxgan.sgan import encoder as encoder_io
from jaxgan.sgan import sampling
from jaxgan.sgan.models import Networks, build_networks
from jaxgan.sgan.state import SGANState, init_state, make_optimizers
from jaxgan.sgan.step import make_encoder_step, make_gan_step
from jaxgan.trainer import (Preemption, TrainingError, check_writable, eval_extractor,
                            make_run_evaluator)

PHASES = {"encoder": 0, "independent": 1, "joint": 2}


@dataclasses.dataclass(frozen=True)
class Programs:
    """The compiled pieces of one SGAN config, shared by every seed (see :func:`programs`)."""

    networks: Networks
    init: Callable  # seed key -> replicated SGANState
    encoder_step: Callable
    independent_step: Callable
    joint_step: Callable
    sample: Callable
    reconstruct: Callable
    predict: Callable  # The encoder's class ids of uint8 images.


_PROGRAMS: dict[tuple[str, Any], Programs] = {}


def _signature(config) -> str:
    """Everything the compiled programs depend on; not the seed, schedule or paths."""
    schedule = ("encoder_steps", "encoder_path", "independent_steps", "max_examples",
                "samples_per_class")
    fields = {
        "sgan": {k: v for k, v in config.sgan.to_dict().items() if k not in schedule},
        "data": [config.data.image_size, config.data.channels, config.data.num_classes],
        "loss": config.loss.name,
        "optim": config.optim.to_dict(),
        "fast": config.model.fast_cpu_layers,
    }
    return json.dumps(fields, sort_keys=True, default=str)


def programs(config, mesh) -> Programs:
    """The jitted init, steps and samplers of ``config``, built once per process and mesh.

    A sweep over seeds (or data sets of one shape) reuses the compiled programs:
    the seed enters through the state, never as a traced constant.
    """
    key = (_signature(config), mesh)
    if key not in _PROGRAMS:
        networks = build_networks(config)
        enc_tx, g_tx, d_tx = txs = make_optimizers(config)
        init = jax.jit(lambda k: init_state(k, networks, txs, config),
                       out_shardings=parallel.replicated(mesh))
        _PROGRAMS[key] = Programs(
            networks=networks, init=init,
            encoder_step=make_encoder_step(networks, enc_tx, mesh),
            independent_step=make_gan_step(config, networks, g_tx, d_tx, mesh, joint=False),
            joint_step=make_gan_step(config, networks, g_tx, d_tx, mesh, joint=True),
            sample=sampling.make_sampler(networks, config.data.num_classes),
            reconstruct=sampling.make_reconstructor(networks),
            predict=encoder_io.make_predictor(networks.encoder))
    return _PROGRAMS[key]


def _check_workdir_structure(workdir: str, config) -> None:
    """Raises if ``workdir`` holds an SGAN run whose networks have other shapes."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    saved = checkpoint.load_workdir_config(workdir)

    def get(cfg, dotted):
        section, name = dotted.split(".")
        return cfg[section].get(name) if section in cfg else None

    diffs = [f"{k}: {get(saved, k)!r} in the workdir, {get(config, k)!r} now"
             for k in sgan_config.STRUCTURAL_FIELDS
             if json.dumps(get(saved, k), default=list) != json.dumps(get(config, k), default=list)]
    if diffs:
        raise checkpoint.CheckpointError(
            f"The workdir {workdir} holds an SGAN run with an incompatible config ("
            + "; ".join(diffs) + "). Resume it with its own config, or pass a new --workdir.")


def load_source(config) -> data.ArraySource:
    """``config.data``'s training split, cut to ``sgan.max_examples`` when that is set."""
    source = data.load_dataset(config.data)
    n = config.sgan.max_examples
    if n and n < len(source):
        source = data.ArraySource(source.images[:n], source.labels[:n], source.num_classes,
                                  source.name, origin=f"{source.origin}; first {n} examples")
    if len(source) < config.train.batch_size:
        raise ValueError(f"{source.name} has {len(source)} examples, fewer than "
                         f"train.batch_size={config.train.batch_size}; lower the batch size or "
                         "raise sgan.max_examples.")
    return source


def _test_accuracy(config, predict, params) -> float | None:
    """The encoder's accuracy on the data set's test split, None when there is none."""
    test_cfg = config.data.copy_and_resolve_references()
    test_cfg.split = "test"
    try:
        test = data.load_dataset(test_cfg)
    except (ValueError, FileNotFoundError):  # No test split for this source.
        return None
    return encoder_io.accuracy(predict, params, test.images, test.labels)


def abstract_state(init, mesh) -> SGANState:
    """Shapes, dtypes and (replicated) shardings of the initial state, without running init."""
    sharding = parallel.replicated(mesh)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                        jax.eval_shape(init, jax.random.key(0)))


@jax.jit
def _all_finite(tree) -> jax.Array:
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def run(config, workdir: str) -> dict[str, Any]:
    """Trains the SGAN ``config`` in ``workdir`` (resuming it if it holds checkpoints).

    Returns a summary: the final GAN step and global step, the last logged
    metrics, the encoder's test accuracy, whether the run stopped for
    preemption (SIGTERM), and the final state.
    """
    sgan_config.validate(config)
    parallel.initialize_distributed()  # First: it picks how Preemption hears SIGTERM.
    with Preemption() as preemption:
        return _run(config, workdir, preemption)


def _run(config, workdir: str, preemption: Preemption) -> dict[str, Any]:
    mesh = parallel.make_mesh()
    parallel.check_batch_size(config.train.batch_size, mesh)
    primary = jax.process_index() == 0
    check_writable(workdir)
    _check_workdir_structure(workdir, config)
    checkpoint.check_workdir_config(workdir, config)
    source = load_source(config)
    extractor = eval_extractor(config, mesh) if config.eval.every else None
    s, t = config.sgan, config.train
    prog = programs(config, mesh)
    abstract = abstract_state(prog.init, mesh)
    saved_encoder = os.path.join(workdir, encoder_io.ENCODER_FILE)
    enc_file = os.path.expanduser(s.encoder_path) or (
        saved_encoder if os.path.isfile(saved_encoder) else "")
    enc_params, enc_info = (encoder_io.load_encoder(enc_file, abstract.encoder_params)
                            if enc_file else (None, {}))
    enc_total = 0 if s.encoder_path else s.encoder_steps

    ckpt = checkpoint.Checkpointer(workdir, keep=t.keep_checkpoints)
    pipeline = logger = None
    summary: dict[str, Any] = {"metrics": {}, "preempted": False,
                               "encoder_test_accuracy": enc_info.get("test_accuracy")}
    try:
        resumed = ckpt.latest_step() is not None
        if resumed:  # Against the abstract state: a resume (or a bad checkpoint) costs no init.
            state, _ = ckpt.restore(abstract)
            if primary:
                print(f"Resumed {workdir} at global step {int(state.global_step())} (GAN step "
                      f"{int(state.step)}).", flush=True)
        else:
            state = prog.init(jax.random.key(config.seed))
            if s.encoder_path:
                state = state.replace(encoder_params=parallel.replicate(mesh, enc_params))

        def last_good() -> str:
            step = ckpt.latest_step()
            return (f"The last good checkpoint (global step {step}) is intact in {workdir}"
                    if step is not None else f"No checkpoint was written yet in {workdir}")

        def save(reason: str) -> None:
            g = int(state.global_step())
            if not bool(_all_finite((state.g_params, state.d_params, state.encoder_params))):
                raise TrainingError(f"Parameters are not finite at global step {g}; not saving "
                                    f"them. {last_good()}. Lower the learning rates, then resume.")
            if jax.process_count() > 1:
                parallel.check_same_on_all_hosts(state, "SGAN training state")
            ckpt.save(g, state, {"global_step": g, "step": int(state.step),
                                 "encoder_step": int(state.encoder_step), "phase": reason})

        pipeline = data.Pipeline(source, global_batch_size=t.batch_size, mesh=mesh,
                                 seed=config.seed, start_step=int(state.global_step()),
                                 random_flip=config.data.random_flip,
                                 prefetch=config.data.prefetch)
        logger = RunLogger(workdir, enabled=primary,
                           resume_step=int(state.global_step()) if resumed else None)
        grid = sampling.class_grid_inputs(config.seed, s, config.data.num_classes,
                                          s.samples_per_class)
        recon_real = jnp.asarray(source.images[:len(grid[2])], jnp.float32) / 127.5 - 1.0
        evaluator = (make_run_evaluator(config, source, mesh, extractor)
                     if extractor is not None else None)

        def log(metrics, global_step: int, phase: str, progress) -> None:
            values = {k: float(v) for k, v in jax.device_get(metrics).items()}
            bad = sorted(k for k, v in values.items() if not math.isfinite(v))
            if bad:
                raise TrainingError(f"Non-finite {', '.join(bad)} at global step {global_step}. "
                                    f"{last_good()}. Lower the learning rates, then resume.")
            rate = progress.rate(global_step)
            values.update(phase=PHASES[phase], img_per_sec=rate * t.batch_size)
            logger.scalars(global_step, values)
            progress.line(global_step, t.batch_size, values)
            summary["metrics"] = values

        def sample_grids(global_step: int, *, final: bool) -> None:
            # Every host runs the samplers (replicated programs); process 0 writes.
            out = prog.sample(state.g_params, state.g_vars, *grid)
            grid_img = images.make_grid(images.to_uint8(out), ncols=s.samples_per_class)
            logger.image_grid(global_step, grid_img[None], tag="samples")
            if s.stacked:
                z0 = sampling.draw(jax.random.fold_in(jax.random.key(config.seed), 0x2EC), s,
                                   len(recon_real))[1]
                rec = prog.reconstruct(state.g_params, state.g_vars, state.encoder_params, z0,
                                       recon_real)
                logger.image_grid(global_step, images.to_uint8(rec), tag="reconstructions")
            if final:  # One 8x8 grid per class, fresh noise in every cell.
                key = jax.random.fold_in(jax.random.key(config.seed), 0xF1A)
                for k in range(config.data.num_classes):
                    x = sampling.generate(prog.sample, state, s, jax.random.fold_in(key, k),
                                          np.full(64, k), batch_size=len(grid[2]))
                    logger.image_grid(global_step, images.to_uint8(x), tag=f"class{k}")

        if preemption.requested:  # SIGTERM while starting: nothing new to save.
            summary["preempted"] = True
            return _finish(summary, state)

        # ---- phase 0: the encoder, a classifier ------------------------------
        if int(state.encoder_step) < enc_total:
            progress = Progress(enc_total, int(state.encoder_step), enabled=primary)
            for e_step in range(int(state.encoder_step) + 1, enc_total + 1):
                state, metrics = prog.encoder_step(state, next(pipeline))
                if e_step % t.log_every == 0 or e_step == enc_total:
                    log(metrics, e_step, "encoder", progress)
                if preemption.reached(e_step):
                    save("encoder")
                    summary["preempted"] = True
                    return _finish(summary, state)
                if e_step % t.checkpoint_every == 0 and e_step < enc_total:
                    save("encoder")
            acc = _test_accuracy(config, prog.predict, state.encoder_params)
            enc_info = {"dataset": config.data.name, "steps": enc_total, "test_accuracy": acc,
                        "enc_channels": list(s.enc_channels), "feature_dim": s.feature_dim}
            summary["encoder_test_accuracy"] = acc
            if primary:
                encoder_io.save_encoder(saved_encoder, state.encoder_params, enc_info)
                if acc is not None:
                    logger.scalars(enc_total, {"encoder_test_accuracy": acc})
                    print(f"Encoder test accuracy {acc:.4f}; saved {saved_encoder}.", flush=True)
            save("encoder")

        # ---- phases 1 and 2: independent stacks, then joint training --------
        start = int(state.step)
        progress = Progress(enc_total + t.num_steps, enc_total + start, enabled=primary)
        for step in range(start + 1, t.num_steps + 1):
            # The single-stack baseline has no stacks to join: one kind of step throughout.
            phase = "joint" if s.stacked and step > s.independent_steps else "independent"
            step_fn = prog.joint_step if phase == "joint" else prog.independent_step
            t0 = time.perf_counter()
            state, metrics = step_fn(state, next(pipeline))
            g = enc_total + step
            if step == start + 1 or (phase == "joint" and step == s.independent_steps + 1):
                jax.block_until_ready(state.step)
                progress.restart_clock(g)
                if primary:
                    print(f"First {phase} step (compile + run) took "
                          f"{time.perf_counter() - t0:.1f} s.", flush=True)
            last = step == t.num_steps
            if step % t.log_every == 0 or last:
                log(metrics, g, phase, progress)
            if step % t.sample_every == 0 or last:
                sample_grids(g, final=last)
            if evaluator is not None and (step % config.eval.every == 0 or last):
                results = evaluator(_generate_fn(prog, state, config, step))
                logger.scalars(g, results, file=f"metric-{config.eval.metric}.jsonl")
                logger.scalars(g, results)
            stop = preemption.reached(g)
            if step % t.checkpoint_every == 0 or last or step == s.independent_steps or stop:
                save(phase)
            if stop:
                summary["preempted"] = True
                if primary:
                    print(f"SIGTERM: saved global step {g} in {workdir}; exiting.", flush=True)
                break
    finally:
        if pipeline is not None:
            pipeline.close()
        ckpt.close()
        if logger is not None:
            logger.close()
    return _finish(summary, state)


def _finish(summary: dict[str, Any], state: SGANState) -> dict[str, Any]:
    summary.update(step=int(state.step), global_step=int(state.global_step()), state=state)
    return summary


def _generate_fn(prog: Programs, state: SGANState, config, step: int):
    """``generate(num) -> uint8 images`` for the evaluator: uniform labels, noise fixed by step."""

    def generate(num: int) -> np.ndarray:
        key = jax.random.fold_in(jax.random.key(config.seed), 0xE7A1 + step)
        labels = np.asarray(jax.random.randint(jax.random.fold_in(key, 1), (num,), 0,
                                               config.data.num_classes))
        return images.to_uint8(sampling.generate(prog.sample, state, config.sgan, key, labels))

    return generate
