"""MLP generator and critic for low-dimensional points: the 2-D mixture experiments of ALI, VEEGAN, PacGAN.

Reference architecture (PacGAN's released code for its Table 1, which follows
ALI's; Lin, Khetan, Fanti, Oh, "PacGAN: The power of two samples in generative
adversarial networks", NeurIPS 2018; Dumoulin et al., "Adversarially Learned
Inference", ICLR 2017), all weights ``N(0, 0.02)``, biases 0::

    Generator  z [B, 2] -> 4 x (Dense 400 no bias -> BN -> ReLU) -> Dense 2
    Critic     x [B, 2] -> 3 x (Dense 200*5 -> maxout over 5 pieces) -> Dense 1

Those are the defaults here (``width``, ``depth``, ``pieces``).

**A score map for a point.** An image critic in this library scores an
``n x n`` map of overlapping patches, each cell seeing part of the input,
which the spatially decomposed hinge loss and the Local Gradient Amplifier
(:func:`jaxgan.losses.lga`) treat cell by cell. A point has no patches, so
``views=K`` gives the critic ``K`` *partial views* of it instead: view ``k``
sees only the projection ``<x, u_k>`` on the fixed unit direction
``u_k = (cos(pi k / K), sin(pi k / K))`` (directions spread evenly over the
half circle; ``u`` and ``-u`` give the same view), and scores it with its own
MLP (the same layers as the full critic at ``view_width`` units, weights not
shared between views). The output is ``[B, K]``: one cell per view. Like a
patch, a view can look real while another looks fake (a point between two
modes of the ring projects onto a mode along some directions and off every
mode along others), which is the disagreement between cells that the
amplifier acts on. By the Cramer-Wold theorem the 1-D projections on all
directions determine a 2-D distribution, so a critic that sees enough
directions can still tell every difference apart. Heads that all read the
same features of the whole point (``K`` linear scorers on one trunk) would
differ only through their initialisation and would make the map a
near-copy of one score.

Example:
  >>> import jax, jax.numpy as jnp
  >>> g, d = Generator(**TINY["generator"]), Critic(**TINY["critic"], views=4)
  >>> x, gv = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), jnp.zeros((3, 2)),
  ...                                                    train=False))
  >>> s, _ = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), jnp.zeros((3, 2)),
  ...                                                   train=False))
  >>> x.shape, sorted(gv), s.shape
  ((3, 2), ['batch_stats', 'params'], (3, 4))
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxgan.models.errors import ModelConfigError
from jaxgan.models.minibatch import batch_features
from jaxgan.models.vbn import ReferenceLatents, VirtualBatchNorm

TINY = {"generator": {"width": 8, "depth": 2}, "critic": {"width": 8, "depth": 2, "pieces": 2,
                                                          "view_width": 4}}

_INIT = nn.initializers.normal(0.02)


def view_directions(num_views: int, dim: int = 2) -> np.ndarray:
    """float32 ``[dim, K]``: unit columns ``(cos(pi k / K), sin(pi k / K))``, ``k = 0..K-1``.

    >>> view_directions(4).round(3).T.tolist()
    [[1.0, 0.0], [0.707, 0.707], [0.0, 1.0], [-0.707, 0.707]]
    """
    if dim != 2:
        raise ModelConfigError(f"critic views are defined for 2-D points, got points of dimension {dim}; "
                               "use views=0 (one score from the whole point)")
    angles = math.pi * np.arange(num_views) / num_views
    return np.stack([np.cos(angles), np.sin(angles)]).astype(np.float32)


def _check_positive(value, field: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelConfigError(f"mlp {field} must be an integer >= {minimum}, got {value!r}")


def _check_points(x, name: str, dim: int | None = None) -> None:
    if x.ndim != 2 or (dim is not None and x.shape[-1] != dim):
        want = f"[B, {dim}]" if dim is not None else "[B, D]"
        raise ModelConfigError(f"the mlp {name} takes {want} arrays, got shape {x.shape}")


def _no_labels(labels) -> None:
    if labels is not None:
        raise ModelConfigError("the mlp models are unconditional: pass labels=None")


class Generator(nn.Module):
    """MLP generator: ``z [B, z_dim]`` -> points ``[B, out_dim]`` (unbounded, no output squashing).

    ``depth`` hidden layers of ``width`` units, each Dense (no bias when batch
    normalised) -> BatchNorm -> ReLU, then a Dense output layer with bias.
    Batch norm as in PacGAN's code: batch statistics in training, running
    averages (``momentum`` 0.95) otherwise, so ``batch_stats`` must be
    threaded as a mutable collection when ``train=True``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> g = Generator(width=8, depth=2)
      >>> v = g.init(jax.random.key(0), jnp.zeros((4, 2)), train=False)
      >>> x, upd = g.apply(v, jnp.ones((4, 2)), train=True, mutable=["batch_stats"])
      >>> x.shape, sorted(upd)
      ((4, 2), ['batch_stats'])
    """

    z_dim: int = 2
    out_dim: int = 2
    width: int = 400
    depth: int = 4
    batch_norm: bool = True
    momentum: float = 0.95
    bn_axis_name: str | None = None  # Synchronised batch norm over this mapped axis.
    # > 0: virtual batch norm (jaxgan.models.vbn) over this many fixed reference latents
    # instead of batch norm (with batch_norm=True).
    vbn_reference: int = 0

    @nn.compact
    def __call__(self, z, labels=None, *, train: bool):
        for field in ("z_dim", "out_dim", "width", "depth"):
            _check_positive(getattr(self, field), field)
        _check_points(z, "generator", self.z_dim)
        _no_labels(labels)
        virtual = self.batch_norm and self.vbn_reference > 0
        h = ReferenceLatents(self.vbn_reference, name="reference")(z) if virtual else z
        for i in range(self.depth):
            h = nn.Dense(self.width, use_bias=not self.batch_norm, kernel_init=_INIT, name=f"hidden{i}")(h)
            if virtual:
                h = VirtualBatchNorm(self.vbn_reference, name=f"vbn{i}")(h)
            elif self.batch_norm:
                h = nn.BatchNorm(use_running_average=not train, momentum=self.momentum,
                                 axis_name=self.bn_axis_name, name=f"bn{i}")(h)
            h = nn.relu(h)
        out = nn.Dense(self.out_dim, kernel_init=_INIT, name="out")(h).astype(jnp.float32)
        return out[self.vbn_reference:] if virtual else out


class ViewDense(nn.Module):
    """``K`` independent dense layers applied side by side: ``[K, B, I] -> [K, B, features]``.

    ``y[k, b] = x[k, b] @ kernel[k] + bias[k]``; ``kernel`` is ``[K, I, features]``.
    The view axis leads: XLA:CPU ran this batched product about 1.5x faster
    than with the batch axis first (measured here, also under ``jax.vmap``).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = ViewDense(3)
      >>> v = layer.init(jax.random.key(0), jnp.zeros((5, 2, 4)))
      >>> v["params"]["kernel"].shape, layer.apply(v, jnp.ones((5, 2, 4))).shape
      ((5, 4, 3), (5, 2, 3))
    """

    features: int
    kernel_init: nn.initializers.Initializer = _INIT

    @nn.compact
    def __call__(self, x):
        k, _, i = x.shape
        kernel = self.param("kernel", self.kernel_init, (k, i, self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (k, 1, self.features), jnp.float32)
        return jnp.einsum("kbi,kio->kbo", x, kernel) + bias


def _maxout(h, pieces: int):
    """Max over ``pieces`` consecutive-unit groups of the last axis: ``[..., F * pieces] -> [..., F]``."""
    return h.reshape(h.shape[:-1] + (h.shape[-1] // pieces, pieces)).max(axis=-1)


class Critic(nn.Module):
    """MLP critic: points ``[B, in_dim]`` -> scores ``[B]`` (``views=0``) or ``[B, K]`` (``views=K``).

    Higher = more real. ``depth`` maxout layers (Dense ``width * pieces``,
    max over ``pieces``; ``pieces=1`` is a LeakyReLU(0.2) layer instead),
    then a linear score. With ``views=K`` the point is first projected on
    ``K`` fixed directions (:func:`view_directions`) and each projection is
    scored by its own MLP of ``view_width`` units (see the module docstring
    for why). No normalization: every example is scored on its own, as the
    gradient penalties require.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> d = Critic(width=8, depth=2, pieces=2)
      >>> v = d.init(jax.random.key(0), jnp.zeros((3, 2)), train=False)
      >>> d.apply(v, jnp.ones((3, 2)), train=False).shape
      (3,)
    """

    in_dim: int = 2
    width: int = 200
    depth: int = 3
    pieces: int = 5
    views: int = 0
    view_width: int = 50
    # Minibatch layers before the score (jaxgan.models.minibatch; views=0 only): discrimination
    # kernels (0: none) and the standard deviation over groups (0: none).
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    minibatch_std: int = 0
    bn_axis_name: str | None = None  # The data axis in the step: minibatch layers see every replica.

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool, return_features: bool = False):
        del train  # No dropout or normalization: the same function in training and evaluation.
        for field in ("in_dim", "width", "depth", "pieces", "view_width"):
            _check_positive(getattr(self, field), field)
        _check_positive(self.views, "views", minimum=0)
        _check_points(x, "critic", self.in_dim)
        _no_labels(labels)
        x = x.astype(jnp.float32)

        def act(h):
            return _maxout(h, self.pieces) if self.pieces > 1 else nn.leaky_relu(h, 0.2)

        if self.views == 0:
            h = x
            for i in range(self.depth):
                h = act(nn.Dense(self.width * self.pieces, kernel_init=_INIT, name=f"hidden{i}")(h))
            scored = batch_features(h, kernels=self.minibatch_kernels,
                                    kernel_dim=self.minibatch_kernel_dim,
                                    std_group=self.minibatch_std, axis_name=self.bn_axis_name)
            scores = nn.Dense(1, kernel_init=_INIT, name="score")(scored)[:, 0]
        else:
            if self.minibatch_kernels or self.minibatch_std:
                raise ModelConfigError("the minibatch layers read the whole point's features; "
                                       "with views each view scores a projection: set views=0")
            u = jnp.asarray(view_directions(self.views, self.in_dim))
            h = (x @ u).T[:, :, None]  # [K, B, 1]: view k sees <x, u_k> only.
            for i in range(self.depth):
                h = act(ViewDense(self.view_width * self.pieces, name=f"hidden{i}")(h))
            scores = ViewDense(1, name="score")(h)[..., 0].T
            h = h.transpose(1, 0, 2)
        return (scores, h.reshape(h.shape[0], -1)) if return_features else scores
