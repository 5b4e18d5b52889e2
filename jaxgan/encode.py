"""Codes of images from a checkpoint: ``python -m jaxgan.encode --workdir DIR --input X.npz --out Z.npz``.

For the workdir of a system with an encoder (``bigan``). ``X.npz`` holds
``images``, uint8 ``[N, H, W, C]`` at the run's image size and channels;
``Z.npz`` gets ``z``, float32 ``[N, z_dim]``: the encoder's ``E(x)`` in
inference mode (running batch statistics), so the same images give the same
codes in any batch size. ``--features`` adds ``features``, the encoder's last
hidden layer ``[N, width]`` (the BiGAN paper's best features for
classification). The EMA parameters are used where the run keeps them.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from absl import app, flags

_FLAGS = {}
CHUNK = 1000  # Images encoded per call: bounded memory for any N.


def define_flags() -> None:
    """Registers the command's flags; only when run as a command (see jaxgan.train)."""
    _FLAGS["workdir"] = flags.DEFINE_string("workdir", None, "A training run's workdir.")
    _FLAGS["input"] = flags.DEFINE_string("input", None, ".npz file with uint8 `images`.")
    _FLAGS["out"] = flags.DEFINE_string("out", None, "Output .npz file.")
    _FLAGS["features"] = flags.DEFINE_bool("features", False,
                                           "Also write the encoder's last hidden features.")
    _FLAGS["best"] = flags.DEFINE_bool("best", False,
                                       "Use the best checkpoint by the evaluation metric.")


def read_images(path: str) -> np.ndarray:
    """``images`` of an .npz file, checked to be uint8 ``[N, H, W, C]``; ValueError otherwise."""
    if not os.path.isfile(path):
        raise ValueError(f"--input {path!r} does not exist; pass an .npz file with uint8 "
                         "`images` [N, H, W, C].")
    try:
        with np.load(path) as f:
            if "images" not in f:
                raise ValueError(f"{path} has no array `images` (it has {sorted(f.files)}); "
                                 "save the images as np.savez(path, images=uint8 [N, H, W, C]).")
            images = f["images"]
    except (OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable .npz file ({e}).") from None
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"`images` of {path} must be uint8 [N, H, W, C]; got {images.dtype} "
                         f"{images.shape}.")
    return images


def check_images(images: np.ndarray, image_shape: tuple, what: str) -> None:
    """ValueError unless ``images`` are ``[N, *image_shape]`` (the run's size and channels)."""
    if tuple(images.shape[1:]) != tuple(image_shape):
        h, w, c = image_shape
        raise ValueError(f"{what} are {images.shape[1]}x{images.shape[2]}x{images.shape[3]} but "
                         f"the run was trained on {h}x{w}x{c} images; resize them (and make the "
                         f"channels {c}) first.")


def encode_workdir(workdir: str, images: np.ndarray, *, features: bool = False,
                   best: bool = False) -> dict[str, np.ndarray]:
    """``{"z": [N, z_dim]}`` (and ``"features"``) of uint8 images by a workdir's encoder.

    Raises ValueError (cause and fix) for a workdir of a system without an encoder or
    images of the wrong shape, before anything is computed."""
    import jax
    import jax.numpy as jnp

    from jaxgan import systems
    from jaxgan.engine.checkpoint import load_workdir_config
    from jaxgan.engine.sampling import load_run

    config = load_workdir_config(workdir)
    name = config.get("system", "gan")
    if not hasattr(systems.get_system(name), "encode"):
        raise ValueError(f"{workdir} is a run of system {name!r}, which has no encoder; "
                         "jaxgan.encode reads runs of system 'bigan'.")
    d = config.data
    check_images(images, (d.image_size, d.image_size, d.channels), "the input images")
    run = load_run(workdir, best=best)
    variables = run.state.variables("e")
    fn = jax.jit(lambda v, x: run.system.encode(v, x, return_features=True))
    parts: dict[str, list] = {"z": [], "features": []}
    for start in range(0, len(images), CHUNK):
        x = jnp.asarray(images[start:start + CHUNK], jnp.float32) / 127.5 - 1.0
        z, h = fn(variables, x)
        parts["z"].append(np.asarray(z, np.float32))
        parts["features"].append(np.asarray(h, np.float32))
    out = {"z": np.concatenate(parts["z"]) if parts["z"] else
           np.zeros((0, run.system.z_dim), np.float32)}
    if features:
        out["features"] = (np.concatenate(parts["features"]) if parts["features"] else
                           np.zeros((0, 0), np.float32))
    return out


def main(argv):
    del argv
    from absl import logging

    from jaxgan.engine.checkpoint import CheckpointError

    logging.set_verbosity(logging.WARNING)  # Orbax logs every file at INFO.

    out = _FLAGS["out"].value
    if os.path.splitext(out)[1].lower() != ".npz":
        print(f"jaxgan.encode: error: --out must end in .npz, got {out!r}.", file=sys.stderr)
        sys.exit(1)
    try:
        images = read_images(_FLAGS["input"].value)
        arrays = encode_workdir(_FLAGS["workdir"].value, images,
                                features=_FLAGS["features"].value, best=_FLAGS["best"].value)
    except (CheckpointError, ValueError) as e:
        print(f"jaxgan.encode: error: {' '.join(str(e).split())}", file=sys.stderr)
        sys.exit(1)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez(out, **arrays)
    print(f"Wrote the codes of {len(images)} images to {out}.")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["workdir", "input", "out"])
    app.run(main)
