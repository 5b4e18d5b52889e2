"""Stacked MNIST: three random MNIST digits as the R, G and B channels of one image.

The mode-collapse benchmark of Metz et al. 2017 ("Unrolled Generative
Adversarial Networks", section 3.3.1), used by VEEGAN (Srivastava et al. 2017)
and PacGAN (Lin et al. 2018, Table 2). Example ``i`` stacks the digits
``(r_i, g_i, b_i)``, each drawn uniformly and independently, with replacement,
from the MNIST split; its label is the mode id ``100 * y(r_i) + 10 * y(g_i) +
y(b_i)``, one of 10^3 = 1000 modes (:mod:`jaxgan.metrics.stacked_modes` reads
them back off generated images).

Optional ``data_cfg`` fields, read with ``cfg_get``:

* ``stack_seed`` (default 0): seeds the ``numpy.random.default_rng`` that draws
  the triples. It is not ``config.seed``, so runs with different training seeds
  see the same data set.
* ``stack_size`` (default :data:`DEFAULT_STACK_SIZE`): how many stacks to build.
  'train' defaults to 128,000, the training-set size of PacGAN's released
  Stacked MNIST code (its VEEGAN-setup config, 28x28); 'test' defaults to the
  10,000 of the MNIST test split, a held-out real reference. PacGAN draws from
  the 70,000 train and test digits pooled; here each split draws only from its
  own digits, so the test stacks share no digit image with the training stacks.

``image_size``, ``fit`` and ``resize_filter`` act as for ``mnist`` (28, or 32 by
zero-padding 2 pixels per side); ``channels`` must be 3. The stacks are built in
memory on every load rather than cached: three gathers from the (cached) MNIST
split build 128,000 stacks in a second or so, mostly spent allocating the 300 MB
result, which reading a cache file of that size back would cost as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxgan.data.mnist import _fit_options, mnist_arrays
from jaxgan.data.source import ArraySource, DatasetNotFoundError, cfg_get, data_dir_of
from jaxgan.data.transforms import fit_small_images

NUM_MODES = 1000  # 10 digit classes per channel, 3 channels.
DEFAULT_STACK_SIZE = {"train": 128_000, "test": 10_000}


def stack_indices(num_digits: int, size: int, seed: int) -> np.ndarray:
    """``[size, 3]`` int64: the MNIST example of each channel of each stack.

    One ``rng.integers(0, num_digits, (size, 3))`` call of
    ``np.random.default_rng(seed)``: uniform, independent, with replacement.
    """
    if size <= 0:
        raise ValueError(f"data.stack_size={size} must be a positive number of stacks.")
    if num_digits <= 0:
        raise ValueError("The MNIST split holds no digits to stack.")
    return np.random.default_rng(seed).integers(0, num_digits, (size, 3))


def stack_digits(images: np.ndarray, labels: np.ndarray,
                 indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stacked images ``[S, H, W, 3]`` uint8 and mode ids ``[S]`` int32.

    ``images`` is a grayscale split ``[N, H, W, 1]``, ``labels`` its digits in
    0..9 and ``indices`` ``[S, 3]`` rows into it (R, G, B). The mode id is
    ``100 * labels[R] + 10 * labels[G] + labels[B]``.
    """
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"stack_digits needs grayscale [N, H, W, 1] digits, got {images.shape}.")
    _, h, w, _ = images.shape
    stacked = np.empty((len(indices), h, w, 3), np.uint8)
    for c in range(3):  # Filled in place: no [S, H, W, 1] copies to concatenate.
        stacked[..., c] = images[indices[:, c], ..., 0]
    digits = np.asarray(labels, np.int32)[indices]
    modes = 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]
    return stacked, modes.astype(np.int32)


def load_stacked_mnist(cfg: Any) -> ArraySource:
    """``DATASETS['stacked_mnist']``: RGB stacks of three MNIST digits, 1000 classes."""
    channels = cfg_get(cfg, "channels", 3)
    if channels != 3:
        raise ValueError(f"data.channels={channels!r}: stacked_mnist puts one digit in each of "
                         "the R, G and B channels; set --config.data.channels=3.")
    fit, filt = _fit_options(cfg)  # The mnist checks (split, size, fit, filter), before any read.
    split = cfg_get(cfg, "split", "train")
    seed = int(cfg_get(cfg, "stack_seed", 0) or 0)
    size = int(cfg_get(cfg, "stack_size", 0) or DEFAULT_STACK_SIZE[split])
    try:
        digits, labels, origin = mnist_arrays(data_dir_of(cfg), split,
                                              download=bool(cfg_get(cfg, "download", True)))
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"stacked_mnist is built from MNIST, which is missing: {e}") from e
    stacked, modes = stack_digits(digits, labels, stack_indices(len(digits), size, seed))
    image_size = cfg_get(cfg, "image_size", 32)
    images = fit_small_images(stacked, image_size, 3, fit=fit, resize_filter=filt)
    how = "zero-padded" if fit == "pad" else f"resized ({filt})"
    return ArraySource(images, modes, NUM_MODES, f"stacked_mnist/{split}",
                       origin=f"{size} stacks of 3 of the {len(digits)} digits of {origin}, "
                              f"drawn with stack_seed {seed}; 28x28 {how} to "
                              f"{image_size}x{image_size}x3")
