"""AC-GAN (Odena et al. 2017) on MNIST: the critic scores the source and predicts the class.

Command:
    python -m jaxgan.train --config configs/acgan_mnist.py            # MNIST
    python -m jaxgan.train --config configs/acgan_mnist.py:fashion    # Fashion-MNIST

Recipe (jaxgan.systems.mnist_configs): DCGAN G and D at width 32 on 32x32 digits;
the generator takes the one-hot class joined to z (64-d); the critic is told no
label and has a linear 10-way class head beside its source score; both players
add the class cross-entropy (weight 1) to the non-saturating loss, the critic
on real and generated images. Adam(2e-4, 0.5, 0.999), batch 64.

Result and time on 2 CPU cores: docs/results.md, section 6.
"""

from jaxgan.systems.mnist_configs import digit_config


def get_config(variant: str = ""):
    c = digit_config("acgan", variant)
    c.model.conditioning = "concat"
    c.acgan.class_weight = 1.0
    c.train.num_steps = 3000
    return c
