"""SNGAN ResNet generator and discriminator (Miyato et al. 2018), with the LGA 4x4 critic map.

Reference: Miyato, Kataoka, Koyama, Yoshida, "Spectral Normalization for
Generative Adversarial Networks", ICLR 2018 (the CIFAR-10 / STL-10 ResNets);
Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018; the 4x4
map of "Spatially decomposed hinge adversarial loss by Local Gradient
Amplifier" (LGA).

Layers (w = ``width``; full width w = 64 gives SNGAN's 256 generator and 128
discriminator channels; every conv 3x3 'SAME' but the 1x1 shortcuts)::

    Generator: z -> Dense b*b*4w -> reshape b x b x 4w
               -> k x GBlock(4w, up) -> BN, ReLU -> Conv 3x3 C -> tanh
      size 32: b = 4, k = 3 (CIFAR-10);  48: b = 6, k = 3 (STL-10);  64: b = 4, k = 4
      GBlock(c, up): BN, ReLU, up 2x, Conv c, BN, ReLU, Conv c  +  Conv 1x1 c, up 2x

    Discriminator (spectral norm on every layer, always):
      OptBlock(2w, down) -> DBlock(2w, down) [-> DBlock(2w, down) for 64] -> 2 x DBlock(2w)
      size 32: 32 -> 16 -> 8 -> 8 -> 8;  48: 48 -> 24 -> 12 -> 12 -> 12;  64: ... -> 8 -> 8
      OptBlock(c): Conv c, ReLU, Conv c, avg-pool 2  +  avg-pool 2, Conv 1x1 c
      DBlock(c, down): ReLU, Conv c, ReLU, Conv c, [avg-pool 2]  +  [Conv 1x1 c, avg-pool 2] or x
      head, critic_map 1: ReLU, sum over H, W -> SN Dense 1                  -> [B, 1, 1]
      head, critic_map 4: ReLU, mean over 2x2 windows of the 8x8 map (3x3 windows of the
                          12x12 map at 48), x 64 (x 144) -> SN Dense 1 at each of the 4x4
                          locations                                         -> [B, 4, 4]

With ``num_classes > 0`` the generator's batch norms are class-conditional and
the discriminator adds the projection ``<SN embed(y), h>`` of what its last
layer reads (each location's vector for the 4x4 map). Initialization follows
SNGAN: Glorot-uniform, gain sqrt(2) inside residual branches, 1 elsewhere.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.errors import ModelConfigError
from jaxgan.models.layers import (ConditionalBatchNorm, avg_pool_2x2, check_labels, conv, maybe_sn,
                                  output_activation, projection, upsample_2x)

SUPPORTED_IMAGE_SIZES = (32, 48, 64)
# The 4x4 map pools the final feature map (8x8; 12x12 at 48) in 2x2 (3x3) windows.
SUPPORTED_CRITIC_MAPS = {32: (1, 4), 48: (1, 4), 64: (1, 4)}
TINY = {"generator": {"width": 2, "z_dim": 8}, "critic": {"width": 2}}

_BLOCK_INIT = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")  # Glorot, gain sqrt(2).
_INIT = nn.initializers.xavier_uniform()
_G_PLAN = {32: (4, 3), 48: (6, 3), 64: (4, 4)}  # (base size, up blocks)
_D_DOWN = {32: 2, 48: 2, 64: 3}  # down-sampling blocks, then two plain blocks


def check(image_size: int, critic_map: int = 1) -> None:
    """Raise :class:`ModelConfigError` unless the ResNet can take this image size and critic map."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ModelConfigError(
            f"resnet takes image sizes {SUPPORTED_IMAGE_SIZES}, not {image_size}: set "
            "data.image_size to one of them (the data pipeline pads or resizes)")
    if critic_map not in SUPPORTED_CRITIC_MAPS[image_size]:
        raise ModelConfigError(
            f"resnet at image size {image_size} makes critic maps {SUPPORTED_CRITIC_MAPS[image_size]}, "
            f"not {critic_map}: set model.critic_map to one of them")


class _GBlock(nn.Module):
    features: int
    num_classes: int
    fast: bool
    bn_axis_name: str | None

    @nn.compact
    def __call__(self, x, labels, *, train: bool):
        def bn(name):
            return ConditionalBatchNorm(self.num_classes, axis_name=self.bn_axis_name, name=name)

        h = upsample_2x(nn.relu(bn("bn1")(x, labels, train=train)))
        h = conv(self.features, (3, 3), kernel_init=_BLOCK_INIT, fast=self.fast, name="conv1")(h)
        h = nn.relu(bn("bn2")(h, labels, train=train))
        h = conv(self.features, (3, 3), kernel_init=_BLOCK_INIT, fast=self.fast, name="conv2")(h)
        # A 1x1 conv commutes with nearest up-sampling: convolving first is the same, 4x cheaper.
        s = upsample_2x(conv(self.features, (1, 1), kernel_init=_INIT, fast=self.fast, name="shortcut")(x))
        return h + s


class _DBlock(nn.Module):
    features: int
    down: bool
    first: bool  # The SNGAN "optimized" first block: no ReLU before its first conv, pool first.
    fast: bool

    @nn.compact
    def __call__(self, x, *, train: bool):
        def sn_conv(h, k, name, init):
            layer = conv(self.features, (k, k), kernel_init=init, fast=self.fast, name=name)
            return maybe_sn(layer, h, enabled=True, train=train)

        h = x if self.first else nn.relu(x)
        h = sn_conv(h, 3, "conv1", _BLOCK_INIT)
        h = sn_conv(nn.relu(h), 3, "conv2", _BLOCK_INIT)
        if self.down:
            h = avg_pool_2x2(h)
        if self.first:
            s = sn_conv(avg_pool_2x2(x), 1, "shortcut", _INIT)
        elif self.down or x.shape[-1] != self.features:
            s = sn_conv(x, 1, "shortcut", _INIT)
            s = avg_pool_2x2(s) if self.down else s
        else:
            s = x
        return h + s


class Generator(nn.Module):
    """SNGAN ResNet generator: ``z [B, z_dim]`` (and labels) -> images ``[B, S, S, C]`` in [-1, 1].

    Example:
      >>> g = Generator(image_size=48, channels=3, width=2, z_dim=8)
      >>> x, _ = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), jnp.zeros((2, 8)),
      ...                                                   train=False))
      >>> x.shape
      (2, 48, 48, 3)
    """

    image_size: int
    channels: int
    width: int
    z_dim: int
    num_classes: int = 0
    fast_cpu_layers: bool = False
    bn_axis_name: str | None = None  # Synchronised batch norm over this mapped axis.
    output: str = "tanh"  # 'tanh', or 'linear' (clipped to [-1, 1] only when images are written).

    @nn.compact
    def __call__(self, z, labels=None, *, train: bool):
        check(self.image_size)
        if z.ndim != 2 or z.shape[-1] != self.z_dim:
            raise ModelConfigError(f"the generator takes z of shape [B, {self.z_dim}], got {z.shape}")
        check_labels(labels, self.num_classes, z.shape[0])
        base, n_up = _G_PLAN[self.image_size]
        ch = 4 * self.width
        h = nn.Dense(base * base * ch, kernel_init=_INIT, name="project")(z)
        h = h.reshape(z.shape[0], base, base, ch)
        for i in range(n_up):
            h = _GBlock(ch, self.num_classes, self.fast_cpu_layers, self.bn_axis_name,
                        name=f"block{i + 1}")(h, labels, train=train)
        bn = ConditionalBatchNorm(self.num_classes, axis_name=self.bn_axis_name, name="bn_out")
        h = nn.relu(bn(h, labels, train=train))
        h = conv(self.channels, (3, 3), kernel_init=_INIT, fast=self.fast_cpu_layers, name="conv_out")(h)
        return output_activation(h.astype(jnp.float32), self.output)


class Critic(nn.Module):
    """SNGAN ResNet discriminator: images ``[B, S, S, C]`` -> scores ``[B, n, n]`` (higher = more real).

    Spectral norm is always on (``spectral_norm`` is accepted so every arch
    takes the same arguments). No batch norm: examples are scored independently.

    Example:
      >>> d = Critic(image_size=32, channels=3, width=2, critic_map=4)
      >>> (s, f), _ = jax.eval_shape(lambda: d.init_with_output(
      ...     jax.random.key(0), jnp.zeros((2, 32, 32, 3)), train=False, return_features=True))
      >>> s.shape, f.shape
      ((2, 4, 4), (2, 64))
    """

    image_size: int
    channels: int
    width: int
    critic_map: int = 1
    num_classes: int = 0
    spectral_norm: bool = True
    fast_cpu_layers: bool = False

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool, return_features: bool = False):
        check(self.image_size, self.critic_map)
        want = (self.image_size, self.image_size, self.channels)
        if x.ndim != 4 or x.shape[1:] != want:
            raise ModelConfigError(
                f"this critic takes images [B, {want[0]}, {want[1]}, {want[2]}], got {x.shape}; "
                "make data.image_size / data.channels match the model")
        check_labels(labels, self.num_classes, x.shape[0])
        ch, n_down = 2 * self.width, _D_DOWN[self.image_size]
        h = x
        for i in range(n_down + 2):
            h = _DBlock(ch, down=i < n_down, first=i == 0, fast=self.fast_cpu_layers,
                        name=f"block{i + 1}")(h, train=train)
        h = nn.relu(h)
        if self.critic_map == 1:
            h = jnp.sum(h, axis=(1, 2))  # [B, ch]
        else:
            # Each of the 4x4 scores reads the mean of its window; x side^2 = the positions the
            # global head sums over, so a local score has the scale of the global one.
            b, side, _, c = h.shape
            w = side // self.critic_map
            h = h.reshape(b, self.critic_map, w, self.critic_map, w, c).mean(axis=(2, 4))
            h = h * float(side * side)  # [B, 4, 4, ch]
        head = nn.Dense(1, kernel_init=_INIT, name="score")
        scores = maybe_sn(head, h, enabled=True, train=train)[..., 0]
        if self.num_classes:
            scores = scores + projection(h, labels, num_classes=self.num_classes, spectral_norm=True,
                                         train=train)
        scores = scores.reshape(x.shape[0], self.critic_map, self.critic_map).astype(jnp.float32)
        features = h.reshape(x.shape[0], -1)
        return (scores, features) if return_features else scores
