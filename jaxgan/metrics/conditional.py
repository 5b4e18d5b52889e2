"""Metrics of class-conditional and code-conditional generators, read off a classifier.

* :func:`label_accuracy`: the share of samples that a classifier assigns to the
  label they were drawn for (CGAN, AC-GAN).
* :func:`per_class_fid`: the Fréchet distance of each class's samples to that
  class's real images, in the classifier's features.
* :func:`matched_accuracy`: an unsupervised code (InfoGAN's categorical ``c``)
  scored as a classifier of the real class, under the best one-to-one matching
  of codes to classes (the Hungarian algorithm on the code-class counts), with
  how each code spreads over the classes.

All take numpy arrays; the classifier is :mod:`jaxgan.metrics.classifier`'s.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from jaxgan.metrics.fid import frechet_distance


def label_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """The share of rows whose argmax over ``logits [N, K]`` equals ``labels [N]``.

    >>> label_accuracy(np.eye(3)[[0, 1, 2, 2]], np.array([0, 1, 2, 0]))
    0.75
    """
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"label_accuracy needs logits [N, K] and labels [N], got "
                         f"{logits.shape} and {labels.shape}.")
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def _moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def per_class_fid(features: np.ndarray, labels: np.ndarray, real_features: np.ndarray,
                  real_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``[K]``: the FID of the samples of class ``k`` against the real images of class ``k``.

    Both sides' Gaussians are fit per class (``np.cov``, ``ddof=1``), so a class needs
    at least two samples on each side; FID is biased upwards for few samples, so
    compare runs at the same number per class.
    """
    out = np.zeros(num_classes)
    for k in range(num_classes):
        fake, real = features[labels == k], real_features[real_labels == k]
        if len(fake) < 2 or len(real) < 2:
            raise ValueError(f"class {k} has {len(fake)} samples and {len(real)} real images; "
                             "per-class FID needs at least 2 of each (draw more samples).")
        out[k] = frechet_distance(*_moments(fake), *_moments(real))
    return out


def matched_accuracy(codes: np.ndarray, classes: np.ndarray, num_codes: int,
                     num_classes: int) -> dict:
    """An unsupervised code scored as a classifier of ``classes`` under the best matching.

    With ``C[c, k]`` the number of samples of code ``c`` classified as class ``k``,
    the one-to-one assignment of codes to classes that maximises the matched count
    (Hungarian algorithm) gives ``accuracy = sum of matched counts / N``. Beside it,
    ``purity[c]`` (the share of code ``c``'s samples in its most common class) and
    ``majority[c]`` (that class) show a code that splits one class across two codes
    or merges two classes into one.

    >>> r = matched_accuracy(np.array([0, 0, 1, 1, 2, 2]), np.array([5, 5, 3, 3, 3, 4]), 3, 6)
    >>> r["accuracy"], r["assignment"], r["majority"]
    (0.8333333333333334, [5, 3, 4], [5, 3, 3])
    """
    codes, classes = np.asarray(codes), np.asarray(classes)
    if codes.shape != classes.shape or codes.ndim != 1 or not len(codes):
        raise ValueError(f"matched_accuracy needs codes and classes of one shape [N], got "
                         f"{codes.shape} and {classes.shape}.")
    counts = np.zeros((num_codes, num_classes), np.int64)
    np.add.at(counts, (codes, classes), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    assignment = [-1] * num_codes
    for r, c in zip(rows, cols):
        assignment[int(r)] = int(c)
    per_code = counts.sum(axis=1)
    return {
        "accuracy": float(counts[rows, cols].sum() / len(codes)),
        "assignment": assignment,
        "majority": [int(k) for k in counts.argmax(axis=1)],
        "purity": [float(counts[c].max() / per_code[c]) if per_code[c] else 0.0
                   for c in range(num_codes)],
        "counts": counts.tolist(),
    }
