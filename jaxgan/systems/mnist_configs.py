"""The shared recipe of the CGAN, AC-GAN and InfoGAN configs on MNIST and Fashion-MNIST.

:func:`digit_config`: a batch-norm critic (the DCGAN paper's; real and
generated batches normalised apart), the non-saturating loss, Adam(2e-4, 0.5,
0.999), batch 64, one critic update per generator update, no penalty, on
DCGAN networks at width 32 and 32x32 (padded) digits. Without the critic's
batch norm this recipe collapsed: a CGAN run drew one image for every label
and latent by step 1000 (docs/results.md, section 6).
:func:`use_infogan_networks` swaps in the InfoGAN paper's networks on
unpadded 28x28 digits, which the configs train: with them InfoGAN's code
learnt the digit classes (docs/results.md, section 6). Each
``configs/<system>_mnist.py`` sets its system, its conditioning and its
length; the variant ``fashion`` swaps in Fashion-MNIST.
"""

from __future__ import annotations

from jaxgan.config import ConfigError, base_config

DATASETS = {"": "mnist", "mnist": "mnist", "fashion": "fashion_mnist"}


def digit_config(system: str, variant: str = "", *, labels: bool = True):
    """The base of one system's config on the data set of ``variant`` ('' or 'fashion')."""
    if variant not in DATASETS:
        raise ConfigError(f"unknown config variant {variant!r}; choose '' (MNIST) or 'fashion' "
                          f"(e.g. --config=configs/{system}_mnist.py:fashion).")
    c = base_config()
    c.system = system
    c.data.name = DATASETS[variant]
    c.data.image_size = 32
    c.data.channels = 1
    c.data.num_classes = 10 if labels else 0
    c.model.arch = "dcgan"
    c.model.z_dim = 64
    c.model.g_width = 32
    c.model.d_width = 32
    c.model.d_norm = "batch"
    c.loss.name = "nonsaturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1, c.optim.b2 = 0.5, 0.999
    c.optim.n_critic = 1
    c.train.batch_size = 64
    c.train.log_every = 100
    c.train.checkpoint_every = 500
    c.train.sample_every = 500
    c.train.num_sample_images = 100  # 10 rows (classes or codes) of 10.
    c.train.ema_decay = 0.99  # A short run: a long average would still hold early samples.
    return c


def use_infogan_networks(c):
    """Switch ``c`` to the InfoGAN paper's networks on unpadded 28x28 digits.

    :mod:`jaxgan.models.infogan_arch` at width 64 (G: FC 1024, FC 7x7x128,
    deconv 64, deconv 1; D: conv 64, conv 128 + BN, FC 1024 + BN), the
    networks of Chen et al. (2016) and of Lucic et al. (2018).
    """
    c.model.arch = "infogan"
    c.data.image_size = 28
    c.model.g_width = c.model.d_width = 64
    c.model.d_norm = "batch"
    return c
