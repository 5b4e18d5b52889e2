"""The protocol of Lucic et al. (2018), "Are GANs Created Equal?", on MNIST and Fashion-MNIST.

Their compare_gan (v1) trains every loss with the same networks, the InfoGAN
ones (:mod:`jaxgan.models.infogan_arch`, width 64, on unpadded 28x28 images;
BEGAN's critic is the autoencoder of :mod:`jaxgan.models.autoencoder`), ``z``
of 64 dimensions uniform on [-1, 1], batch 64, Adam with one learning rate for
both players, 20 epochs of 50,000 images (15,625 steps), and no EMA of the
generator. Their step is one critic update on one batch, with a generator
update on every ``n_d``-th; here a step is ``n_d`` critic updates and one
generator update, so a row runs ``steps // n_d`` steps of ours: the same
batches, critic updates and generator updates as theirs. :data:`ROWS` holds each loss's defaults in their code
(``compare_gan/src/params.py``, "the hyperparameters used by the respective
authors"); the table's numbers are each loss's best over a search around them.
Where a default cannot run here it says so beside it.
"""

from __future__ import annotations

from jaxgan.config import ConfigError
from jaxgan.systems.mnist_configs import DATASETS, digit_config, use_infogan_networks

FULL_STEPS = 20 * 50_000 // 64  # 15,625 critic updates: their 20 "epochs" of 50,000 at batch 64.

# row -> (system, loss, learning rate, Adam beta1, critic updates per step, critic norm,
#         extra fields). Batch norm in the critic is their "discriminator_batchnorm".
ROWS = {
    "mm_gan": ("gan", "minimax", 5e-5, 0.0, 1, "batch", {}),
    "ns_gan": ("gan", "nonsaturating", 5e-5, 0.0, 1, "batch", {}),
    "lsgan": ("gan", "lsgan", 2e-4, 0.5, 1, "batch", {}),
    "wgan": ("gan", "wasserstein", 5e-5, 0.5, 5, "batch", {"reg.clip_value": 0.01}),
    "wgan_gp": ("gan", "wasserstein", 1e-4, 0.5, 5, "none", {"reg.gp_weight": 10.0}),
    # Their DRAGAN default keeps batch norm in the critic, which a per-example gradient
    # penalty cannot have; their narrow search found it "clearly" better without.
    "dragan": ("gan", "nonsaturating", 1e-4, 0.5, 1, "none", {"reg.dragan_weight": 10.0}),
    # Their k moves by lambda_k after every critic update; ours moves once per step of
    # n_d critic updates, so lambda_k is scaled by n_d in lucic_config.
    "began": ("began", "nonsaturating", 1e-4, 0.5, 5, "none",
              {"energy.gamma": 0.75, "energy.lambda_k": 0.001, "energy.code_dim": 64}),
}


def lucic_config(row: str, dataset: str = "", *, steps: int = FULL_STEPS):
    """The config of one row of their table on ``dataset`` ('' / 'mnist' or 'fashion').

    ``steps`` counts their steps: critic updates, one batch each. It must be a
    multiple of the row's critic updates per generator update."""
    if row not in ROWS:
        raise ConfigError(f"unknown row {row!r} of the Lucic et al. table; choose one of "
                          f"{sorted(ROWS)} (e.g. --config=configs/lucic_mnist.py:ns_gan).")
    if dataset not in DATASETS:
        raise ConfigError(f"unknown data set {dataset!r}; choose '' (MNIST) or 'fashion' "
                          f"(e.g. --config=configs/lucic_mnist.py:{row},fashion).")
    system, loss, lr, b1, n_critic, d_norm, extra = ROWS[row]
    if steps < n_critic or steps % n_critic:
        raise ConfigError(f"row {row!r} makes {n_critic} critic updates per generator update, "
                          f"so its length in critic updates must be a multiple of {n_critic}; "
                          f"got {steps} (e.g. {max(n_critic, steps - steps % n_critic)}).")
    c = use_infogan_networks(digit_config(system, dataset, labels=False))
    c.model.z_dim = 64
    c.model.z_prior = "uniform"
    c.model.d_norm = d_norm
    c.model.g_activation = "lrelu"  # Their code's generator (the InfoGAN paper's: ReLU).
    c.loss.name = loss
    c.optim.g_lr = c.optim.d_lr = lr
    c.optim.b1, c.optim.b2 = b1, 0.999
    c.optim.n_critic = n_critic
    c.train.ema_decay = 0.0
    c.train.num_steps = steps // n_critic
    c.train.checkpoint_every = 1000
    c.train.sample_every = 1000
    c.train.num_sample_images = 64
    for dotted, value in extra.items():
        section, name = dotted.split(".")
        c[section][name] = value
    if system == "began":
        c.energy.lambda_k *= n_critic
        c.energy.clip_k = False  # Their k is never clipped (compare_gan/src/gans/BEGAN.py).
    return c
