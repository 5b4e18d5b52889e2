"""LGA on STL-10 at 48x48 (the SNGAN protocol: the unlabeled split resized to 48).

Command:
    python -m jaxgan.train --config configs/lga_stl10.py[:VARIANT] --config.data.data_dir=DIR

VARIANT: a row of jaxgan.config.LGA_VARIANTS; default sngan_lga (the ResNet 48x48
with the 4x4 LGA head: DCGAN has no 48x48 variant). Data: a prepared TFDS ``stl10``
in DIR (not downloadable here). Adam(0, 0.9), batch 64, 100k steps, FID every 10k.
Expected cost: a GPU day; not run here.
"""

from jaxgan.config import apply_lga_variant, apply_paper_schedule, base_config


def get_config(variant: str = "sngan_lga"):
    c = base_config()
    c.data.name = "stl10"
    c.data.split = "unlabelled"
    c.data.image_size = 48
    c.data.channels = 3
    c.data.random_flip = True
    c.model.arch = "resnet"
    apply_lga_variant(c, variant)
    return apply_paper_schedule(c)
