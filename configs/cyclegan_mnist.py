"""CycleGAN (Zhu et al. 2017) between MNIST and MNIST-M: unpaired digits, grey and on photographs.

Command:
    python -m jaxgan.train --config configs/cyclegan_mnist.py
    python -m jaxgan.sample --workdir runs/cyclegan_mnist --input X.npz --direction a2b --out Y.npz

Data: domain a is MNIST (the grey digit repeated over 3 channels), domain b
MNIST-M (digits blended onto patches of scikit-image's photographs, built
here; jaxgan/data/mnist_m.py), both 28x28x3, drawn apart so that no pair is
shown. Both keep their digit labels, which training never reads and the
evaluation uses to ask whether a translation kept the digit.

Recipe: the paper's (least-squares losses, lambda 10, identity 0.5 lambda,
pools of 50, Adam(2e-4, 0.5)) at this image size and CPU budget: ResNet
generators of width 16 with 3 residual blocks, PatchGAN critics of width 32
with 2 stride-2 layers (34x34 receptive field: at 28x28 the paper's 3 layers
would judge the whole image), batch 16 (the paper's: 1), 3,000 steps, no
learning-rate decay.

Measured here: not yet.
"""

from jaxgan.config import base_config


def get_config():
    c = base_config()
    c.system = "cyclegan"
    c.data.name = "unpaired"
    c.data.a, c.data.b = "mnist", "mnist_m"
    c.data.image_size = 28
    c.data.channels = 3
    c.data.num_classes = 0
    c.model.g_width = 16
    c.model.d_width = 32
    c.cyclegan.blocks = 3
    c.cyclegan.d_layers = 2
    c.loss.name = "lsgan"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.optim.b1, c.optim.b2 = 0.5, 0.999
    c.train.batch_size = 16
    c.train.num_steps = 3000
    c.train.ema_decay = 0.0
    c.train.log_every = 100
    c.train.checkpoint_every = 500
    c.train.sample_every = 500
    c.train.num_sample_images = 64
    return c
