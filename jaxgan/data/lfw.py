"""100 real faces from scikit-image: a tiny CelebA-shaped set for smoke runs.

``skimage/data/lfw_subset.npy`` holds 200 grayscale 25x25 crops of Labeled
Faces in the Wild, stored as float64 in [0, 1]: the first 100 are faces, the
last 100 are not. It ships inside the scikit-image wheel, so no downloader
(pooch) and no network is needed.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np

from jaxgan.data.source import ArraySource, CorruptDatasetError, DatasetNotFoundError, cfg_get
from jaxgan.data.transforms import check_size, crop_and_resize_all, resize_filter_of, to_channels

NUM_FACES = 100


def lfw_subset_path() -> str:
    """Where the installed scikit-image keeps ``lfw_subset.npy`` (found without importing it)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "lfw_faces needs scikit-image, which ships the faces: `pip install scikit-image` "
            "(or `pip install 'jaxgan[data]'`).")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "lfw_subset.npy")
    if not os.path.isfile(path):
        raise DatasetNotFoundError(
            f"{path} is missing from the installed scikit-image; reinstall it with "
            "`pip install --force-reinstall --no-deps scikit-image`.")
    return path


def lfw_faces_array(path: str | None = None) -> np.ndarray:
    """The 100 faces as uint8 ``[100, 25, 25, 1]`` (``rint(255 x)``)."""
    path = path or lfw_subset_path()
    try:
        faces = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise CorruptDatasetError(f"{path}: unreadable ({e}); reinstall scikit-image.") from e
    if faces.shape != (200, 25, 25) or not np.issubdtype(faces.dtype, np.floating):
        raise CorruptDatasetError(f"{path}: expected float [200, 25, 25], got {faces.dtype} "
                                  f"{faces.shape}; reinstall scikit-image.")
    faces = faces[:NUM_FACES]
    return np.clip(np.rint(faces * 255.0), 0, 255).astype(np.uint8)[..., None]


def load_lfw_faces(cfg: Any) -> ArraySource:
    """``DATASETS['lfw_faces']``: 100 faces resized to ``image_size``, gray or repeated to RGB."""
    size, channels = cfg_get(cfg, "image_size", 32), cfg_get(cfg, "channels", 1)
    check_size(size, channels)
    filt = resize_filter_of(cfg)
    split = cfg_get(cfg, "split", "train")
    if split != "train":
        raise ValueError(f"data.split={split!r}: lfw_faces has only the 'train' split.")
    path = lfw_subset_path()
    images = crop_and_resize_all(lfw_faces_array(path), size, crop=None, resize_filter=filt)
    images = to_channels(images, channels)
    return ArraySource(images, None, 0, "lfw_faces",
                       origin=f"{path} (first {NUM_FACES}); 25x25 resized ({filt}) to "
                              f"{size}x{size}x{channels}")
