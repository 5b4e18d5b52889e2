"""Sampling a trained stack, and the sample statistics the SGAN ablation reports.

A sample of class ``y`` runs the whole top-down stack in inference mode
(batch norm with its running statistics)::

    h1_hat = G1(z1, y);   x_hat = G0(z0, h1_hat)        (stacked)
    x_hat = G0(z, onehot(y))                            (single-stack baseline)

:func:`mean_pairwise_distance` measures how different the samples of one class
are, which is what the entropy loss is for (without it the paper's samples
"tend to be invariant to the input noise").
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.sgan.models import Networks, bottom_z_dim
from jaxgan.sgan.state import SGANState
from jaxgan.sgan.step import draw_noise, encoder_features


def make_sampler(networks: Networks, num_classes: int) -> Callable:
    """A jitted ``sample(g_params, g_vars, z1, z0, labels) -> images in [-1, 1]``.

    ``z1`` is ignored (may be None) for the single-stack baseline.
    """

    @jax.jit
    def sample(g_params, g_vars, z1, z0, labels):
        if networks.g1 is None:
            condition = jax.nn.one_hot(labels, num_classes)
        else:
            condition = networks.g1.apply({"params": g_params["g1"], **g_vars["g1"]}, z1, labels,
                                          train=False)
        return networks.g0.apply({"params": g_params["g0"], **g_vars["g0"]}, z0, condition,
                                 train=False)

    return sample


def make_reconstructor(networks: Networks) -> Callable:
    """A jitted ``reconstruct(g_params, g_vars, encoder_params, z0, images)``: G0(z0, E(x)).

    What the bottom stack makes of real fc3 features (the authors' "recon" grids).
    """

    @jax.jit
    def reconstruct(g_params, g_vars, encoder_params, z0, images):
        h1 = encoder_features(networks.encoder, encoder_params, images)
        return networks.g0.apply({"params": g_params["g0"], **g_vars["g0"]}, z0, h1, train=False)

    return reconstruct


def draw(key: jax.Array, sgan_cfg, num: int) -> tuple[jax.Array | None, jax.Array]:
    """``(z1, z0)`` for ``num`` samples (z1 None for the single-stack baseline)."""
    k1, k0 = jax.random.split(key)
    z0 = draw_noise(sgan_cfg.noise, k0, (num, bottom_z_dim(sgan_cfg)))
    if not sgan_cfg.stacked:
        return None, z0
    return draw_noise(sgan_cfg.noise, k1, (num, sgan_cfg.z1_dim)), z0


def class_grid_inputs(seed: int, sgan_cfg, num_classes: int, per_class: int):
    """The fixed noise and labels of every sample grid: row ``k`` is class ``k``.

    Returns ``(z1, z0, labels)`` with ``num_classes * per_class`` rows, labels
    ``[0]*per_class + [1]*per_class + ...``; the same noise columns repeat in every row,
    so a column shows one noise draw across classes.
    """
    z1, z0 = draw(jax.random.fold_in(jax.random.key(seed), 0x5A3), sgan_cfg, per_class)
    labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), per_class)
    tile = lambda z: None if z is None else jnp.tile(z, (num_classes, 1))
    return tile(z1), tile(z0), labels


def generate(sample: Callable, state: SGANState, sgan_cfg, key: jax.Array, labels,
             batch_size: int = 500) -> np.ndarray:
    """Float images ``[N, H, W, C]`` in [-1, 1] for the given int labels, fresh noise from ``key``.

    Every call of ``sample`` has ``batch_size`` rows (the last chunk padded, then
    trimmed), so it compiles once whatever ``N`` is.
    """
    labels = np.asarray(labels, np.int32)
    out = []
    for i in range(0, len(labels), batch_size):
        y = labels[i:i + batch_size]
        n = len(y)
        y = jnp.asarray(np.pad(y, (0, batch_size - n)))
        z1, z0 = draw(jax.random.fold_in(key, i), sgan_cfg, batch_size)
        out.append(np.asarray(sample(state.g_params, state.g_vars, z1, z0, y))[:n])
    return np.concatenate(out)


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
