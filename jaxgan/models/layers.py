"""Building blocks shared by the architectures.

Every convolution of every arch is made by :func:`conv` / :func:`conv_transpose_4x4`,
which return the stock Flax layer or its exact XLA:CPU-friendly rewrite
(:mod:`jaxgan.models.fast_conv`, :mod:`jaxgan.models.fast_conv_transpose`)
under the same name with the same parameters, so ``fast_cpu_layers`` changes
speed, never a checkpoint. Spectral norm wraps
any of them with ``flax.linen.SpectralNorm`` (its ``u`` and ``sigma`` live in
the ``'batch_stats'`` collection and move only when ``update_stats=True``).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.errors import ModelConfigError
from jaxgan.models.fast_conv import FastConv
from jaxgan.models.fast_conv_transpose import FastConvTranspose


def conv(features: int, kernel_size: Sequence[int], *, fast: bool, name: str, strides: int = 1,
         padding="SAME", use_bias: bool = True,
         kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()) -> nn.Module:
    """A 2-D ``nn.Conv``, or the equivalent :class:`FastConv` when ``fast``.

    Example:
      >>> layer = conv(4, (3, 3), fast=True, name="c")
      >>> jax.eval_shape(lambda: layer.init_with_output(jax.random.key(0), jnp.ones((1, 5, 5, 2))))[0].shape
      (1, 5, 5, 4)
    """
    cls = FastConv if fast else nn.Conv
    return cls(features, tuple(kernel_size), strides=strides, padding=padding, use_bias=use_bias,
               kernel_init=kernel_init, name=name)


def conv_transpose_4x4(features: int, *, fast: bool, name: str, use_bias: bool = True,
                       kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
                       ) -> nn.Module:
    """The DCGAN up-sampling layer: output 2x the input, PyTorch ``ConvTranspose2d(4, 2, 1)``.

    The stock form is ``nn.ConvTranspose(features, (4, 4), strides=(2, 2),
    padding='SAME', transpose_kernel=True)``: lax pads the zero-dilated input by
    2 on each side, and ``transpose_kernel`` flips the kernel, so
    ``out[2i + k - 1] += x[i] * kernel[k]`` exactly as PyTorch's
    ``ConvTranspose2d(Cin, Cout, 4, stride=2, padding=1)`` with
    ``kernel = torch_weight.permute(2, 3, 1, 0)`` (``[4, 4, Cout, Cin]``).

    Example:
      >>> layer = conv_transpose_4x4(3, fast=True, name="up")
      >>> jax.eval_shape(lambda: layer.init_with_output(jax.random.key(0), jnp.ones((1, 4, 4, 2))))[0].shape
      (1, 8, 8, 3)
    """
    if fast:
        return FastConvTranspose(features, transpose_kernel=True, use_bias=use_bias,
                                 kernel_init=kernel_init, name=name)
    return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME", transpose_kernel=True,
                            use_bias=use_bias, kernel_init=kernel_init, name=name)


def maybe_sn(layer: nn.Module, x, *, enabled: bool, train: bool):
    """``layer(x)``, spectrally normalized (Miyato et al. 2018) when ``enabled``.

    The power-iteration vector ``u`` and ``sigma`` are stored only when
    ``train``; with ``train=False`` the same normalized weight is computed from
    the stored ``u`` and nothing is written.
    """
    if not enabled:
        return layer(x)
    return nn.SpectralNorm(layer, name=f"{layer.name}_sn")(x, update_stats=train)


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose scale and offset are looked up per class (de Vries et al. 2017).

    ``y = gamma[label] * (x - mean) / sqrt(var + eps) + beta[label]``; with
    ``num_classes=0`` it is ``nn.BatchNorm`` with a learned scale and offset.
    Statistics go to ``'batch_stats'``; ``train=False`` uses the running ones.

    Example:
      >>> bn = ConditionalBatchNorm(num_classes=3)
      >>> v = jax.eval_shape(lambda: bn.init(jax.random.key(0), jnp.ones((2, 4, 4, 5)), jnp.array([0, 2]),
      ...                                     train=False))
      >>> v['params']['gamma']['embedding'].shape
      (3, 5)
    """

    num_classes: int = 0
    momentum: float = 0.9  # PyTorch's momentum=0.1 for the running statistics.
    epsilon: float = 1e-5
    axis_name: str | None = None  # Synchronised statistics over this mapped axis.

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool):
        conditional = self.num_classes > 0
        y = nn.BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=self.epsilon,
                         use_scale=not conditional, use_bias=not conditional,
                         axis_name=self.axis_name, name="bn")(x)
        if not conditional:
            return y
        if labels is None:
            raise ModelConfigError(
                f"this model is conditional (num_classes={self.num_classes}) and needs int labels [B]; "
                "pass labels, or build it with num_classes=0")
        c = x.shape[-1]
        gamma = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.ones, name="gamma")(labels)
        beta = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros, name="beta")(labels)
        shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
        return y * gamma.reshape(shape) + beta.reshape(shape)


def projection(h: jax.Array, labels, *, num_classes: int, spectral_norm: bool, train: bool,
               name: str = "embed") -> jax.Array:
    """The projection discriminator's class term (Miyato & Koyama 2018): ``<embed(y), h>``.

    ``h`` is what the critic's last (scoring) layer reads: ``[B, F]`` for one
    score or ``[B, n, n, F]`` for an n x n map, where every location gets its
    own inner product with the one class embedding. Call it inside a compact
    module.

    Returns:
      ``[B]`` or ``[B, n, n]``.
    """
    if labels is None:
        raise ModelConfigError(
            f"this critic is conditional (num_classes={num_classes}) and needs int labels [B]; pass "
            "labels, or build it with num_classes=0")
    embed = nn.Embed(num_classes, h.shape[-1], embedding_init=nn.initializers.xavier_uniform(), name=name)
    e = maybe_sn(embed, labels, enabled=spectral_norm, train=train)
    e = e.reshape((h.shape[0],) + (1,) * (h.ndim - 2) + (h.shape[-1],))
    return jnp.sum(e * h, axis=-1)


def avg_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 average pooling with stride 2 (NHWC, even sizes), as a reshape and a mean."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def upsample_2x(x: jax.Array) -> jax.Array:
    """Nearest-neighbour 2x up-sampling (NHWC)."""
    n, h, w, c = x.shape
    return jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, 2, w, 2, c)).reshape(n, 2 * h, 2 * w, c)


def check_labels(labels, num_classes: int, batch: int):
    """Raise ModelConfigError unless a conditional model got ``[B]`` integer labels."""
    if num_classes <= 0:
        return
    if labels is None:
        raise ModelConfigError(
            f"this model is conditional (num_classes={num_classes}) and needs int labels [B]; pass "
            "labels, or build it with num_classes=0")
    if labels.shape != (batch,) or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ModelConfigError(
            f"labels must be integers of shape ({batch},), got {labels.dtype} {labels.shape}")


def output_activation(h: jax.Array, kind: str) -> jax.Array:
    """A generator's last activation: ``tanh`` squashes into [-1, 1]; ``linear`` leaves ``h``.

    A linear output is clipped only when images are written (``jaxgan.images.to_uint8``),
    so the generator never has to saturate a tanh to draw a flat black background.

    Example:
      >>> output_activation(jnp.array([-3.0, 0.5]), "linear").tolist()
      [-3.0, 0.5]
    """
    if kind == "tanh":
        return jnp.tanh(h)
    if kind == "linear":
        return h
    raise ModelConfigError(f"unknown generator output {kind!r}; choose 'tanh' or 'linear'")
