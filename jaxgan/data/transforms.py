"""Image preparation shared by the sources: crop, resize, pad, channel conversion.

The resize filter is named, never implicit: Parmar et al., "On Aliased Resizing
and Surprising Subtleties in GAN Evaluation" (CVPR 2022), show that the filter
alone moves FID by several points. The default, PIL's bicubic, is antialiased
(PIL widens the kernel by the downscale factor) and is the filter that paper
recommends; the DCGAN/CelebA code of 2016 used ``scipy.misc.imresize``, i.e.
PIL bilinear, which ``resize_filter="bilinear"`` reproduces.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from jaxgan.data.source import cfg_get

RESIZE_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
DEFAULT_RESIZE_FILTER = "bicubic"


def resize_filter_of(cfg: Any) -> str:
    """``data.resize_filter`` (optional field, default bicubic), checked against RESIZE_FILTERS."""
    name = cfg_get(cfg, "resize_filter", DEFAULT_RESIZE_FILTER) or DEFAULT_RESIZE_FILTER
    if name not in RESIZE_FILTERS:
        raise ValueError(f"data.resize_filter={name!r} is not a PIL filter; choose one of "
                         f"{sorted(RESIZE_FILTERS)} (default {DEFAULT_RESIZE_FILTER!r}).")
    return name


def check_size(image_size: int, channels: int) -> None:
    if not isinstance(image_size, (int, np.integer)) or image_size <= 0:
        raise ValueError(f"data.image_size={image_size!r} must be a positive integer.")
    if channels not in (1, 3):
        raise ValueError(f"data.channels={channels!r} must be 1 (grayscale) or 3 (RGB).")


def rgb_to_gray(images: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma in PIL's fixed-point arithmetic, so arrays and decoded files agree.

    ``L = (19595 R + 38470 G + 7471 B + 2**15) >> 16``, exactly what
    ``Image.convert("L")`` computes.
    """
    x = images.astype(np.uint32)
    y = (x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16
    return y.astype(np.uint8)[..., None]


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """``[..., C]`` uint8 to ``channels``: gray is repeated to RGB, RGB goes to luma."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    if have == 3 and channels == 1:
        return rgb_to_gray(images)
    if have == 4:  # RGBA arrays (rare outside files): drop alpha first.
        return to_channels(images[..., :3], channels)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels.")


def center_crop_box(height: int, width: int, crop: int | None) -> tuple[int, int, int, int]:
    """(top, left, size, size) of a centered square; ``crop=None``: the largest one.

    Offsets are floor((H - crop) / 2), which for CelebA's 218x178 frames and the
    usual crop of 108 gives the DCGAN code's (55, 35).
    """
    size = min(height, width) if not crop else int(crop)
    if size > min(height, width):
        raise ValueError(f"crop_size={size} is larger than the {height}x{width} image.")
    return (height - size) // 2, (width - size) // 2, size, size


def crop_and_resize(image: np.ndarray, image_size: int, *, crop: int | None,
                    resize_filter: str) -> np.ndarray:
    """One uint8 ``[H, W, C]`` image: centered square crop, then resize to ``image_size``."""
    top, left, h, w = center_crop_box(image.shape[0], image.shape[1], crop)
    image = image[top:top + h, left:left + w]
    if h == image_size and w == image_size:
        return np.ascontiguousarray(image)
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    out = np.asarray(pil.resize((image_size, image_size), RESIZE_FILTERS[resize_filter]))
    return out[..., None] if out.ndim == 2 else out


def crop_and_resize_all(images: np.ndarray, image_size: int, *, crop: int | None,
                        resize_filter: str) -> np.ndarray:
    """:func:`crop_and_resize` over ``[N, H, W, C]``."""
    n, h, w, c = images.shape
    top, left, size, _ = center_crop_box(h, w, crop)
    if size == image_size:
        return np.ascontiguousarray(images[:, top:top + size, left:left + size])
    out = np.empty((n, image_size, image_size, c), np.uint8)
    for i in range(n):
        out[i] = crop_and_resize(images[i], image_size, crop=crop, resize_filter=resize_filter)
    return out


def pad_to(images: np.ndarray, image_size: int) -> np.ndarray:
    """Zero-pads ``[N, H, W, C]`` to a centered ``image_size`` square (28 -> 32: 2 each side)."""
    n, h, w, c = images.shape
    if h > image_size or w > image_size:
        raise ValueError(f"cannot pad {h}x{w} images to the smaller {image_size}; use "
                         "data.fit='resize'.")
    dh, dw = image_size - h, image_size - w
    return np.pad(images, ((0, 0), (dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2), (0, 0)))


def fit_small_images(images: np.ndarray, image_size: int, channels: int, *, fit: str,
                     resize_filter: str) -> np.ndarray:
    """Digits (28x28) to the model's size: zero-pad (``fit='pad'``) or resize (``'resize'``).

    Padding 28 -> 32 is what the WGAN-GP and LGA MNIST experiments feed a
    32x32 DCGAN; it keeps every pixel as recorded.
    """
    check_size(image_size, channels)
    if fit == "pad":
        if image_size < images.shape[1]:
            raise ValueError(f"data.image_size={image_size} is smaller than the "
                             f"{images.shape[1]}x{images.shape[2]} images; set data.fit='resize'.")
        out = pad_to(images, image_size)
    elif fit == "resize":
        out = crop_and_resize_all(images, image_size, crop=None, resize_filter=resize_filter)
    else:
        raise ValueError(f"data.fit={fit!r} must be 'pad' or 'resize'.")
    return to_channels(out, channels)
