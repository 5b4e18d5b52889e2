"""Any directory tree of image files: CelebA, LSUN exports, or a user's own data.

Every file is decoded once, center-cropped to a square (the largest one, or
``data.crop_size``), resized to ``data.image_size`` with the named
``data.resize_filter``, and the whole set is cached as one ``.npz`` keyed by
the file list (names, sizes, modification times) and those settings. Labels
come from the folders: when every file sits in one of two or more top-level
subfolders, the sorted folder names are the classes (as torchvision's
ImageFolder does); otherwise there are none.

Every host decodes the whole tree and keeps it in memory: the pipeline draws
each global batch from the full set. That suits sets up to a few hundred
thousand 64x64 images (CelebA's 202,599 at 64x64x3 take 2.5 GB).
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Any

import numpy as np
from PIL import Image

from jaxgan.data.source import (ArraySource, CorruptDatasetError, DatasetNotFoundError, cache_key,
                                cfg_get, default_data_dir, load_npz, save_npz)
from jaxgan.data.transforms import check_size, crop_and_resize, resize_filter_of

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".ppm", ".tif", ".tiff")


def list_images(root: str) -> tuple[list[str], np.ndarray | None, list[str]]:
    """Sorted relative paths of the images under ``root``, their labels (or None), class names."""
    if not os.path.isdir(root):
        raise DatasetNotFoundError(
            f"image folder {root!r} does not exist; set data.data_dir to a directory of "
            f"{'/'.join(IMAGE_EXTENSIONS)} files.")
    paths = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in filenames:
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                paths.append(os.path.relpath(os.path.join(dirpath, name), root))
    paths.sort()
    if not paths:
        raise DatasetNotFoundError(
            f"no image files ({'/'.join(IMAGE_EXTENSIONS)}) under {root!r}; point "
            "data.data_dir at the folder that holds them.")
    tops = [p.split(os.sep)[0] if os.sep in p else None for p in paths]
    classes = sorted(set(tops)) if None not in tops else []
    if len(classes) < 2:
        return paths, None, []
    index = {c: i for i, c in enumerate(classes)}
    return paths, np.array([index[t] for t in tops], np.int32), classes


def decode_image(path: str, image_size: int, channels: int, *, crop: int | None,
                 resize_filter: str) -> np.ndarray:
    """One file to uint8 ``[image_size, image_size, channels]``: convert, crop, resize."""
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            pixels = np.asarray(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise CorruptDatasetError(f"{path}: cannot decode the image ({e}); remove or replace "
                                  "the file.") from e
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    try:
        return crop_and_resize(pixels, image_size, crop=crop, resize_filter=resize_filter)
    except ValueError as e:
        raise ValueError(f"{path}: {e} Lower data.crop_size or remove the file.") from None


def image_folder_arrays(root: str, *, image_size: int, channels: int, crop: int | None,
                        resize_filter: str, cache_dir: str | None = None,
                        num_workers: int | None = None):
    """(images ``[N, S, S, C]``, labels or None, class names, cache path) of a folder tree."""
    root = os.path.abspath(os.path.expanduser(root))
    paths, labels, classes = list_images(root)
    stats = []
    for p in paths:
        st = os.stat(os.path.join(root, p))
        stats.append((p, st.st_size, st.st_mtime_ns))
    key = cache_key(kind="image_folder", root=root, files=stats, image_size=image_size,
                    channels=channels, crop=crop, resize_filter=resize_filter)
    cache = os.path.join(cache_dir or default_data_dir(), "image_folder",
                         f"{os.path.basename(root) or 'root'}-{key}.npz")
    cached = load_npz(cache)
    if cached is not None and cached["images"].shape == (len(paths), image_size, image_size,
                                                         channels):
        return cached["images"], labels, classes, cache

    images = np.empty((len(paths), image_size, image_size, channels), np.uint8)

    def work(i):
        images[i] = decode_image(os.path.join(root, paths[i]), image_size, channels, crop=crop,
                                 resize_filter=resize_filter)

    # PIL releases the GIL while decoding and resizing, so threads scale.
    workers = num_workers or min(8, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for f in concurrent.futures.as_completed([pool.submit(work, i) for i in range(len(paths))]):
            f.result()
    save_npz(cache, images=images)
    return images, labels, classes, cache


def load_image_folder(cfg: Any, *, default_crop: int | None = None,
                      name: str = "image_folder") -> ArraySource:
    """``DATASETS['image_folder']``: the tree at ``data.data_dir``.

    Optional fields: ``crop_size`` (0 = the largest centered square),
    ``resize_filter``, ``cache_dir`` (default ``$JAXGAN_DATA_DIR`` or
    ``~/.cache/jaxgan/data``).
    """
    size, channels = cfg_get(cfg, "image_size", 32), cfg_get(cfg, "channels", 3)
    check_size(size, channels)
    filt = resize_filter_of(cfg)
    root = cfg_get(cfg, "data_dir", "")
    if not root:
        raise DatasetNotFoundError(
            f"{name} needs data.data_dir: the directory that holds the image files "
            "(--config.data.data_dir=/path/to/images).")
    crop = cfg_get(cfg, "crop_size", default_crop) or None
    images, labels, classes, cache = image_folder_arrays(
        root, image_size=size, channels=channels, crop=crop, resize_filter=filt,
        cache_dir=cfg_get(cfg, "cache_dir", "") or None)
    crop_text = f"center crop {crop}" if crop else "largest centered square"
    where = os.path.abspath(os.path.expanduser(root))
    origin = (f"{len(images)} files under {where}; {crop_text}, "
              f"resized ({filt}) to {size}x{size}x{channels}; cache {cache}")
    return ArraySource(images, labels, len(classes), name, origin=origin)
