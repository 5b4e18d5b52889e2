"""Conditional GAN (Mirza & Osindero 2014) on MNIST: the label joined to z and to the critic's input.

Command:
    python -m jaxgan.train --config configs/cgan_mnist.py            # MNIST
    python -m jaxgan.train --config configs/cgan_mnist.py:fashion    # Fashion-MNIST

Recipe (jaxgan.systems.mnist_configs): DCGAN G and D at width 32 on 32x32 digits,
one-hot label concatenated to z (64-d) and as 10 constant planes to the critic's
input and first hidden layer (``model.conditioning='concat'``; ``'projection'``
is the modern variant, class-conditional batch norm and a projection critic);
non-saturating loss, Adam(2e-4, 0.5, 0.999), batch 64.

Result and time on 2 CPU cores: docs/results.md, section 6.
"""

from jaxgan.systems.mnist_configs import digit_config


def get_config(variant: str = ""):
    c = digit_config("cgan", variant)
    c.model.conditioning = "concat"
    c.train.num_steps = 3000
    return c
