"""InfoGAN (Chen et al. 2016) on MNIST: one 10-way and two continuous codes, learnt without labels.

Command:
    python -m jaxgan.train --config configs/infogan_mnist.py            # MNIST
    python -m jaxgan.train --config configs/infogan_mnist.py:fashion    # Fashion-MNIST

Recipe (jaxgan.systems.mnist_configs): the paper's latent, 62-d noise, a
categorical code of 10 values and two U(-1, 1) codes, into a DCGAN generator at
width 32 on 32x32 digits; Q (FC 128, LeakyReLU, the code's logits and the
continuous codes' means with std 1) on the critic's trunk; lambda 1 for every code,
as the authors' MNIST code; non-saturating loss, Adam(2e-4, 0.5, 0.999), batch 64.

Result and time on 2 CPU cores: docs/results.md, section 6.
"""

from jaxgan.systems.mnist_configs import digit_config


def get_config(variant: str = ""):
    c = digit_config("infogan", variant, labels=False)
    c.model.z_dim = 62
    c.infogan.categorical = 10
    c.infogan.continuous = 2
    c.infogan.categorical_weight = 1.0
    c.infogan.continuous_weight = 1.0
    c.train.num_steps = 3000
    return c
