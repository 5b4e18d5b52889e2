"""The Fréchet distance between Gaussians fitted to features (FID).

The trace term ``tr sqrt(S1 S2)`` is computed from symmetric eigen-decompositions:
with ``R = S1^(1/2)`` (from ``eigh`` of ``S1``), ``S1 S2 = R (R S2 R) R^-1`` for
invertible ``S1`` (and by continuity otherwise) has the eigenvalues of the
symmetric PSD matrix ``R S2 R``, so ``tr sqrt(S1 S2) = sum_i sqrt(lambda_i(R S2 R))``.
Both steps are backward-stable symmetric problems.

Singular covariances (fewer images than feature dimensions) are the delicate
case: an eigenvalue that is exactly 0 comes out of any float64 solver as noise of
size ``eps * ||M||``, and its square root, ``sqrt(eps * ||M||)``, is a visible
error, once per null direction (a thousand of them for 1000 images at D = 2048). So eigenvalues below
``D * eps * max(lambda)``, the resolution limit (numpy's ``matrix_rank``
tolerance), are taken as 0, in ``S1`` and in ``R S2 R``. A true eigenvalue that
small loses at most ``sqrt`` of that threshold, which no float64 method resolves.
``scipy.linalg.sqrtm`` of the non-symmetric ``S1 S2`` (pytorch-fid's formulation,
kept as :func:`frechet_distance_sqrtm` for side-by-side checks) has no such floor:
it returns noise-level imaginary parts, and needs an ``eps * I`` offset when the
root is not finite; it is also several times slower at D = 2048.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


_EPS = np.finfo(np.float64).eps


def _check(mu1, sigma1, mu2, sigma2):
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"Statistics of different shapes: mu {mu1.shape} / {mu2.shape}, sigma "
                         f"{sigma1.shape} / {sigma2.shape}; they come from different networks.")
    return mu1, sigma1, mu2, sigma2


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr sqrt(sigma1 @ sigma2)`` for symmetric PSD matrices, via ``eigh`` (see module doc).

    Eigenvalues below ``D * eps * max`` (unresolvable in float64) count as 0.

    >>> trace_sqrt_product(np.diag([4.0, 1.0]), np.diag([1.0, 9.0]))
    5.0
    """
    d = sigma1.shape[0]
    w, v = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    w[w < d * _EPS * max(w.max(), 0.0)] = 0.0
    root = (v * np.sqrt(w)) @ v.T
    m = root @ sigma2 @ root
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    ev[ev < d * _EPS * max(ev.max(), 0.0)] = 0.0
    return float(np.sqrt(ev).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr sqrt(sigma1 sigma2)``,
    in float64, with the trace of the square root from :func:`trace_sqrt_product`.

    Args:
      mu1, mu2: means ``[D]``.
      sigma1, sigma2: covariances ``[D, D]``.

    Returns:
      The squared distance, a float (FID when the statistics are Inception pool3's).

    >>> frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2))
    4.0

    Reference: Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge
    to a Local Nash Equilibrium", NeurIPS 2017.
    """
    mu1, sigma1, mu2, sigma2 = _check(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
                 - 2.0 * trace_sqrt_product(sigma1, sigma2))


def frechet_distance_sqrtm(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """pytorch-fid's formulation: ``scipy.linalg.sqrtm(sigma1 @ sigma2)``.

    When the product's square root is not finite, ``eps`` is added to both
    diagonals and it is retried; imaginary parts are dropped. Kept for comparisons;
    :func:`frechet_distance` is the one jaxgan reports.

    >>> round(frechet_distance_sqrtm(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)), 9)
    4.0
    """
    mu1, sigma1, mu2, sigma2 = _check(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
