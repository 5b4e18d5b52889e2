r"""Layers that let a critic compare an example with the rest of its batch.

A critic that scores each example alone cannot see that a generator's batch
is all alike (mode collapse); these layers append features computed across
the batch to each example's own.

**Minibatch discrimination** (Salimans et al. 2016, sec. 3.2). With the
example's features ``f(x_i) in R^A`` and a learnt tensor ``T in R^{A x B x C}``,
``M_i = f(x_i) T in R^{B x C}`` and, for each of the ``B`` kernels,

.. math::
    o(x_i)_b = \sum_{j=1}^{n} \exp\big(-\lVert M_{i,b} - M_{j,b} \rVert_{L_1}\big)

over the ``n`` examples of the batch (``j = i`` included, as in the paper: a
constant 1). ``[f(x_i), o(x_i)]`` goes on to the next layer.

**Minibatch standard deviation** (Karras et al. 2018, sec. 3). The batch is cut
into groups of ``G`` consecutive examples; within a group, the standard
deviation of every feature (and position) over the ``G`` examples (a batch of
fewer than ``G`` is one group),
``sqrt(Var + 1e-8)``, averaged over features and positions, is one number,
appended to each example of the group as one more channel. (Karras et al.
group examples ``i, i + n/G, ...``; consecutive groups keep each group within
one device's rows, and the batch is shuffled either way.)

Both are functions of the *batch*, like batch norm: the systems judge real and
generated batches apart through such a critic, and refuse per-example gradient
penalties with it. With ``axis_name`` set (the data axis inside the train step),
minibatch discrimination compares each example with every example of the
global batch, so the result does not depend on the device count; minibatch
standard deviation needs each device's rows to be a multiple of ``G``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.models.errors import ModelConfigError

STD_EPSILON = 1e-8


def _append_channels(h: jax.Array, extra: jax.Array) -> jax.Array:
    """``h [N, ..., F]`` with ``extra [N, E]`` appended along the last axis at every position."""
    extra = extra.reshape(extra.shape[0], *(1,) * (h.ndim - 2), extra.shape[-1])
    return jnp.concatenate([h, jnp.broadcast_to(extra, (*h.shape[:-1], extra.shape[-1]))], -1)


class MinibatchDiscrimination(nn.Module):
    """``h [N, ..., F]`` -> ``h`` with ``num_kernels`` more channels, ``o(x_i)`` (module docstring).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> layer = MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
      >>> out, _ = layer.init_with_output(jax.random.key(0), jnp.ones((4, 5)))
      >>> out.shape, bool(jnp.allclose(out[:, 5:], 4.0))  # Identical rows: 4 terms of exp(0).
      ((4, 8), True)
    """

    num_kernels: int
    kernel_dim: int = 5
    axis_name: str | None = None  # Compare with the examples of every replica along this axis.

    @nn.compact
    def __call__(self, h):
        if self.num_kernels < 1 or self.kernel_dim < 1:
            raise ModelConfigError(f"minibatch discrimination needs num_kernels >= 1 and "
                                   f"kernel_dim >= 1, got {self.num_kernels}, {self.kernel_dim}")
        flat = h.reshape(h.shape[0], -1).astype(jnp.float32)
        t = self.param("T", nn.initializers.normal(0.02),
                       (flat.shape[-1], self.num_kernels * self.kernel_dim), jnp.float32)
        m = (flat @ t).reshape(-1, self.num_kernels, self.kernel_dim)
        every = lax.all_gather(m, self.axis_name, tiled=True) if self.axis_name else m
        l1 = jnp.sum(jnp.abs(m[:, None] - every[None]), axis=-1)  # [n_local, n, B]
        o = jnp.sum(jnp.exp(-l1), axis=1)
        return _append_channels(h, o.astype(h.dtype))


def minibatch_stddev(h: jax.Array, group_size: int) -> jax.Array:
    """``h [N, ..., F]`` with one more channel: its group's mean standard deviation (docstring).

    >>> import jax.numpy as jnp
    >>> out = minibatch_stddev(jnp.array([[0.0], [2.0], [1.0], [1.0]]), 2)
    >>> out[:, 1].round(4).tolist()  # Groups {0, 2} and {1, 1}: std 1 and 0.
    [1.0, 1.0, 0.0001, 0.0001]
    """
    n = h.shape[0]
    if group_size >= 1:  # A smaller batch (e.g. the two examples of initialisation) is one group.
        group_size = min(group_size, n)
    if group_size < 1 or n % group_size:
        raise ModelConfigError(f"minibatch standard deviation groups {group_size} examples, but "
                               f"the batch (per device) holds {n}: make it a multiple of "
                               f"model.minibatch_std={group_size}")
    x = h.astype(jnp.float32).reshape(n // group_size, group_size, *h.shape[1:])
    var = jnp.mean(jnp.square(x - jnp.mean(x, axis=1, keepdims=True)), axis=1)
    std = jnp.mean(jnp.sqrt(var + STD_EPSILON).reshape(n // group_size, -1), axis=-1)
    return _append_channels(h, jnp.repeat(std, group_size)[:, None].astype(h.dtype))


def batch_features(h: jax.Array, *, kernels: int, kernel_dim: int, std_group: int,
                   axis_name: str | None, name: str = "minibatch") -> jax.Array:
    """The configured layers on ``h`` (inside a compact module): minibatch discrimination with
    ``kernels`` kernels (0: none), then minibatch standard deviation over ``std_group`` (0: none)."""
    if kernels:
        h = MinibatchDiscrimination(kernels, kernel_dim, axis_name=axis_name, name=name)(h)
    if std_group:
        h = minibatch_stddev(h, std_group)
    return h
