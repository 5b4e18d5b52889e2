"""BEGAN (Berthelot et al. 2017) on MNIST: an autoencoder critic and the k controller.

Command:
    python -m jaxgan.train --config configs/began_mnist.py            # MNIST
    python -m jaxgan.train --config configs/began_mnist.py:fashion    # Fashion-MNIST

Recipe: Lucic et al.'s BEGAN (jaxgan.systems.lucic_configs, row 'began'): the
InfoGAN generator and the autoencoder critic (code 64) on 28x28 digits, z
uniform 64-d, gamma 0.75, lambda_k 0.001, Adam(1e-4, 0.5), batch 64; here one
critic update per step (theirs: 5) and 3,000 steps, to train on 2 CPU cores in
about a quarter of an hour.

Measured here (docs/results.md, section 7.1): BEGAN does not train here yet.
With k clipped to [0, 1] (the paper's controller) the MNIST run collapsed to
one texture by step 1000: k fell to 0 at step ~700 and stayed. Unclipped (as
their code; this config: energy.clip_k=False) k crosses zero and the samples
stay a grey checkerboard (1000 steps, 6 min 27 s, classifier FID 7941 on 10k;
with lambda_k 0.02, 1500 steps: 6880, 7/10 classes).
"""

from jaxgan.systems.lucic_configs import lucic_config


def get_config(variant: str = ""):
    c = lucic_config("began", variant)
    c.optim.n_critic = 1
    c.train.num_steps = 3000
    c.energy.lambda_k = 0.001  # lucic_config scales it by their 5 critic updates per step.
    c.train.sample_every = 500
    c.train.checkpoint_every = 500
    return c
