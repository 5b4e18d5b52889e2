"""Streaming feature statistics (mean, covariance) in float64, and their ``.npz`` files.

Reference statistics are stored as pytorch-fid stores them: an ``.npz`` with
``mu`` ``[D]`` and ``sigma`` ``[D, D]``, so files move between the two tools.
jaxgan adds ``num_images`` and a JSON ``protocol`` string, which pytorch-fid ignores.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np


class StatsFileError(ValueError):
    """A statistics file that cannot be used; the message says why."""


class FeatureStats:
    """Running mean and covariance of feature vectors, merged batch by batch (Chan et al.).

    Each batch's mean and centred scatter matrix are computed in float64 and merged
    with the running ones, so no sum of squares of uncentred features is ever formed:
    a covariance survives features with large means, which a float64
    ``sum(x x^T) - n mu mu^T`` would partly cancel away.

    >>> s = FeatureStats()
    >>> s.update(np.array([[0., 1.], [2., 3.]])); s.update(np.array([[4., 5.]]))
    >>> s.mean.tolist(), s.cov[0].tolist()
    ([2.0, 3.0], [4.0, 4.0])

    Reference: Chan, Golub, LeVeque, "Updating formulae and a pairwise algorithm for
    computing sample variances" (1979).
    """

    def __init__(self):
        self.n = 0
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        if x.ndim != 2:
            raise ValueError(f"FeatureStats.update expects [batch, dim] features, got {x.shape}.")
        m = len(x)
        if m == 0:
            return
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        scatter_b = xc.T @ xc
        if self.n == 0:
            self.n, self._mean, self._scatter = m, mean_b, scatter_b
            return
        if x.shape[1] != self._mean.shape[0]:
            raise ValueError(f"Features of dim {x.shape[1]} after {self._mean.shape[0]}.")
        n = self.n + m
        delta = mean_b - self._mean
        self._scatter += scatter_b + np.outer(delta, delta) * (self.n * m / n)
        self._mean = self._mean + delta * (m / n)
        self.n = n

    @property
    def mean(self) -> np.ndarray:
        if self.n == 0:
            raise ValueError("No features were added.")
        return self._mean

    @property
    def cov(self) -> np.ndarray:
        """The unbiased covariance (``np.cov(x, rowvar=False)``, as pytorch-fid computes)."""
        if self.n < 2:
            raise ValueError(f"A covariance needs at least 2 feature vectors, got {self.n}.")
        return self._scatter / (self.n - 1)


def save_stats(path: str, mu: np.ndarray, sigma: np.ndarray, *, num_images: int | None = None,
               protocol: dict[str, Any] | None = None) -> None:
    """Writes ``mu``/``sigma`` (pytorch-fid's layout) plus jaxgan's provenance fields."""
    extra = {}
    if num_images is not None:
        extra["num_images"] = np.asarray(num_images)
    if protocol is not None:
        extra["protocol"] = np.asarray(json.dumps(protocol, sort_keys=True))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, mu=np.asarray(mu, np.float64), sigma=np.asarray(sigma, np.float64), **extra)
    os.replace(tmp, path)


def is_stats_file(path: str) -> bool:
    """True for an ``.npz`` holding ``mu`` and ``sigma``."""
    if not (path.endswith(".npz") and os.path.isfile(path)):
        return False
    with np.load(path, allow_pickle=False) as z:
        return "mu" in z.files and "sigma" in z.files


def load_stats(path: str, dim: int | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Reads ``(mu, sigma, meta)``; ``meta`` has ``num_images`` / ``protocol`` when recorded.

    Raises:
      FileNotFoundError: no such file.
      StatsFileError: no ``mu``/``sigma``, inconsistent shapes, or not ``dim`` features.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Reference statistics {path} do not exist. Compute them with "
                                "`python -m jaxgan.evaluate --fake REAL --real REAL "
                                f"--save_real_stats {path}`, or point to pytorch-fid's .npz.")
    with np.load(path, allow_pickle=False) as z:
        if "mu" not in z.files or "sigma" not in z.files:
            raise StatsFileError(f"{path} holds {z.files}, not the statistics 'mu' and 'sigma'.")
        mu, sigma = np.asarray(z["mu"], np.float64), np.asarray(z["sigma"], np.float64)
        meta: dict[str, Any] = {}
        if "num_images" in z.files:
            meta["num_images"] = int(z["num_images"])
        if "protocol" in z.files:
            meta["protocol"] = json.loads(str(z["protocol"]))
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise StatsFileError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not [D] and [D, D].")
    if dim is not None and mu.shape[0] != dim:
        raise StatsFileError(f"{path} holds statistics of {mu.shape[0]}-dim features; this "
                             f"metric's network gives {dim}. They come from another network.")
    return mu, sigma, meta
