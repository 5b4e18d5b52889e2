"""The base config: every field of every experiment, documented once.

An experiment file in ``configs/`` calls :func:`base_config` and overrides a
few fields; :func:`validate` checks the result before any compute is spent and
raises :class:`ConfigError` naming the field, the cause and the fix.
"""

from __future__ import annotations

import ml_collections


class ConfigError(ValueError):
    """A user mistake in the config: the message names the field and the fix."""


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.system = "gan"  # A key of jaxgan.systems.SYSTEMS: what is trained (networks, losses, phases).
    c.seed = 0  # The one base key; inside the step key = fold_in(key(seed), step).

    # ---- data -------------------------------------------------------------
    c.data = d = ml_collections.ConfigDict()
    d.name = "mnist"  # A key of jaxgan.data.DATASETS.
    d.data_dir = ""  # Where sources look for / cache files; "" = the source's default.
    d.image_size = 32  # Images are resized/padded to image_size x image_size.
    d.channels = 1  # 1 (grayscale) or 3 (RGB); sources convert.
    d.random_flip = False  # Random horizontal flips (never for digits).
    d.split = "train"
    d.num_classes = 0  # > 0: labels are fed to conditional models.
    # data.name='unpaired' (image-to-image translation): the two domains, each a data set
    # name (e.g. 'mnist', 'mnist_m') or a folder of images; drawn apart, never paired.
    d.a = ""
    d.b = ""
    d.prefetch = 2  # Batches placed on the devices ahead of the step.

    # ---- models -----------------------------------------------------------
    c.model = m = ml_collections.ConfigDict()
    m.arch = "dcgan"  # A key of jaxgan.models.ARCHS.
    m.z_dim = 128
    m.z_prior = "normal"  # The generator's noise: 'normal' N(0, I) or 'uniform' U(-1, 1)^z_dim.
    m.g_width = 64  # Channel width multiplier of the generator.
    m.d_width = 64  # Channel width multiplier of the critic.
    m.critic_map = 1  # The critic scores an n x n map (n in {1, 4, 8}); 1 = one score.
    m.critic_global = False  # Map critics (dcgan): add one whole-image score to every cell.
    # The generator's last activation: 'tanh' (DCGAN) or 'linear' (as ProGAN / StyleGAN;
    # images are clipped to [-1, 1] when written). A tanh generator must saturate to draw
    # MNIST's exactly-black background, which can take its dependence on z with it.
    m.g_output = "tanh"
    m.spectral_norm = False  # Spectral normalization in the critic (always on for 'resnet').
    # How conditional models take labels: 'projection' (class-conditional batch norm in G, a
    # projection critic) or 'concat' (CGAN: one-hot joined to z and to the critic's input).
    m.conditioning = "projection"
    # Normalization in the dcgan critic: 'none' (WGAN-GP's), 'layer', or 'batch' (the DCGAN
    # paper's: real and generated batches are normalised apart; no gradient penalties).
    m.d_norm = "none"
    # The generator's hidden activation where the arch offers a choice (infogan: 'relu' as
    # the InfoGAN paper, 'lrelu' as Lucic et al.'s code); other archs take 'relu' only.
    m.g_activation = "relu"
    # The generator's normalization (archs dcgan, infogan; unconditional): 'batch', or
    # 'virtual' (Salimans et al.'s VBN over a fixed reference batch of vbn_reference latents).
    m.g_norm = "batch"
    m.vbn_reference = 64
    # Minibatch layers before the critic's score (jaxgan.models.minibatch; archs dcgan and
    # infogan, critic_map 1): Salimans et al.'s minibatch discrimination with this many
    # kernels of minibatch_kernel_dim (0: none; the paper: 100 of 5), and Karras et al.'s
    # minibatch standard deviation over groups of this many examples (0: none; theirs: 4).
    m.minibatch_kernels = 0
    m.minibatch_kernel_dim = 5
    m.minibatch_std = 0
    # PacGAN (Lin et al. 2018): the critic judges m examples joined along the channel axis
    # (systems gan, cgan; unconditional runs only). 1: no packing.
    m.pack = 1
    m.fast_cpu_layers = True  # Exact conv rewrites that are faster on XLA:CPU (models/fast_conv.py); CPU only.

    # ---- adversarial loss -------------------------------------------------
    c.loss = l = ml_collections.ConfigDict()
    l.name = "hinge"  # A key of jaxgan.losses.LOSSES.
    l.lga = "none"  # Generator-side Local Gradient Amplifier: none | lga | zero | sign_preserving.
    l.real_label = 1.0  # < 1: one-sided label smoothing (minimax / non-saturating only).
    # Salimans et al.'s feature matching: the generator's loss adds this weight times
    # ||E f(x) - E f(G(z))||^2 on the critic's last hidden features (systems gan, cgan).
    l.feature_matching = 0.0
    l.g_adversarial = True  # False: the generator minimises feature matching alone (the paper).

    # ---- auxiliary heads (system 'acgan' / 'infogan') ----------------------
    c.acgan = a = ml_collections.ConfigDict()
    a.class_weight = 1.0  # Weight of the class cross-entropy in both players' losses.
    c.infogan = i = ml_collections.ConfigDict()
    i.categorical = 10  # Values of the one categorical code (0: none).
    i.continuous = 2  # Continuous codes, each U(-1, 1).
    i.categorical_weight = 1.0  # lambda of the categorical code's information term.
    i.continuous_weight = 1.0  # lambda of the continuous codes' (Q's std fixed at 1).
    i.q_hidden = 128  # Width of Q's hidden layer on the critic's features.

    # ---- energy-based systems ('ebgan' / 'began'): an autoencoder critic ----
    c.energy = en = ml_collections.ConfigDict()
    en.code_dim = 64  # Width of the autoencoder's code (its bottleneck).
    en.margin = 1.0  # EBGAN's m: the critic pushes generated energies (MSE) up to m.
    en.pullaway_weight = 0.1  # EBGAN's weight of the pull-away term in G's loss (0: EBGAN without PT).
    en.gamma = 0.75  # BEGAN's diversity ratio: the equilibrium E[L(G(z))] = gamma E[L(x)].
    en.lambda_k = 0.001  # BEGAN's gain of the k controller.
    en.k_init = 0.0  # BEGAN's k at step 0.
    en.clip_k = True  # BEGAN's k clipped to [0, 1] (the paper); Lucic et al.'s code does not.

    # ---- BiGAN / ALI ('bigan'): an encoder and a critic of (image, code) pairs ----
    c.bigan = bg = ml_collections.ConfigDict()
    bg.e_width = 1024  # Hidden width of the encoder (the generator's and critic's: model.*_width).

    # ---- CycleGAN ('cyclegan'): two generators, two patch critics, unpaired domains ----
    c.cyclegan = cg = ml_collections.ConfigDict()
    cg.cycle_weight = 10.0  # lambda of the cycle-consistency L1 terms.
    cg.identity_weight = 0.5  # lambda_id: the identity terms weigh lambda * lambda_id (0: none).
    cg.pool_size = 50  # Generated images each critic's history pool keeps (0: no pool).
    cg.blocks = 6  # Residual blocks of each ResNet generator.
    cg.d_layers = 3  # Stride-2 layers of each PatchGAN critic (3: 70x70 patches).
    cg.norm = "instance"  # 'instance' or 'none', in both kinds of network.

    # ---- regularizers (a weight of 0 turns one off) -----------------------
    c.reg = r = ml_collections.ConfigDict()
    r.gp_weight = 0.0  # WGAN-GP lambda.
    r.gp_target = 1.0  # The gradient norm the penalty pulls towards.
    r.dragan_weight = 0.0
    r.r1_weight = 0.0  # R1 (real data) penalty gamma; the loss adds gamma/2 * ||grad||^2.
    r.drift_weight = 0.0  # Progressive GAN's epsilon_drift: adds eps * D(real)^2 (paper: 0.001).
    r.clip_value = 0.0  # WGAN weight clipping to [-c, c] after each critic update.
    # Historical averaging (Salimans et al. 2016), every system: each player's loss adds
    # w * ||theta - (1/t) sum_{i<=t} theta_i||^2, the mean of its past parameters.
    r.historical_weight = 0.0
    # DiffAugment (Zhao et al. 2020) of every image the critic sees, real and generated, in
    # both updates (systems gan, cgan): '' or comma-separated of color, translation, cutout.
    r.diffaugment = ""

    # ---- optimizers -------------------------------------------------------
    c.optim = o = ml_collections.ConfigDict()
    o.g_lr = 1e-4
    o.d_lr = 1e-4
    o.b1 = 0.0  # Adam(beta1=0, beta2=0.9) as in WGAN-GP and the LGA paper.
    o.b2 = 0.9
    o.n_critic = 1  # Critic updates per generator update.

    # ---- training loop ----------------------------------------------------
    c.train = t = ml_collections.ConfigDict()
    t.num_steps = 10_000  # Generator updates.
    t.batch_size = 64  # Global batch, split over every device of every host.
    t.log_every = 100
    t.checkpoint_every = 1000
    t.sample_every = 1000
    t.keep_checkpoints = 3
    t.ema_decay = 0.999  # EMA of the generator's params; 0 keeps none.
    t.num_sample_images = 64  # Images in each PNG grid (a fixed latent).

    # ---- evaluation during training ---------------------------------------
    c.eval = e = ml_collections.ConfigDict()
    e.every = 0  # Steps between evaluations; 0 = never during training.
    e.metric = "fid"  # fid (Inception) | classifier_fid (small-data classifier).
    e.num_samples = 10_000
    e.reference = ""  # An .npz of reference statistics; "" = computed from the data source.
    return c


def get_dotted(config, dotted: str):
    """The value of the field ``section.name``."""
    section, name = dotted.split(".")
    return config[section][name]


def positive(config, dotted: str, *, allow_zero: bool = False) -> None:
    """Raises ConfigError unless the (numeric) field ``dotted`` is > 0 (or >= 0)."""
    value = get_dotted(config, dotted)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{dotted}={value!r} must be a number; set --config.{dotted}=<value>.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{dotted}={value!r} must be {bound}; set --config.{dotted}=<value>.")


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks a config before any compute; raises ConfigError naming the field and the fix.

    The fields every system shares are checked here; then the system named by
    ``config.system`` checks its own (:meth:`jaxgan.system.System.check_config`).
    Registry lookups (system, loss, architecture, dataset) raise their own
    errors, which name the valid choices.
    """
    from jaxgan import data, systems  # Lazy: the config module stays import-light.

    system = systems.get_system(config.get("system", "gan"))
    for dotted in ("train.num_steps", "train.batch_size", "train.log_every",
                   "train.checkpoint_every", "train.sample_every", "train.keep_checkpoints"):
        positive(config, dotted)
    positive(config, "eval.every", allow_zero=True)
    positive(config, "reg.historical_weight", allow_zero=True)
    if not 0.0 <= config.train.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay={config.train.ema_decay} must be in [0, 1); "
                          "0 keeps no EMA of the generator.")
    if config.data.name not in data.DATASETS:
        raise ConfigError(f"data.name={config.data.name!r} is not a known dataset; choose one "
                          f"of {sorted(data.DATASETS)}.")
    if config.data.channels not in (1, 3):
        raise ConfigError(f"data.channels={config.data.channels} must be 1 or 3.")
    if config.eval.every and config.eval.metric not in ("fid", "classifier_fid"):
        raise ConfigError(f"eval.metric={config.eval.metric!r} must be 'fid' or 'classifier_fid'.")
    system.check_config(config)


def upgrade(saved: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A config read from an older workdir, with the fields it predates at their defaults.

    A workdir written before ``system`` existed is a Stacked GAN run if it has
    an ``sgan`` section and a single-pair GAN run otherwise.
    """
    merged = base_config().to_dict()
    merged["system"] = saved.get("system", "sgan" if "sgan" in saved else "gan")

    def merge(into: dict, new: dict) -> None:
        for k, v in new.items():
            if isinstance(v, dict) and isinstance(into.get(k), dict):
                merge(into[k], v)
            else:
                into[k] = v

    merge(merged, saved.to_dict())
    return ml_collections.ConfigDict(merged)


# The rows of the LGA paper's Tables 1 and 2 ("Spatially decomposed hinge adversarial
# loss by Local Gradient Amplifier"), as overrides of an experiment's base config.
# Every row but plain WGAN-GP uses penalty weight 1, as in the paper. GeoGAN is the
# hinge loss of Lim & Ye (2017) with no penalty. A config file takes the row name
# after a colon: --config=configs/lga_celeba.py:zero_lga4.
LGA_VARIANTS = {
    "wgan_gp": dict(loss="wasserstein", lga="none", critic_map=1, gp_weight=10.0),
    "wgan_gp_hinge": dict(loss="hinge", lga="none", critic_map=1, gp_weight=1.0),
    "geogan": dict(loss="hinge", lga="none", critic_map=1, gp_weight=0.0),
    "lga4": dict(loss="hinge", lga="lga", critic_map=4, gp_weight=1.0),
    "lga8": dict(loss="hinge", lga="lga", critic_map=8, gp_weight=1.0),
    "zero_lga4": dict(loss="hinge", lga="zero", critic_map=4, gp_weight=1.0),
    # Not in the paper: the amplifier that keeps every cell's gradient sign (losses/lga.py).
    "sign_lga8": dict(loss="hinge", lga="sign_preserving", critic_map=8, gp_weight=1.0),
    # SNGAN ResNet rows: spectral norm instead of the gradient penalty.
    "sngan": dict(arch="resnet", loss="hinge", lga="none", critic_map=1, gp_weight=0.0),
    "sngan_lga": dict(arch="resnet", loss="hinge", lga="lga", critic_map=4, gp_weight=0.0),
}


def apply_lga_variant(config: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """Overrides ``config`` with one row of :data:`LGA_VARIANTS` (in place; returns it)."""
    if variant not in LGA_VARIANTS:
        raise ConfigError(f"Unknown LGA paper variant {variant!r}; choose one of "
                          f"{sorted(LGA_VARIANTS)} (e.g. --config=configs/lga_celeba.py:lga8).")
    row = LGA_VARIANTS[variant]
    config.loss.name = row["loss"]
    config.loss.lga = row["lga"]
    config.model.critic_map = row["critic_map"]
    config.reg.gp_weight = row["gp_weight"]
    if row.get("arch") == "resnet":
        config.model.arch = "resnet"
        config.model.spectral_norm = True
        config.optim.n_critic = 5
        config.optim.g_lr = config.optim.d_lr = 2e-4  # Miyato et al. 2018, CIFAR-10 setting.
    if row["loss"] == "wasserstein":
        config.optim.n_critic = 5  # Gulrajani et al. 2017.
    return config


def apply_paper_schedule(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The LGA paper's training schedule for the real-image configs (in place; returns it).

    Batch 64, 100k generator steps, Inception FID on 10k samples every 10k steps,
    a sample grid every 2k and a checkpoint every 5k steps.
    """
    config.train.batch_size = 64
    config.train.num_steps = 100_000
    config.train.sample_every = 2000
    config.train.checkpoint_every = 5000
    config.eval.every = 10_000
    config.eval.metric = "fid"
    config.eval.num_samples = 10_000
    return config
