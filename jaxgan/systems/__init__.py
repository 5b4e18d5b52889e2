"""The GAN systems: ``SYSTEMS`` maps ``config.system`` to a :class:`jaxgan.system.System`.

Each module declares one system (its networks, groups, phases, sampling); the
engine (:mod:`jaxgan.engine`) trains, checkpoints and samples every one alike.

Example:
  >>> sorted(SYSTEMS)
  ['acgan', 'began', 'bigan', 'cgan', 'cyclegan', 'ebgan', 'gan', 'infogan', 'sgan']
"""

from __future__ import annotations

from jaxgan.config import ConfigError
from jaxgan.systems.acgan import ACGAN
from jaxgan.systems.began import BEGAN
from jaxgan.systems.bigan import BiGAN
from jaxgan.systems.cgan import CGAN
from jaxgan.systems.cyclegan import CycleGAN
from jaxgan.systems.ebgan import EBGAN
from jaxgan.systems.gan import GAN
from jaxgan.systems.infogan import InfoGAN
from jaxgan.systems.sgan import StackedGAN

SYSTEMS = {"gan": GAN, "cgan": CGAN, "acgan": ACGAN, "infogan": InfoGAN, "ebgan": EBGAN,
           "began": BEGAN, "bigan": BiGAN, "cyclegan": CycleGAN,
           "sgan": StackedGAN}

__all__ = ["SYSTEMS", "UnknownSystemError", "build_system", "get_system"]


class UnknownSystemError(ConfigError):
    """``config.system`` names no system in :data:`SYSTEMS`."""


def get_system(name: str):
    """The System class registered as ``name``; raises naming the valid choices."""
    try:
        return SYSTEMS[name]
    except (KeyError, TypeError):
        raise UnknownSystemError(f"system={name!r} is not a known system; choose one of "
                                 f"{sorted(SYSTEMS)} (--config.system=NAME).") from None


def build_system(config):
    """The system ``config.system`` names, built from ``config`` (which must be valid)."""
    return get_system(config.get("system", "gan"))(config)
