"""WGAN-GP + LGA 8x8 on LSUN bedroom at 64x64.

Command:
    python -m jaxgan.train --config configs/lga_lsun_bedroom.py[:VARIANT] --config.data.data_dir=DIR

VARIANT: a row of jaxgan.config.LGA_VARIANTS (default lga8). Data: a prepared TFDS
``lsun/bedroom`` or a folder of bedroom JPEGs in DIR, center-cropped and resized to 64
(bicubic); not downloadable here. DCGAN 64x64, Adam(0, 0.9), lr 1e-4, batch 64,
100k steps, FID every 10k. Expected cost: a GPU day; not run here.
"""

from jaxgan.config import apply_lga_variant, apply_paper_schedule, base_config


def get_config(variant: str = "lga8"):
    c = base_config()
    c.data.name = "lsun_bedroom"
    c.data.image_size = 64
    c.data.channels = 3
    c.model.arch = "dcgan"
    apply_lga_variant(c, variant)
    return apply_paper_schedule(c)
