"""Modes covered on Stacked MNIST, and the KL divergence of their histogram to uniform.

The protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018,
Table 2) for :mod:`jaxgan.data.stacked_mnist`: draw 26,000 samples, classify
each of the R, G and B channels with a pretrained MNIST classifier, and read
the sample's mode as ``m = 100 c_R + 10 c_G + c_B`` (one of 1000). With ``p_m``
the share of samples in mode ``m``, report

* ``modes``: the number of modes with ``p_m > 0`` (seen at least once; 1000 at best);
* ``kl``: ``KL(p || U) = sum_{m: p_m > 0} p_m log(p_m / (1/1000))`` in nats, the
  divergence from the uniform distribution over the 1000 modes: 0 when every
  mode holds exactly 1/1000 of the samples, ``log 1000 = 6.91`` when all fall in one.

The classifier here is :mod:`jaxgan.metrics.classifier`'s ``classifier_extractor
("mnist")``: ccexam 1.0.0's MNISTNet with its published weights, 99.05% test
accuracy (PacGAN trained a Keras CNN of its own), so numbers are comparable
with the papers' in protocol, not to the last digit. Real stacks do not reach
KL 0 either: 26,000 samples over 1000 modes is 26 a mode, and sampling noise
alone gives a KL near ``(1000 - 1) / (2 * 26000) = 0.019``; classifier errors
move a few more samples between modes.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

PROTOCOL_SAMPLES = 26_000  # Samples per evaluation in VEEGAN's and PacGAN's tables.
NUM_MODES = 1000
DIGIT_SIZE = 28  # MNIST's size, the classifier's input.


def mode_histogram_stats(mode_ids: np.ndarray, num_modes: int = NUM_MODES) -> dict[str, Any]:
    """Modes covered and ``KL(p || uniform)`` of the histogram ``p`` of ``mode_ids``.

    ``kl = sum_{m: p_m > 0} p_m log(num_modes * p_m)`` (natural log).

    >>> mode_histogram_stats(np.arange(1000))
    {'modes': 1000, 'kl': 0.0, 'num': 1000}
    >>> r = mode_histogram_stats(np.zeros(5, int))
    >>> r["modes"], round(r["kl"], 4)  # log 1000
    (1, 6.9078)
    """
    mode_ids = np.asarray(mode_ids)
    if mode_ids.ndim != 1 or not len(mode_ids) or not np.issubdtype(mode_ids.dtype, np.integer):
        raise ValueError(f"mode_histogram_stats needs a non-empty 1-D integer array of mode ids, "
                         f"got {mode_ids.dtype} of shape {mode_ids.shape}.")
    if mode_ids.min() < 0 or mode_ids.max() >= num_modes:
        raise ValueError(f"mode ids must lie in [0, {num_modes}); got {mode_ids.min()} to "
                         f"{mode_ids.max()}.")
    p = np.bincount(mode_ids, minlength=num_modes) / len(mode_ids)
    seen = p > 0
    return {"modes": int(seen.sum()), "kl": float(np.sum(p[seen] * np.log(num_modes * p[seen]))),
            "num": int(len(mode_ids))}


def _center_crop(images: np.ndarray, size: int) -> np.ndarray:
    """The centered ``size`` square of ``[N, H, W, C]``; unchanged when not larger."""
    h, w = images.shape[1:3]
    if h <= size and w <= size:
        return images
    top, left = (h - size) // 2, (w - size) // 2
    return images[:, top:top + size, left:left + size]


def _digit_classes(out: Any, n: int) -> np.ndarray:
    """Class ids ``[n]`` from a classifier's output: logits, ids, or a dict with ``logits``."""
    if isinstance(out, dict):
        if "logits" not in out:
            raise ValueError(f"The classifier gives {sorted(out)}, not 'logits'.")
        out = out["logits"]
    out = np.asarray(out)
    classes = np.argmax(out, axis=1) if out.ndim == 2 else out
    if classes.shape != (n,) or not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(f"The classifier must return logits [{n}, 10] or class ids [{n}] for "
                         f"{n} digits, got {out.dtype} of shape {out.shape}.")
    if classes.min() < 0 or classes.max() > 9:
        raise ValueError(f"Digit classes must lie in 0..9, got {classes.min()} to {classes.max()}.")
    return classes.astype(np.int64)


def stacked_mnist_modes(images: np.ndarray, classify: Callable[[np.ndarray], Any] | None = None,
                        *, center_crop: int | None = DIGIT_SIZE) -> dict[str, Any]:
    """``{'modes', 'kl', 'num'}`` of stacked-digit ``images`` (see the module docstring).

    Args:
      images: uint8 ``[N, H, W, 3]``, one digit per channel; the protocol uses
        ``N = PROTOCOL_SAMPLES``.
      classify: maps uint8 grayscale digits ``[M, h, w, 1]`` to logits ``[M, 10]``,
        class ids ``[M]``, or a dict with ``'logits'`` (a
        :class:`~jaxgan.metrics.features.FeatureExtractor` such as
        ``classifier_extractor('mnist')``, built here when None).
      center_crop: images larger than this are center-cropped to it first. Stacks
        padded 28 -> 32 (``data.fit='pad'``) then give the classifier the exact
        28x28 digits it was trained on, rather than digits shrunk by its resize.
        None: pass the whole image.

    The three channels are classified in one batch of ``3N`` grayscale images
    (R block, G block, B block) and read back as ``100 c_R + 10 c_G + c_B``.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or not len(images):
        raise ValueError(f"Stacked MNIST modes need uint8 [N, H, W, 3] images (one digit per "
                         f"channel), got {images.dtype} of shape {images.shape}.")
    if classify is None:
        from jaxgan.metrics.classifier import classifier_extractor  # Lazy: loads weights.
        classify = classifier_extractor("mnist")
    if center_crop:
        images = _center_crop(images, center_crop)
    n, h, w, _ = images.shape
    # Channel-major: rows [0, n) are the R digits, [n, 2n) G, [2n, 3n) B.
    digits = np.ascontiguousarray(np.moveaxis(images, -1, 0)).reshape(3 * n, h, w, 1)
    c = _digit_classes(classify(digits), 3 * n).reshape(3, n)
    return mode_histogram_stats(100 * c[0] + 10 * c[1] + c[2], NUM_MODES)
