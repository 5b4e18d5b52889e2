r"""Virtual batch normalization (Salimans et al. 2016, sec. 3.4) for generators.

Batch norm makes each generated image depend on the other latents of its
batch. Virtual batch norm normalises every example ``x`` with the statistics
of a *reference batch* ``R`` of ``n_R`` examples, chosen once at the start of
training and fixed, combined with ``x`` itself. Per channel, with ``mu_R``
and ``s_R`` the mean and mean square of the reference activations (over the
reference examples and all positions) and ``m(x)``, ``s(x)`` those of ``x``
alone (over its positions)::

    mu   = (1 / (n_R + 1)) m(x) + (n_R / (n_R + 1)) mu_R
    s    = (1 / (n_R + 1)) s(x) + (n_R / (n_R + 1)) s_R
    VBN(x) = gamma * (x - mu) / sqrt(s - mu^2 + eps) + beta

and the reference examples themselves are normalised with ``mu_R``, ``s_R``
alone. The reference's activations depend on the parameters, so the reference
batch goes through the network with every batch: a generator with VBN runs on
``[z_R; z]`` and keeps the rows of ``z``. An example's output then depends on
its own latent and the fixed reference only, the property VBN exists for.

:class:`ReferenceLatents` keeps ``z_R`` in the generator's ``'vbn'``
collection, drawn at initialisation from the init key: part of the train
state, replicated, checkpointed and restored with it, so a resumed run and the
sampler use the reference batch training used. Cost: ``n_R`` more rows
through the generator on every call.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.errors import ModelConfigError

GENERATOR_NORMS = ("batch", "virtual")
EPSILON = 1e-5


class VirtualBatchNorm(nn.Module):
    """``x [n_R + B, ..., C]`` whose first ``reference`` rows are the reference batch -> the
    same shape, normalised as the module docstring says, with a learnt scale and offset.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> vbn = VirtualBatchNorm(reference=3)
      >>> x = jnp.concatenate([jnp.array([[0.0], [1.0], [2.0]]), jnp.array([[1.0], [9.0]])])
      >>> y, _ = vbn.init_with_output(jax.random.key(0), x)
      >>> # Reference: mean 1, var 2/3. x = 9: mean 9/4 + 3/4 = 3, mean square 81/4 + 5/4, var 12.5.
      >>> y[:3, 0].round(3).tolist(), y[3:, 0].round(3).tolist()
      ([-1.225, 0.0, 1.225], [0.0, 1.697])
    """

    reference: int
    epsilon: float = EPSILON

    @nn.compact
    def __call__(self, x):
        n_r = self.reference
        if x.shape[0] <= n_r:
            raise ModelConfigError(f"virtual batch norm needs the {n_r} reference rows first, "
                                   f"then the batch; got {x.shape[0]} rows")
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
        x32 = x.astype(jnp.float32)
        ref, own = x32[:n_r], x32[n_r:]
        positions = tuple(range(1, x.ndim - 1))
        ref_mean = jnp.mean(ref, axis=(0, *positions))
        ref_sq = jnp.mean(jnp.square(ref), axis=(0, *positions))
        new = 1.0 / (n_r + 1.0)
        mean = new * jnp.mean(own, axis=positions, keepdims=True) + (1.0 - new) * ref_mean
        sq = new * jnp.mean(jnp.square(own), axis=positions, keepdims=True) + (1.0 - new) * ref_sq

        def normalise(v, m, s):
            return (v - m) * jax.lax.rsqrt(jnp.maximum(s - jnp.square(m), 0.0) + self.epsilon)

        y = jnp.concatenate([normalise(ref, ref_mean, ref_sq), normalise(own, mean, sq)])
        return (y * scale + bias).astype(x.dtype)


class ReferenceLatents(nn.Module):
    """The fixed reference latents ``z_R [n, z_dim]`` (collection ``'vbn'``), drawn from ``prior``
    ('normal' or 'uniform' on [-1, 1]) with the init key, joined in front of ``z``."""

    reference: int
    prior: str = "normal"

    @nn.compact
    def __call__(self, z):
        if self.reference < 1:
            raise ModelConfigError(f"model.vbn_reference={self.reference} must be >= 1 (the "
                                   "reference batch's size; Salimans et al. used 100)")

        def draw():
            key, shape = self.make_rng("params"), (self.reference, z.shape[-1])
            if self.prior == "uniform":
                return jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)
            return jax.random.normal(key, shape, jnp.float32)

        z_ref = self.variable("vbn", "reference_z", draw).value
        return jnp.concatenate([z_ref.astype(z.dtype), z])


def check_generator_norm(norm: str, num_classes: int) -> None:
    if norm not in GENERATOR_NORMS:
        raise ModelConfigError(f"generator norm must be one of {GENERATOR_NORMS}, not {norm!r}: "
                               "set model.g_norm")
    if norm == "virtual" and num_classes:
        raise ModelConfigError("virtual batch norm keeps a reference batch of latents without "
                               "labels; a conditional generator would need reference labels too: "
                               "set model.g_norm=batch")
