"""Conditional GAN (Mirza & Osindero 2014): ``G(z | y)`` and ``D(x | y)``, the label fed to both.

The generator-critic pair of :mod:`jaxgan.systems.gan`, with labels required:
every real batch brings its labels, every fake is drawn for a uniformly random
class, and the critic judges image and label together. ``model.conditioning``
says how the label enters:

* ``'concat'``, the paper's form (in the convolutional layout of the DCGAN
  code): the one-hot label joined to ``z``, and as constant planes to the
  critic's input and first hidden layer;
* ``'projection'``, the modern variant: class-conditional batch norm in the
  generator and a projection critic (Miyato & Koyama 2018).

The objective is ``loss.name``: the paper's minimax, or the non-saturating
generator loss ``-log D(G(z|y) | y)`` its experiments train with.

Sample grids have one row per class; ``jaxgan.sample`` writes each image's label.
"""

from __future__ import annotations

from jaxgan.config import ConfigError
from jaxgan.systems.gan import GAN


def require_labels(config, system: str) -> None:
    """Raises ConfigError unless ``config`` trains on labels (``data.num_classes > 0``)."""
    classes = config.data.num_classes
    if isinstance(classes, bool) or not isinstance(classes, int) or classes <= 0:
        raise ConfigError(
            f"system {system!r} is conditioned on class labels, but data.num_classes="
            f"{classes!r}: set --config.data.num_classes to the data set's number of classes "
            "(10 for MNIST and Fashion-MNIST), on a labelled data set.")


class CGAN(GAN):
    """``G(z | y)``, ``D(x | y)`` (see the module docstring)."""

    @classmethod
    def check_config(cls, config) -> None:
        require_labels(config, "cgan")
        super().check_config(config)
