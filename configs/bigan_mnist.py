"""BiGAN (Donahue et al. 2017) on MNIST: generator, encoder and a critic of (image, code) pairs.

Command:
    python -m jaxgan.train --config configs/bigan_mnist.py            # MNIST
    python -m jaxgan.train --config configs/bigan_mnist.py:fashion    # Fashion-MNIST
    python benchmarks/bigan_features.py --workdir runs/bigan_mnist    # the encoder's features

Recipe: the paper's permutation-invariant MNIST experiment as the authors'
code runs it (``train_mnist.sh``): MLPs of 1024 units (jaxgan.models.bigan),
z ~ U(-1, 1)^50, the non-saturating joint-pair loss, Adam(2e-4, 0.5, 0.999),
batch 128, 28x28 digits. Differences: their weight decay (2.5e-5) and
learning-rate decay are left out, and the run is 10 epochs (4,690 steps)
where theirs is 400.

Measured here (docs/results.md, section 8): see there.
"""

from jaxgan.config import ConfigError, base_config
from jaxgan.systems.mnist_configs import DATASETS

EPOCH_STEPS = 469  # 60,000 training images in batches of 128.


def get_config(variant: str = ""):
    if variant not in DATASETS:
        raise ConfigError(f"unknown config variant {variant!r}; choose '' (MNIST) or 'fashion' "
                          "(e.g. --config=configs/bigan_mnist.py:fashion).")
    c = base_config()
    c.system = "bigan"
    c.data.name = DATASETS[variant]
    c.data.image_size = 28
    c.data.channels = 1
    c.data.num_classes = 0
    c.model.arch = "mlp"
    c.model.z_dim = 50
    c.model.z_prior = "uniform"
    c.model.g_width = c.model.d_width = 1024
    c.model.d_norm = "batch"
    c.bigan.e_width = 1024
    c.loss.name = "nonsaturating"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1, c.optim.b2 = 0.5, 0.999
    c.optim.n_critic = 1
    c.train.batch_size = 128
    c.train.num_steps = 10 * EPOCH_STEPS
    c.train.ema_decay = 0.0
    c.train.log_every = 100
    c.train.checkpoint_every = 1000
    c.train.sample_every = 1000
    c.train.num_sample_images = 64
    return c
