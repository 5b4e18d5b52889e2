"""The ``sgan`` config section: every Stacked GAN field, documented once, and its checks.

An SGAN experiment is :func:`jaxgan.config.base_config` with ``system='sgan'``
plus an ``sgan`` section (:func:`sgan_config` builds both; the system is
:class:`jaxgan.systems.sgan.StackedGAN`). The base fields SGAN
reads are ``seed``, ``data.*``, ``optim.g_lr / d_lr / b1 / b2``, ``loss.name``
and ``train.*``; :func:`validate` rejects base fields SGAN would silently
ignore (a penalty weight, ``n_critic`` > 1, an EMA), before any compute.

Settings and where they come from (Huang et al., "Stacked Generative
Adversarial Networks", CVPR 2017, and the authors' Theano code,
github.com/xunhuang1995/SGAN, ``mnist/`` and ``cifar/``):

* ``z1_dim = 50``, ``z0_dim = 16``: the paper's CIFAR-10 noise sizes (the
  authors' MNIST script draws 50 dimensions for both).
* ``noise = 'uniform'``: ``U(0, 1)`` as in the authors' code; the entropy loss
  is then a mean squared error with the weight's meaning unchanged.
* ``adv_weight = cond_weight = 1``, ``ent_weight = 10``: the authors' defaults.
* ``joint_bottom_weight = 0.01``: in joint training the top generator
  minimises ``L_G1 + 0.01 L_G0`` (authors' ``cifar/train_joint.py``).
* batch 100, Adam with learning rate 1e-4 and ``beta1 = 0.5`` for every
  network (the authors' ``nn.adam_updates(..., lr=1e-4, mom1=0.5)``, ``mom2 = 0.999``).
* The encoder E is conv5x5-maxpool-conv5x5-maxpool-fc3(256)-fc4(10) with
  valid convolutions: 32/32 channels for MNIST, 64/128 for CIFAR-10.
"""

from __future__ import annotations

import os

import ml_collections

from jaxgan import config as config_lib
from jaxgan.config import ConfigError

NOISES = ("uniform", "normal")

# Fields that fix the shapes of the saved networks: a workdir trained with
# other values cannot be resumed.
STRUCTURAL_FIELDS = (
    "sgan.stacked", "sgan.z1_dim", "sgan.z0_dim", "sgan.feature_dim", "sgan.enc_channels",
    "sgan.g1_hidden", "sgan.g0_width", "sgan.z0_embed", "sgan.d1_hidden", "sgan.d0_width",
    "sgan.d0_hidden", "data.image_size", "data.channels", "data.num_classes",
)


def sgan_section() -> ml_collections.ConfigDict:
    """The ``sgan`` section with the paper's settings and small-data widths."""
    s = ml_collections.ConfigDict()
    # False: the single-stack ablation baseline ("DCGAN" in the paper's Table 2): one
    # generator G(z, y) -> image with z of z1_dim + z0_dim dimensions, one image
    # discriminator, and L_cond the encoder's cross-entropy of G's image against y.
    s.stacked = True
    s.z1_dim = 50  # Noise of the top generator G1 (paper: 50).
    s.z0_dim = 16  # Noise of the bottom generator G0 (paper, CIFAR-10: 16).
    s.noise = "uniform"  # 'uniform' U(0, 1) (authors' code) or 'normal' N(0, 1).
    # Encoder E: conv5x5(c1)-pool-conv5x5(c2)-pool-fc3(feature_dim)-fc4(num_classes).
    s.enc_channels = (32, 32)  # (64, 128) for CIFAR-10.
    s.feature_dim = 256  # h1 = fc3, the representation G1 makes and G0 is conditioned on.
    s.g1_hidden = 512  # G1: [z1, onehot(y)] -> 2 x (dense g1_hidden, BN, ReLU) -> dense fc3, ReLU.
    s.g0_width = 64  # G0 channel width: s0 x s0 x 2w -> up 2w -> full 5x5 w -> up w -> full 5x5 C.
    s.z0_embed = 128  # G0 embeds z0 with a dense layer (BN, ReLU) before the concatenation.
    s.d1_hidden = 256  # D1: 2 x (dense d1_hidden, LeakyReLU) -> score head, Q head.
    s.d0_width = 32  # D0: conv5x5 s2 (w, 2w, 4w), LeakyReLU -> dense d0_hidden -> heads.
    s.d0_hidden = 256
    # Loss weights (authors' defaults); 0 turns a term off (the ablation rows).
    s.adv_weight = 1.0
    s.cond_weight = 1.0
    s.ent_weight = 10.0
    s.joint_bottom_weight = 0.01  # Joint training: G1 minimises L_G1 + this * L_G0.
    # Schedule: encoder pre-training, then independent stacks, then joint training.
    s.encoder_steps = 2000  # Classifier updates of E (skipped when encoder_path is set).
    s.encoder_lr = 1e-3  # Adam for E (its own optimizer; E is frozen afterwards).
    s.encoder_path = ""  # A saved encoder.npz (written by a previous run) to reuse.
    s.independent_steps = 5000  # The first GAN steps train each stack on its own;
    #                             the remaining train.num_steps - independent_steps are joint.
    s.max_examples = 0  # > 0: train on the first N examples only (small-data runs, tests).
    s.samples_per_class = 10  # Columns of the per-class sample grid (one row per class).
    return s


def sgan_config(dataset: str = "mnist") -> ml_collections.ConfigDict:
    """:func:`jaxgan.config.base_config` with the SGAN section and SGAN's shared settings."""
    c = config_lib.base_config()
    c.system = "sgan"
    c.data.name = dataset
    c.data.num_classes = 10
    c.data.image_size = 28
    c.data.channels = 1
    c.data.fit = "pad"  # 28x28 digits stay 28x28, the size of the authors' encoder input.
    # Stock Flax convolutions: at the CPU widths the exact rewrites of jaxgan.models.fast_conv
    # measured no faster (0.22 s a GAN step at batch 100 against 0.23-0.32 s); both run.
    c.model.fast_cpu_layers = False
    c.loss.name = "nonsaturating"  # D: BCE of real vs fake; G: -log D(G(.)).
    c.optim.g_lr = c.optim.d_lr = 1e-4
    c.optim.b1, c.optim.b2 = 0.5, 0.999
    c.train.batch_size = 100
    c.train.ema_decay = 0.0  # SGAN keeps no EMA of its generators.
    c.train.num_sample_images = 100
    c.eval.metric = "classifier_fid"
    c.sgan = sgan_section()
    return c


# Widths at which an SGAN trains on 28x28 data on a few CPU cores in minutes (every
# small-data config and benchmarks/sgan_ablation.py): the encoder's convolutions at
# 16/32 channels (paper 32/32), G1 with 256 hidden units (paper 512), G0 and D0 at
# width 8 (the authors' G0 has width 64, D0 32). fc3 keeps the paper's 256.
CPU_WIDTHS = dict(enc_channels=(16, 32), feature_dim=256, g1_hidden=256, g0_width=8, z0_embed=64,
                  d1_hidden=256, d0_width=8, d0_hidden=128)


def cpu_config(dataset: str) -> ml_collections.ConfigDict:
    """:func:`sgan_config` at :data:`CPU_WIDTHS` with the small-data schedule and logging."""
    c = sgan_config(dataset)
    for k, v in CPU_WIDTHS.items():
        c.sgan[k] = v
    c.sgan.encoder_steps = 1000
    c.sgan.independent_steps = 1000
    c.train.num_steps = 2000
    c.train.log_every = 100
    c.train.sample_every = 500
    c.train.checkpoint_every = 500
    return c


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks the SGAN fields before any compute (:func:`jaxgan.config.validate` checks the
    shared ones first); raises ConfigError naming the field and the fix."""
    from jaxgan import losses  # Lazy: keep this module import-light.

    if "sgan" not in config:
        raise ConfigError("This config has no 'sgan' section; build it with "
                          "jaxgan.systems.sgan_config.sgan_config().")
    s = config.sgan
    for dotted in ("optim.g_lr", "optim.d_lr"):  # The train.* fields: jaxgan.config.validate.
        config_lib.positive(config, dotted)
    for name in ("z1_dim", "z0_dim", "feature_dim", "g1_hidden", "g0_width", "z0_embed",
                 "d1_hidden", "d0_width", "d0_hidden", "encoder_lr", "samples_per_class"):
        config_lib.positive(config, f"sgan.{name}")
    for name in ("adv_weight", "cond_weight", "ent_weight", "joint_bottom_weight",
                 "encoder_steps", "independent_steps", "max_examples"):
        config_lib.positive(config, f"sgan.{name}", allow_zero=True)
    if len(tuple(s.enc_channels)) != 2 or min(s.enc_channels) < 1:
        raise ConfigError(f"sgan.enc_channels={tuple(s.enc_channels)} must be two positive "
                          "channel counts (conv1, conv2), e.g. (32, 32).")
    if s.noise not in NOISES:
        raise ConfigError(f"sgan.noise={s.noise!r} must be one of {NOISES}.")
    if s.independent_steps > config.train.num_steps:
        raise ConfigError(
            f"sgan.independent_steps={s.independent_steps} exceeds train.num_steps="
            f"{config.train.num_steps} (the total of independent and joint steps); lower it, or "
            "set them equal for a run without joint training.")
    if not s.encoder_path and s.encoder_steps == 0:
        raise ConfigError("sgan.encoder_steps=0 and no sgan.encoder_path: the encoder would stay "
                          "untrained. Pre-train it (sgan.encoder_steps > 0) or pass a saved "
                          "encoder.npz as sgan.encoder_path.")
    if s.encoder_path and not os.path.isfile(os.path.expanduser(s.encoder_path)):
        raise FileNotFoundError(
            f"sgan.encoder_path={s.encoder_path!r} does not exist. Point it at the encoder.npz "
            "an earlier SGAN run wrote into its workdir, or set it to '' to pre-train one.")
    if config.data.num_classes < 2:
        raise ConfigError(
            f"data.num_classes={config.data.num_classes}: SGAN's encoder is a classifier and G1 "
            "is conditioned on the label, so it needs labelled data (e.g. 10 for MNIST).")
    size = config.data.image_size
    if size not in (28, 32):
        raise ConfigError(
            f"data.image_size={size}: the SGAN networks (valid 5x5 encoder convolutions, "
            "the authors' generator) are built for 28 (MNIST) or 32 (CIFAR-10).")
    losses.get_loss(config.loss.name)
    ignored = [f for f in ("reg.gp_weight", "reg.dragan_weight", "reg.r1_weight",
                           "reg.clip_value") if config[f.split(".")[0]][f.split(".")[1]]]
    if ignored:
        raise ConfigError(f"{', '.join(ignored)} > 0: the SGAN trainer applies no critic "
                          "penalty; set them to 0.")
    if config.loss.lga != "none" or config.loss.real_label != 1.0:
        raise ConfigError("loss.lga and loss.real_label are not used by the SGAN trainer; keep "
                          "loss.lga='none' and loss.real_label=1.0.")
    if config.optim.n_critic != 1:
        raise ConfigError(f"optim.n_critic={config.optim.n_critic}: SGAN alternates one "
                          "discriminator and one generator update (set it to 1).")
    if config.train.ema_decay:
        raise ConfigError(f"train.ema_decay={config.train.ema_decay}: SGAN keeps no EMA of its "
                          "generators; set it to 0.")
