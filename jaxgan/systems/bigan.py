"""BiGAN (Donahue et al. 2017) / ALI (Dumoulin et al. 2017): a generator, an encoder, a critic of pairs.

Networks (:mod:`jaxgan.models.bigan`, the permutation-invariant MLPs of the
BiGAN paper's MNIST experiment): ``g`` maps ``z`` (``model.z_prior``,
``model.z_dim``; the paper's: U(-1, 1)^50) to an image; ``e`` maps an image to
a code; ``d`` scores a pair ``(x, z)``. One phase, two groups per step:

* ``d``, ``optim.n_critic`` times, each on its own real batch: the critic's
  loss :func:`jaxgan.losses.bigan_d` on the encoder's pairs ``(x, E(x))`` and
  the generator's ``(G(z), z)`` (``E`` and ``G`` run in train mode, their new
  batch statistics dropped);
* ``ge``, once, on real batch 0: the generator and the encoder as one
  player, :func:`jaxgan.losses.bigan_ge` (``loss.name='nonsaturating'``: the
  critic's targets swapped, the authors' code; ``'minimax'``: the objective
  itself), one Adam over both.

With ``model.d_norm='batch'`` (their critic's batch norm) the critic sees the
encoder's and the generator's pairs as two batches, as the batch-norm critics
of the other systems. ``e_width`` is ``bigan.e_width``; ``model.g_width`` and
``model.d_width`` are the hidden widths of ``g`` and ``d`` (1024 in the paper).

Besides samples, every sample grid is joined by ``reconstructions``: fixed
training images (odd rows) above ``G(E(x))`` (even rows). ``jaxgan.encode``
writes ``E(x)`` of an image file.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxgan import config as config_lib
from jaxgan import losses
from jaxgan.config import ConfigError
from jaxgan.images import to_uint8
from jaxgan.models import bigan as nets
from jaxgan.models.errors import ModelConfigError
from jaxgan.parallel import DATA_AXIS
from jaxgan.system import Group, Phase, System

RECONSTRUCTION_ROWS = 4  # Pairs of (real, reconstructed) rows in the reconstructions grid.
LOSS_NAMES = ("nonsaturating", "minimax")
# Fields of the image systems with no meaning for these networks; each must stay at its default.
NOT_APPLICABLE = {"reg.gp_weight": 0.0, "reg.dragan_weight": 0.0, "reg.r1_weight": 0.0,
                  "reg.drift_weight": 0.0, "reg.clip_value": 0.0, "loss.lga": "none",
                  "loss.feature_matching": 0.0, "model.pack": 1, "reg.diffaugment": "",
                  "model.minibatch_kernels": 0, "model.minibatch_std": 0,
                  "model.spectral_norm": False, "model.critic_map": 1, "loss.real_label": 1.0}


class BiGAN(System):
    """Generator ``g``, encoder ``e`` and pair critic ``d`` (see the module docstring)."""

    structural_fields = ("model.arch", "model.z_dim", "model.z_prior", "model.g_width",
                         "model.d_width", "model.d_norm", "bigan.e_width")

    def __init__(self, config):
        self.config = config
        data = config.data
        self.image_shape = (data.image_size, data.image_size, data.channels)
        self.z_dim = config.model.z_dim
        self._uniform_z = config.model.z_prior == "uniform"
        self.networks = {
            "g": nets.Generator(self.image_shape, width=config.model.g_width),
            "e": nets.Encoder(self.z_dim, width=config.bigan.e_width),
            "d": nets.JointCritic(width=config.model.d_width, norm=config.model.d_norm),
        }
        self._batch_critic = config.model.d_norm == "batch"
        self._nonsaturating = config.loss.name == "nonsaturating"
        self.ema_decay = config.train.ema_decay
        self.ema = ("g", "e") if self.ema_decay else ()
        o = config.optim
        self.groups = {
            "d": Group("d", ("d",), self.critic_loss, optax.adam(o.d_lr, b1=o.b1, b2=o.b2),
                       repeats=o.n_critic, data=True),
            "ge": Group("ge", ("g", "e"), self.generator_encoder_loss,
                        optax.adam(o.g_lr, b1=o.b1, b2=o.b2), data=True),
        }
        self.phases = (Phase("train", config.train.num_steps, ("d", "ge")),)
        self._recon_real = None

    @classmethod
    def check_config(cls, config) -> None:
        if config.data.num_classes:
            raise ConfigError(f"system 'bigan' is unconditional, but data.num_classes="
                              f"{config.data.num_classes}: set --config.data.num_classes=0.")
        if config.model.arch != "mlp":
            raise ConfigError(f"system 'bigan' builds its own MLPs (jaxgan.models.bigan); "
                              f"model.arch={config.model.arch!r} does not apply: set "
                              "--config.model.arch=mlp.")
        if config.loss.name not in LOSS_NAMES:
            raise ConfigError(f"loss.name={config.loss.name!r}: the joint-pair game of system "
                              f"'bigan' is played with one of {LOSS_NAMES}.")
        if config.model.z_prior not in ("normal", "uniform"):
            raise ConfigError(f"model.z_prior={config.model.z_prior!r} is not 'normal' or "
                              "'uniform'; set --config.model.z_prior=uniform (the paper's).")
        for dotted, default in NOT_APPLICABLE.items():
            value = config_lib.get_dotted(config, dotted)
            if value != default:
                raise ConfigError(f"{dotted}={value!r} does not apply to system 'bigan' (its "
                                  f"critic scores (image, code) pairs): set "
                                  f"--config.{dotted}={default!r}.")
        for dotted in ("optim.g_lr", "optim.d_lr", "optim.n_critic", "model.z_dim",
                       "model.g_width", "model.d_width", "bigan.e_width"):
            config_lib.positive(config, dotted)
        try:
            for width in (config.model.g_width, config.model.d_width, config.bigan.e_width):
                nets.check(width, config.model.z_dim, config.model.d_norm)
        except ModelConfigError as e:
            raise ConfigError(str(e)) from None

    def init_inputs(self, name):
        z = jnp.zeros((2, self.z_dim), jnp.float32)
        x = jnp.zeros((2, *self.image_shape), jnp.float32)
        return {"g": ((z,), {"train": False}), "e": ((x,), {"train": False}),
                "d": ((x, z), {"train": False})}[name]

    # ---- the two updates ----------------------------------------------------------------
    def _draw_z(self, ctx, key):
        if self._uniform_z:
            return ctx.uniform(key, self.z_dim, minval=-1.0, maxval=1.0)
        return ctx.normal(key, self.z_dim)

    def _judge(self, ctx, encoder_pair, generator_pair, *, mutable):
        """The critic's logits of the encoder's pairs, then the generator's: ``(r, f)``.

        A batch-norm critic sees the two kinds as two batches; ``mutable`` is then what
        happens to the statistics of the encoder's batch (the generator's are dropped).
        Otherwise one call on both."""
        if self._batch_critic:
            r = ctx.apply("d", *encoder_pair, train=True, mutable=mutable)
            f = ctx.apply("d", *generator_pair, train=True, mutable="discard")
            return r, f
        n = encoder_pair[0].shape[0]
        both = [jnp.concatenate([a, b]) for a, b in zip(encoder_pair, generator_pair)]
        scores = ctx.apply("d", *both, train=mutable != "frozen", mutable=mutable)
        return scores[:n], scores[n:]

    def critic_loss(self, ctx, batch):
        x = batch["image"]
        z = self._draw_z(ctx, ctx.key)
        e_x = lax.stop_gradient(ctx.apply("e", x, train=True, mutable="discard"))
        g_z = lax.stop_gradient(ctx.apply("g", z, train=True, mutable="discard"))
        r, f = self._judge(ctx, (x, e_x), (g_z, z), mutable="update")
        loss = jnp.mean(losses.bigan_d(r, f))
        return loss, {"encoder_pair_score": jnp.mean(r), "generator_pair_score": jnp.mean(f),
                      "d_accuracy": 0.5 * (jnp.mean(r > 0) + jnp.mean(f < 0))}

    def generator_encoder_loss(self, ctx, batch):
        x = batch["image"]
        z = self._draw_z(ctx, ctx.key)
        e_x = ctx.apply("e", x, train=True, mutable="update")
        g_z = ctx.apply("g", z, train=True, mutable="update")
        r, f = self._judge(ctx, (x, e_x), (g_z, z),
                           mutable="discard" if self._batch_critic else "frozen")
        loss = jnp.mean(losses.bigan_ge(r, f, nonsaturating=self._nonsaturating))
        # Of the global batch: a root of per-replica means would not average to it.
        code_ms = lax.pmean(jnp.mean(jnp.square(e_x)), DATA_AXIS)
        return loss, {"code_rms": jnp.sqrt(code_ms)}

    # ---- sampling, encoding, grids ------------------------------------------------------
    def latents(self, key, num):
        if self._uniform_z:
            return jax.random.uniform(key, (num, self.z_dim), minval=-1.0, maxval=1.0)
        return jax.random.normal(key, (num, self.z_dim))

    def render(self, apply, latents, labels):
        del labels
        return apply("g", latents, train=False)

    def encode(self, e_variables, images, *, return_features: bool = False):
        """``E(x)`` (and, asked, the encoder's last hidden features) of images in [-1, 1]."""
        return self.networks["e"].apply(e_variables, images, train=False,
                                        return_features=return_features)

    def reconstruct(self, g_variables, e_variables, images):
        """``G(E(x))`` of images in [-1, 1], both networks in inference mode."""
        return self.networks["g"].apply(g_variables, self.encode(e_variables, images),
                                        train=False)

    def load_data(self):
        from jaxgan import data  # Lazy: declaring a system needs no data code.

        source = data.load_dataset(self.config.data)
        columns = int(np.ceil(np.sqrt(self.config.train.num_sample_images)))
        self._recon_real = source.images[:RECONSTRUCTION_ROWS * columns]
        return source

    def grids(self, sampler, state, step, *, final):
        """Fixed training images, each row followed by its reconstruction ``G(E(x))``."""
        del sampler, step, final
        if self._recon_real is None:
            return {}
        if not hasattr(self, "_reconstruct_fn"):
            self._reconstruct_fn = jax.jit(self.reconstruct)
        real = jnp.asarray(self._recon_real, jnp.float32) / 127.5 - 1.0
        recon = self._reconstruct_fn(state.variables("g"), state.variables("e"), real)
        columns = len(real) // RECONSTRUCTION_ROWS
        rows = [part for i in range(RECONSTRUCTION_ROWS)
                for part in (real[i * columns:(i + 1) * columns],
                             recon[i * columns:(i + 1) * columns])]
        return {"reconstructions": to_uint8(jnp.concatenate(rows))}
