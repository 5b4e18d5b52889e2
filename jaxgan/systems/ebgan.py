"""EBGAN (Zhao et al. 2017): an autoencoder critic whose energy is its reconstruction error.

With ``E(x) = mean_i (x_i - Dec(Enc(x))_i)^2``, the per-example mean squared
error on images in [-1, 1] (:func:`jaxgan.losses.reconstruction_energy`,
``power=2``), both players minimise (:func:`jaxgan.losses.ebgan_d`,
:func:`jaxgan.losses.ebgan_g`, :func:`jaxgan.losses.pullaway_term`)::

    L_D = E[E(x)] + E[max(0, m - E(G(z)))]
    L_G = E[E(G(z))] + w_PT f_PT(Enc(G(z)))

with margin ``m = energy.margin`` and ``w_PT = energy.pullaway_weight`` (the
paper's EBGAN-PT: 0.1; 0 gives plain EBGAN). The pull-away term
``f_PT`` compares every pair of the *global* batch's codes (gathered from
every device), so the step does not depend on the device count.

Margin: the paper's energy is the norm ``||x - Dec(Enc(x))||``; this one is
its square over the pixel count, so a margin ``m`` here is the paper's
``sqrt(m * S^2 * C)``. At m = 1 a fake must reconstruct worse than a flat
mid-grey guess of an MNIST digit (whose MSE is about 0.8).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jaxgan import config as config_lib
from jaxgan import losses
from jaxgan.parallel import DATA_AXIS
from jaxgan.systems.energy import EnergyGAN


class EBGAN(EnergyGAN):
    """Generator and autoencoder critic with EBGAN's margin loss (see the module docstring)."""

    name = "ebgan"

    def __init__(self, config):
        super().__init__(config)
        self.margin = config.energy.margin
        self.pullaway_weight = config.energy.pullaway_weight

    @classmethod
    def check_config(cls, config) -> None:
        config_lib.positive(config, "energy.margin")
        config_lib.positive(config, "energy.pullaway_weight", allow_zero=True)
        super().check_config(config)

    def energies(self, images, reconstructions):
        return losses.reconstruction_energy(images, reconstructions, power=2)

    def critic_loss(self, ctx, batch):
        real_energy, fake_energy = self._real_and_fake_energies(ctx, batch)
        loss = jnp.mean(losses.ebgan_d(real_energy, fake_energy, margin=self.margin))
        return loss, {"real_energy": jnp.mean(real_energy), "fake_energy": jnp.mean(fake_energy),
                      "fake_within_margin": jnp.mean(fake_energy < self.margin)}

    def generator_loss(self, ctx, batch):
        del batch
        fake = self._fake_batch(ctx, ctx.key, update=True)
        reconstructions, codes = self._autoencode_fake(ctx, fake)
        energy = jnp.mean(losses.ebgan_g(self.energies(fake, reconstructions)))
        metrics = {"g_energy": energy}
        loss = energy
        if self.pullaway_weight:
            # Every pair of the global batch, whatever the device count.
            every_code = lax.all_gather(codes, DATA_AXIS, tiled=True)
            metrics["pullaway"] = losses.pullaway_term(every_code)
            loss = loss + self.pullaway_weight * metrics["pullaway"]
        return loss, metrics
