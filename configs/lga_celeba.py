"""WGAN-GP + LGA 8x8 on CelebA 64x64, the LGA paper's setting.

Command:
    python -m jaxgan.train --config configs/lga_celeba.py[:VARIANT] --config.data.data_dir=DIR

VARIANT is a row of the paper's tables (jaxgan.config.LGA_VARIANTS): wgan_gp,
wgan_gp_hinge, geogan, lga4, lga8 (default), zero_lga4, sign_lga8, sngan, sngan_lga.

Data: CelebA aligned faces, center crop 108, resized to 64 (bicubic). Either a
prepared TFDS ``celeb_a`` in DIR, or the ``img_align_celeba/`` folder of JPEGs in DIR
(data.name=celeb_a reads both). It cannot be downloaded on a machine without
internet; the command stops at once and says where to put it.
Model: DCGAN 64x64 (or the SNGAN ResNet for the sngan rows), Adam(0, 0.9), lr 1e-4,
batch 64, 100k generator steps. Expected cost: a GPU day; not run here.
"""

from jaxgan.config import apply_lga_variant, apply_paper_schedule, base_config


def get_config(variant: str = "lga8"):
    c = base_config()
    c.data.name = "celeb_a"
    c.data.image_size = 64
    c.data.channels = 3
    c.data.random_flip = True
    c.model.arch = "dcgan"
    c.model.z_dim = 128
    c.model.g_width = 64
    c.model.d_width = 64
    apply_lga_variant(c, variant)
    return apply_paper_schedule(c)
