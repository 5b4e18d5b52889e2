"""BEGAN (Berthelot et al. 2017): an autoencoder critic held at an equilibrium by a controller.

With ``L(x) = mean_i |x_i - Dec(Enc(x))_i|``, the per-example L1
reconstruction error measured on pixel values in [0, 1] (half the error on
the [-1, 1] images, so that ``energy.lambda_k`` means what it means in the
reference code, whose images are in [0, 1]), both players minimise
(:func:`jaxgan.losses.began_d`, :func:`jaxgan.losses.began_g`)::

    L_D = E[L(x)] - k_t E[L(G(z))]
    L_G = E[L(G(z))]

and after every step the controller (:func:`jaxgan.losses.began_update_k`)

    k_{t+1} = clip(k_t + lambda_k (gamma E[L(x)] - E[L(G(z))]), 0, 1)

(``energy.clip_k=False``: without the clip, as Lucic et al.'s code)

moves ``k`` towards the equilibrium ``E[L(G(z))] = gamma E[L(x)]``
(``gamma = energy.gamma``, ``lambda_k = energy.lambda_k``, ``k_0 =
energy.k_init``). ``k`` is the system's extra state: it is checkpointed and a
resumed run continues from it bit for bit. The losses that drive it are the
global-batch means of the step's (last) critic update, so ``k`` does not
depend on the device count. Logged every step: ``k`` (the value the step
used), ``real_energy``, ``fake_energy`` and the convergence measure
``M_global = L(x) + |gamma L(x) - L(G(z))|`` (:func:`jaxgan.losses.began_convergence`)
of the same global means.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jaxgan import config as config_lib
from jaxgan import losses
from jaxgan.config import ConfigError
from jaxgan.parallel import DATA_AXIS
from jaxgan.systems.energy import EnergyGAN


class BEGAN(EnergyGAN):
    """Generator and autoencoder critic balanced by ``k`` (see the module docstring)."""

    name = "began"

    def __init__(self, config):
        super().__init__(config)
        energy = config.energy
        self.gamma, self.lambda_k, self.k_init = energy.gamma, energy.lambda_k, energy.k_init
        self.clip_k = energy.get("clip_k", True)

    @classmethod
    def check_config(cls, config) -> None:
        energy = config.energy
        for dotted in ("energy.gamma", "energy.lambda_k", "energy.k_init"):
            config_lib.positive(config, dotted, allow_zero=True)
        if not 0.0 < energy.gamma <= 1.0:
            raise ConfigError(f"energy.gamma={energy.gamma} must lie in (0, 1] (the BEGAN paper "
                              "uses 0.3 to 0.7, Lucic et al. 0.75): set --config.energy.gamma.")
        if not 0.0 <= energy.k_init <= 1.0:
            raise ConfigError(f"energy.k_init={energy.k_init} must lie in [0, 1] (the paper starts "
                              "at 0): set --config.energy.k_init=0.")
        super().check_config(config)

    def init_extra(self):
        return {"k": jnp.asarray(self.k_init, jnp.float32)}

    def energies(self, images, reconstructions):
        return 0.5 * losses.reconstruction_energy(images, reconstructions, power=1)

    def critic_loss(self, ctx, batch):
        real_energy, fake_energy = self._real_and_fake_energies(ctx, batch)
        k = ctx.extra["k"]
        loss = jnp.mean(losses.began_d(real_energy, fake_energy, k=k))
        # M_global of the global batch: |.| of replica means would not average to it.
        real_mean = lax.pmean(jnp.mean(real_energy), DATA_AXIS)
        fake_mean = lax.pmean(jnp.mean(fake_energy), DATA_AXIS)
        return loss, {"real_energy": real_mean, "fake_energy": fake_mean, "k": k,
                      "m_global": losses.began_convergence(real_mean[None], fake_mean[None],
                                                           gamma=self.gamma)}

    def generator_loss(self, ctx, batch):
        del batch
        fake = self._fake_batch(ctx, ctx.key, update=True)
        reconstructions, _ = self._autoencode_fake(ctx, fake)
        energy = jnp.mean(losses.began_g(self.energies(fake, reconstructions)))
        return energy, {"g_energy": energy}

    def update_extra(self, extra, metrics, step):
        del step
        k = losses.began_update_k(extra["k"], metrics["real_energy"][None],
                                  metrics["fake_energy"][None], gamma=self.gamma,
                                  lambda_k=self.lambda_k, clip=self.clip_k)
        return {"k": k.astype(jnp.float32)}
