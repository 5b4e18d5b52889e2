"""The networks of BiGAN / ALI on small images: generator, encoder and a critic of (x, z) pairs.

Donahue et al.'s permutation-invariant MNIST networks (their released code,
``net.py``: ``deconvnet_mnist_mlp``, ``mnist_mlp``; 1024 hidden units, weights
``N(0, 0.02)``), with images flattened, so no network sees pixel layout::

    Generator  z -> Dense w -> BN -> ReLU -> Dense w (+ Dense z) -> BN -> ReLU
                 -> Dense H*W*C -> tanh -> reshape
    Encoder    x -> Dense w -> LReLU(0.2) -> Dense w -> BN -> LReLU(0.2) = features
                 -> Dense z_dim (linear)                                   = E(x)
    Critic     (x, z) -> Dense w on x -> LReLU(0.2) -> Dense w on it (+ Dense z)
                 -> [BN] -> LReLU(0.2) -> Dense 1                          = score

The ``+ Dense z`` terms are how their code conditions a layer on z: a linear
projection of ``z`` added before the layer's normalisation. In the critic it
is the only path by which z enters, so the critic judges the pair, not the
image alone. The critic's score is a logit, higher = "a pair of the encoder
(real image, inferred code)". ``norm='none'`` drops the critic's batch norm
(then it judges every pair on its own and needs no separate real and fake
batches). ``bn_axis_name``: batch statistics over that mesh axis (the engine
sets it inside the step, so they are those of the global batch).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models.errors import ModelConfigError

NORMS = ("none", "batch")
TINY = {"width": 8, "z_dim": 4}

_INIT = nn.initializers.normal(0.02)


def check(width: int, z_dim: int, norm: str = "batch") -> None:
    """Raise :class:`ModelConfigError` unless the BiGAN networks can be built with these."""
    if int(width) != width or width < 1:
        raise ModelConfigError(f"the BiGAN networks' width must be a positive integer, got "
                               f"{width!r}: set model.g_width / model.d_width / bigan.e_width")
    if int(z_dim) != z_dim or z_dim < 1:
        raise ModelConfigError(f"model.z_dim must be a positive integer, got {z_dim!r}")
    if norm not in NORMS:
        raise ModelConfigError(f"the BiGAN critic's norm must be one of {NORMS}, not {norm!r}: "
                               "set model.d_norm")


def _batch_norm(train: bool, axis_name: str | None, name: str):
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        axis_name=axis_name, name=name)


def _flat(x):
    return x.reshape(x.shape[0], -1).astype(jnp.float32)


class Generator(nn.Module):
    """``z [B, z_dim]`` -> images ``[B, *image_shape]`` in [-1, 1]."""

    image_shape: tuple[int, int, int]
    width: int = 1024
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, z, labels=None, *, train: bool):
        del labels  # Unconditional.
        h = nn.Dense(self.width, kernel_init=_INIT, use_bias=False, name="fc0")(z)
        h = nn.relu(_batch_norm(train, self.bn_axis_name, "bn0")(h))
        h = nn.Dense(self.width, kernel_init=_INIT, use_bias=False, name="fc1")(h)
        h = h + nn.Dense(self.width, kernel_init=_INIT, use_bias=False, name="z1")(z)
        h = nn.relu(_batch_norm(train, self.bn_axis_name, "bn1")(h))
        h = nn.Dense(math.prod(self.image_shape), kernel_init=_INIT, name="out")(h)
        return jnp.tanh(h).reshape(z.shape[0], *self.image_shape)


class Encoder(nn.Module):
    """Images ``[B, H, W, C]`` -> ``E(x) [B, z_dim]`` (and, asked, the features before it)."""

    z_dim: int
    width: int = 1024
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, *, train: bool, return_features: bool = False):
        h = nn.leaky_relu(nn.Dense(self.width, kernel_init=_INIT, name="fc0")(_flat(x)), 0.2)
        h = nn.Dense(self.width, kernel_init=_INIT, use_bias=False, name="fc1")(h)
        features = nn.leaky_relu(_batch_norm(train, self.bn_axis_name, "bn1")(h), 0.2)
        z = nn.Dense(self.z_dim, kernel_init=_INIT, name="out")(features)
        return (z, features) if return_features else z


class JointCritic(nn.Module):
    """``(x [B, H, W, C], z [B, z_dim])`` -> score ``[B]`` (a logit; higher = encoder's pair)."""

    width: int = 1024
    norm: str = "batch"
    bn_axis_name: str | None = None

    @nn.compact
    def __call__(self, x, z, *, train: bool):
        h = nn.leaky_relu(nn.Dense(self.width, kernel_init=_INIT, name="fc0")(_flat(x)), 0.2)
        bias = self.norm != "batch"
        h = nn.Dense(self.width, kernel_init=_INIT, use_bias=bias, name="fc1")(h)
        h = h + nn.Dense(self.width, kernel_init=_INIT, use_bias=False, name="z1")(
            z.astype(jnp.float32))
        if self.norm == "batch":
            h = _batch_norm(train, self.bn_axis_name, "bn1")(h)
        h = nn.leaky_relu(h, 0.2)
        return nn.Dense(1, kernel_init=_INIT, name="out")(h)[:, 0]
