"""InfoGAN (Chen et al. 2016) on MNIST: one 10-way and two continuous codes, learnt without labels.

Command:
    python -m jaxgan.train --config configs/infogan_mnist.py            # MNIST
    python -m jaxgan.train --config configs/infogan_mnist.py:fashion    # Fashion-MNIST

Recipe (jaxgan.systems.mnist_configs): the paper's latent, 62-d noise, a
categorical code of 10 values and two U(-1, 1) codes, into the InfoGAN paper's
networks on unpadded 28x28 digits (G: FC 1024, FC 7x7x128, deconv 64, deconv 1;
D: conv 64, conv 128 + BN, FC 1024 + BN); Q (FC 128, LeakyReLU, the code's
logits and the continuous codes' means with std 1) on the critic's 1024
features; lambda 1 for every code, as the authors' MNIST code; non-saturating
loss, Adam(0.5, 0.999) with the authors' learning rates (G 1e-3, D and Q 2e-4),
batch 64, 3,000 steps. With a DCGAN generator at 32x32 and G's rate 2e-4 the
code did not learn the digits (20-27% matched accuracy, docs/results.md section
6).

Result on 2 CPU cores: 3000 steps in 13-15 min; the categorical code as an unsupervised
digit classifier scores 81.3%, 78.5% and 77.2% (seeds 0, 1, 2; best one-to-one matching of
codes to classes); Fashion-MNIST 64.6% in 12 min 51 s. Details: docs/results.md, section 6.
"""

from jaxgan.systems.mnist_configs import digit_config, use_infogan_networks


def get_config(variant: str = ""):
    c = use_infogan_networks(digit_config("infogan", variant, labels=False))
    c.model.z_dim = 62
    c.infogan.categorical = 10
    c.infogan.continuous = 2
    c.infogan.categorical_weight = 1.0
    c.infogan.continuous_weight = 1.0
    c.optim.g_lr = 1e-3  # The authors' MNIST setting: G 1e-3, D and Q 2e-4.
    c.train.num_steps = 3000
    return c
