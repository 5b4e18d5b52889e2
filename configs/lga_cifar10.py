"""WGAN-GP + LGA on CIFAR-10 32x32 (the LGA paper's Table 1 setting).

Command:
    python -m jaxgan.train --config configs/lga_cifar10.py[:VARIANT] --config.data.data_dir=DIR

VARIANT: a row of jaxgan.config.LGA_VARIANTS (default lga8; sngan / sngan_lga use
the SNGAN ResNet 32x32). Data: a prepared TFDS ``cifar10`` in DIR (not downloadable
here; the command says so at once). Adam(0, 0.9), lr 1e-4, batch 64, 100k steps,
FID on 10k samples every 10k steps. Expected cost: hours on one GPU; not run here.
"""

from jaxgan.config import apply_lga_variant, apply_paper_schedule, base_config


def get_config(variant: str = "lga8"):
    c = base_config()
    c.data.name = "cifar10"
    c.data.image_size = 32
    c.data.channels = 3
    c.data.random_flip = True
    c.model.arch = "dcgan"
    apply_lga_variant(c, variant)
    return apply_paper_schedule(c)
