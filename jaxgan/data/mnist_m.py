r"""MNIST-M: MNIST digits blended onto patches of colour photographs.

The target domain of Ganin and Lempitsky ("Unsupervised Domain Adaptation by
Backpropagation", ICML 2015, section 4.1): each digit is combined with a patch
of a colour photograph by the per-channel absolute difference

.. math::
    \mathrm{out}_{hwc} = |\,\mathrm{patch}_{hwc} - \mathrm{digit}_{hw}\,|,
    \qquad c \in \{R, G, B\},

the grayscale digit repeated over the three channels, all in uint8 units
0..255 (computed exactly, without wrap-around). Where the digit is 0 the photo
shows through; where it is 255 the photo's colours are inverted. Each example
keeps its digit's label (10 classes); the 'train' split is built from the
60,000 MNIST training digits, 'test' from the 10,000 test digits, one MNIST-M
image per digit, in MNIST's order.

Ganin and Lempitsky cut their patches from BSDS500. That set cannot be
fetched here, so the photographs are the colour PNGs bundled inside the
scikit-image wheel (read as files, without importing scikit-image, so no
downloader and no network is involved), the ``skimage.data`` function that
returns each in brackets:

* ``astronaut.png`` (``astronaut()``), 512x512: Eileen Collins, NASA;
* ``chelsea.png`` (``chelsea()``), 300x451: a cat;
* ``coffee.png`` (``coffee()``), 400x600: a cup of coffee;
* ``ihc.png`` (``immunohistochemistry()``), 512x512: a stained tissue section;
* ``motorcycle_left.png`` (``stereo_motorcycle()[0]``), 500x741: a motorcycle.

Left out: ``hubble_deep_field.jpg`` (92% of its pixels are near black, so most
patches would leave the digit unchanged), ``retina.jpg`` (a black surround
outside the fundus disc, for the same reason), ``motorcycle_right.png`` (the
stereo twin of the left view, a near-duplicate), and the JPEGs generally
(``rocket.jpg``): decoded pixels of a JPEG may differ between decoder builds,
and a PNG decodes to the same bytes everywhere. Each file is checked against
its sha256 (the value scikit-image's own data registry records for it), so
the data set is the same on every machine.

Patches. Example ``i`` of a split takes photo ``which[i]`` and the square
``S x S`` patch whose top-left corner is ``(top[i], left[i])``, ``S`` =
``image_size``. The three are drawn by :func:`patch_draws` from
``numpy.random.default_rng([mnistm_seed, SPLIT_STREAM[split]])``, in this
order and each as one call for the whole split: ``which = rng.integers(0, 5,
N)`` (photos equally likely, as Ganin and Lempitsky pick a random BSDS500
image), ``top = rng.integers(0, H[which] - S + 1)``, ``left = rng.integers(0,
W[which] - S + 1)`` (uniform over the positions inside the photo). The two
splits use different streams, so train and test digits never share a patch
draw.

Optional ``data_cfg`` fields, read with ``cfg_get``:

* ``mnistm_seed`` (default 0): seeds the patch draws. It is not
  ``config.seed``, so runs with different training seeds see the same data.
* ``image_size`` (default 32, at most 300, the height of the smallest photo),
  ``fit`` and ``resize_filter`` as for ``mnist``: the digit is first brought
  to ``image_size`` exactly as the ``mnist`` source does (zero-padded, or
  resized), then blended with a patch of that size cut from the photo at its
  native resolution. At 28 this is Ganin and Lempitsky's 28x28 MNIST-M; at
  32 with ``fit='pad'`` the digit sits at the same pixels as in ``mnist`` at 32, with
  the photo (not black) in the border: the two domains align pixel for pixel,
  as unpaired translation between them wants. ``channels`` must be 3.
* ``download`` (default True): fetch MNIST when it is missing, as ``mnist``.

The images are built in memory on every load rather than cached: the build
is one gather from five small photos and one min/max per pixel, about 3 s for
the 60,000 training images at 28x28 on a busy 2-core machine, where reading
the same 141 MB back from an ``.npz`` took about 1.3 s: too little saved to
keep a file per (seed, size, fit) setting and guard it against going stale.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Sequence

import numpy as np
from PIL import Image

from jaxgan.data.mnist import _fit_options, mnist_arrays
from jaxgan.data.source import (ArraySource, CorruptDatasetError, DatasetNotFoundError, cfg_get,
                                data_dir_of, sha256_bytes)
from jaxgan.data.transforms import fit_small_images

# File in skimage/data -> sha256; each equals the entry of scikit-image's data registry.
PHOTOS = {
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "ihc.png": "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef",
    "motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
}
SMALLEST_PHOTO_SIDE = 300  # chelsea.png is 300x451: the largest patch every photo can give.
SPLIT_STREAM = {"train": 0, "test": 1}
_CHUNK = 4096  # Examples blended at a time: bounds the temporaries at large image sizes.


def skimage_data_dir() -> str:
    """The ``data`` folder of the installed scikit-image (found without importing it)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "mnist_m blends digits onto photographs that ship with scikit-image, which is not "
            "installed: `pip install scikit-image` (or `pip install 'jaxgan[data]'`).")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def load_photos(directory: str | None = None) -> list[np.ndarray]:
    """The photos of :data:`PHOTOS`, in its order, as uint8 ``[H, W, 3]``, each sha256-checked."""
    directory = directory or skimage_data_dir()
    fix = "reinstall it with `pip install --force-reinstall --no-deps scikit-image`."
    photos = []
    for name, want in PHOTOS.items():
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise DatasetNotFoundError(f"mnist_m needs {path} from scikit-image ({e}); "
                                       f"{fix}") from e
        if sha256_bytes(raw) != want:
            raise CorruptDatasetError(f"{path}: sha256 {sha256_bytes(raw)} is not the "
                                      f"scikit-image file's {want}; {fix}")
        with Image.open(path) as im:
            photos.append(np.asarray(im.convert("RGB"), np.uint8))
    return photos


def patch_draws(num: int, photo_shapes: Sequence[tuple[int, ...]], patch_size: int, seed: int,
                split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(which, top, left)``, each int64 ``[num]``: the photo and patch corner of each example.

    Drawn from ``np.random.default_rng([seed, SPLIT_STREAM[split]])`` in the
    order the module docstring gives; every patch lies inside its photo.
    """
    heights = np.array([s[0] for s in photo_shapes])
    widths = np.array([s[1] for s in photo_shapes])
    if patch_size > min(heights.min(), widths.min()):
        raise ValueError(f"data.image_size={patch_size} is larger than the smallest photo side "
                         f"{min(heights.min(), widths.min())}; mnist_m takes image sizes up to it.")
    rng = np.random.default_rng([seed, SPLIT_STREAM[split]])
    which = rng.integers(0, len(photo_shapes), num)
    top = rng.integers(0, heights[which] - patch_size + 1)
    left = rng.integers(0, widths[which] - patch_size + 1)
    return which, top, left


def blend_digits(digits: np.ndarray, photos: Sequence[np.ndarray], which: np.ndarray,
                 top: np.ndarray, left: np.ndarray) -> np.ndarray:
    """``|patch - digit|`` per channel: uint8 ``[N, S, S, 3]`` from digits ``[N, S, S, 1]``.

    ``max(a, b) - min(a, b)`` is the absolute difference in uint8 with no
    wider temporaries and no wrap-around.
    """
    if digits.ndim != 4 or digits.shape[-1] != 1 or digits.shape[1] != digits.shape[2]:
        raise ValueError(f"blend_digits needs square grayscale [N, S, S, 1] digits, got "
                         f"{digits.shape}.")
    n, size = digits.shape[0], digits.shape[1]
    offsets = np.arange(size)
    out = np.empty((n, size, size, 3), np.uint8)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        rows = top[part, None] + offsets  # [c, S]
        cols = left[part, None] + offsets
        patches = np.empty((rows.shape[0], size, size, 3), np.uint8)
        for k, photo in enumerate(photos):
            sel = which[part] == k
            patches[sel] = photo[rows[sel][:, :, None], cols[sel][:, None, :]]
        d = digits[part]
        out[part] = np.maximum(patches, d) - np.minimum(patches, d)
    return out


def load_mnist_m(cfg: Any) -> ArraySource:
    """``DATASETS['mnist_m']``: MNIST digits blended onto colour photo patches, 10 classes."""
    channels = cfg_get(cfg, "channels", 3)
    if channels != 3:
        raise ValueError(f"data.channels={channels!r}: mnist_m images are colour; set "
                         "--config.data.channels=3.")
    fit, filt = _fit_options(cfg)  # The mnist checks (split, size, fit, filter), before any read.
    split = cfg_get(cfg, "split", "train")
    image_size = cfg_get(cfg, "image_size", 32)
    if image_size > SMALLEST_PHOTO_SIDE:
        raise ValueError(f"data.image_size={image_size}: mnist_m cuts patches of that size from "
                         f"photos as small as {SMALLEST_PHOTO_SIDE}x{SMALLEST_PHOTO_SIDE}; set "
                         f"data.image_size to at most {SMALLEST_PHOTO_SIDE}.")
    seed = cfg_get(cfg, "mnistm_seed", 0) or 0
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"data.mnistm_seed={seed!r} must be a non-negative integer.")
    seed = int(seed)
    photo_dir = skimage_data_dir()
    photos = load_photos(photo_dir)
    try:
        digits, labels, origin = mnist_arrays(data_dir_of(cfg), split,
                                              download=bool(cfg_get(cfg, "download", True)))
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"mnist_m is built from MNIST, which is missing: {e}") from e
    digits = fit_small_images(digits, image_size, 1, fit=fit, resize_filter=filt)
    which, top, left = patch_draws(len(digits), [p.shape for p in photos], image_size, seed, split)
    images = blend_digits(digits, photos, which, top, left)
    how = "zero-padded" if fit == "pad" else f"resized ({filt})"
    return ArraySource(images, labels, 10, f"mnist_m/{split}",
                       origin=f"the {len(digits)} digits of {origin}, 28x28 {how} to "
                              f"{image_size}x{image_size}, each |patch - digit| with a patch of "
                              f"{', '.join(PHOTOS)} in {photo_dir} drawn with mnistm_seed {seed}")
