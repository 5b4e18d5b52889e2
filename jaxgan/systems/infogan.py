"""InfoGAN (Chen et al. 2016): latent codes that the generator must keep recoverable.

The generator reads ``[z, onehot(c), u]``: noise ``z`` (``model.z_dim``, 62 in
the paper), one categorical code ``c`` uniform over ``infogan.categorical``
values and ``infogan.continuous`` codes ``u ~ U(-1, 1)``. A recognition head
``Q`` shares the critic's trunk (:class:`jaxgan.models.heads.HeadedCritic`:
FC ``q_hidden`` -> LeakyReLU -> logits of ``c`` and means of ``u``, the std
fixed at 1 as in the authors' MNIST code) and the variational bound

    L_I = E[log Q(c | G(z, c, u))] + H(c)  (+ the same for u)

(:func:`jaxgan.losses.infogan_mutual_information`) is maximised by the
generator and by the critic-and-Q network, each adding ``-lambda L_I`` on its
own generated batch to its adversarial loss (``lambda = categorical_weight``
for ``c``, ``continuous_weight`` for ``u``; the authors' code uses 1 for both
with the fixed std). The critic is told no label: codes are learnt unsupervised.

Sampling: ``jaxgan.sample`` writes each image's ``codes`` and ``continuous``;
``--code K`` fixes the categorical code. Grids: one row per categorical value
(the same noise down each column), and per continuous code a grid sweeping it
from -2 to 2 across the columns, one fixed noise per row (the paper's Figure 2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgan import config as config_lib
from jaxgan import losses, models
from jaxgan.config import ConfigError
from jaxgan.images import to_uint8
from jaxgan.models.heads import HeadedCritic
from jaxgan.system import GRID_SALT, tile_rows
from jaxgan.systems.gan import GAN

SWEEP = np.linspace(-2.0, 2.0, 10)  # Continuous-code values of the sweep grids.
SWEEP_SALT = 0x5E3  # Folded into the grid seed for the sweep grids' noise.


class InfoGAN(GAN):
    """Noise plus codes into G; Q on the critic's trunk recovers the codes."""

    structural_fields = GAN.structural_fields + ("infogan.categorical", "infogan.continuous",
                                                 "infogan.q_hidden")

    def __init__(self, config):
        info = config.infogan
        self.categorical, self.continuous = info.categorical, info.continuous
        model = config.model.copy_and_resolve_references()
        model.z_dim = config.model.z_dim + self.categorical + self.continuous
        generator, critic = models.build_models(model, config.data)
        heads = {"code": self.categorical, "continuous": self.continuous}
        q = HeadedCritic(critic, {k: v for k, v in heads.items() if v}, hidden=info.q_hidden)
        super().__init__(config, networks=(generator, q))
        self.sample_options = ("code",) if self.categorical else ()
        self._weights = (info.categorical_weight, info.continuous_weight)

    @classmethod
    def check_config(cls, config) -> None:
        info = config.infogan
        if config.data.num_classes:
            raise ConfigError(
                f"system 'infogan' learns its codes without labels, but data.num_classes="
                f"{config.data.num_classes}: set --config.data.num_classes=0.")
        if config.model.get("z_prior", "normal") != "normal":
            raise ConfigError(f"system 'infogan' draws its noise from N(0, I), not "
                              f"model.z_prior={config.model.z_prior!r}: set "
                              "--config.model.z_prior=normal.")
        for dotted in ("infogan.categorical", "infogan.continuous"):
            value = config_lib.get_dotted(config, dotted)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{dotted}={value!r} must be an integer >= 0; set "
                                  f"--config.{dotted}=<value>.")
        if info.categorical == 1 or info.categorical + info.continuous == 0:
            raise ConfigError(
                f"infogan.categorical={info.categorical}, infogan.continuous={info.continuous}: "
                "InfoGAN needs a code to recover, and a categorical code needs >= 2 values; "
                "set --config.infogan.categorical=10 (and/or continuous=2).")
        for dotted in ("infogan.categorical_weight", "infogan.continuous_weight",
                       "infogan.q_hidden"):
            config_lib.positive(config, dotted, allow_zero=True)
        super().check_config(config)

    def init_inputs(self, name):
        if name == "g":
            width = self.z_dim + self.categorical + self.continuous
            return (jnp.zeros((2, width), jnp.float32), None), {"train": False}
        return super().init_inputs(name)

    # ---- the codes ------------------------------------------------------------------------
    def _generator_input(self, latents):
        parts = [latents["z"]]
        if self.categorical:
            parts.append(jax.nn.one_hot(latents["code"], self.categorical, dtype=jnp.float32))
        if self.continuous:
            parts.append(latents["continuous"])
        return jnp.concatenate(parts, axis=-1)

    def _draw_latents(self, ctx, key):
        """``{'z', 'code', 'continuous'}`` for this replica's rows of the global batch."""
        z_key, c_key, u_key = jax.random.split(key, 3)
        latents = {"z": ctx.normal(z_key, self.z_dim)}
        if self.categorical:
            latents["code"] = ctx.randint(c_key, 0, self.categorical)
        if self.continuous:
            latents["continuous"] = ctx.uniform(u_key, self.continuous, minval=-1.0, maxval=1.0)
        return latents

    def _information(self, heads, latents):
        """``(sum_k lambda_k L_I^k, metrics)``: the weighted bounds, per-replica means."""
        total = jnp.zeros((), jnp.float32)
        metrics = {}
        if self.categorical:
            logits = heads["code"]
            metrics["mi_categorical"] = jnp.mean(losses.infogan_mutual_information(
                categorical_logits=logits, categorical_codes=latents["code"]))
            metrics["code_accuracy"] = jnp.mean(jnp.argmax(logits, -1) == latents["code"])
            total += self._weights[0] * metrics["mi_categorical"]
        if self.continuous:
            metrics["mi_continuous"] = jnp.mean(losses.infogan_mutual_information(
                continuous_mean=heads["continuous"], continuous_codes=latents["continuous"]))
            total += self._weights[1] * metrics["mi_continuous"]
        return total, metrics

    # ---- the two updates ------------------------------------------------------------------
    def critic_loss(self, ctx, batch):
        real = batch["image"]
        local_batch = real.shape[0]
        z_key, pen_key = jax.random.split(ctx.key)
        latents = self._draw_latents(ctx, z_key)
        fake = lax.stop_gradient(ctx.apply("g", self._generator_input(latents), None, train=True,
                                           mutable="discard"))
        scores, heads = self._judge_real_and_fake(ctx, real, fake, None, None, heads=True)
        loss, metrics = self._critic_objective(ctx, real, fake, None, scores, pen_key)
        fake_heads = {k: v[local_batch:] for k, v in heads.items()}
        information, info_metrics = self._information(fake_heads, latents)
        metrics.update({f"d_{k}": v for k, v in info_metrics.items()})
        return loss - information, metrics

    def generator_loss(self, ctx, batch):
        del batch
        latents = self._draw_latents(ctx, ctx.key)
        fake = ctx.apply("g", self._generator_input(latents), None, train=True, mutable="update")
        scores, heads = self._judge_fake(ctx, fake, None, heads=True)
        adv = self._generator_adversarial(scores)
        information, metrics = self._information(heads, latents)
        return adv - information, {"g_adv": adv, **metrics}

    # ---- sampling -------------------------------------------------------------------------
    def latents(self, key, num, code=None):
        """``{'z', 'code', 'continuous'}`` for ``num`` samples; ``code`` fixes the categorical."""
        z_key, c_key, u_key = jax.random.split(key, 3)
        latents = {"z": jax.random.normal(z_key, (num, self.z_dim))}
        if self.categorical:
            latents["code"] = (jnp.full((num,), code, jnp.int32) if code is not None else
                               jax.random.randint(c_key, (num,), 0, self.categorical))
        if self.continuous:
            latents["continuous"] = jax.random.uniform(u_key, (num, self.continuous),
                                                       minval=-1.0, maxval=1.0)
        return latents

    def check_sample_options(self, options):
        super().check_sample_options(options)
        code = options.get("code")
        if code is not None and not 0 <= code < self.categorical:
            raise ValueError(f"--code {code} is not a categorical code of this run "
                             f"(0..{self.categorical - 1}).")

    def sample_record(self, latents):
        record = {}
        if self.categorical:
            record["codes"] = latents["code"]
        if self.continuous:
            record["continuous"] = latents["continuous"]
        return record

    def render(self, apply, latents, labels):
        del labels
        return apply("g", self._generator_input(latents), None, train=False)

    def grid_inputs(self, seed, num):
        """One row per categorical value, the same noise and continuous codes down each column."""
        key = jax.random.fold_in(jax.random.key(seed), GRID_SALT)
        if not self.categorical:
            return self.latents(key, num), None, None
        columns = max(1, num // self.categorical)
        latents = tile_rows(self.latents(key, columns), self.categorical)
        latents["code"] = jnp.repeat(jnp.arange(self.categorical, dtype=jnp.int32), columns)
        return latents, None, columns

    def sweep_latents(self, seed, dim):
        """The sweep of continuous code ``dim``: rows of fixed noise (row ``r`` with categorical
        code ``r``), columns ``u_dim`` = -2 .. 2, the other continuous codes 0."""
        rows = max(self.categorical, 1)
        key = jax.random.fold_in(jax.random.key(seed), SWEEP_SALT)
        z = jax.random.normal(key, (rows, self.z_dim))
        latents = {"z": jnp.repeat(z, len(SWEEP), axis=0)}
        if self.categorical:
            latents["code"] = jnp.repeat(jnp.arange(rows, dtype=jnp.int32), len(SWEEP))
        u = np.zeros((rows * len(SWEEP), self.continuous), np.float32)
        u[:, dim] = np.tile(SWEEP, rows)
        latents["continuous"] = jnp.asarray(u)
        return latents

    def grids(self, sampler, state, step, *, final):
        del step, final
        return {f"continuous{dim}": to_uint8(sampler.images(state,
                                                           self.sweep_latents(self.config.seed, dim)))
                for dim in range(self.continuous)}
