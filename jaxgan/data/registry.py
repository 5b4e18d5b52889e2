"""DATASETS: every data set by name, and load_dataset(config.data).

Each entry is a plain function ``(data_cfg) -> ArraySource``. Optional
``data_cfg`` fields a source reads (with ``.get``, so the base config need not
list them): ``resize_filter`` (every resizing source; default bicubic),
``fit`` (mnist/fashion_mnist/stacked_mnist/mnist_m: 'pad' or 'resize'), ``crop_size``,
``cache_dir``, ``tfds_name``, ``image_key``, ``download`` (mnist, stacked_mnist, mnist_m),
``stack_seed`` and ``stack_size`` (stacked_mnist), ``mnistm_seed`` (mnist_m), ``a`` and
``b`` (unpaired: :func:`load_unpaired`).
"""

from __future__ import annotations

import os
from typing import Any, Callable

from jaxgan.data.image_folder import IMAGE_EXTENSIONS, load_image_folder
from jaxgan.data.lfw import load_lfw_faces
from jaxgan.data.mnist import load_fashion_mnist, load_mnist
from jaxgan.data.mnist_m import load_mnist_m
from jaxgan.data.source import (ArraySource, DatasetNotFoundError, MissingDependencyError,
                                UnknownDatasetError, cfg_get)
from jaxgan.data.stacked_mnist import load_stacked_mnist
from jaxgan.data.tfds_source import load_tfds

# CelebA as in DCGAN and most GAN papers since: the aligned 178x218 frames,
# a centered 108x108 crop, resized to 64x64.
CELEBA_CROP = 108


def _has_images(root: str) -> bool:
    """True when ``root`` holds image files at its top or one folder down (a plain export)."""
    if not root or not os.path.isdir(root):
        return False
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_file() and entry.name.lower().endswith(IMAGE_EXTENSIONS):
                return True
            if entry.is_dir():
                with os.scandir(entry.path) as inner:
                    if any(e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)
                           for e in inner):
                        return True
    return False


def _tfds_or_folder(cfg: Any, tfds_name: str, folder: str, **kwargs) -> ArraySource:
    """TFDS ``tfds_name``; its errors also name the image-folder route."""
    try:
        return load_tfds(cfg, name=tfds_name, label_key=None, **kwargs)
    except (DatasetNotFoundError, MissingDependencyError) as e:
        raise type(e)(f"{e} Or set data.data_dir to a folder of {folder}.") from e


def load_cifar10(cfg: Any) -> ArraySource:
    """CIFAR-10 (50k/10k, 32x32, 10 classes) from TFDS ``cifar10``."""
    return load_tfds(cfg, name="cifar10")


def load_stl10(cfg: Any) -> ArraySource:
    """STL-10 from TFDS ``stl10``; GAN papers train on split 'unlabelled' (100k) at 48x48."""
    return load_tfds(cfg, name="stl10")


def load_celeb_a(cfg: Any) -> ArraySource:
    """CelebA, 108 center crop: a folder of ``img_align_celeba`` JPEGs, else TFDS ``celeb_a``."""
    if _has_images(os.path.expanduser(cfg_get(cfg, "data_dir", "") or "")):
        return load_image_folder(cfg, default_crop=CELEBA_CROP, name="celeb_a")
    return _tfds_or_folder(cfg, "celeb_a", "the aligned CelebA JPEGs (img_align_celeba/)",
                           default_crop=CELEBA_CROP)


def load_lsun_bedroom(cfg: Any) -> ArraySource:
    """LSUN bedroom, largest centered square: an image folder, else TFDS ``lsun/bedroom``."""
    if _has_images(os.path.expanduser(cfg_get(cfg, "data_dir", "") or "")):
        return load_image_folder(cfg, name="lsun_bedroom")
    return _tfds_or_folder(cfg, "lsun/bedroom", "LSUN bedroom images exported from the LMDB")


DATASETS: dict[str, Callable[[Any], ArraySource]] = {
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "stacked_mnist": load_stacked_mnist,
    "mnist_m": load_mnist_m,
    "lfw_faces": load_lfw_faces,
    "image_folder": load_image_folder,
    "tfds": load_tfds,
    "cifar10": load_cifar10,
    "stl10": load_stl10,
    "celeb_a": load_celeb_a,
    "lsun_bedroom": load_lsun_bedroom,
}


def load_unpaired(cfg: Any) -> ArraySource:
    """Two unpaired domains, ``data.a`` and ``data.b``: domain a's source with ``domain_b`` set.

    Each of ``data.a`` / ``data.b`` is a key of :data:`DATASETS` (read with the rest of
    ``config.data``: size, channels, split) or a folder of images (read as
    ``image_folder``). Labels are kept where a domain has them (MNIST against MNIST-M:
    the digit's class, for measuring whether a translation keeps it)."""
    domains = []
    for field in ("a", "b"):
        spec = str(cfg_get(cfg, field, "") or "")
        if not spec:
            raise ValueError(f"data.name='unpaired' needs both domains: set --config.data.{field} "
                             "to a data set name (e.g. mnist, mnist_m) or a folder of images.")
        sub = dict(cfg) if isinstance(cfg, dict) else cfg.to_dict()
        sub.update(a="", b="", num_classes=0)
        if spec in DATASETS and spec != "unpaired":
            sub["name"] = spec
        elif os.path.isdir(os.path.expanduser(spec)):
            sub.update(name="image_folder", data_dir=spec)
        else:
            raise UnknownDatasetError(
                f"data.{field}={spec!r} is neither a data set ({sorted(set(DATASETS) - {'unpaired'})})"
                " nor a folder of images on this machine.")
        domains.append(DATASETS[sub["name"]](sub))
    a, b = domains
    return ArraySource(a.images, a.labels, a.num_classes, f"unpaired({a.name}, {b.name})",
                       origin=a.origin, domain_b=b)


DATASETS["unpaired"] = load_unpaired


def load_dataset(data_cfg: Any) -> ArraySource:
    """The ArraySource that ``config.data`` names, checked against the config.

    Raises:
      UnknownDatasetError: ``data.name`` is not a key of DATASETS.
      DatasetNotFoundError: the files are not on this machine (the message says
        what to install or where to put them).
      CorruptDatasetError: a file failed its checksum or format checks.
      ValueError: the config asks for what the data cannot give (labels of an
        unlabelled set, another number of classes, a bad size or filter).
    """
    name = cfg_get(data_cfg, "name", "")
    if name not in DATASETS:
        raise UnknownDatasetError(f"data.name={name!r} is not a known dataset; choose one of "
                                  f"{sorted(DATASETS)}.")
    source = DATASETS[name](data_cfg)
    want = int(cfg_get(data_cfg, "num_classes", 0) or 0)
    if want and source.labels is None:
        raise ValueError(f"data.num_classes={want} but {source.name} has no labels: a "
                         "conditional system (cgan, acgan, sgan, or gan with labels) needs a "
                         "labelled data set (mnist, fashion_mnist, cifar10, or an image folder "
                         "with one sub-folder per class); for an unconditional model set "
                         "--config.data.num_classes=0.")
    if want and want != source.num_classes:
        raise ValueError(f"data.num_classes={want} but {source.name} has {source.num_classes} "
                         f"classes; set --config.data.num_classes={source.num_classes}.")
    return source
