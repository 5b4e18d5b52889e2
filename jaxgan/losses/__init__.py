"""GAN losses as pure functions of critic outputs, and the ``LOSSES`` registry.

Every adversarial loss takes critic scores (higher = more real) of shape
``[B]`` or ``[B, ...]`` and returns per-example values of shape ``[B]``, the
mean over the non-batch dimensions; ``.mean()`` is the batch estimate.

>>> import jax.numpy as jnp
>>> from jaxgan import losses
>>> d_fn, g_fn = losses.get_loss("hinge")
>>> real, fake = jnp.array([0.5, 2.0]), jnp.array([-0.5, 1.0])
>>> print(d_fn(real, fake), g_fn(fake))
[1. 2.] [ 0.5 -1. ]

Modules: :mod:`~jaxgan.losses.adversarial` (minimax, non-saturating, LSGAN,
Wasserstein, hinge), :mod:`~jaxgan.losses.lga` (the Local Gradient Amplifier),
:mod:`~jaxgan.losses.energy` (EBGAN, BEGAN), :mod:`~jaxgan.losses.auxiliary`
(AC-GAN, InfoGAN), :mod:`~jaxgan.losses.inference` (BiGAN / ALI's joint pairs),
:mod:`~jaxgan.losses.translation` (CycleGAN's cycle-consistency and identity losses).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from jaxgan.losses._common import UnknownLossError
from jaxgan.losses.adversarial import (
    hinge_d,
    hinge_g,
    lsgan_d,
    lsgan_g,
    minimax_d,
    minimax_g,
    nonsaturating_g,
    wasserstein_d,
    wasserstein_g,
)
from jaxgan.losses.auxiliary import CONTINUOUS_PRIORS, auxiliary_classifier, infogan_mutual_information
from jaxgan.losses.energy import (
    began_convergence,
    began_d,
    began_g,
    began_update_k,
    ebgan_d,
    ebgan_g,
    pullaway_term,
    reconstruction_energy,
)
from jaxgan.losses.inference import bigan_d, bigan_ge
from jaxgan.losses.lga import LGA_MODES, lga, lga_g
from jaxgan.losses.translation import cycle_consistency, identity_loss


class AdversarialLoss(NamedTuple):
    """A discriminator loss ``d(real, fake) -> [B]`` and its generator loss ``g(fake) -> [B]``."""

    d: Callable
    g: Callable


#: Adversarial losses on critic scores by name: ``name -> AdversarialLoss(d, g)``.
#: The energy-based losses (EBGAN, BEGAN) take autoencoder energies and extra
#: state, not critic scores, so they are not in it.
LOSSES = {
    "minimax": AdversarialLoss(minimax_d, minimax_g),
    "nonsaturating": AdversarialLoss(minimax_d, nonsaturating_g),
    "lsgan": AdversarialLoss(lsgan_d, lsgan_g),
    "wasserstein": AdversarialLoss(wasserstein_d, wasserstein_g),
    "hinge": AdversarialLoss(hinge_d, hinge_g),
}


def get_loss(name: str) -> AdversarialLoss:
    """The ``(d_fn, g_fn)`` pair registered in :data:`LOSSES` under ``name``.

    Args:
      name: a key of :data:`LOSSES`.

    Returns:
      ``AdversarialLoss(d, g)``, a named tuple: ``d_fn, g_fn = get_loss(name)``.

    Raises:
      UnknownLossError: (a ``ValueError``) naming the valid choices.

    Example:
      >>> from jaxgan import losses
      >>> losses.get_loss("nonsaturating").g.__name__
      'nonsaturating_g'
      >>> losses.get_loss("wgan")
      Traceback (most recent call last):
        ...
      jaxgan.losses._common.UnknownLossError: Unknown loss 'wgan'; valid choices are ...
    """
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise UnknownLossError(
            f"Unknown loss {name!r}; valid choices are {', '.join(map(repr, sorted(LOSSES)))} "
            f"(set --config.loss.name to one of them).") from None


__all__ = [
    "AdversarialLoss",
    "CONTINUOUS_PRIORS",
    "LGA_MODES",
    "LOSSES",
    "UnknownLossError",
    "auxiliary_classifier",
    "began_convergence",
    "began_d",
    "began_g",
    "began_update_k",
    "bigan_d",
    "bigan_ge",
    "cycle_consistency",
    "ebgan_d",
    "ebgan_g",
    "get_loss",
    "hinge_d",
    "hinge_g",
    "identity_loss",
    "infogan_mutual_information",
    "lga",
    "lga_g",
    "lsgan_d",
    "lsgan_g",
    "minimax_d",
    "minimax_g",
    "nonsaturating_g",
    "pullaway_term",
    "reconstruction_energy",
    "wasserstein_d",
    "wasserstein_g",
]
