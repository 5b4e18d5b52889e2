"""Images from a checkpoint: ``python -m jaxgan.sample --workdir DIR --num N --out FILE``.

``FILE.npz`` gets ``images``, uint8 ``[N, H, W, C]`` (and ``labels`` for
conditional models); ``FILE.png`` gets a grid. The EMA generator is used when
the run keeps one. The same ``--seed`` gives the same images.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from absl import app, flags

_FLAGS = {}


def define_flags() -> None:
    """Registers the command's flags; only when run as a command (see jaxgan.train)."""
    _FLAGS["workdir"] = flags.DEFINE_string("workdir", None, "A training run's workdir.")
    _FLAGS["num"] = flags.DEFINE_integer("num", 64, "Number of images.")
    _FLAGS["out"] = flags.DEFINE_string("out", None, "Output .npz or .png file.")
    _FLAGS["seed"] = flags.DEFINE_integer("seed", 0, "Seed of the latents.")
    _FLAGS["best"] = flags.DEFINE_bool("best", False,
                                       "Use the best checkpoint by the evaluation metric.")


def generate_from_workdir(workdir: str, num: int, seed: int = 0, *, best: bool = False,
                          batch_size: int = 256) -> np.ndarray:
    """``num`` uint8 images ``[num, H, W, C]`` from the latest checkpoint of ``workdir``."""
    images, _ = _generate(workdir, num, seed, best=best, batch_size=batch_size)
    return images


def _generate(workdir, num, seed, *, best, batch_size):
    import jax

    from jaxgan import checkpoint, parallel, trainer
    from jaxgan.images import to_uint8

    config = checkpoint.load_workdir_config(workdir)
    mesh = parallel.make_mesh()
    generator, _, _, _, state = trainer.build(config, mesh)
    ckpt = checkpoint.Checkpointer(workdir, keep=config.train.keep_checkpoints)
    try:
        state, _ = ckpt.restore(checkpoint.abstract_like(state), best=best)
    finally:
        ckpt.close()
    sampler = trainer.make_sampler(generator, config.model.z_dim, config.data.num_classes)
    key = jax.random.key(seed)
    images, labels = [], []
    for i in range(0, num, batch_size):
        n = min(batch_size, num - i)
        k = jax.random.fold_in(key, i // batch_size)
        z = jax.random.normal(k, (n, config.model.z_dim))
        y = None
        if config.data.num_classes:
            y = (np.arange(i, i + n) % config.data.num_classes).astype(np.int32)
            labels.append(y)
        images.append(to_uint8(sampler(state, z, y, use_ema=bool(config.train.ema_decay))))
    return np.concatenate(images), (np.concatenate(labels) if labels else None)


def main(argv):
    del argv
    from jaxgan.checkpoint import CheckpointError
    from jaxgan.images import make_grid, save_png

    out = _FLAGS["out"].value
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".npz", ".png"):
        print(f"jaxgan.sample: error: --out must end in .npz or .png, got {out!r}.", file=sys.stderr)
        sys.exit(1)
    try:
        images, labels = _generate(_FLAGS["workdir"].value, _FLAGS["num"].value, _FLAGS["seed"].value, best=_FLAGS["best"].value,
                                   batch_size=256)
    except CheckpointError as e:
        print(f"jaxgan.sample: error: {e}", file=sys.stderr)
        sys.exit(1)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if ext == ".npz":
        arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
        np.savez(out, **arrays)
    else:
        save_png(out, make_grid(images))
    print(f"Wrote {len(images)} images to {out}.")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["workdir", "out"])
    app.run(main)
