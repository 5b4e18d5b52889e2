"""EBGAN-PT (Zhao et al. 2017) on MNIST: an autoencoder critic with a margin, and the pull-away term.

Command:
    python -m jaxgan.train --config configs/ebgan_mnist.py            # MNIST
    python -m jaxgan.train --config configs/ebgan_mnist.py:fashion    # Fashion-MNIST

Recipe: the networks and prior of the BEGAN config (the InfoGAN generator, the
autoencoder critic with a 64-d code, z uniform 64-d, 28x28 digits); energy =
per-example MSE on [-1, 1] images, margin 1, pull-away weight 0.1 (the paper's
EBGAN-PT); Adam(2e-4, 0.5), batch 64, 3,000 steps.

Measured here (docs/results.md, section 7.1): MNIST, 3000 steps in 19 min 54 s
on 2 CPU cores shared with other work; varied digits of all 10 classes,
classifier FID 909.6 on 10,000 samples (real training images: 19.3),
Inception FID 52.9 on 1,000 samples against 1,000 test images (real: 11.5).
Fashion-MNIST: not yet run.
"""

from jaxgan.systems.lucic_configs import lucic_config


def get_config(variant: str = ""):
    c = lucic_config("began", variant)
    c.system = "ebgan"
    c.energy.margin = 1.0
    c.energy.pullaway_weight = 0.1
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.n_critic = 1
    c.train.num_steps = 3000
    c.train.sample_every = 500
    c.train.checkpoint_every = 500
    return c
