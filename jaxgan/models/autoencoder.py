"""The autoencoder discriminator of the energy-based GANs (EBGAN, BEGAN).

An energy-based critic judges an image by how well it reconstructs it: the
systems (:mod:`jaxgan.systems.ebgan`, :mod:`jaxgan.systems.began`) turn the
reconstruction into an energy (lower = more real). This is the autoencoder
Lucic et al. (2018) train BEGAN with on MNIST and Fashion-MNIST, beside the
InfoGAN critic of the other losses (:mod:`jaxgan.models.infogan_arch`), which
shares its two convolutions::

    Encoder: x -> Conv w 4x4 s2 (S/2) -> LeakyReLU(0.2) -> Conv 2w 4x4 s2 (S/4)
               -> flatten -> Dense code_dim -> [norm] -> LeakyReLU          = the code
    Decoder: code -> Dense 2w*(S/4)^2 -> [norm] -> LeakyReLU -> reshape
               -> ConvT w (S/2) -> [norm] -> LeakyReLU -> ConvT C (S) -> tanh

(w = ``width``, 64 in their code; ``code_dim`` 64; ``S`` = image size.) The
encoder's second convolution has no activation before the code layer, as in
their code. ``norm='batch'`` adds the batch norms in brackets (their
"discriminator_batchnorm"; their BEGAN default is without); ``'none'`` leaves
them out. Weights are ``N(0, 0.02)``. The output is in [-1, 1] as the images.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.errors import ModelConfigError
from jaxgan.models.layers import conv, conv_transpose_4x4

SUPPORTED_IMAGE_SIZES = (28, 32, 64)
NORMS = ("none", "batch")
TINY = {"width": 4, "code_dim": 8}

_INIT = nn.initializers.normal(0.02)


def check(image_size: int, norm: str = "none") -> None:
    """Raise :class:`ModelConfigError` unless the autoencoder takes this image size and norm."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ModelConfigError(f"the autoencoder critic takes image sizes {SUPPORTED_IMAGE_SIZES}, "
                               f"not {image_size}: set data.image_size to one of them")
    if norm not in NORMS:
        raise ModelConfigError(f"the autoencoder critic's norm must be one of {NORMS}, not "
                               f"{norm!r}: set model.d_norm")


class Autoencoder(nn.Module):
    """Images ``[B, S, S, C]`` -> ``(reconstruction [B, S, S, C], code [B, code_dim])``.

    Example:
      >>> ae = Autoencoder(image_size=28, channels=1, width=4, code_dim=8)
      >>> (r, code), _ = jax.eval_shape(lambda: ae.init_with_output(
      ...     jax.random.key(0), jnp.zeros((2, 28, 28, 1)), train=False))
      >>> r.shape, code.shape
      ((2, 28, 28, 1), (2, 8))
    """

    image_size: int
    channels: int
    width: int = 64
    code_dim: int = 64
    norm: str = "none"
    fast_cpu_layers: bool = False
    bn_axis_name: str | None = None  # norm='batch': synchronised statistics over this axis.

    def _norm(self, h, *, train: bool, name: str):
        if self.norm != "batch":
            return h
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                            axis_name=self.bn_axis_name, name=name)(h)

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool):
        del labels  # Unconditional: the energy-based systems judge images alone.
        check(self.image_size, self.norm)
        want = (self.image_size, self.image_size, self.channels)
        if x.ndim != 4 or x.shape[1:] != want:
            raise ModelConfigError(
                f"this autoencoder takes images [B, {want[0]}, {want[1]}, {want[2]}], got "
                f"{x.shape}; make data.image_size / data.channels match the model")
        fast, pad, bias = self.fast_cpu_layers, ((1, 1), (1, 1)), self.norm != "batch"
        h = conv(self.width, (4, 4), strides=2, padding=pad, kernel_init=_INIT, fast=fast,
                 name="enc0")(x)
        h = conv(2 * self.width, (4, 4), strides=2, padding=pad, kernel_init=_INIT, fast=fast,
                 name="enc1")(nn.leaky_relu(h, 0.2))
        h = nn.Dense(self.code_dim, use_bias=bias, kernel_init=_INIT, name="code")(
            h.reshape(h.shape[0], -1))
        code = nn.leaky_relu(self._norm(h, train=train, name="bn_code"), 0.2)

        side = self.image_size // 4
        h = nn.Dense(2 * self.width * side * side, use_bias=bias, kernel_init=_INIT,
                     name="dec_fc")(code)
        h = nn.leaky_relu(self._norm(h, train=train, name="bn_dec0"), 0.2)
        h = h.reshape(x.shape[0], side, side, 2 * self.width)
        h = conv_transpose_4x4(self.width, fast=fast, use_bias=bias, kernel_init=_INIT,
                               name="dec0")(h)
        h = nn.leaky_relu(self._norm(h, train=train, name="bn_dec1"), 0.2)
        h = conv_transpose_4x4(self.channels, fast=fast, kernel_init=_INIT, name="dec1")(h)
        return jnp.tanh(h.astype(jnp.float32)), code.astype(jnp.float32)
