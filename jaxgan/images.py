"""Image conversions and grids shared by the trainer, the sampler and the evaluator."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def to_uint8(images) -> np.ndarray:
    """Float images in [-1, 1] to uint8 in [0, 255] (rounded, clipped)."""
    x = np.asarray(images, dtype=np.float32)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tiles uint8 images ``[N, H, W, C]`` into one ``[rows*(H+pad)+pad, ..., C]`` image."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"make_grid expects [N, H, W, C] images, got shape {images.shape}.")
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = img
    return grid


def save_png(path: str, image: np.ndarray) -> None:
    """Writes a uint8 ``[H, W, C]`` image (C in {1, 3}) as PNG."""
    image = np.asarray(image)
    if image.shape[-1] == 1:
        image = image[..., 0]
    Image.fromarray(image).save(path)
