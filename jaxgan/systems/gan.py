"""The single generator-critic pair: any adversarial loss, penalties, clipping, the LGA, EMA.

Networks ``g`` and ``d`` from ``config.model`` (DCGAN, SNGAN ResNet, MLP;
conditional when ``data.num_classes > 0``). One phase, two groups per step:

* ``d``, ``optim.n_critic`` times, each on its own real batch: the critic
  loss of ``loss.name`` on real and generated images, plus the penalties of
  ``config.reg`` (gradient penalty, DRAGAN, R1, drift), then weight clipping
  (``reg.clip_value``);
* ``g``, once: the generator loss of ``loss.name``, or the Local Gradient
  Amplifier's (``loss.lga``), on the critic's (map of) scores, plus
  ``loss.feature_matching`` times Salimans et al.'s feature matching
  ``||E_x f(x) - E_z f(G(z))||^2`` (``f``: the critic's last hidden features,
  means over the global batch; ``loss.g_adversarial=False`` leaves feature
  matching alone, the paper's setting; the update then reads real batch 0 of
  the step, the one the first critic update read); the EMA of ``g`` follows
  (``train.ema_decay``).

What the critic sees, in both updates: ``reg.diffaugment``'s transforms of
real and generated images alike (:mod:`jaxgan.augment`), then with
``model.pack = m`` > 1 PacGAN's packing (Lin et al. 2018): each run of ``m``
consecutive examples of a replica's rows joined along the channel axis into
one input, judged as one; losses and penalties are over packs.

The critic's one train-mode call per update moves its spectral-norm vectors;
the penalties call it frozen with the moved vectors. The generator inside the
critic's update runs in train mode and its new batch statistics are dropped.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxgan import augment, losses, models, regularizers
from jaxgan import config as config_lib
from jaxgan.config import ConfigError
from jaxgan.parallel import DATA_AXIS
from jaxgan.system import Group, Phase, System


Z_PRIORS = ("normal", "uniform")  # z ~ N(0, I), or U(-1, 1) per coordinate (Lucic et al.).
AUGMENT_SALT = 0xA06  # Folded into an update's key for its DiffAugment draws.
# The fields that act on the critic's inputs or the generator's objective through the
# single-pair paths below; systems that replace those paths refuse them.
PAIR_TRICKS = ("loss.feature_matching", "model.pack", "reg.diffaugment")


def batch_critic(model_cfg) -> str | None:
    """The setting (a ``field=value`` string) that makes the critic judge whole batches, or None.

    Batch norm and the minibatch layers make each score depend on the rest of
    the batch: such a critic sees real and generated batches apart, and has no
    per-example input gradient for a penalty to act on."""
    for field, off in (("d_norm", "none"), ("minibatch_kernels", 0), ("minibatch_std", 0)):
        value = model_cfg.get(field, off)
        if field == "d_norm" and value != "batch":
            continue
        if value != off:
            return f"model.{field}={value!r}"
    return None


def pack(x: jax.Array, m: int) -> jax.Array:
    """``[B, ..., C]`` -> ``[B / m, ..., m C]``: rows ``m i .. m i + m - 1`` joined along the last
    axis, in order (PacGAN's packing).

    >>> pack(jnp.arange(8.0).reshape(4, 2), 2).tolist()
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    """
    if m == 1:
        return x
    if x.shape[0] % m:
        raise ValueError(f"model.pack={m} joins {m} examples into one, but a replica holds "
                         f"{x.shape[0]}: make train.batch_size / devices a multiple of {m}.")
    grouped = x.reshape(x.shape[0] // m, m, *x.shape[1:])
    return jnp.moveaxis(grouped, 1, -2).reshape(x.shape[0] // m, *x.shape[1:-1], m * x.shape[-1])


class GAN(System):
    """One generator ``g`` and one critic ``d`` (see the module docstring)."""

    structural_fields = ("model.arch", "model.z_dim", "model.g_width", "model.d_width",
                         "model.critic_map", "model.spectral_norm", "model.critic_global",
                         "model.g_output", "model.conditioning", "model.d_norm", "model.z_prior",
                         "model.g_activation", "model.pack", "model.g_norm",
                         "model.vbn_reference", "model.minibatch_kernels",
                         "model.minibatch_kernel_dim", "model.minibatch_std")

    def __init__(self, config, networks=None, data_shape=None):
        """``networks``: a ``(generator, critic)`` pair instead of ``config.model``'s (e.g. the
        MLPs of 2-D points, with ``data_shape=(2,)``: the shape of one example)."""
        self.config = config
        generator, critic = networks or models.build_models(
            config.model, config.data,
            critic_channels=config.data.channels * config.model.get("pack", 1))
        self.networks = {"g": generator, "d": critic}
        self.z_dim = config.model.z_dim
        self._uniform_z = config.model.get("z_prior", "normal") == "uniform"
        self.num_classes = config.data.num_classes
        self.image_shape = tuple(data_shape or (config.data.image_size, config.data.image_size,
                                                config.data.channels))
        self.ema_decay = config.train.ema_decay
        self.ema = ("g",) if self.ema_decay else ()
        d_loss, g_loss = losses.get_loss(config.loss.name)
        if config.loss.name in ("minimax", "nonsaturating") and config.loss.real_label != 1.0:
            d_loss = functools.partial(d_loss, real_label=config.loss.real_label)
        self._d_loss, self._g_loss = d_loss, g_loss
        self._lga, self._reg = config.loss.lga, config.reg
        self._pack = config.model.get("pack", 1)
        self._augment = augment.parse_policy(config.reg.get("diffaugment", ""))
        self._fm_weight = config.loss.get("feature_matching", 0.0)
        self._g_adversarial = config.loss.get("g_adversarial", True)
        # A batch-norm critic judges batches: real and fake go through it apart, in train mode.
        self._batch_critic = batch_critic(config.model) is not None
        o = config.optim
        clip = config.reg.clip_value
        self.groups = {
            "d": Group("d", ("d",), self.critic_loss, optax.adam(o.d_lr, b1=o.b1, b2=o.b2),
                       repeats=o.n_critic, data=True,
                       constrain=(lambda p: regularizers.clip_weights(p, clip)) if clip else None),
            # Feature matching compares with real features: the generator reads batch 0.
            "g": Group("g", ("g",), self.generator_loss, optax.adam(o.g_lr, b1=o.b1, b2=o.b2),
                       data=bool(self._fm_weight)),
        }
        self.phases = (Phase("train", config.train.num_steps, ("d", "g")),)

    @classmethod
    def check_config(cls, config) -> None:
        for dotted in ("optim.g_lr", "optim.d_lr", "optim.n_critic", "model.z_dim"):
            config_lib.positive(config, dotted)
        for dotted in ("reg.gp_weight", "reg.dragan_weight", "reg.r1_weight", "reg.drift_weight",
                       "reg.clip_value"):
            config_lib.positive(config, dotted, allow_zero=True)
        if not 0.0 < config.loss.real_label <= 1.0:
            raise ConfigError(f"loss.real_label={config.loss.real_label} must be in (0, 1].")
        if config.loss.real_label != 1.0 and config.loss.name not in ("minimax", "nonsaturating"):
            raise ConfigError(f"loss.real_label < 1 (one-sided label smoothing) applies to the "
                              f"minimax / nonsaturating losses, not {config.loss.name!r}.")
        losses.get_loss(config.loss.name)
        if config.model.get("z_prior", "normal") not in Z_PRIORS:
            raise ConfigError(f"model.z_prior={config.model.z_prior!r} is not one of {Z_PRIORS}; "
                              "set --config.model.z_prior=normal.")
        why = batch_critic(config.model)
        if why is not None:
            for dotted in ("reg.gp_weight", "reg.dragan_weight", "reg.r1_weight"):
                if config_lib.get_dotted(config, dotted):
                    raise ConfigError(
                        f"{dotted}={config_lib.get_dotted(config, dotted)} penalises the critic's "
                        f"gradient per example, which a critic that judges batches ({why}) "
                        f"does not have: set --config.{dotted}=0 or turn off {why}.")
        if config.loss.lga != "none" and config.loss.lga not in losses.LGA_MODES:
            raise ConfigError(f"loss.lga={config.loss.lga!r} is not one of "
                              f"{('none', *losses.LGA_MODES)}.")
        cls._check_pair_tricks(config)
        models.check_config(config.model, config.data)

    @classmethod
    def _check_pair_tricks(cls, config) -> None:
        """The feature-matching, packing and DiffAugment fields: values, and the systems that
        take them (those that keep this class's two losses)."""
        config_lib.positive(config, "loss.feature_matching", allow_zero=True)
        config_lib.positive(config, "model.pack")
        try:
            augment.parse_policy(config.reg.diffaugment)
        except ValueError as e:
            raise ConfigError(f"reg.diffaugment: {e}") from None
        fm, pack_m = config.loss.feature_matching, config.model.pack
        if not isinstance(pack_m, int):
            raise ConfigError(f"model.pack={pack_m!r} must be an integer >= 1 (1: no packing).")
        defaults = {"loss.feature_matching": 0.0, "model.pack": 1, "reg.diffaugment": ""}
        system = config.get("system", "gan")
        if cls.critic_loss is not GAN.critic_loss or cls.generator_loss is not GAN.generator_loss:
            for dotted in PAIR_TRICKS:
                value = config_lib.get_dotted(config, dotted)
                if value != defaults[dotted]:
                    raise ConfigError(
                        f"{dotted}={value!r} is built into the single-pair losses of systems "
                        f"'gan' and 'cgan'; system {system!r} has its own: set "
                        f"--config.{dotted}={defaults[dotted]!r}.")
        if not fm and not config.loss.g_adversarial:
            raise ConfigError("loss.g_adversarial=False leaves the generator feature matching "
                              "alone, but loss.feature_matching=0: set it > 0 (e.g. 1.0).")
        if fm and config.loss.lga != "none" and not config.loss.g_adversarial:
            raise ConfigError("loss.lga amplifies the adversarial loss, which "
                              "loss.g_adversarial=False drops: set one of them back.")
        if pack_m > 1:
            if config.data.num_classes:
                raise ConfigError(f"model.pack={pack_m} packs unlabelled examples; a conditional "
                                  f"run (data.num_classes={config.data.num_classes}) cannot: "
                                  "set --config.model.pack=1.")
            if config.train.batch_size % pack_m:
                raise ConfigError(f"model.pack={pack_m} must divide train.batch_size="
                                  f"{config.train.batch_size} (per device, too).")

    def init_inputs(self, name):
        labels = jnp.zeros((2,), jnp.int32) if self.num_classes else None
        if name == "g":
            return (jnp.zeros((2, self.z_dim), jnp.float32), labels), {"train": False}
        shape = self.image_shape[:-1] + (self.image_shape[-1] * self._pack,)
        return (jnp.zeros((2, *shape), jnp.float32), labels), {"train": False}

    def _critic_view(self, ctx, key, *images):
        """``images`` as the critic takes them: DiffAugment's transforms (each image its own
        draw, from ``key``), then packed."""
        out = []
        for i, x in enumerate(images):
            if self._augment:
                keys = ctx.per_example_keys(jax.random.fold_in(key, i))
                x = augment.diff_augment(x, keys, self._augment)
            out.append(pack(x, self._pack))
        return out

    # ---- the two updates ----------------------------------------------------------------
    def _draw(self, ctx, key):
        """Latents and fake labels for this replica's rows of the global batch."""
        z_key, y_key = jax.random.split(key)
        z = self._draw_z(ctx, z_key)
        return z, (ctx.randint(y_key, 0, self.num_classes) if self.num_classes else None)

    def _draw_z(self, ctx, key):
        """``z`` from ``model.z_prior`` for this replica's rows of the global batch."""
        if self._uniform_z:
            return ctx.uniform(key, self.z_dim, minval=-1.0, maxval=1.0)
        return ctx.normal(key, self.z_dim)

    def _sample_z(self, key, num):
        """``num`` draws of ``z`` from ``model.z_prior`` (for sampling)."""
        if self._uniform_z:
            return jax.random.uniform(key, (num, self.z_dim), minval=-1.0, maxval=1.0)
        return jax.random.normal(key, (num, self.z_dim))

    def critic_loss(self, ctx, batch):
        real = batch["image"]
        labels = batch["label"] if self.num_classes else None
        z_key, pen_key = jax.random.split(ctx.key)
        z, fake_labels = self._draw(ctx, z_key)
        fake = lax.stop_gradient(ctx.apply("g", z, fake_labels, train=True, mutable="discard"))
        real, fake = self._critic_view(ctx, jax.random.fold_in(ctx.key, AUGMENT_SALT), real, fake)
        scores = self._judge_real_and_fake(ctx, real, fake, labels, fake_labels)
        return self._critic_objective(ctx, real, fake, labels, scores, pen_key)

    def _judge_real_and_fake(self, ctx, real, fake, labels, fake_labels, **kwargs):
        """The critic's train-mode outputs on the real rows, then the fake rows.

        One call on both moves the spectral-norm vectors once per update; a batch-norm
        critic instead sees the two batches apart (their statistics are what it judges),
        and only the real batch's statistics are kept.
        """
        if self._batch_critic:
            on_real = ctx.apply("d", real, labels, train=True, mutable="update", **kwargs)
            on_fake = ctx.apply("d", fake, fake_labels, train=True, mutable="discard", **kwargs)
            return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), on_real, on_fake)
        both = None if labels is None else jnp.concatenate([labels, fake_labels])
        return ctx.apply("d", jnp.concatenate([real, fake]), both, train=True, mutable="update",
                         **kwargs)

    def _judge_fake(self, ctx, fake, fake_labels, **kwargs):
        """The critic's outputs on the generator's batch, for the generator's loss: frozen,
        or in train mode (its batch statistics, then dropped) for a batch-norm critic."""
        if self._batch_critic:
            return ctx.apply("d", fake, fake_labels, train=True, mutable="discard", **kwargs)
        return ctx.apply("d", fake, fake_labels, train=False, **kwargs)

    def _critic_objective(self, ctx, real, fake, labels, scores, key):
        """The adversarial loss of ``scores`` (real rows, then fake) plus the penalties of
        ``config.reg``: ``(loss, metrics)``. ``labels`` are what the critic is told (None
        for a critic that is told none)."""
        local_batch = real.shape[0]
        real_scores, fake_scores = scores[:local_batch], scores[local_batch:]
        adv = jnp.mean(self._d_loss(real_scores, fake_scores))
        penalty, terms = self._penalties(ctx, real, fake, labels, key)
        if self._reg.drift_weight:  # Reads the scores above, so it is not one of the penalties.
            terms["drift"] = jnp.mean(regularizers.drift_penalty(real_scores))
            penalty += self._reg.drift_weight * terms["drift"]
        metrics = {"d_adv": adv, "real_score": jnp.mean(real_scores),
                   "fake_score": jnp.mean(fake_scores), **terms}
        return adv + penalty, metrics

    def _penalties(self, ctx, real, fake, labels, key):
        """The critic's regularizers, each a per-replica mean: weighted sum and named values."""
        reg = self._reg
        critic = ctx.function("d", labels, train=False)
        terms: dict[str, jax.Array] = {}
        total = jnp.zeros((), jnp.float32)
        if reg.gp_weight:
            # One key per example of the global batch, so the draw does not depend on the
            # device count. The critic then runs once on the whole batch: it treats examples
            # independently (no batch norm), and a batched call differentiates its weights
            # far faster than a vmap over single examples (2.48x vs 1.25x the plain step's
            # time for the DCGAN critic, benchmarks/step_speed.py).
            keys = ctx.per_example_keys(jax.random.fold_in(key, 0), real.shape[0])
            eps = jax.vmap(lambda k: jax.random.uniform(k, (), real.dtype))(keys)
            terms["gp"] = jnp.mean(regularizers.gradient_penalty(
                critic, real, fake, epsilon=eps, target=reg.gp_target))
            total += reg.gp_weight * terms["gp"]
        if reg.dragan_weight:
            # DRAGAN scales its perturbation by the std of the batch it is given, here this
            # replica's rows, so (unlike the other terms) it depends on the device count.
            terms["dragan"] = jnp.mean(regularizers.dragan_penalty(
                critic, real, ctx.replica_key(jax.random.fold_in(key, 1))))
            total += reg.dragan_weight * terms["dragan"]
        if reg.r1_weight:
            terms["r1"] = jnp.mean(regularizers.r1_penalty(critic, real))
            total += 0.5 * reg.r1_weight * terms["r1"]
        return total, terms

    def generator_loss(self, ctx, batch):
        z, fake_labels = self._draw(ctx, ctx.key)
        fake = ctx.apply("g", z, fake_labels, train=True, mutable="update")
        aug_key = jax.random.fold_in(ctx.key, AUGMENT_SALT)
        if not self._fm_weight:
            (fake,) = self._critic_view(ctx, aug_key, fake)
            return self._generator_adversarial(self._judge_fake(ctx, fake, fake_labels)), {}
        real = batch["image"]
        labels = batch["label"] if self.num_classes else None
        real, fake = self._critic_view(ctx, aug_key, real, fake)
        scores, fake_features = self._judge_fake(ctx, fake, fake_labels, return_features=True)
        _, real_features = self._judge_fake(ctx, real, labels, return_features=True)
        fm = self._feature_matching(lax.stop_gradient(real_features), fake_features)
        loss = self._fm_weight * fm
        metrics = {"feature_matching": fm}
        if self._g_adversarial:
            metrics["g_adv"] = self._generator_adversarial(scores)
            loss = loss + metrics["g_adv"]
        return loss, metrics

    @staticmethod
    def _feature_matching(real_features, fake_features):
        """``||mean f(x) - mean f(G(z))||^2`` with both means over the global batch."""
        gather = lambda f: lax.all_gather(f.reshape(f.shape[0], -1), DATA_AXIS, tiled=True)
        return regularizers.feature_matching(gather(real_features), gather(fake_features))

    def _generator_adversarial(self, scores):
        """The generator's mean adversarial loss on its critic scores (or the LGA's)."""
        if self._lga != "none":
            return jnp.mean(losses.lga_g(scores, self._lga))
        return jnp.mean(self._g_loss(scores))

    # ---- sampling -------------------------------------------------------------------------
    def latents(self, key, num):
        return self._sample_z(key, num)

    def render(self, apply, latents, labels):
        return apply("g", latents, labels, train=False)
