r"""Fidelity and diversity from k-nearest-neighbour balls: precision/recall and density/coverage.

Both pairs estimate the support of each distribution as a union of balls around
its samples, in a feature space (usually Inception pool3, ``d = 2048``). With
real features ``X = {x_1..x_N}``, fake features ``Y = {y_1..y_M}`` and
``NN_k(x, X)`` the k-th nearest neighbour of ``x`` among the *other* points of
``X``, each point gets the radius ``r(x) = |x - NN_k(x, X)|`` (Euclidean), and

    manifold(X) = union_i B(x_i, r(x_i)),   B(c, r) = {z : |z - c| <= r}   (closed balls).

Improved precision and recall (Kynkäänniemi et al., 2019), ``k = 3`` by default::

    precision = (1/M) sum_j 1[y_j in manifold(X)]     (radii from the real k-NN)
    recall    = (1/N) sum_i 1[x_i in manifold(Y)]     (radii from the fake k-NN)

Density and coverage (Naeem et al., 2020), ``k = 5`` by default, both from the real balls::

    density  = 1/(k M) sum_j sum_i 1[y_j in B(x_i, r(x_i))]
    coverage = (1/N)   sum_i 1[exists j: y_j in B(x_i, r(x_i))]

Precision, recall and coverage lie in ``[0, 1]``; density counts how many real
balls hold each fake point, divided by ``k``, so it is unbounded above. Two
identical sets of distinct points give precision = recall = coverage = 1 and,
with closed balls, density = ``(k + 1) / k``: each ball holds its own centre and
its k nearest neighbours, the k-th on its boundary. (Naeem et al.'s reference
code tests ``<`` instead, which leaves out that boundary point and gives 1; for
features of generated images, ties at exactly the radius do not occur.)

Distances are computed with JAX in row blocks, ``[batch, N]`` at a time, as
``|a|^2 + |b|^2 - 2 a.b`` in float32 (clipped at 0) after subtracting the real
features' mean, so 10,000 x 10,000 points of dimension 2048 need a few hundred
MB. Radii and memberships are compared as squared distances.

References:
  Kynkäänniemi, Karras, Laine, Lehtinen, Aila, "Improved Precision and Recall
  Metric for Assessing Generative Models", NeurIPS 2019.
  Naeem, Oh, Uh, Choi, Yoo, "Reliable Fidelity and Diversity Metrics for
  Generative Models", ICML 2020.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_BATCH = 1024


@jax.jit
def _sq_distances(block: jax.Array, points: jax.Array, points_sq: jax.Array) -> jax.Array:
    """``|block_i - points_j|^2`` ``[b, n]``, clipped at 0 (rounding can leave it below 0)."""
    # HIGHEST: on GPUs the default float32 matmul may round its inputs to TF32 (10-bit
    # mantissa), which would swamp the differences of nearby points.
    cross = jnp.matmul(block, points.T, precision=jax.lax.Precision.HIGHEST)
    block_sq = jnp.sum(block * block, axis=1)
    return jnp.maximum(block_sq[:, None] + points_sq[None, :] - 2.0 * cross, 0.0)


@functools.partial(jax.jit, static_argnames="k")
def _kth_smallest_off_diagonal(d2: jax.Array, start: jax.Array, k: int) -> jax.Array:
    """Per row, the k-th smallest of ``d2`` skipping column ``start + row`` (the point itself)."""
    rows = jnp.arange(d2.shape[0])
    # Padding rows have no column of their own; "drop" ignores their out-of-range index.
    d2 = d2.at[rows, rows + start].set(jnp.inf, mode="drop")
    return -jax.lax.top_k(-d2, k)[0][:, k - 1]


@jax.jit
def _ball_hits(d2: jax.Array, radii2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Points inside each ball (per row) and whether each point is in some ball (per column)."""
    inside = d2 <= radii2[:, None]
    return inside.sum(axis=1, dtype=jnp.int32), inside.any(axis=0)


def _blocks(centres: np.ndarray, batch: int):
    """``(start, block)`` pairs of ``centres``' rows, the last block zero-padded to the same shape.

    One block shape means one compilation; it also makes a row's distances the same
    floats in every pass (same executable, same inputs), so a point on a ball's
    boundary in the radius pass stays on it in the membership pass.
    """
    n = centres.shape[0]
    b = min(batch, n)
    padded = np.pad(centres, ((0, -n % b), (0, 0)))
    for start in range(0, n, b):
        yield start, jnp.asarray(padded[start:start + b])


def _knn_radii2(x: np.ndarray, k: int, batch: int) -> np.ndarray:
    """Squared distance from each row of ``x`` to its k-th nearest other row, ``[N]``."""
    x_dev = jnp.asarray(x)
    x_sq = jnp.sum(x_dev * x_dev, axis=1)
    out = [np.asarray(_kth_smallest_off_diagonal(_sq_distances(block, x_dev, x_sq),
                                                 jnp.int32(start), int(k)))
           for start, block in _blocks(x, batch)]
    return np.concatenate(out)[:x.shape[0]]


def _ball_membership(centres: np.ndarray, radii2: np.ndarray, points: np.ndarray,
                     batch: int) -> tuple[np.ndarray, np.ndarray]:
    """``(points inside each centre's ball [N], whether each point is inside any ball [M])``."""
    n = centres.shape[0]
    b = min(batch, n)
    # Padding balls get radius^2 = -1, which no distance (>= 0) satisfies.
    r2 = np.full(-(-n // b) * b, -1.0, np.float32)
    r2[:n] = radii2
    points_dev = jnp.asarray(points)
    points_sq = jnp.sum(points_dev * points_dev, axis=1)
    counts, covered = [], np.zeros(points.shape[0], bool)
    for start, block in _blocks(centres, batch):
        d2 = _sq_distances(block, points_dev, points_sq)
        c, hit = _ball_hits(d2, jnp.asarray(r2[start:start + b]))
        counts.append(np.asarray(c, np.int64))
        covered |= np.asarray(hit)
    return np.concatenate(counts)[:n], covered


def _prepare(real, fake, k: int, batch: int, what: str,
             min_fake: int) -> tuple[np.ndarray, np.ndarray]:
    """Checks the arguments (before any distance is computed); returns centred float32 features."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{what}: k={k!r} must be an integer >= 1 (the papers use k = 3 for "
                         "precision/recall, k = 5 for density/coverage).")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"{what}: batch={batch!r} must be an integer >= 1 "
                         "(rows per distance block).")
    arrays = []
    for name, a, need in (("real", real, k + 1), ("fake", fake, min_fake)):
        a = np.asarray(a)
        if a.ndim != 2:
            raise ValueError(f"{what}: {name} features must be a 2-D [N, d] array (one row per "
                             f"image), got shape {a.shape}; flatten or stack them first.")
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise ValueError(f"{what}: {name} features must be real numbers, got dtype {a.dtype}.")
        if len(a) < need:
            why = (f"each {name} point's radius is the distance to its k-th nearest other "
                   f"{name} point" if need > 1 else "the share of fakes in the balls")
            raise ValueError(f"{what}: {name} features have {len(a)} rows; k={k} needs at least "
                             f"{need} ({why}). Pass more images or a smaller k.")
        if not np.isfinite(a).all():
            raise ValueError(f"{what}: {name} features contain NaN or infinity; check the "
                             "images and the feature network.")
        arrays.append(a.astype(np.float64))
    real, fake = arrays
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"{what}: real features are {real.shape[1]}-dim, fake ones "
                         f"{fake.shape[1]}-dim; compute both with the same feature network.")
    # Distances do not depend on the origin; centring shrinks |a|^2 + |b|^2 next to
    # |a - b|^2, so the float32 expansion cancels fewer digits.
    centre = real.mean(axis=0)
    return (real - centre).astype(np.float32), (fake - centre).astype(np.float32)


def precision_recall(real_features, fake_features, *, k: int = 3,
                     batch: int = DEFAULT_BATCH) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019).

    With ``r(x) = |x - NN_k(x, X)|`` the distance from a real point to its k-th
    nearest *other* real point (and likewise ``r(y)`` within the fakes)::

        precision = (1/M) sum_j 1[exists i: |y_j - x_i| <= r(x_i)]
        recall    = (1/N) sum_i 1[exists j: |x_i - y_j| <= r(y_j)]

    Precision is the share of fake points on the estimated real manifold
    (fidelity); recall the share of real points on the fake one (diversity).

    Args:
      real_features: ``[N, d]``, ``N >= k + 1``.
      fake_features: ``[M, d]``, ``M >= k + 1``.
      k: the neighbour that sets each radius (3 in the paper).
      batch: rows of the ``[batch, N]`` distance blocks (memory, not results).

    Returns:
      ``{'precision': float, 'recall': float}``.

    Raises:
      ValueError: non-2-D or non-finite features, different dimensions, fewer than
        ``k + 1`` rows on a side, or ``k < 1``; before any distance is computed.

    >>> real = np.array([[0.0], [1.0], [2.0]])
    >>> precision_recall(real, np.array([[0.5], [9.0]]), k=1)  # The fakes' 1-NN radius is 8.5.
    {'precision': 0.5, 'recall': 1.0}
    """
    real, fake = _prepare(real_features, fake_features, k, batch, "precision_recall", k + 1)
    _, fake_on_real = _ball_membership(real, _knn_radii2(real, k, batch), fake, batch)
    _, real_on_fake = _ball_membership(fake, _knn_radii2(fake, k, batch), real, batch)
    return {"precision": float(fake_on_real.mean()), "recall": float(real_on_fake.mean())}


def density_coverage(real_features, fake_features, *, k: int = 5,
                     batch: int = DEFAULT_BATCH) -> dict[str, float]:
    """Density and coverage (Naeem et al., 2020), from the real points' k-NN balls only.

    With ``r(x_i) = |x_i - NN_k(x_i, X)|`` (k-th nearest *other* real point) and
    ``B(c, r) = {z : |z - c| <= r}``::

        density  = 1/(k M) sum_j sum_i 1[y_j in B(x_i, r(x_i))]
        coverage = (1/N)   sum_i 1[exists j: y_j in B(x_i, r(x_i))]

    Density is about 1 when fakes follow the real distribution (it rewards fakes in
    dense real regions and, unlike precision, is not fooled by a few real
    outliers' large balls); coverage is the share of real balls holding a fake.

    Args:
      real_features: ``[N, d]``, ``N >= k + 1``.
      fake_features: ``[M, d]``, ``M >= 1``.
      k: the neighbour that sets each radius (5 in the paper).
      batch: rows of the ``[batch, M]`` distance blocks (memory, not results).

    Returns:
      ``{'density': float, 'coverage': float}``.

    Raises:
      ValueError: as :func:`precision_recall` (with ``M >= 1``).

    >>> real = np.array([[0.0], [1.0], [2.0]])  # 1-NN radii: 1, 1, 1.
    >>> density_coverage(real, np.array([[0.5], [9.0]]), k=1)  # 0.5 is in the balls of 0 and 1.
    {'density': 1.0, 'coverage': 0.6666666666666666}
    """
    real, fake = _prepare(real_features, fake_features, k, batch, "density_coverage", 1)
    counts, _ = _ball_membership(real, _knn_radii2(real, k, batch), fake, batch)
    return {"density": float(counts.sum() / (k * fake.shape[0])),
            "coverage": float((counts > 0).mean())}
