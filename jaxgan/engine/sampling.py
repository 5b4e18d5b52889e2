"""Images from a train state, for any system: grids, evaluation and ``jaxgan.sample``.

:class:`Sampler` jits ``system.render`` once, with networks in inference mode
and their sampling parameters (the EMA where the system keeps one). Every call
has the same number of rows (the last chunk is padded, then trimmed), so it
compiles once whatever the number of images.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.images import to_uint8

EVAL_SALT = 0xE7A1  # Plus the step: the latents of an evaluation during training.
LABEL_SALT = 0x1AB  # Folded into a sampling key for random class labels.


class Sampler:
    """``images(state, latents, labels)`` and ``generate(state, key, num)`` for ``system``."""

    def __init__(self, system, *, chunk: int = 256):
        self.system = system
        self.chunk = chunk
        networks = system.networks

        @jax.jit
        def render(variables, latents, labels):
            def apply(name, *args, **kwargs):
                return networks[name].apply(variables[name], *args, **kwargs)

            return system.render(apply, latents, labels)

        self._render = render

    def _variables(self, state, use_ema: bool) -> dict:
        return {n: state.variables(n, use_ema=use_ema) for n in self.system.networks}

    def images(self, state, latents, labels=None, *, use_ema: bool = True) -> jax.Array:
        """Float images in [-1, 1] for the given latents (and labels)."""
        return self._render(self._variables(state, use_ema), latents, labels)

    def labels_for(self, key: jax.Array, num: int, label: int | None = None) -> np.ndarray | None:
        """The class of each of ``num`` samples: ``label`` for all, else uniform; None if
        the system is unconditional."""
        k = self.system.num_classes
        if not k:
            if label is not None:
                raise ValueError("This system is unconditional: it takes no --label.")
            return None
        if label is not None:
            if not 0 <= label < k:
                raise ValueError(f"--label {label} is not a class of this run (0..{k - 1}).")
            return np.full((num,), label, np.int32)
        return np.asarray(jax.random.randint(jax.random.fold_in(key, LABEL_SALT), (num,), 0, k),
                          np.int32)

    def generate(self, state, key: jax.Array, num: int, labels=None, *,
                 use_ema: bool = True, **fixed) -> np.ndarray:
        """``num`` uint8 images ``[num, H, W, C]``; chunk ``c`` draws from ``fold_in(key, c)``.
        ``fixed``: latent factors held fixed (the system's ``sample_options``)."""
        return self.draw(state, key, num, labels, use_ema=use_ema, **fixed)["images"]

    def draw(self, state, key: jax.Array, num: int, labels=None, *, use_ema: bool = True,
             **fixed) -> dict[str, np.ndarray]:
        """``{'images': uint8 [num, H, W, C], **system.sample_record(latents)}``: the images
        of :meth:`generate` and, for a system with named latent factors, their values."""
        self.system.check_sample_options(fixed)
        fixed = {k: v for k, v in fixed.items() if v is not None}
        out: dict[str, list] = {}
        for c, start in enumerate(range(0, num, self.chunk)):
            n = min(self.chunk, num - start)
            latents = self.system.latents(jax.random.fold_in(key, c), self.chunk, **fixed)
            y = None
            if labels is not None:
                y = jnp.asarray(np.pad(np.asarray(labels[start:start + n], np.int32),
                                       (0, self.chunk - n)))
            record = {"images": to_uint8(self.images(state, latents, y, use_ema=use_ema)),
                      **self.system.sample_record(latents)}
            for name, value in record.items():
                out.setdefault(name, []).append(np.asarray(value)[:n])
        if not out:
            return {"images": np.zeros((0,), np.uint8)}
        return {name: np.concatenate(parts) for name, parts in out.items()}


@dataclasses.dataclass
class SavedRun:
    """A workdir's checkpoint, restored: its system, state, metadata and sampler."""

    config: Any
    system: Any
    state: Any
    meta: dict
    sampler: Sampler


def load_run(workdir: str, *, step: int | None = None, best: bool = False) -> SavedRun:
    """The latest (or given, or best) checkpoint of a workdir of any system."""
    from jaxgan import parallel, systems
    from jaxgan.engine import checkpoint
    from jaxgan.engine.trainer import programs

    config = checkpoint.load_workdir_config(workdir)
    mesh = parallel.make_mesh()
    system = systems.build_system(config)
    prog = programs(config, mesh, system)
    ckpt = checkpoint.Checkpointer(workdir, keep=config.train.keep_checkpoints)
    try:
        state, meta = ckpt.restore(prog.abstract, step, best=best)
    finally:
        ckpt.close()
    return SavedRun(config, system, state, meta, prog.sampler)


def generate_from_workdir(workdir: str, num: int, seed: int = 0, *, best: bool = False,
                          label: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``num`` uint8 images ``[num, H, W, C]`` from a workdir, and the class of each (None for
    an unconditional system). The same ``seed`` gives the same images."""
    arrays = sample_workdir(workdir, num, seed, best=best, label=label)
    return arrays["images"], arrays.get("labels")


def sample_workdir(workdir: str, num: int, seed: int = 0, *, best: bool = False,
                   label: int | None = None, **fixed) -> dict[str, np.ndarray]:
    """What ``jaxgan.sample`` writes: ``images`` (uint8 ``[num, H, W, C]``), ``labels`` (int
    ``[num]``, conditional systems) and the system's latent factors (InfoGAN: ``codes``,
    ``continuous``). ``fixed`` holds factors fixed (``code=3``); the same ``seed`` gives the
    same samples. Bad labels or factors raise ValueError before any image is drawn."""
    run = load_run(workdir, best=best)
    key = jax.random.key(seed)
    labels = run.sampler.labels_for(key, num, label)
    arrays = run.sampler.draw(run.state, key, num, labels, **fixed)
    if labels is not None:
        arrays["labels"] = labels
    return arrays
