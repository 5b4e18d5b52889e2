"""CycleGAN (Zhu et al. 2017): unpaired translation between two domains, kept honest by cycles.

Networks (:mod:`jaxgan.models.cyclegan`): ``g_ab`` and ``g_ba``, ResNet
generators (``model.g_width``, ``cyclegan.blocks`` residual blocks) that map
domain a to b and back; ``d_a`` and ``d_b``, PatchGAN critics
(``model.d_width``, ``cyclegan.d_layers``) that score a map of patches of
their domain. The data is ``data.name='unpaired'``: batches of ``image``
(domain a) and ``image_b`` drawn apart, so no pair is ever shown. One phase,
two groups per step, both on the step's batch:

* ``g`` (``g_ab`` and ``g_ba``, one Adam): with ``G = g_ab``, ``F = g_ba``::

      L = l_G(D_b(G(a))) + l_G(D_a(F(b)))
          + lambda (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)
          + lambda lambda_id (|G(b) - b|_1 + |F(a) - a|_1)

  ``l_G`` the generator loss of ``loss.name`` ('lsgan', the paper's:
  ``(D - 1)^2``; or 'nonsaturating'), the L1 terms per-pixel means
  (:func:`jaxgan.losses.cycle_consistency`, :func:`jaxgan.losses.identity_loss`),
  ``lambda = cyclegan.cycle_weight`` (10), ``lambda_id = cyclegan.identity_weight``
  (0.5 in the paper's code; 0 drops the term);
* ``d`` (``d_a`` and ``d_b``, one Adam): each critic's loss on its real
  images against the generated ones, halved as in the paper
  (``0.5 l_D``), the generated images taken through a history pool
  (:mod:`jaxgan.image_pool`, ``cyclegan.pool_size`` = 50; 0: none). The pools
  are extra state: checkpointed, restored on resume, and queried with the
  global batch, so they do not depend on the device count.

Difference from the reference code: its critics judge the images the
generators made *before* their update; here the ``d`` group draws them again
with the updated generators (groups share no values within a step).

Samples: translations ``G(a)`` of domain-a images drawn from ``config.data``;
``jaxgan.sample --input X.npz --direction a2b|b2a`` translates given images.
Every sample grid is joined by ``cycles``: rows of a, ``G(a)``, ``F(G(a))``,
then b, ``F(b)``, ``G(F(b))``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxgan import config as config_lib
from jaxgan import losses
from jaxgan.config import ConfigError
from jaxgan.image_pool import init_pool, query_pool
from jaxgan.images import to_uint8
from jaxgan.models import cyclegan as nets
from jaxgan.models.errors import ModelConfigError
from jaxgan.system import Group, Phase, System

LOSS_NAMES = ("lsgan", "nonsaturating")
DIRECTIONS = {"a2b": "g_ab", "b2a": "g_ba"}
GRID_COLUMNS = 6  # Six rows of six: a square grid keeps each row one kind.
POOL_SALT = 0xC9C  # Folded into the critic update's key for the pools' draws.
NOT_APPLICABLE = {"reg.gp_weight": 0.0, "reg.dragan_weight": 0.0, "reg.r1_weight": 0.0,
                  "reg.drift_weight": 0.0, "reg.clip_value": 0.0, "loss.lga": "none",
                  "loss.feature_matching": 0.0, "model.pack": 1, "reg.diffaugment": "",
                  "model.minibatch_kernels": 0, "model.minibatch_std": 0,
                  "loss.real_label": 1.0, "data.num_classes": 0}


class CycleGAN(System):
    """Two generators and two patch critics on unpaired domains (see the module docstring)."""

    structural_fields = ("model.g_width", "model.d_width", "cyclegan.blocks",
                         "cyclegan.d_layers", "cyclegan.norm", "cyclegan.pool_size",
                         "data.image_size", "data.channels")

    def __init__(self, config):
        self.config = config
        d, cg = config.data, config.cyclegan
        self.image_shape = (d.image_size, d.image_size, d.channels)
        fast = bool(config.model.fast_cpu_layers) and jax.default_backend() == "cpu"
        gen = lambda: nets.ResnetGenerator(channels=d.channels, width=config.model.g_width,
                                           blocks=cg.blocks, norm=cg.norm, fast_cpu_layers=fast)
        critic = lambda: nets.PatchDiscriminator(width=config.model.d_width, layers=cg.d_layers,
                                                 norm=cg.norm, fast_cpu_layers=fast)
        self.networks = {"g_ab": gen(), "g_ba": gen(), "d_a": critic(), "d_b": critic()}
        self.cycle_weight, self.identity_weight = cg.cycle_weight, cg.identity_weight
        self.pool_size = cg.pool_size
        d_loss, self._g_loss = losses.get_loss(config.loss.name)
        self._d_loss = lambda real, fake: 0.5 * d_loss(real, fake)
        self.ema_decay = config.train.ema_decay
        self.ema = ("g_ab", "g_ba") if self.ema_decay else ()
        o = config.optim
        self.groups = {
            "g": Group("g", ("g_ab", "g_ba"), self.generator_loss,
                       optax.adam(o.g_lr, b1=o.b1, b2=o.b2), data=True),
            "d": Group("d", ("d_a", "d_b"), self.critic_loss,
                       optax.adam(o.d_lr, b1=o.b1, b2=o.b2), data=True),
        }
        self.phases = (Phase("train", config.train.num_steps, ("g", "d")),)
        self._source = None  # The data, read on first need (sampling from a workdir).

    @classmethod
    def check_config(cls, config) -> None:
        if config.data.name != "unpaired":
            raise ConfigError(f"system 'cyclegan' learns from two unpaired domains, but "
                              f"data.name={config.data.name!r}: set --config.data.name=unpaired "
                              "with --config.data.a=... and --config.data.b=... (data set names "
                              "or image folders).")
        if config.loss.name not in LOSS_NAMES:
            raise ConfigError(f"loss.name={config.loss.name!r}: system 'cyclegan' takes one of "
                              f"{LOSS_NAMES} (the paper's: lsgan).")
        for dotted, default in NOT_APPLICABLE.items():
            value = config_lib.get_dotted(config, dotted)
            if value != default:
                raise ConfigError(f"{dotted}={value!r} does not apply to system 'cyclegan': set "
                                  f"--config.{dotted}={default!r}.")
        if config.optim.n_critic != 1:
            raise ConfigError(f"optim.n_critic={config.optim.n_critic}: CycleGAN's critics "
                              "update once per step, on the step's batch; set it to 1.")
        for dotted in ("optim.g_lr", "optim.d_lr", "cyclegan.cycle_weight"):
            config_lib.positive(config, dotted)
        for dotted in ("cyclegan.identity_weight", "cyclegan.pool_size"):
            config_lib.positive(config, dotted, allow_zero=True)
        cg = config.cyclegan
        if int(cg.pool_size) != cg.pool_size:
            raise ConfigError(f"cyclegan.pool_size={cg.pool_size!r} must be an integer.")
        try:
            nets.check(config.data.image_size, width=config.model.g_width, blocks=cg.blocks,
                       layers=cg.d_layers, norm=cg.norm)
            nets.check(config.data.image_size, width=config.model.d_width, blocks=cg.blocks,
                       layers=cg.d_layers, norm=cg.norm)
        except ModelConfigError as e:
            raise ConfigError(str(e)) from None

    def init_inputs(self, name):
        return (jnp.zeros((2, *self.image_shape), jnp.float32),), {}

    def init_extra(self):
        if not self.pool_size:
            return {}
        return {"pool_a": init_pool(int(self.pool_size), self.image_shape),
                "pool_b": init_pool(int(self.pool_size), self.image_shape)}

    # ---- the two updates ----------------------------------------------------------------
    def generator_loss(self, ctx, batch):
        a, b = batch["image"], batch["image_b"]
        fake_b, fake_a = ctx.apply("g_ab", a), ctx.apply("g_ba", b)
        adv = (jnp.mean(self._g_loss(ctx.apply("d_b", fake_b)))
               + jnp.mean(self._g_loss(ctx.apply("d_a", fake_a))))
        cycle = (jnp.mean(losses.cycle_consistency(a, ctx.apply("g_ba", fake_b)))
                 + jnp.mean(losses.cycle_consistency(b, ctx.apply("g_ab", fake_a))))
        loss = adv + self.cycle_weight * cycle
        metrics = {"g_adv": adv, "cycle": cycle}
        if self.identity_weight:
            identity = (jnp.mean(losses.identity_loss(b, ctx.apply("g_ab", b)))
                        + jnp.mean(losses.identity_loss(a, ctx.apply("g_ba", a))))
            loss = loss + self.cycle_weight * self.identity_weight * identity
            metrics["identity"] = identity
        return loss, metrics

    def _through_pool(self, ctx, name, fake, key):
        """This replica's rows of what the pool ``name`` returns for the global batch of fakes
        (the pool, queried with every replica's rows in order, is then the state's)."""
        if not self.pool_size:
            return fake
        returned, pool = query_pool(ctx.extra[name], ctx.gather_global(fake), key)
        ctx.set_extra(name, pool)
        return ctx.rows(returned)

    def critic_loss(self, ctx, batch):
        a, b = batch["image"], batch["image_b"]
        fake_b = lax.stop_gradient(ctx.apply("g_ab", a))
        fake_a = lax.stop_gradient(ctx.apply("g_ba", b))
        key_a, key_b = jax.random.split(jax.random.fold_in(ctx.key, POOL_SALT))
        fake_a = self._through_pool(ctx, "pool_a", fake_a, key_a)
        fake_b = self._through_pool(ctx, "pool_b", fake_b, key_b)
        n = a.shape[0]
        metrics, total = {}, jnp.zeros((), jnp.float32)
        for domain, real, fake in (("a", a, fake_a), ("b", b, fake_b)):
            scores = ctx.apply(f"d_{domain}", jnp.concatenate([real, fake]))
            loss = jnp.mean(self._d_loss(scores[:n], scores[n:]))
            metrics[f"d_{domain}"] = loss
            metrics[f"real_score_{domain}"] = jnp.mean(scores[:n])
            metrics[f"fake_score_{domain}"] = jnp.mean(scores[n:])
            total = total + loss
        return total, metrics

    # ---- sampling and translation -------------------------------------------------------
    def _data(self):
        if self._source is None:
            from jaxgan import data  # Lazy: declaring a system needs no data code.

            self._source = data.load_dataset(self.config.data)
        return self._source

    def load_data(self):
        return self._data()

    def latents(self, key, num):
        """``num`` domain-a images of ``config.data``, drawn at random (the inputs of a sample)."""
        images = self._data().images
        index = np.asarray(jax.random.choice(key, len(images), (num,), replace=num > len(images)))
        return jnp.asarray(images[index], jnp.float32) / 127.5 - 1.0

    def render(self, apply, latents, labels):
        del labels
        return apply("g_ab", latents)

    def translate(self, variables, images, direction: str):
        """Images in [-1, 1] translated ``'a2b'`` (by ``g_ab``) or ``'b2a'`` (by ``g_ba``)."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r} is not one of {sorted(DIRECTIONS)}.")
        return self.networks[DIRECTIONS[direction]].apply(variables, images)

    def grids(self, sampler, state, step, *, final):
        """Fixed images of both domains, their translations and their cycles back."""
        del sampler, step, final
        if not hasattr(self, "_cycles_fn"):
            source = self._data()
            self._grid_a = jnp.asarray(source.images[:GRID_COLUMNS], jnp.float32) / 127.5 - 1.0
            self._grid_b = (jnp.asarray(source.domain_b.images[:GRID_COLUMNS], jnp.float32)
                            / 127.5 - 1.0)

            def cycles(g_ab, g_ba, a, b):
                ab = self.networks["g_ab"].apply(g_ab, a)
                ba = self.networks["g_ba"].apply(g_ba, b)
                return jnp.concatenate([a, ab, self.networks["g_ba"].apply(g_ba, ab),
                                        b, ba, self.networks["g_ab"].apply(g_ab, ba)])

            self._cycles_fn = jax.jit(cycles)
        rows = self._cycles_fn(state.variables("g_ab"), state.variables("g_ba"), self._grid_a,
                               self._grid_b)
        return {"cycles": to_uint8(rows)}
