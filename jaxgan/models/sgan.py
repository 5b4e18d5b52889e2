"""The Stacked GAN networks: encoder E, generators G1 and G0, discriminators D1 and D0.

Two stacks over one bottom-up encoder (Huang et al., CVPR 2017, Section 3)::

    E:   x --conv1-pool1-conv2-pool2--> fc3 = h1 --fc4--> class logits (h2 = y)
    G1:  (z1, y)  -> h1_hat   (fc3 features)     judged by D1 against E's fc3 of real images
    G0:  (z0, h1) -> x_hat    (images)           judged by D0 against real images

Layer by layer (the authors' MNIST networks, widths configurable; S is the
image size, 28 or 32, and ``s0 = ((S - 4) / 2 - 4) / 2``, 4 for 28 and 5 for 32)::

    E   conv5x5 c1 VALID, ReLU, maxpool 2 -> conv5x5 c2 VALID, ReLU, maxpool 2
        -> dense F, ReLU (fc3) -> dense K (fc4, logits)
    G1  [z1, onehot(y)] -> dense H, BN, ReLU -> dense H, BN, ReLU -> dense F, ReLU
    G0  z0 -> dense E0, BN, ReLU;  [h1, embed] -> dense s0*s0*2w, BN, ReLU
        -> up 2w (2x), BN, ReLU -> full 5x5 w (+4), BN, ReLU -> up w (2x), BN, ReLU
        -> full 5x5 C (+4) -> tanh
    D1  h -> dense H, LReLU -> dense H, LReLU -> {score: dense 1, Q: dense z1_dim}
    D0  x -> conv5x5 s2 w, 2w, 4w, LReLU -> dense H, LReLU -> {score: dense 1, Q: dense z0_dim}

Choices, each a deviation from or a reading of the authors' code:

* Up-sampling is a 4x4 stride-2 transposed convolution (the authors use 5x5
  with 'half' padding) so the exact XLA:CPU-fast rewrite of
  :mod:`jaxgan.models.fast_conv` applies; the stride-1 'valid' transposed 5x5
  convolution is the equivalent 'full' convolution (padding 4).
* G0 ends in tanh, images in [-1, 1] as the data pipeline gives them (the
  authors' sigmoid and [0, 1] pixels are the same map up to an affine change).
* The discriminators share every layer between the score and the Q head (the
  paper: Q_i shares most parameters with D_i); Q is linear (the authors' CIFAR
  code; their MNIST code squashes with a sigmoid). D and Q start from LeCun-normal
  weights, not the generators' N(0, 0.02): at that scale Q learned too slowly for
  the entropy loss to act within a CPU-sized run. The CIFAR discriminators'
  extras (Gaussian input noise, dropout, batch norm, a semi-supervised K-class
  head) are not reproduced: D0/D1 here are the MNIST ones.
* Batch norm in the generators is synchronised over the data-parallel axis
  (``bn_axis_name``), so the statistics are those of the global batch.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.errors import ModelConfigError
from jaxgan.models.fast_conv import FastConv
from jaxgan.models.layers import conv, conv_transpose_4x4

_INIT = nn.initializers.normal(0.02)  # The authors' Normal(0.02), for the generators.
# Discriminators and their Q heads: LeCun normal (Flax's default; the authors' joint MNIST
# script leaves D1 at Lasagne's Glorot default). At N(0, 0.02) the activations shrink
# about 3x a layer and Q learned nothing in 2000 steps (its loss stayed at Var U(0,1) =
# 1/12); at LeCun scale it recovers the noise within a few hundred (docs/sgan.md).
_D_INIT = nn.initializers.lecun_normal()

# Small sizes for tests: every network builds and runs in milliseconds.
TINY = dict(enc_channels=(4, 4), feature_dim=16, g1_hidden=16, g0_width=4, z0_embed=8,
            d1_hidden=16, d0_width=4, d0_hidden=16)


def start_size(image_size: int) -> int:
    """The side of G0's first feature map: ``((S - 4) / 2 - 4) / 2`` (4 for 28, 5 for 32)."""
    inner = (image_size - 4) // 2 - 4
    if (image_size - 4) % 2 or inner <= 0 or inner % 2:
        raise ModelConfigError(f"SGAN's G0 cannot make {image_size}x{image_size} images; use 28 "
                               "or 32 (set data.image_size).")
    return inner // 2


def _max_pool(x):
    """2x2 max pooling, stride 2, as a reshape and a max.

    The same values as ``nn.max_pool(x, (2, 2), (2, 2))``; its gradient is a
    compare-and-select, about 5x faster on XLA:CPU than ``reduce_window``'s
    select-and-scatter. (At ties, which after a ReLU are windows of zeros, the
    gradient is shared instead of given to the first element; the ReLU in front
    passes none of it.)
    """
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _bn(axis_name, name, train):
    # PyTorch-style momentum 0.1 for the running statistics, as the rest of jaxgan.
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        axis_name=axis_name, name=name)


class Encoder(nn.Module):
    """The bottom-up classifier E: images -> ``{'fc3': [B, F], 'logits': [B, K]}``.

    ``classify(h)`` applies fc4 alone (E_1 of the paper: fc3 features -> logits),
    which is what G1's conditional loss feeds its features through.

    Example:
      >>> e = Encoder(num_classes=10, channels=(4, 4), feature_dim=16)
      >>> v = jax.eval_shape(e.init, jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
      >>> out = jax.eval_shape(e.apply, v, jnp.zeros((2, 28, 28, 1)))
      >>> out['fc3'].shape, out['logits'].shape
      ((2, 16), (2, 10))
    """

    num_classes: int
    channels: tuple[int, int] = (32, 32)
    feature_dim: int = 256
    fast_cpu_layers: bool = True

    def setup(self):
        # Built directly (not with layers.conv): setup names submodules by attribute.
        c1, c2 = self.channels
        conv_cls = FastConv if self.fast_cpu_layers else nn.Conv
        self.conv1 = conv_cls(c1, (5, 5), padding="VALID")
        self.conv2 = conv_cls(c2, (5, 5), padding="VALID")
        self.fc3 = nn.Dense(self.feature_dim)
        self.fc4 = nn.Dense(self.num_classes)

    def features(self, x):
        if x.ndim != 4:
            raise ModelConfigError(f"the encoder takes images [B, H, W, C], got {x.shape}")
        h = _max_pool(nn.relu(self.conv1(x)))
        h = _max_pool(nn.relu(self.conv2(h)))
        return nn.relu(self.fc3(h.reshape(h.shape[0], -1)))

    def classify(self, h):
        return self.fc4(h)

    def __call__(self, x):
        h = self.features(x)
        return {"fc3": h, "logits": self.classify(h)}


class TopGenerator(nn.Module):
    """G1: ``(z1 [B, Z1], labels [B])`` -> fc3 features ``[B, F]`` (non-negative, like E's).

    Example:
      >>> g = TopGenerator(num_classes=10, feature_dim=16, hidden=8)
      >>> v = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.zeros((2, 5)), jnp.zeros(2, int),
      ...                                   train=False))
      >>> sorted(v)
      ['batch_stats', 'params']
    """

    num_classes: int
    feature_dim: int = 256
    hidden: int = 512
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, z, labels, *, train: bool):
        h = jnp.concatenate([z, jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)], -1)
        for i in range(2):
            h = nn.Dense(self.hidden, kernel_init=_INIT, use_bias=False, name=f"dense{i}")(h)
            h = nn.relu(_bn(self.bn_axis_name, f"bn{i}", train)(h))
        return nn.relu(nn.Dense(self.feature_dim, kernel_init=_INIT, name="out")(h))


class BottomGenerator(nn.Module):
    """G0: ``(z0 [B, Z0], condition [B, F])`` -> images ``[B, S, S, C]`` in [-1, 1].

    ``condition`` is fc3 features (stacked SGAN) or a one-hot label (the
    single-stack baseline).

    Example:
      >>> g = BottomGenerator(image_size=28, channels=1, width=4, z_embed=8)
      >>> x, _ = jax.eval_shape(lambda: g.init_with_output(
      ...     jax.random.key(0), jnp.zeros((2, 3)), jnp.zeros((2, 16)), train=False))
      >>> x.shape
      (2, 28, 28, 1)
    """

    image_size: int
    channels: int
    width: int = 64
    z_embed: int = 128
    fast_cpu_layers: bool = True
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, z, condition, *, train: bool):
        s0, w, fast = start_size(self.image_size), self.width, self.fast_cpu_layers

        def bn_relu(h, name):
            return nn.relu(_bn(self.bn_axis_name, name, train)(h))

        e = bn_relu(nn.Dense(self.z_embed, kernel_init=_INIT, use_bias=False, name="embed")(z),
                    "bn_embed")
        h = jnp.concatenate([condition.astype(e.dtype), e], -1)
        h = nn.Dense(s0 * s0 * 2 * w, kernel_init=_INIT, use_bias=False, name="project")(h)
        h = bn_relu(h.reshape(h.shape[0], s0, s0, 2 * w), "bn0")
        h = bn_relu(conv_transpose_4x4(2 * w, fast=fast, use_bias=False, kernel_init=_INIT,
                                       name="up1")(h), "bn1")
        h = bn_relu(conv(w, (5, 5), padding=((4, 4), (4, 4)), use_bias=False, kernel_init=_INIT,
                         fast=fast, name="full2")(h), "bn2")
        h = bn_relu(conv_transpose_4x4(w, fast=fast, use_bias=False, kernel_init=_INIT,
                                       name="up3")(h), "bn3")
        h = conv(self.channels, (5, 5), padding=((4, 4), (4, 4)), kernel_init=_INIT, fast=fast,
                 name="full4")(h)
        return jnp.tanh(h.astype(jnp.float32))


class FeatureDiscriminator(nn.Module):
    """D1 with its Q head: fc3 features ``[B, F]`` -> (scores ``[B]``, z1 estimate ``[B, Z1]``).

    Scores are logits, higher = more real (jaxgan's critic sign).
    """

    z_dim: int
    hidden: int = 256

    @nn.compact
    def __call__(self, h):
        for i in range(2):
            h = nn.leaky_relu(nn.Dense(self.hidden, kernel_init=_D_INIT, name=f"dense{i}")(h), 0.2)
        score = nn.Dense(1, kernel_init=_D_INIT, name="score")(h)[:, 0]
        return score.astype(jnp.float32), nn.Dense(self.z_dim, kernel_init=_D_INIT, name="q")(h)


class ImageDiscriminator(nn.Module):
    """D0 with its Q head: images ``[B, S, S, C]`` -> (scores ``[B]``, z0 estimate ``[B, Z0]``).

    Example:
      >>> d = ImageDiscriminator(z_dim=3, width=4, hidden=8)
      >>> (s, q), _ = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0),
      ...                                                       jnp.zeros((2, 28, 28, 1))))
      >>> s.shape, q.shape
      ((2,), (2, 3))
    """

    z_dim: int
    width: int = 32
    hidden: int = 256
    fast_cpu_layers: bool = True

    @nn.compact
    def __call__(self, x):
        h = x
        for i in range(3):
            h = conv(self.width * 2 ** i, (5, 5), strides=2, padding=((2, 2), (2, 2)),
                     kernel_init=_D_INIT, fast=self.fast_cpu_layers, name=f"conv{i}")(h)
            h = nn.leaky_relu(h, 0.2)
        h = nn.leaky_relu(nn.Dense(self.hidden, kernel_init=_D_INIT, name="dense")(
            h.reshape(h.shape[0], -1)), 0.2)
        score = nn.Dense(1, kernel_init=_D_INIT, name="score")(h)[:, 0]
        return score.astype(jnp.float32), nn.Dense(self.z_dim, kernel_init=_D_INIT, name="q")(h)


class Networks(NamedTuple):
    """The five SGAN modules; ``g1`` and ``d1`` are None for the single-stack baseline."""

    encoder: Encoder
    g1: TopGenerator | None
    g0: BottomGenerator
    d1: FeatureDiscriminator | None
    d0: ImageDiscriminator


def bottom_z_dim(sgan_cfg) -> int:
    """G0's noise size: z0_dim stacked; z1_dim + z0_dim for the single-stack baseline.

    The baseline gets the same total noise as the stack it is compared with.
    """
    return sgan_cfg.z0_dim if sgan_cfg.stacked else sgan_cfg.z1_dim + sgan_cfg.z0_dim


def build_networks(config, *, bn_axis_name: str | None = None) -> Networks:
    """The modules ``config.sgan`` and ``config.data`` describe (no parameters yet)."""
    s, d = config.sgan, config.data
    fast = bool(config.model.get("fast_cpu_layers", True))
    start_size(d.image_size)
    encoder = Encoder(num_classes=d.num_classes, channels=tuple(s.enc_channels),
                      feature_dim=s.feature_dim, fast_cpu_layers=fast)
    g0 = BottomGenerator(image_size=d.image_size, channels=d.channels, width=s.g0_width,
                         z_embed=s.z0_embed, fast_cpu_layers=fast, bn_axis_name=bn_axis_name)
    d0 = ImageDiscriminator(z_dim=bottom_z_dim(s), width=s.d0_width, hidden=s.d0_hidden,
                            fast_cpu_layers=fast)
    if not s.stacked:
        return Networks(encoder, None, g0, None, d0)
    g1 = TopGenerator(num_classes=d.num_classes, feature_dim=s.feature_dim, hidden=s.g1_hidden,
                      bn_axis_name=bn_axis_name)
    d1 = FeatureDiscriminator(z_dim=s.z1_dim, hidden=s.d1_hidden)
    return Networks(encoder, g1, g0, d1, d0)
