"""What every source returns, the errors they raise, and where they keep files.

A source is a function ``(data_cfg) -> ArraySource``: the whole split decoded
into one uint8 array at the requested size, so the pipeline can index any
example by number. That keeps the batch at step ``s`` a pure function of
``(seed, s)`` on every host. It fits the data sets this project trains on
(MNIST, CIFAR-10, STL-10, CelebA at 64x64 is 2.5 GB); a data set that does not
fit in host memory needs a random-access reader in place of ``images``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Mapping

import numpy as np

# Bumped whenever a decoder or a transform changes what it writes, so stale
# caches are rebuilt rather than silently reused.
CACHE_VERSION = 1


class DatasetNotFoundError(FileNotFoundError):
    """The data is not on this machine; the message says what to install or where to put it."""


class CorruptDatasetError(ValueError):
    """A data file is truncated, corrupt or not the file it claims to be."""


class UnknownDatasetError(ValueError):
    """``data.name`` is not a key of ``jaxgan.data.DATASETS``."""


class MissingDependencyError(ImportError):
    """An optional library a source needs is not installed; the message names the extra."""


@dataclasses.dataclass
class ArraySource:
    """A decoded split: every image at the configured size, in memory.

    Attributes:
      images: uint8 ``[N, H, W, C]``, already at ``image_size`` and ``channels``.
      labels: int32 ``[N]`` class ids in ``[0, num_classes)``, or None.
      num_classes: the number of classes of ``labels`` (0 when there are none).
      name: the ``DATASETS`` key (or a description) of the data.
      origin: where the pixels came from and how they were transformed, for logs.
      domain_b: a second, unpaired domain (image-to-image translation): its own images
        (same shape) and labels. The pipeline draws its rows in an order of its own, so
        no pair of the two domains is ever fixed; its batches carry ``image_b``, ``label_b``.
    """

    images: np.ndarray
    labels: np.ndarray | None
    num_classes: int
    name: str
    origin: str = ""
    domain_b: "ArraySource | None" = None

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"ArraySource.images must be uint8 [N, H, W, C]; got "
                             f"{self.images.dtype} {self.images.shape}.")
        if self.images.shape[-1] not in (1, 3):
            raise ValueError(f"ArraySource.images must have 1 or 3 channels; got "
                             f"{self.images.shape[-1]}.")
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int32)
            if self.labels.shape != (self.images.shape[0],):
                raise ValueError(f"ArraySource.labels must be [N={self.images.shape[0]}]; got "
                                 f"{self.labels.shape}.")
            if self.num_classes <= 0 or (len(self.labels) and not (
                    0 <= self.labels.min() and self.labels.max() < self.num_classes)):
                raise ValueError(f"ArraySource.labels must lie in [0, num_classes="
                                 f"{self.num_classes}).")
        elif self.num_classes:
            raise ValueError("ArraySource.num_classes must be 0 when there are no labels.")
        if self.domain_b is not None:
            if self.domain_b.domain_b is not None:
                raise ValueError("ArraySource.domain_b cannot have a domain_b of its own.")
            if self.domain_b.images.shape[1:] != self.images.shape[1:]:
                raise ValueError(f"the two domains' images must have one shape; got "
                                 f"{self.images.shape[1:]} and {self.domain_b.images.shape[1:]}: "
                                 "give both the same data.image_size and data.channels.")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def describe(self) -> str:
        """One line for logs: name, count, shape, classes and origin."""
        n, h, w, c = self.images.shape
        classes = f"{self.num_classes} classes" if self.labels is not None else "no labels"
        text = f"{self.name}: {n} images {h}x{w}x{c} uint8, {classes}"
        text = f"{text}; {self.origin}" if self.origin else text
        return f"{text}; domain b: {self.domain_b.describe()}" if self.domain_b else text


def cfg_get(cfg: Any, name: str, default: Any = None) -> Any:
    """``cfg.get(name, default)`` for a ConfigDict, a dict, or anything with attributes.

    Optional fields (``resize_filter``, ``crop_size``, ``tfds_name``, ...) are
    read this way so the base config does not have to list every source's knobs.
    """
    if isinstance(cfg, Mapping) or hasattr(cfg, "get"):
        return cfg.get(name, default)
    return getattr(cfg, name, default)


def default_data_dir() -> str:
    """``$JAXGAN_DATA_DIR`` or ``~/.cache/jaxgan/data``: downloads and decoded caches."""
    return os.path.expanduser(os.environ.get("JAXGAN_DATA_DIR") or "~/.cache/jaxgan/data")


def data_dir_of(cfg: Any) -> str:
    """``data.data_dir`` when set, else :func:`default_data_dir`."""
    return os.path.expanduser(cfg_get(cfg, "data_dir", "") or default_data_dir())


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(**fields: Any) -> str:
    """A short stable hash of everything that determines a decoded array."""
    text = json.dumps({"cache_version": CACHE_VERSION, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_npz(path: str, **arrays: np.ndarray) -> None:
    """Writes atomically: a crash or a second host writing the same file leaves no torn file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def load_npz(path: str) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None when it is missing or unreadable (then rebuilt)."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:  # A torn or foreign file: the caller rebuilds it from the source.
        return None
