"""Prepared TensorFlow Datasets data, read without TensorFlow.

``tfds.builder(name, data_dir=...).as_data_source(split)`` gives random access
to data prepared in the ``array_record`` format and decodes images with PIL,
so only ``tensorflow-datasets`` and ``array-record`` are needed at training
time (``pip install 'jaxgan[tfds]'``). Preparing most image sets (the TFDS
builders encode PNG/JPEG with TensorFlow) needs TensorFlow once, on any
machine: ``tfds build cifar10 --file_format=array_record --data_dir=DIR``.
Data prepared as TFRecord only cannot be read here: ``as_dataset`` needs
TensorFlow.

Each split is decoded once, center-cropped and resized like
:mod:`jaxgan.data.image_folder`, and cached as ``.npz``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from jaxgan.data.source import (ArraySource, DatasetNotFoundError, MissingDependencyError,
                                cache_key, cfg_get, default_data_dir, load_npz, save_npz)
from jaxgan.data.transforms import check_size, crop_and_resize, resize_filter_of, to_channels

_CHUNK = 1024  # Examples read per array_record call.


def import_tfds():
    """``tensorflow_datasets``, or a MissingDependencyError naming the extra to install."""
    try:
        import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise MissingDependencyError(
            "reading TFDS data needs tensorflow-datasets and array-record (TensorFlow is not "
            "needed): `pip install 'jaxgan[tfds]'` or `pip install tensorflow-datasets "
            f"array-record` ({e}).") from e
    return tfds


def tfds_data_dir(cfg: Any) -> str:
    """``data.data_dir``, else ``$TFDS_DATA_DIR``, else TFDS's default ``~/tensorflow_datasets``."""
    return os.path.expanduser(cfg_get(cfg, "data_dir", "") or os.environ.get("TFDS_DATA_DIR")
                              or "~/tensorflow_datasets")


def _prepare_hint(name: str, data_dir: str) -> str:
    return (f"Prepare it once, on a machine with TensorFlow and internet: `tfds build {name} "
            f"--file_format=array_record --data_dir={data_dir}` (then copy {data_dir} here).")


def open_tfds(name: str, data_dir: str, split: str):
    """(builder, random-access split) of a prepared dataset, with one clear error per failure."""
    tfds = import_tfds()
    if not os.path.isdir(os.path.join(data_dir, *name.split(":")[0].split("/"))):
        # Checked first: tfds.builder would create empty version folders here.
        raise DatasetNotFoundError(f"TFDS dataset {name!r} is not prepared in {data_dir}. "
                                   f"{_prepare_hint(name, data_dir)}")
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # tfds raises its own DatasetNotFoundError, ValueError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DatasetNotFoundError(f"TFDS dataset {name!r} in {data_dir}: {first}. "
                                   f"{_prepare_hint(name, data_dir)}") from e
    if not builder.is_prepared():
        raise DatasetNotFoundError(f"TFDS dataset {name!r} is not prepared in {data_dir}. "
                                   f"{_prepare_hint(name, data_dir)}")
    if split.split("[")[0] not in builder.info.splits:  # 'train[:90%]' slices 'train'.
        raise ValueError(f"data.split={split!r} is not a split of TFDS {name!r}; choose one of "
                         f"{sorted(builder.info.splits)}.")
    try:
        source = builder.as_data_source(split=split)
    except (NotImplementedError, ValueError) as e:
        raise DatasetNotFoundError(
            f"TFDS {name!r} in {data_dir} is stored as {builder.info.file_format}, which has no "
            "random access without TensorFlow. Re-prepare it with --file_format=array_record, "
            f"or convert it: `tfds convert_format --dataset_dir={builder.data_dir} "
            "--out_file_format=array_record`.") from e
    return builder, source


def tfds_arrays(name: str, *, data_dir: str, split: str, image_size: int, channels: int,
                crop: int | None, resize_filter: str, image_key: str = "image",
                label_key: str | None = "label", cache_dir: str | None = None):
    """(images ``[N, S, S, C]``, labels or None, num_classes, builder version, cache path)."""
    builder, source = open_tfds(name, data_dir, split)
    features = builder.info.features
    if image_key not in features:
        raise ValueError(f"TFDS {name!r} has no feature {image_key!r}; its features are "
                         f"{sorted(features.keys())}.")
    num_classes = 0
    if label_key and label_key in features and hasattr(features[label_key], "num_classes"):
        num_classes = int(features[label_key].num_classes)
    version = str(builder.info.version)
    key = cache_key(kind="tfds", name=name, version=version, split=split, n=len(source),
                    image_size=image_size, channels=channels, crop=crop,
                    resize_filter=resize_filter,
                    data_dir=os.path.abspath(data_dir))
    cache = os.path.join(cache_dir or default_data_dir(), "tfds",
                         f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name + '-' + split)}-{key}.npz")
    cached = load_npz(cache)
    if cached is None or cached["images"].shape[1:] != (image_size, image_size, channels):
        n = len(source)
        images = np.empty((n, image_size, image_size, channels), np.uint8)
        labels = np.zeros((n,), np.int64) if num_classes else None
        for start in range(0, n, _CHUNK):
            stop = min(n, start + _CHUNK)
            for i, ex in zip(range(start, stop), source.__getitems__(list(range(start, stop)))):
                img = np.asarray(ex[image_key], np.uint8)
                img = img[..., None] if img.ndim == 2 else img
                img = crop_and_resize(to_channels(img, channels), image_size, crop=crop,
                                      resize_filter=resize_filter)
                images[i] = img
                if labels is not None:
                    labels[i] = int(ex[label_key])
        arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
        save_npz(cache, **arrays)
        cached = arrays
    labels = cached.get("labels")
    if labels is not None and labels.min(initial=0) < 0:  # e.g. STL-10's unlabelled split (-1).
        labels, num_classes = None, 0
    if labels is None:
        num_classes = 0
    return cached["images"], labels, num_classes, version, cache


def load_tfds(cfg: Any, *, name: str | None = None, default_crop: int | None = None,
              label_key: str | None = "label") -> ArraySource:
    """``DATASETS['tfds']``: the TFDS dataset ``data.tfds_name`` (optional field) in ``data_dir``.

    Optional fields: ``tfds_name``, ``crop_size`` (0 = the largest centered
    square), ``resize_filter``, ``image_key`` (default ``image``), ``cache_dir``.
    """
    name = name or cfg_get(cfg, "tfds_name", "")
    if not name:
        raise ValueError("data.name='tfds' needs data.tfds_name, e.g. cifar10, stl10, celeb_a, "
                         "lsun/bedroom (add it with --config.data.tfds_name=cifar10 after "
                         "adding the field to the config file).")
    size, channels = cfg_get(cfg, "image_size", 32), cfg_get(cfg, "channels", 3)
    check_size(size, channels)
    filt = resize_filter_of(cfg)
    crop = cfg_get(cfg, "crop_size", default_crop) or None
    split = cfg_get(cfg, "split", "train")
    data_dir = tfds_data_dir(cfg)
    images, labels, num_classes, version, cache = tfds_arrays(
        name, data_dir=data_dir, split=split, image_size=size, channels=channels, crop=crop,
        resize_filter=filt, image_key=cfg_get(cfg, "image_key", "image") or "image",
        label_key=label_key, cache_dir=cfg_get(cfg, "cache_dir", "") or None)
    crop_text = f"center crop {crop}" if crop else "largest centered square"
    origin = (f"TFDS {name}:{version} [{split}] from {data_dir}; {crop_text}, resized ({filt}) "
              f"to {size}x{size}x{channels}; cache {cache}")
    return ArraySource(images, labels, num_classes, f"{name}/{split}", origin=origin)
