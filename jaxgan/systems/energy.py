"""The shared frame of the energy-based systems (EBGAN, BEGAN): an autoencoder critic.

The generator is ``config.model``'s; the critic ``d`` is the autoencoder of
:mod:`jaxgan.models.autoencoder` (width ``model.d_width``, code
``energy.code_dim``, batch norm when ``model.d_norm='batch'``). Its energy of
an image is a reconstruction error, one number per example, lower = more real
(:func:`jaxgan.losses.reconstruction_energy`). The subclasses say which error
and how the two players use it. ``loss.name`` does not apply; penalties,
clipping and the LGA are refused: they are built for critic scores.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxgan import config as config_lib
from jaxgan import models
from jaxgan.config import ConfigError
from jaxgan.models.autoencoder import Autoencoder
from jaxgan.models.autoencoder import check as check_autoencoder
from jaxgan.systems.gan import GAN

PENALTIES = ("reg.gp_weight", "reg.dragan_weight", "reg.r1_weight", "reg.drift_weight",
             "reg.clip_value")


class EnergyGAN(GAN):
    """A generator and an autoencoder critic; subclasses define the energies' use."""

    structural_fields = GAN.structural_fields + ("energy.code_dim",)
    name = "energy"  # The config.system name, for messages.

    def __init__(self, config):
        generator, _ = models.build_models(config.model, config.data)
        critic = Autoencoder(image_size=config.data.image_size, channels=config.data.channels,
                             width=config.model.d_width, code_dim=config.energy.code_dim,
                             norm=config.model.d_norm,
                             fast_cpu_layers=bool(config.model.fast_cpu_layers)
                             and jax.default_backend() == "cpu")
        super().__init__(config, networks=(generator, critic))

    @classmethod
    def check_config(cls, config) -> None:
        if config.data.num_classes:
            raise ConfigError(f"system {cls.name!r} is unconditional, but data.num_classes="
                              f"{config.data.num_classes}: set --config.data.num_classes=0.")
        for dotted in ("model.minibatch_kernels", "model.minibatch_std"):
            if config_lib.get_dotted(config, dotted):
                raise ConfigError(f"{dotted}={config_lib.get_dotted(config, dotted)} adds layers "
                                  f"to a scoring critic; system {cls.name!r} has an autoencoder: "
                                  f"set --config.{dotted}=0.")
        for dotted in PENALTIES:
            if config_lib.get_dotted(config, dotted):
                raise ConfigError(
                    f"{dotted}={config_lib.get_dotted(config, dotted)} acts on critic scores; "
                    f"system {cls.name!r} judges by autoencoder energies: set --config.{dotted}=0.")
        if config.loss.lga != "none":
            raise ConfigError(f"loss.lga={config.loss.lga!r} amplifies a critic map; system "
                              f"{cls.name!r} has none: set --config.loss.lga=none.")
        config_lib.positive(config, "energy.code_dim")
        if isinstance(config.energy.code_dim, float):
            raise ConfigError(f"energy.code_dim={config.energy.code_dim!r} must be an integer.")
        try:
            check_autoencoder(config.data.image_size, config.model.d_norm)
        except models.ModelConfigError as e:
            raise ConfigError(str(e)) from None
        super().check_config(config)

    def energies(self, images, reconstructions):
        """``[B]`` energies (lower = more real) of ``images`` and their reconstructions."""
        raise NotImplementedError

    def _autoencode_real_and_fake(self, ctx, real, fake):
        """``(reconstructions, codes)`` of the real rows, then the fake rows, in train mode.

        A batch-norm autoencoder sees the two batches apart (only the real batch's
        statistics are kept), as the batch-norm critics of the other systems.
        """
        if self._batch_critic:
            on_real = ctx.apply("d", real, None, train=True, mutable="update")
            on_fake = ctx.apply("d", fake, None, train=True, mutable="discard")
            return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), on_real, on_fake)
        return ctx.apply("d", jnp.concatenate([real, fake]), None, train=True, mutable="update")

    def _real_and_fake_energies(self, ctx, batch):
        """The critic update's ``[B]`` energies of the real batch and of a generated one."""
        real = batch["image"]
        fake = lax.stop_gradient(self._fake_batch(ctx, ctx.key, update=False))
        reconstructions, _ = self._autoencode_real_and_fake(ctx, real, fake)
        energy = self.energies(jnp.concatenate([real, fake]), reconstructions)
        return energy[:real.shape[0]], energy[real.shape[0]:]

    def _autoencode_fake(self, ctx, fake):
        """``(reconstructions, codes)`` of the generator's batch, for the generator's loss."""
        if self._batch_critic:
            return ctx.apply("d", fake, None, train=True, mutable="discard")
        return ctx.apply("d", fake, None, train=False)

    def _fake_batch(self, ctx, key, *, update: bool):
        z, _ = self._draw(ctx, key)
        return ctx.apply("g", z, None, train=True, mutable="update" if update else "discard")
