"""A Stacked GAN small enough for process-level tests (``--config tests/sgan_tiny_config.py:DIR``).

TINY widths, batch 16, 2 encoder steps, 2 independent and 2 joint GAN steps (6 in all), on
MNIST-format data in ``DIR`` (``tests/fake_data.py`` writes it).
"""

from jaxgan.models.sgan import TINY
from jaxgan.systems.sgan_config import sgan_config


def get_config(data_dir: str = ""):
    c = sgan_config("mnist")
    for k, v in TINY.items():
        c.sgan[k] = v
    c.data.data_dir = data_dir
    c.data.prefetch = 1
    c.sgan.encoder_steps = 2
    c.sgan.independent_steps = 2
    c.sgan.samples_per_class = 1
    c.train.batch_size = 16
    c.train.num_steps = 4
    c.train.log_every = 1
    c.train.checkpoint_every = 2
    c.train.sample_every = 100
    return c
