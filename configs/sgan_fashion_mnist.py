"""Stacked GAN on Fashion-MNIST: configs/sgan_mnist.py on clothing images.

Command:
    python -m jaxgan.train --config configs/sgan_fashion_mnist.py

Data: Fashion-MNIST from Debian's dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist) or the official files in data.data_dir, 28x28.
Model and schedule: as configs/sgan_mnist.py (jaxgan.systems.sgan_config.cpu_config: CPU
widths, the paper's losses and optimizer, 1000 encoder steps), with twice the GAN
steps (2000 independent + 2000 joint): clothes vary more within a class than digits.
Result and time on 2 CPU cores: docs/sgan.md.
"""

from jaxgan.systems.sgan_config import cpu_config


def get_config():
    c = cpu_config("fashion_mnist")
    c.sgan.independent_steps = 2000
    c.train.num_steps = 4000
    return c
