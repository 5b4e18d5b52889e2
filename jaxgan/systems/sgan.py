"""Stacked GAN (Huang, Li, Poursaeed, Hopcroft, Belongie, CVPR 2017) as a system.

A bottom-up encoder E (a classifier) and a top-down stack of generators that
invert it: G1 makes E's fc3 features from noise and a label, G0 makes images
from noise and fc3 features (:mod:`jaxgan.models.sgan`). Each generator is
trained with an adversarial loss against a representation discriminator, a
conditional loss and an entropy loss (:mod:`jaxgan.losses.stacked`). Phases,
one batch a step throughout::

    encoder       sgan.encoder_steps   E trained as a classifier (skipped with
                                       sgan.encoder_path); writes <workdir>/encoder.npz
    independent   sgan.independent_steps
                                       each stack on its own: G0 conditioned on E's real fc3
    joint         the rest of train.num_steps
                                       end to end: G0 on G1's output; G1 also gets
                                       joint_bottom_weight x the gradient of G0's loss

A GAN step is one update of both discriminators (with their Q heads, group
``d``) and one of both generators (group ``g``), as in the authors' code; the
labels G1 is conditioned on are those of the real batch. The single-stack
baseline (``sgan.stacked=False``) is one generator G(z, onehot(y)) and one
image discriminator. docs/sgan.md has the choices and the measured ablation.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxgan import losses as gan_losses
from jaxgan import parallel
from jaxgan.images import to_uint8
from jaxgan.losses import stacked as losses
from jaxgan.models.sgan import Encoder, bottom_z_dim, build_networks
from jaxgan.system import Group, Phase, System
from jaxgan.systems import sgan_config
from jaxgan.systems import sgan_encoder as encoder_io

RECON_SALT = 0x2EC  # Folded into key(seed) for the noise of the reconstruction grids.
FINAL_SALT = 0xF1A  # ... for the per-class grids of the last step.


def draw_noise(kind: str, key: jax.Array, shape) -> jax.Array:
    """``U(0, 1)`` (the authors' noise) or ``N(0, 1)`` noise of ``shape``."""
    if kind == "uniform":
        return jax.random.uniform(key, shape)
    return jax.random.normal(key, shape)


class StackedGAN(System):
    """Encoder ``encoder``, generators ``g1``/``g0``, discriminators ``d1``/``d0``."""

    structural_fields = tuple(f for f in sgan_config.STRUCTURAL_FIELDS if f.startswith("sgan."))
    schedule_fields = ("sgan.encoder_steps", "sgan.encoder_path", "sgan.independent_steps",
                       "sgan.max_examples", "sgan.samples_per_class")

    def __init__(self, config):
        self.config = config
        self.sgan = s = config.sgan
        self.stacked = bool(s.stacked)
        self.num_classes = config.data.num_classes
        nets = build_networks(config)
        self.networks = {n: getattr(nets, n) for n in ("encoder", "g1", "g0", "d1", "d0")
                         if getattr(nets, n) is not None}
        g_nets = ("g1", "g0") if self.stacked else ("g0",)
        d_nets = ("d1", "d0") if self.stacked else ("d0",)
        o = config.optim
        g_tx, d_tx = (optax.adam(o.g_lr, b1=o.b1, b2=o.b2), optax.adam(o.d_lr, b1=o.b1, b2=o.b2))
        # Groups of one name share one optimizer state: the joint phase continues the
        # independent phase's Adam moments with the coupled losses.
        self.groups = {
            "encoder": Group("encoder", ("encoder",), self.encoder_loss,
                             optax.adam(s.encoder_lr), data=True),
            "d": Group("d", d_nets, lambda c, b: self.discriminator_loss(c, b, False), d_tx,
                       data=True),
            "g": Group("g", g_nets, lambda c, b: self.generator_loss(c, b, False), g_tx,
                       data=True),
            "d_joint": Group("d", d_nets, lambda c, b: self.discriminator_loss(c, b, True), d_tx,
                             data=True),
            "g_joint": Group("g", g_nets, lambda c, b: self.generator_loss(c, b, True), g_tx,
                             data=True),
        }
        encoder_steps = 0 if s.encoder_path else s.encoder_steps
        # The single-stack baseline has no stacks to join: one kind of step throughout.
        independent = s.independent_steps if self.stacked else config.train.num_steps
        phases = (Phase("encoder", encoder_steps, ("encoder",)),
                  Phase("independent", independent, ("d", "g")),
                  Phase("joint", config.train.num_steps - independent, ("d_joint", "g_joint")))
        self.phases = tuple(p for p in phases if p.steps > 0)
        self._encoder_file = None
        self._recon_real = None
        self._predict = None
        self._reconstruct = None

    @classmethod
    def check_config(cls, config) -> None:
        sgan_config.validate(config)

    def init_inputs(self, name):
        s, d = self.sgan, self.config.data
        x = jnp.zeros((2, d.image_size, d.image_size, d.channels), jnp.float32)
        labels = jnp.zeros((2,), jnp.int32)
        condition_dim = s.feature_dim if self.stacked else d.num_classes
        return {
            "encoder": ((x,), {}),
            "g1": ((jnp.zeros((2, s.z1_dim)), labels), {"train": False}),
            "g0": ((jnp.zeros((2, bottom_z_dim(s))), jnp.zeros((2, condition_dim))),
                   {"train": False}),
            "d1": ((jnp.zeros((2, s.feature_dim)),), {}),
            "d0": ((x,), {}),
        }[name]

    # ---- losses ---------------------------------------------------------------------------
    def encoder_loss(self, ctx, batch):
        """E as a classifier: softmax cross-entropy of the real labels."""
        logits = ctx.apply("encoder", batch["image"])["logits"]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
        return jnp.mean(ce), {"encoder_accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"])}

    def _draw(self, ctx, key):
        """z1 and z0 for this replica's rows of the global batch."""
        k1, k0 = jax.random.split(key)
        s = self.sgan
        z = {"z0": ctx.rows(draw_noise(s.noise, k0, (ctx.global_batch, bottom_z_dim(s))))}
        if self.stacked:
            z["z1"] = ctx.rows(draw_noise(s.noise, k1, (ctx.global_batch, s.z1_dim)))
        return z

    def _real_features(self, ctx, x):
        if not self.stacked:
            return None
        return lax.stop_gradient(ctx.apply("encoder", x, method=Encoder.features))

    def _bottom_condition(self, fake_h1, real_h1, labels, joint: bool):
        """What G0 is conditioned on: real fc3 (independent), G1's fc3 (joint), or onehot(y)."""
        if not self.stacked:
            return jax.nn.one_hot(labels, self.num_classes)
        if joint:
            return losses.scale_gradient(fake_h1, jnp.float32(self.sgan.joint_bottom_weight))
        return real_h1

    def discriminator_loss(self, ctx, batch, joint: bool):
        x, y = batch["image"], batch["label"]
        d_fn = gan_losses.get_loss(self.config.loss.name)[0]
        z = self._draw(ctx, ctx.key)
        real_h1 = self._real_features(ctx, x)
        fake_h1 = (ctx.apply("g1", z["z1"], y, train=True, mutable="discard")
                   if self.stacked else None)
        cond = self._bottom_condition(fake_h1, real_h1, y, joint)
        fake_x = ctx.apply("g0", z["z0"], cond, train=True, mutable="discard")
        fake_x, fake_h1 = lax.stop_gradient((fake_x, fake_h1))
        b = x.shape[0]

        def one(name, real, fake, noise, tag):
            scores, q = ctx.apply(name, jnp.concatenate([real, fake]))
            adv = jnp.mean(losses.discriminator_adversarial(d_fn, scores[:b], scores[b:]))
            ent = jnp.mean(losses.entropy(q[b:], noise))
            terms = {f"d{tag}_adv": adv, f"d{tag}_ent": ent,
                     f"d{tag}_real_score": jnp.mean(scores[:b]),
                     f"d{tag}_fake_score": jnp.mean(scores[b:])}
            return adv + self.sgan.ent_weight * ent, terms

        total, terms = one("d0", x, fake_x, z["z0"], 0)
        if self.stacked:
            total1, terms1 = one("d1", real_h1, fake_h1, z["z1"], 1)
            total, terms = total + total1, {**terms, **terms1}
        return total, terms

    def generator_loss(self, ctx, batch, joint: bool):
        x, y = batch["image"], batch["label"]
        s = self.sgan
        g_fn = gan_losses.get_loss(self.config.loss.name)[1]
        z = self._draw(ctx, ctx.key)
        real_h1 = self._real_features(ctx, x)
        terms = {}
        fake_h1 = None
        if self.stacked:
            fake_h1 = ctx.apply("g1", z["z1"], y, train=True, mutable="update")
            score1, q1 = ctx.apply("d1", fake_h1)
            terms["g1_adv"] = jnp.mean(g_fn(score1))
            terms["g1_cond"] = jnp.mean(losses.label_conditional(
                ctx.apply("encoder", fake_h1, method=Encoder.classify), y))
            terms["g1_ent"] = jnp.mean(losses.entropy(q1, z["z1"]))
        cond = self._bottom_condition(fake_h1, real_h1, y, joint)
        fake_x = ctx.apply("g0", z["z0"], cond, train=True, mutable="update")
        score0, q0 = ctx.apply("d0", fake_x)
        terms["g0_adv"] = jnp.mean(g_fn(score0))
        if self.stacked:
            terms["g0_cond"] = jnp.mean(losses.feature_conditional(
                ctx.apply("encoder", fake_x, method=Encoder.features), cond))
        else:
            terms["g0_cond"] = jnp.mean(losses.label_conditional(
                ctx.apply("encoder", fake_x)["logits"], y))
        terms["g0_ent"] = jnp.mean(losses.entropy(q0, z["z0"]))
        total = jnp.zeros((), jnp.float32)
        for stack in ("g1", "g0") if self.stacked else ("g0",):
            total += (s.adv_weight * terms[f"{stack}_adv"] + s.cond_weight * terms[f"{stack}_cond"]
                      + s.ent_weight * terms[f"{stack}_ent"])
        return total, terms

    # ---- sampling -------------------------------------------------------------------------
    def latents(self, key, num):
        """``{'z1', 'z0'}`` for ``num`` samples (no z1 for the single-stack baseline)."""
        s = self.sgan
        k1, k0 = jax.random.split(key)
        z = {"z0": draw_noise(s.noise, k0, (num, bottom_z_dim(s)))}
        if self.stacked:
            z["z1"] = draw_noise(s.noise, k1, (num, s.z1_dim))
        return z

    def render(self, apply, latents, labels):
        """The whole top-down stack in inference mode: G0(z0, G1(z1, y)) or G0(z, onehot(y))."""
        if self.stacked:
            condition = apply("g1", latents["z1"], labels, train=False)
        else:
            condition = jax.nn.one_hot(labels, self.num_classes)
        return apply("g0", latents["z0"], condition, train=False)

    def grid_inputs(self, seed, num):
        """Row ``k`` is class ``k``; the same noise columns repeat in every row."""
        del num
        per_class = self.sgan.samples_per_class
        latents = self.latents(jax.random.fold_in(jax.random.key(seed), 0x5A3), per_class)
        latents = jax.tree.map(lambda z: jnp.tile(z, (self.num_classes, 1)), latents)
        labels = jnp.repeat(jnp.arange(self.num_classes, dtype=jnp.int32), per_class)
        return latents, labels, per_class

    def grids(self, sampler, state, step, *, final):
        """What the bottom stack makes of real fc3 features (the authors' "recon" grids), and
        at the end one 8x8 grid per class, fresh noise in every cell."""
        out = {}
        seed = self.config.seed
        if self.stacked and self._recon_real is not None:
            if self._reconstruct is None:
                self._reconstruct = jax.jit(self._reconstruction)
            n = len(self._recon_real)
            z0 = self.latents(jax.random.fold_in(jax.random.key(seed), RECON_SALT), n)["z0"]
            out["reconstructions"] = to_uint8(self._reconstruct(
                state.variables("g0"), state.variables("encoder"), z0, self._recon_real))
        if final:
            key = jax.random.fold_in(jax.random.key(seed), FINAL_SALT)
            for k in range(self.num_classes):
                out[f"class{k}"] = sampler.generate(state, jax.random.fold_in(key, k), 64,
                                                    np.full(64, k, np.int32))
        return out

    def _reconstruction(self, g0_vars, encoder_vars, z0, images):
        h1 = self.networks["encoder"].apply(encoder_vars, images, method=Encoder.features)
        return self.networks["g0"].apply(g0_vars, z0, h1, train=False)

    # ---- the run's files and phases -----------------------------------------------------
    def load_data(self):
        """The training split, cut to ``sgan.max_examples`` when that is set."""
        from jaxgan import data

        c = self.config
        source = data.load_dataset(c.data)
        n = self.sgan.max_examples
        if n and n < len(source):
            source = data.ArraySource(source.images[:n], source.labels[:n], source.num_classes,
                                      source.name, origin=f"{source.origin}; first {n} examples")
        if len(source) < c.train.batch_size:
            raise ValueError(f"{source.name} has {len(source)} examples, fewer than "
                             f"train.batch_size={c.train.batch_size}; lower the batch size or "
                             "raise sgan.max_examples.")
        rows = self.num_classes * self.sgan.samples_per_class
        self._recon_real = jnp.asarray(source.images[:rows], jnp.float32) / 127.5 - 1.0
        return source

    def preflight(self, abstract_state):
        """Reads and checks ``sgan.encoder_path`` (shapes against this config's encoder)."""
        if self.sgan.encoder_path:
            self._encoder_file = encoder_io.load_encoder(self.sgan.encoder_path,
                                                         abstract_state.params["encoder"])

    def initial_state(self, state, mesh):
        if self._encoder_file is None:
            return state
        params = parallel.replicate(mesh, self._encoder_file[0])
        return state.replace(params={**state.params, "encoder": params})

    def on_phase_end(self, phase, state, run):
        """After pre-training: the encoder's test accuracy, and ``<workdir>/encoder.npz``."""
        if phase.name != "encoder":
            return {}
        if self._predict is None:
            self._predict = encoder_io.make_predictor(self.networks["encoder"])
        params = state.params["encoder"]
        acc = encoder_io.encoder_test_accuracy(self.config, self._predict, params)
        s = self.sgan
        info = {"dataset": self.config.data.name, "steps": phase.steps, "test_accuracy": acc,
                "enc_channels": list(s.enc_channels), "feature_dim": s.feature_dim}
        path = os.path.join(run.workdir, encoder_io.ENCODER_FILE)
        if run.primary:
            encoder_io.save_encoder(path, params, info)
            print(f"Encoder test accuracy {acc}; saved {path}.", flush=True)
        return {} if acc is None else {"encoder_test_accuracy": acc}

