"""Images from a checkpoint: ``python -m jaxgan.sample --workdir DIR --num N --out FILE``.

Works on the workdir of every system. ``FILE.npz`` gets ``images``, uint8
``[N, H, W, C]``, and, for a system that samples by class, ``labels``: the
class each image was drawn for (uniform, or ``--label K`` for all of them);
for InfoGAN, ``codes`` (int ``[N]``: each image's categorical code, uniform or
``--code K``) and ``continuous`` (``[N, L]``: its continuous codes).
``FILE.png`` gets a grid. The EMA parameters are used where the run keeps
them. The same ``--seed`` gives the same images.

A translation system (``cyclegan``) samples translations of its domain-a data;
``--input X.npz --direction a2b|b2a`` translates the uint8 ``images`` of X.npz
instead (same size and channels as the run's), written as ``images``.
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
    _FLAGS["label"] = flags.DEFINE_integer(
        "label", None, "Conditional systems: draw every image of this class.")
    _FLAGS["code"] = flags.DEFINE_integer(
        "code", None, "InfoGAN: draw every image with this categorical code.")
    _FLAGS["best"] = flags.DEFINE_bool("best", False,
                                       "Use the best checkpoint by the evaluation metric.")
    _FLAGS["input"] = flags.DEFINE_string(
        "input", None, "Translation systems (cyclegan): .npz with uint8 `images` to translate.")
    _FLAGS["direction"] = flags.DEFINE_enum(
        "direction", "a2b", ["a2b", "b2a"], "With --input: translate domain a to b, or b to a.")


def translate_workdir(workdir: str, images: np.ndarray, direction: str, *,
                      best: bool = False) -> np.ndarray:
    """uint8 translations ``[N, H, W, C]`` of uint8 ``images`` by a workdir's generator of
    ``direction`` ('a2b' or 'b2a'). Raises ValueError (cause and fix) for a workdir of a system
    that does not translate, or images of the wrong shape, before anything is computed."""
    import jax
    import jax.numpy as jnp

    from jaxgan import systems
    from jaxgan.encode import CHUNK, check_images
    from jaxgan.engine.checkpoint import load_workdir_config
    from jaxgan.engine.sampling import load_run
    from jaxgan.images import to_uint8

    config = load_workdir_config(workdir)
    name = config.get("system", "gan")
    if not hasattr(systems.get_system(name), "translate"):
        raise ValueError(f"{workdir} is a run of system {name!r}, which does not translate "
                         "images; --input reads runs of system 'cyclegan' (drop --input to "
                         "sample).")
    d = config.data
    check_images(images, (d.image_size, d.image_size, d.channels), "the input images")
    run = load_run(workdir, best=best)
    network = {"a2b": "g_ab", "b2a": "g_ba"}[direction]
    variables = run.state.variables(network)
    fn = jax.jit(lambda v, x: run.system.translate(v, x, direction))
    parts = [to_uint8(fn(variables, jnp.asarray(images[i:i + CHUNK], jnp.float32) / 127.5 - 1.0))
             for i in range(0, len(images), CHUNK)]
    return np.concatenate(parts) if parts else np.zeros_like(images)


def generate_from_workdir(workdir: str, num: int, seed: int = 0, *, best: bool = False,
                          label: int | None = None) -> np.ndarray:
    """``num`` uint8 images ``[num, H, W, C]`` from the latest checkpoint of ``workdir``."""
    from jaxgan.engine.sampling import generate_from_workdir as generate

    return generate(workdir, num, seed, best=best, label=label)[0]


def main(argv):
    del argv
    from absl import logging

    logging.set_verbosity(logging.WARNING)  # Orbax logs every file at INFO.
    from jaxgan.engine.checkpoint import CheckpointError
    from jaxgan.engine.sampling import sample_workdir
    from jaxgan.images import make_grid, save_png

    out = _FLAGS["out"].value
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".npz", ".png"):
        print(f"jaxgan.sample: error: --out must end in .npz or .png, got {out!r}.", file=sys.stderr)
        sys.exit(1)
    if _FLAGS["num"].value < 1:
        print(f"jaxgan.sample: error: --num must be at least 1, got {_FLAGS['num'].value}.",
              file=sys.stderr)
        sys.exit(1)
    if _FLAGS["input"].value:
        from jaxgan.encode import read_images

        try:
            images = translate_workdir(_FLAGS["workdir"].value,
                                       read_images(_FLAGS["input"].value),
                                       _FLAGS["direction"].value, best=_FLAGS["best"].value)
        except (CheckpointError, ValueError) as e:
            print(f"jaxgan.sample: error: {' '.join(str(e).split())}", file=sys.stderr)
            sys.exit(1)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        if ext == ".npz":
            np.savez(out, images=images)
        else:
            save_png(out, make_grid(images))
        print(f"Wrote {len(images)} translations ({_FLAGS['direction'].value}) to {out}.")
        return
    try:
        arrays = sample_workdir(_FLAGS["workdir"].value, _FLAGS["num"].value,
                                _FLAGS["seed"].value, best=_FLAGS["best"].value,
                                label=_FLAGS["label"].value, code=_FLAGS["code"].value)
    except (CheckpointError, ValueError) as e:
        print(f"jaxgan.sample: error: {' '.join(str(e).split())}", file=sys.stderr)
        sys.exit(1)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    if ext == ".npz":
        np.savez(out, **arrays)
    else:
        save_png(out, make_grid(arrays["images"]))
    print(f"Wrote {len(arrays['images'])} images to {out}.")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["workdir", "out"])
    app.run(main)
