"""CycleGAN's networks at small image sizes: the ResNet generator and the PatchGAN discriminator.

Zhu et al. 2017 (appendix 7.2) build the generator of Johnson et al. 2016
and the 70x70 PatchGAN of Isola et al. 2017. In their notation, with ``w``
= ``width`` (64 in the paper) and ``C`` the output channels::

    ResnetGenerator: c7s1-w, d2w, d4w, R4w x blocks, u2w, uw, c7s1-C, tanh
      c7s1-k  reflection pad 3, 7x7 conv (stride 1) with k filters, norm, ReLU
      dk      3x3 conv, stride 2, zero pad 1, k filters, norm, ReLU      (S -> S/2)
      Rk      reflection pad 1, 3x3 conv, norm, ReLU,
              reflection pad 1, 3x3 conv, norm, + the block's input
      uk      3x3 transposed conv, stride 2, k filters, norm, ReLU      (S -> 2S)
    The last c7s1-C has no norm and no ReLU, a tanh instead: images in [-1, 1].

    PatchDiscriminator: C(w) s2, C(2w) s2, ..., C(min(2^(L-1), 8) w) s2  (L = layers),
      C(min(2^L, 8) w) s1, then a 4x4 stride-1 conv to 1 channel
      C(k) sN  4x4 conv, stride N, zero pad 1, k filters, norm, LeakyReLU(0.2);
               the first has no norm.

The up-sampling layers are transposed convolutions (the paper's "fractionally
strided" convolutions), as the authors' code builds them: ``ConvTranspose2d(k,
3, stride=2, padding=1, output_padding=1)``, i.e. ``lax.conv_transpose`` of the
2x zero-dilated input padded by 1 before and 2 after, with the kernel flipped
(``transpose_kernel=True``). The output is then exactly twice the input, so
28 -> 14 -> 7 comes back to 7 -> 14 -> 28 (and 32 -> 8 -> 32, 64 -> 16 -> 64).

The discriminator's layout is that of the authors' code, whose ``n_layers=3``
default is the paper's 70x70 PatchGAN: the paper's table lists C64-C128-C256-C512
all with stride 2, but the code runs the last C(8w) at stride 1, and only
that layout has the 70x70 receptive field the paper reports. Each score of the
output map ``[B, n, n]`` sees a ``receptive_field(layers)`` square of the input
(zero padding included); higher = more real, no sigmoid. At the sizes here:

    =======  ==========  ==========  ==========  ===============
    layers   RF          map at 28   map at 32   map at 64
    =======  ==========  ==========  ==========  ===============
    1        16x16       12x12       14x14       30x30
    2        34x34       5x5         6x6         14x14
    3        70x70       1x1         2x2         6x6
    4        142x142     --          --          2x2
    =======  ==========  ==========  ==========  ===============

So at 28-32 pixels ``layers=1`` or ``2`` are the "patch" discriminators (a
34x34 field already covers a 28x28 digit); ``layers=3``, the paper's default,
judges the whole image.

Norms: ``'instance'`` normalises each channel of each example over its H x W
positions, then applies a learned scale (init 1) and offset (init 0)
(Ulyanov et al. 2016; ``flax.linen.InstanceNorm``, epsilon 1e-5 as PyTorch):
no statistic is shared between examples, so an image's output never depends
on the rest of the batch, and there are no running averages to thread.
``'none'`` leaves it out. Convolutions followed by a norm have no bias (the
norm's offset replaces it); the others do. Weights are N(0, 0.02) and biases
0, the paper's initialisation.

``fast_cpu_layers=True`` swaps the stock ``nn.Conv`` for its exact XLA:CPU
rewrite (:mod:`jaxgan.models.fast_conv`), same parameters, faster weight
gradients on CPU; the two transposed convolutions stay stock.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.errors import ModelConfigError
from jaxgan.models.layers import conv

SUPPORTED_IMAGE_SIZES = (28, 32, 64)
NORMS = ("instance", "none")
TINY = {"generator": {"width": 4, "blocks": 1}, "discriminator": {"width": 4, "layers": 2}}

_INIT = nn.initializers.normal(0.02)
_PAD1 = ((1, 1), (1, 1))


def _int_at_least(value, minimum: int, field: str, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ModelConfigError(f"CycleGAN {field}={value!r} must be an integer >= {minimum}: {fix}")


def patch_map_size(image_size: int, layers: int) -> int:
    """The side of :class:`PatchDiscriminator`'s score map for ``image_size`` inputs.

    Each stride-2 4x4 convolution with padding 1 maps ``n`` to ``floor(n / 2)``,
    each stride-1 one maps ``n`` to ``n - 1``: ``floor(S / 2^layers) - 2``.

    Example:
      >>> [patch_map_size(64, layers) for layers in (1, 2, 3)]
      [30, 14, 6]
    """
    n = image_size
    for _ in range(layers):
        n = (n + 2 - 4) // 2 + 1
    return n - 2


def receptive_field(layers: int) -> int:
    """The side of the input square each score of :class:`PatchDiscriminator` sees.

    ``r = 1`` at the output, then ``r <- (r - 1) * stride + 4`` back through
    every 4x4 layer.

    Example:
      >>> [receptive_field(layers) for layers in (1, 2, 3)]
      [16, 34, 70]
    """
    r = 1
    for stride in [1, 1] + [2] * layers:  # From the output back to the input.
        r = (r - 1) * stride + 4
    return r


def check(image_size: int, width: int = 32, blocks: int = 6, layers: int = 3,
          norm: str = "instance") -> None:
    """Raise :class:`ModelConfigError` (cause and fix) unless both networks take these settings.

    Example:
      >>> check(28, width=8, blocks=2, layers=4)
      Traceback (most recent call last):
      ...
      jaxgan.models.errors.ModelConfigError: a 4-layer PatchGAN at image size 28 ...
    """
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ModelConfigError(f"the CycleGAN networks take image sizes {SUPPORTED_IMAGE_SIZES}, "
                               f"not {image_size!r}: set data.image_size to one of them")
    _int_at_least(width, 1, "width",
                  "set the networks' width to a positive integer (the paper: 64)")
    _int_at_least(blocks, 0, "blocks",
                  "set the number of residual blocks to 0 or more (the paper: 6 at 128x128)")
    _int_at_least(layers, 1, "layers",
                  "set the discriminator's stride-2 layers to 1 or more (the paper: 3)")
    if norm not in NORMS:
        raise ModelConfigError(f"the CycleGAN networks' norm must be one of {NORMS}, not "
                               f"{norm!r}: 'instance' is the paper's")
    if patch_map_size(image_size, layers) < 1:
        fit = max(n for n in range(1, layers) if patch_map_size(image_size, n) >= 1)
        raise ModelConfigError(
            f"a {layers}-layer PatchGAN at image size {image_size} leaves no score map (each "
            f"stride-2 layer halves the image, then two 4x4 convs shrink it by 3): set the "
            f"discriminator's layers to at most {fit} at this size")


def _check_input(x, what: str, width: int, blocks: int, layers: int, norm: str) -> None:
    if x.ndim != 4 or x.shape[1] != x.shape[2]:
        raise ModelConfigError(f"the CycleGAN {what} takes square NHWC images [B, S, S, C], got "
                               f"{x.shape}")
    check(x.shape[1], width, blocks, layers, norm)


def _norm(h, norm: str, name: str):
    if norm == "none":
        return h
    return nn.InstanceNorm(epsilon=1e-5, use_fast_variance=False, name=name)(h)


def _reflect(h, pad: int):
    """Reflection padding of H and W, the edge not repeated (PyTorch's ReflectionPad2d)."""
    return jnp.pad(h, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class ResnetGenerator(nn.Module):
    """Images ``[B, S, S, C_in]`` -> images ``[B, S, S, channels]`` in [-1, 1].

    ``C_in`` is whatever the input has (MNIST's 1 channel to MNIST-M's 3, or
    back); ``S`` is 28, 32 or 64.

    Example:
      >>> g = ResnetGenerator(channels=3, width=4, blocks=1)
      >>> x = jnp.zeros((2, 28, 28, 1))
      >>> y, _ = jax.eval_shape(lambda: g.init_with_output(jax.random.key(0), x))
      >>> y.shape
      (2, 28, 28, 3)
    """

    channels: int
    width: int = 32
    blocks: int = 6
    norm: str = "instance"
    fast_cpu_layers: bool = False

    @nn.compact
    def __call__(self, x):
        _check_input(x, "generator", self.width, self.blocks, 1, self.norm)
        _int_at_least(self.channels, 1, "channels", "set the output channels (1 gray, 3 RGB)")
        fast, w, bias = self.fast_cpu_layers, self.width, self.norm == "none"

        def conv_norm_relu(h, features, kernel, stride, padding, name):
            h = conv(features, (kernel, kernel), strides=stride, padding=padding, use_bias=bias,
                     kernel_init=_INIT, fast=fast, name=name)(h)
            return nn.relu(_norm(h, self.norm, f"{name}_norm"))

        h = conv_norm_relu(_reflect(x, 3), w, 7, 1, "VALID", "c7s1")
        h = conv_norm_relu(h, 2 * w, 3, 2, _PAD1, "down0")
        h = conv_norm_relu(h, 4 * w, 3, 2, _PAD1, "down1")
        for i in range(self.blocks):
            r = conv_norm_relu(_reflect(h, 1), 4 * w, 3, 1, "VALID", f"block{i}_conv0")
            r = conv(4 * w, (3, 3), padding="VALID", use_bias=bias, kernel_init=_INIT, fast=fast,
                     name=f"block{i}_conv1")(_reflect(r, 1))
            h = h + _norm(r, self.norm, f"block{i}_conv1_norm")
        for i, features in enumerate((2 * w, w)):
            # PyTorch's ConvTranspose2d(3, stride 2, padding 1, output_padding 1): exactly 2x.
            h = nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding=((1, 2), (1, 2)),
                                 transpose_kernel=True, use_bias=bias, kernel_init=_INIT,
                                 name=f"up{i}")(h)
            h = nn.relu(_norm(h, self.norm, f"up{i}_norm"))
        h = conv(self.channels, (7, 7), padding="VALID", kernel_init=_INIT, fast=fast,
                 name="to_image")(_reflect(h, 3))
        return jnp.tanh(h.astype(jnp.float32))


class PatchDiscriminator(nn.Module):
    """Images ``[B, S, S, C]`` -> patch scores ``[B, n, n]`` (a logit each; higher = more real).

    ``n = patch_map_size(S, layers)``; each score sees a
    ``receptive_field(layers)`` square of the input (see the module docstring).

    Example:
      >>> d = PatchDiscriminator(width=4, layers=2)
      >>> x = jnp.zeros((2, 32, 32, 3))
      >>> s, _ = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), x))
      >>> s.shape
      (2, 6, 6)
    """

    width: int = 32
    layers: int = 3
    norm: str = "instance"
    fast_cpu_layers: bool = False

    @nn.compact
    def __call__(self, x):
        _check_input(x, "discriminator", self.width, 0, self.layers, self.norm)
        fast, bias = self.fast_cpu_layers, self.norm == "none"
        h = conv(self.width, (4, 4), strides=2, padding=_PAD1, kernel_init=_INIT, fast=fast,
                 name="conv0")(x)
        h = nn.leaky_relu(h, 0.2)
        # The width doubles per layer up to 8w, as in the authors' code.
        for i, stride in enumerate([2] * (self.layers - 1) + [1], start=1):
            h = conv(self.width * min(2 ** i, 8), (4, 4), strides=stride, padding=_PAD1,
                     use_bias=bias, kernel_init=_INIT, fast=fast, name=f"conv{i}")(h)
            h = nn.leaky_relu(_norm(h, self.norm, f"conv{i}_norm"), 0.2)
        h = conv(1, (4, 4), padding=_PAD1, kernel_init=_INIT, fast=fast, name="to_score")(h)
        return h[..., 0].astype(jnp.float32)
