"""Sample diversity: how different the samples of one class are.

:func:`mean_pairwise_distance` is what Stacked GAN's entropy loss is meant to
raise (without it the paper's samples "tend to be invariant to the input
noise"); the SGAN ablation reports it per class.
"""

from __future__ import annotations

import numpy as np


def mean_pairwise_distance(x) -> float:
    r"""Mean Euclidean distance between distinct rows, per dimension (RMS).

    .. math::
        \frac{2}{n(n-1)} \sum_{i<j} \frac{\lVert x_i - x_j \rVert_2}{\sqrt{D}}

    for ``n`` samples flattened to ``D`` values. 0 when every sample is the same;
    for images in [0, 1] it is at most 1.

    Example:
      >>> print(round(mean_pairwise_distance(np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])), 4))
      0.6667
    """
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"mean_pairwise_distance needs at least 2 samples, got {n}.")
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    iu = np.triu_indices(n, 1)
    return float(np.mean(np.sqrt(d2[iu])) / np.sqrt(d))


def per_class_diversity(images, labels, num_classes: int) -> float:
    """:func:`mean_pairwise_distance` within each class, averaged over the classes present."""
    labels = np.asarray(labels)
    values = [mean_pairwise_distance(images[labels == k]) for k in range(num_classes)
              if np.sum(labels == k) >= 2]
    if not values:
        raise ValueError("per_class_diversity needs two samples of at least one class.")
    return float(np.mean(values))
