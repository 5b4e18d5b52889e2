"""DCGAN generator and critic (Radford et al. 2016), with the LGA paper's n x n critic map.

Reference: Radford, Metz, Chintala, "Unsupervised Representation Learning with
Deep Convolutional Generative Adversarial Networks", ICLR 2016; the critic
without batch norm as in Gulrajani et al., "Improved Training of Wasserstein
GANs", NeurIPS 2017; the n x n critic map of "Spatially decomposed hinge
adversarial loss by Local Gradient Amplifier" (LGA).

Layers (w = ``width``; every up/down layer is 4x4 with stride 2 and PyTorch's
padding 1; ``C`` = image channels; ``N(0, 0.02)`` weight init throughout):

Generator, image size 32 (MNIST is padded 28 -> 32)::

    z -> Dense 4*4*4w (no bias) -> reshape 4x4x4w -> BN, ReLU
      -> ConvT 2w  8x8   -> BN, ReLU
      -> ConvT  w 16x16  -> BN, ReLU
      -> ConvT  C 32x32  -> tanh (or linear: ``output='linear'``)

Generator, image size 64: Dense 4*4*8w, then ConvT 4w (8x8), 2w (16x16),
w (32x32), each followed by BN, ReLU, and ConvT C (64x64) -> tanh.
With ``num_classes > 0`` and ``conditioning='projection'`` every BN is conditional
(per-class scale and offset); with ``conditioning='concat'`` (Mirza & Osindero's
CGAN) the one-hot label is joined to ``z`` and the BNs are plain.

Critic: the convs of the single-score critic (4x4 stride 2, widths ``w, 2w,
4w, ...`` down to 4x4), LeakyReLU(0.2) after each, no normalization
(``norm='layer'`` adds a per-example layer norm after every conv but the
first; ``norm='batch'`` a batch norm there instead, as the DCGAN paper's
discriminator, which then judges a batch: call it on real and on generated
batches separately, and never with a gradient penalty); for an n x n map the down-sampling convs that would shrink the map
below n become 3x3 stride-1 convs of the same width, so critics differ in
their map only (``critic_layers``)::

    size 32, n = 1: Conv w 16x16, Conv 2w 8x8, Conv 4w 4x4      -> Conv 1 4x4 VALID -> [B, 1, 1]
    size 32, n = 4: Conv w 16x16, Conv 2w 8x8, Conv 4w 4x4      -> Conv 1 1x1       -> [B, 4, 4]
    size 32, n = 8: Conv w 16x16, Conv 2w 8x8, Conv3x3 4w 8x8   -> Conv 1 1x1       -> [B, 8, 8]
    size 64, n = 1: Conv w 32, 2w 16, 4w 8, 8w 4x4              -> Conv 1 4x4 VALID -> [B, 1, 1]
    size 64, n = 4: Conv w 32, 2w 16, 4w 8, 8w 4x4              -> Conv 1 1x1       -> [B, 4, 4]
    size 64, n = 8: Conv w 32, 2w 16, 4w 8, Conv3x3 8w 8x8      -> Conv 1 1x1       -> [B, 8, 8]

Global context (``global_score=True``, map critics only): a second head reads
the same last features, down-samples them to 4x4 with 4x4 stride-2 convs of
the same width (LeakyReLU after each) and scores the whole image with a 4x4
valid conv, as the single-score critic does; that one score is added to every
cell. Each cell then judges its patch *and* the whole image, so a generator
cannot satisfy the map with one image whose patches all look like strokes.

For n = 1 the scoring layer is the 4x4 valid convolution with one filter, i.e.
a dense layer on the flattened 4x4 map (the WGAN-GP critic's last linear
layer); for n > 1 it is the 1x1 convolution with one filter. The features
(``return_features``) are the flattened map the scoring layer reads.

Conditional critic (``num_classes > 0``), by ``conditioning``:

* ``'projection'`` (Miyato & Koyama 2018): adds ``<embed(y), h>`` to the score,
  with ``h`` the flattened 4x4 map for n = 1 and each location's feature vector
  for n > 1 (spectrally normalized with the rest when ``spectral_norm``);
* ``'concat'`` (Mirza & Osindero 2014, in the convolutional form of the DCGAN
  code): the one-hot label as K constant planes joined to the image and again
  to the first conv's output, so the critic judges ``D(x | y)`` from its first
  layers on.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.errors import ModelConfigError
# GENERATOR_NORMS: the generator takes model.g_norm 'batch' or 'virtual'.
from jaxgan.models.vbn import (GENERATOR_NORMS, ReferenceLatents, VirtualBatchNorm,  # noqa: F401
                               check_generator_norm)
from jaxgan.models.minibatch import batch_features
from jaxgan.models.layers import (ConditionalBatchNorm, check_labels, conv, conv_transpose_4x4,
                                  maybe_sn, output_activation, projection)

SUPPORTED_IMAGE_SIZES = (32, 64)
CONDITIONINGS = ("projection", "concat")  # How labels enter conditional models.
CRITIC_NORMS = ("none", "layer", "batch")  # Normalization after the critic's convs but the first.
MINIBATCH_LAYERS = True  # The critic takes model.minibatch_kernels / minibatch_std.
# Critic maps each image size supports: the map is reached by halving the image.
SUPPORTED_CRITIC_MAPS = {32: (1, 4, 8), 64: (1, 4, 8)}
TINY = {"generator": {"width": 4, "z_dim": 8}, "critic": {"width": 4}}

_INIT = nn.initializers.normal(0.02)


def check(image_size: int, critic_map: int = 1) -> None:
    """Raise :class:`ModelConfigError` unless DCGAN can take this image size and critic map."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ModelConfigError(
            f"dcgan takes image sizes {SUPPORTED_IMAGE_SIZES}, not {image_size}: set "
            "data.image_size to one of them (the data pipeline pads or resizes), or use arch 'resnet' "
            "for 48")
    if critic_map not in SUPPORTED_CRITIC_MAPS[image_size]:
        raise ModelConfigError(
            f"dcgan at image size {image_size} makes critic maps {SUPPORTED_CRITIC_MAPS[image_size]}, "
            f"not {critic_map}: set model.critic_map to one of them")


def check_conditioning(conditioning: str) -> None:
    if conditioning not in CONDITIONINGS:
        raise ModelConfigError(f"dcgan conditioning must be one of {CONDITIONINGS}, not "
                               f"{conditioning!r}: set model.conditioning")


def label_planes(h: jax.Array, labels: jax.Array, num_classes: int) -> jax.Array:
    """``h [B, H, W, C]`` with the one-hot label joined as ``num_classes`` constant planes."""
    planes = jnp.broadcast_to(jax.nn.one_hot(labels, num_classes, dtype=h.dtype)[:, None, None, :],
                              h.shape[:3] + (num_classes,))
    return jnp.concatenate([h, planes], axis=-1)


def generator_channels(image_size: int, width: int) -> list[int]:
    """Channels of the 4x4 projection and of each up-sampling layer but the last."""
    n_up = {32: 3, 64: 4}[image_size]
    return [width * 2 ** (n_up - 1 - i) for i in range(n_up)]


def critic_layers(image_size: int, width: int, critic_map: int) -> list[tuple[int, int]]:
    """``(channels, stride)`` of each critic conv before the scoring layer.

    Every critic has the depth and widths of the single-score critic (4x4
    stride-2 convs of ``w, 2w, 4w, ...`` down to 4x4), so critics with
    different maps differ in the map only: the down-sampling convs that would
    shrink the map below ``n`` become 3x3 stride-1 convs of the same width.
    Without them an 8x8 map at 32x32 would come from two convs whose 10-pixel
    windows see stroke fragments, not digits: on MNIST (hinge + sign-preserving
    LGA, width 32) that critic's mean real-minus-fake score after 300 steps was
    0.76, against 4.7 with the stride-1 conv.
    """
    depth = (image_size // 4).bit_length() - 1
    n_down = (image_size // max(critic_map, 4)).bit_length() - 1
    return [(width * 2 ** i, 2 if i < n_down else 1) for i in range(depth)]


class Generator(nn.Module):
    """DCGAN generator: ``z [B, z_dim]`` (and labels) -> images ``[B, S, S, C]`` in [-1, 1].

    Example:
      >>> g = Generator(image_size=32, channels=1, width=4, z_dim=8)
      >>> x, v = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), jnp.zeros((2, 8)),
      ...                                                   train=False))
      >>> x.shape, sorted(v)
      ((2, 32, 32, 1), ['batch_stats', 'params'])
    """

    image_size: int
    channels: int
    width: int
    z_dim: int
    num_classes: int = 0
    fast_cpu_layers: bool = False
    bn_axis_name: str | None = None  # Synchronised batch norm over this mapped axis.
    output: str = "tanh"  # 'tanh', or 'linear' (clipped to [-1, 1] only when images are written).
    conditioning: str = "projection"  # Labels through the BNs, or 'concat': one-hot joined to z.
    # 'batch', or 'virtual': virtual batch norm over a fixed reference batch of vbn_reference
    # latents drawn from z_prior (jaxgan.models.vbn).
    norm: str = "batch"
    vbn_reference: int = 64
    z_prior: str = "normal"

    @nn.compact
    def __call__(self, z, labels=None, *, train: bool):
        check(self.image_size)
        check_conditioning(self.conditioning)
        if z.ndim != 2 or z.shape[-1] != self.z_dim:
            raise ModelConfigError(f"the generator takes z of shape [B, {self.z_dim}], got {z.shape}")
        check_labels(labels, self.num_classes, z.shape[0])
        concat = self.num_classes > 0 and self.conditioning == "concat"
        bn_classes = 0 if concat else self.num_classes

        check_generator_norm(self.norm, self.num_classes)
        virtual = self.norm == "virtual"
        if virtual:  # The reference rows run in front of the batch, and are dropped at the end.
            z = ReferenceLatents(self.vbn_reference, self.z_prior, name="reference")(z)

        def bn_relu(h, name):
            if virtual:
                return nn.relu(VirtualBatchNorm(self.vbn_reference, name=name)(h))
            bn = ConditionalBatchNorm(bn_classes, axis_name=self.bn_axis_name, name=name)
            return nn.relu(bn(h, labels, train=train))

        chans = generator_channels(self.image_size, self.width)
        if concat:
            z = jnp.concatenate([z, jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)], -1)
        h = nn.Dense(16 * chans[0], use_bias=False, kernel_init=_INIT, name="project")(z)
        h = bn_relu(h.reshape(z.shape[0], 4, 4, chans[0]), "bn0")
        for i, c in enumerate(chans[1:], start=1):
            h = conv_transpose_4x4(c, fast=self.fast_cpu_layers, use_bias=False, kernel_init=_INIT,
                                   name=f"up{i}")(h)
            h = bn_relu(h, f"bn{i}")
        h = conv_transpose_4x4(self.channels, fast=self.fast_cpu_layers, kernel_init=_INIT,
                               name=f"up{len(chans)}")(h)
        if virtual:
            h = h[self.vbn_reference:]
        return output_activation(h.astype(jnp.float32), self.output)


class Critic(nn.Module):
    """DCGAN critic: images ``[B, S, S, C]`` -> scores ``[B, n, n]`` (higher = more real).

    No batch norm by default: every example is scored on its own, as gradient
    penalties need (``norm='batch'`` is the DCGAN paper's critic, synchronised
    over ``bn_axis_name``). ``spectral_norm`` normalizes every conv (and the class
    embedding).

    Example:
      >>> d = Critic(image_size=32, channels=1, width=4, critic_map=4)
      >>> s, v = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), jnp.zeros((2, 32, 32, 1)),
      ...                                                   train=False))
      >>> s.shape
      (2, 4, 4)
    """

    image_size: int
    channels: int
    width: int
    critic_map: int = 1
    num_classes: int = 0
    spectral_norm: bool = False
    fast_cpu_layers: bool = False
    norm: str = "none"  # 'none', 'layer' (per example, over H, W, C) or 'batch' (DCGAN's).
    bn_axis_name: str | None = None  # norm='batch': synchronised statistics over this axis.
    global_score: bool = False  # Map critics: add a whole-image score to every cell.
    conditioning: str = "projection"  # Labels by projection, or 'concat': one-hot planes.
    # Minibatch layers before the score (jaxgan.models.minibatch): discrimination kernels
    # (0: none) of minibatch_kernel_dim, and the standard deviation over groups (0: none).
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    minibatch_std: int = 0

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool, return_features: bool = False):
        check(self.image_size, self.critic_map)
        check_conditioning(self.conditioning)
        if self.norm not in CRITIC_NORMS:
            raise ModelConfigError(f"dcgan critic norm must be one of {CRITIC_NORMS}, not "
                                   f"{self.norm!r}: set model.d_norm")
        want = (self.image_size, self.image_size, self.channels)
        if x.ndim != 4 or x.shape[1:] != want:
            raise ModelConfigError(
                f"this critic takes images [B, {want[0]}, {want[1]}, {want[2]}], got {x.shape}; "
                "make data.image_size / data.channels match the model")
        check_labels(labels, self.num_classes, x.shape[0])
        if self.global_score and self.critic_map == 1:
            raise ModelConfigError("global_score adds a whole-image score to each cell of a map; "
                                   "a 1x1 critic's one score is already global: set critic_map to "
                                   "4 or 8, or global_score to False")
        fast, sn = self.fast_cpu_layers, self.spectral_norm
        concat = self.num_classes > 0 and self.conditioning == "concat"
        h = label_planes(x, labels, self.num_classes) if concat else x
        for i, (c, stride) in enumerate(critic_layers(self.image_size, self.width, self.critic_map)):
            if concat and i == 1:
                h = label_planes(h, labels, self.num_classes)
            # A bias before batch norm is cancelled by it (its true gradient is 0).
            bias = not (self.norm == "batch" and i > 0)
            if stride == 2:
                layer = conv(c, (4, 4), strides=2, padding=((1, 1), (1, 1)), kernel_init=_INIT,
                             fast=fast, use_bias=bias, name=f"down{i}")
            else:
                layer = conv(c, (3, 3), padding=((1, 1), (1, 1)), kernel_init=_INIT, fast=fast,
                             use_bias=bias, name=f"same{i}")
            h = maybe_sn(layer, h, enabled=sn, train=train)
            if self.norm == "layer" and i > 0:
                h = nn.LayerNorm(reduction_axes=(1, 2, 3), name=f"ln{i}")(h)
            elif self.norm == "batch" and i > 0:
                h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                 axis_name=self.bn_axis_name, name=f"bn{i}")(h)
            h = nn.leaky_relu(h, 0.2)
        features = h.reshape(h.shape[0], -1)
        if self.critic_map == 1:
            head = conv(1, (4, 4), padding="VALID", kernel_init=_INIT, fast=fast, name="score")
        else:
            head = conv(1, (1, 1), kernel_init=_INIT, fast=fast, name="score")
        if self.minibatch_kernels or self.minibatch_std:
            if self.critic_map != 1:
                raise ModelConfigError("the minibatch layers feed a critic's one score; a map "
                                       "critic has many: set critic_map=1")
            h_scored = batch_features(h, kernels=self.minibatch_kernels,
                                kernel_dim=self.minibatch_kernel_dim,
                                std_group=self.minibatch_std, axis_name=self.bn_axis_name)
        else:
            h_scored = h
        scores = maybe_sn(head, h_scored, enabled=sn, train=train)[..., 0]
        if self.global_score:
            scores = scores + self._global_score(h, train)
        if self.num_classes and not concat:
            read = features if self.critic_map == 1 else h
            scores = scores + projection(read, labels, num_classes=self.num_classes, spectral_norm=sn,
                                         train=train).reshape(scores.shape)
        scores = scores.astype(jnp.float32)
        return (scores, features) if return_features else scores

    def _global_score(self, h, train):
        """``[B, 1, 1]``: the map's features down-sampled to 4x4 and scored as one image."""
        fast, sn, width = self.fast_cpu_layers, self.spectral_norm, h.shape[-1]
        for i in range((h.shape[1] // 4).bit_length() - 1):
            layer = conv(width, (4, 4), strides=2, padding=((1, 1), (1, 1)), kernel_init=_INIT,
                         fast=fast, name=f"global_down{i}")
            h = nn.leaky_relu(maybe_sn(layer, h, enabled=sn, train=train), 0.2)
        head = conv(1, (4, 4), padding="VALID", kernel_init=_INIT, fast=fast, name="global_score")
        return maybe_sn(head, h, enabled=sn, train=train)[..., 0]
