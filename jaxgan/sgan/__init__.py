"""Stacked Generative Adversarial Networks (Huang, Li, Poursaeed, Hopcroft, Belongie, CVPR 2017).

A bottom-up encoder E (a classifier) and a top-down stack of GANs that invert
it: G1 makes E's fc3 features from noise and a label, G0 makes images from
noise and fc3 features. Each generator is trained with an adversarial loss
against a representation discriminator, a conditional loss (E applied to the
generated representation must give back the condition) and an entropy loss
(a Q network recovers the noise), first stack by stack, then end to end.

Modules: :mod:`~jaxgan.sgan.config` (the ``sgan`` config section),
:mod:`~jaxgan.sgan.models`, :mod:`~jaxgan.sgan.losses`,
:mod:`~jaxgan.sgan.state`, :mod:`~jaxgan.sgan.step` (the data-parallel steps),
:mod:`~jaxgan.sgan.sampling`, :mod:`~jaxgan.sgan.encoder` (the saved encoder),
:mod:`~jaxgan.sgan.trainer` (``run(config, workdir)``). docs/sgan.md has the
choices, the deviations from the paper and the measured ablation.
"""

from jaxgan.sgan.config import sgan_config
from jaxgan.sgan.models import Networks, build_networks

__all__ = ["Networks", "build_networks", "sgan_config"]
