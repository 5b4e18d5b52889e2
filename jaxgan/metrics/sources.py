"""What ``python -m jaxgan.evaluate`` reads: image folders, ``.npz`` images or statistics, workdirs."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import numpy as np

from jaxgan.metrics.stats import load_stats

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_WORKDIR_SAMPLES = 10_000


class InputError(ValueError):
    """An evaluate input that cannot be used; the message names the path and the fix."""


@dataclasses.dataclass
class Input:
    """Images (uint8 ``[N, H, W, C]``) or statistics (``mu``, ``sigma``), and where they came from."""

    description: str
    images: np.ndarray | None = None
    mu: np.ndarray | None = None
    sigma: np.ndarray | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def is_stats(self) -> bool:
        return self.images is None

    def count(self) -> int | str:
        return len(self.images) if self.images is not None else self.meta.get("num_images", "unrecorded")


def _image_files(folder: str) -> list[str]:
    files = []
    for root, _, names in os.walk(folder):
        files += [os.path.join(root, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(files)


def load_image_folder(folder: str, num: int = 0) -> np.ndarray:
    """Every image under ``folder`` (sorted paths; the first ``num`` if > 0) as uint8 NHWC.

    All grayscale files give C=1, otherwise RGB. Sizes must agree.
    """
    from PIL import Image

    files = _image_files(folder)
    if not files:
        raise InputError(f"{folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
    if num:
        files = files[:num]
    images = [Image.open(f) for f in files]
    gray = all(im.mode in ("L", "1", "I;16") for im in images)
    arrays = [np.asarray(im.convert("L" if gray else "RGB"), np.uint8) for im in images]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        first = arrays[0].shape
        odd = next(f for f, a in zip(files, arrays) if a.shape != first)
        raise InputError(f"Images in {folder} differ in size ({files[0]} is {first}, {odd} is "
                         f"{Image.open(odd).size[::-1]}); resize them to one size first.")
    out = np.stack(arrays)
    return out[..., None] if gray else out


def load_input(path: str, *, num: int = 0, seed: int = 0,
               sample_workdir: Callable[[str, int, int], np.ndarray] | None = None) -> Input:
    """Reads an evaluate input, checking it before any network runs.

    Args:
      path: an image folder, an ``.npz`` with ``images`` uint8 ``[N, H, W, C]``, an ``.npz``
        of statistics (``mu``, ``sigma``), or (when ``sample_workdir`` is given) a training
        workdir (a folder with ``config.json``), sampled by ``sample_workdir(path, num, seed)``
        (the caller's, e.g. ``jaxgan.engine.sampling.generate_from_workdir``).
      num: use the first ``num`` images (0: all; a workdir gives 10000).
      seed: the sampling seed of a workdir.
    """
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "config.json")):
            if sample_workdir is None:
                raise InputError(f"{path} is a training workdir; only --fake may be one.")
            n = num or DEFAULT_WORKDIR_SAMPLES
            images = np.asarray(sample_workdir(path, n, seed))
            return Input(f"{n} samples of workdir {path} (seed {seed})", images=images)
        images = load_image_folder(path, num)
        return Input(f"image folder {path}", images=images)
    if not os.path.isfile(path):
        raise InputError(f"{path} does not exist (expected an image folder, an .npz of images "
                         "or statistics, or a training workdir).")
    if not path.endswith(".npz"):
        raise InputError(f"{path} is neither a folder nor an .npz file.")
    with np.load(path, allow_pickle=False) as z:
        files = z.files
        if "images" in files:
            images = z["images"]
            if num:
                images = images[:num]
        elif "mu" in files and "sigma" in files:
            images = None
        else:
            raise InputError(f"{path} holds {files}; expected 'images' (uint8 [N, H, W, C]) or "
                             "the statistics 'mu' and 'sigma'.")
    if images is None:
        mu, sigma, meta = load_stats(path)
        return Input(f"statistics {path}", mu=mu, sigma=sigma, meta=meta)
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise InputError(f"{path}: 'images' must be uint8 [N, H, W, C] with C in (1, 3), got "
                         f"{images.dtype} {images.shape}. Convert floats in [-1, 1] with "
                         "jaxgan.images.to_uint8.")
    return Input(f"images {path}", images=np.asarray(images))
