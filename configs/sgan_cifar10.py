"""Stacked GAN on CIFAR-10: the paper's setting, for machines that have CIFAR-10 and a GPU.

Command:
    python -m jaxgan.train --config configs/sgan_cifar10.py

Data: CIFAR-10 through TFDS (``cifar10``; jaxgan.data 'cifar10'), 32x32x3, 10
classes. It cannot be downloaded on the CPU machines this project is developed on.
Model: the authors' CIFAR-10 sizes where jaxgan's networks have them: encoder
conv5x5 64/128 channels, fc3 of 256; G1 with 512 hidden units; G0 width 128
(5x5x256 -> 10x10x256 -> 14x14x128 -> 28x28x128 -> 32x32x3); z1 of 50 and z0 of
16 dimensions; loss weights adv 1, cond 1, ent 10; batch 100; Adam(1e-4, 0.5,
0.999); joint coupling 0.01. The authors' CIFAR discriminators are larger
(96/192-channel convolutions with Gaussian input noise, dropout, batch norm and a
semi-supervised 10-class head); D0 here is the MNIST design at width 64 and D1 has
512 hidden units (see docs/sgan.md for every difference).
Schedule: the authors train each stack for 200 epochs of 500 steps and then
jointly; here 20k encoder steps, 100k independent and 100k joint GAN steps.
Result: not measured here (no CIFAR-10, no GPU on the development machines).
"""

from jaxgan.systems.sgan_config import sgan_config


def get_config():
    c = sgan_config("cifar10")
    c.data.image_size = 32
    c.data.channels = 3
    c.data.random_flip = True
    c.sgan.enc_channels = (64, 128)
    c.sgan.feature_dim = 256
    c.sgan.g1_hidden = 512
    c.sgan.g0_width = 128
    c.sgan.z0_embed = 128
    c.sgan.d1_hidden = 512
    c.sgan.d0_width = 64
    c.sgan.d0_hidden = 512
    c.sgan.encoder_steps = 20_000
    c.sgan.independent_steps = 100_000
    c.train.num_steps = 200_000
    c.train.log_every = 500
    c.train.sample_every = 5000
    c.train.checkpoint_every = 5000
    return c
