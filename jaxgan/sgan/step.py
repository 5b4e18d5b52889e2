"""The Stacked GAN train steps: encoder pre-training, independent and joint GAN steps.

Each builder returns ``step(state, batch) -> (state, metrics)``, jitted, with
the state donated; ``batch`` is ``{"image": [B, H, W, C], "label": [B]}``
sharded over the ``'data'`` mesh axis. As in :mod:`jaxgan.train_step`, the
step is written per replica and mapped with ``jax.shard_map``, and its result
does not depend on the number of devices (a test pins it):

* every loss is ``pmean``-ed over ``'data'`` before differentiation, so under
  ``check_vma`` the gradient is that of the global-batch mean;
* every draw (z1, z0) is made for the global batch from
  ``fold_in(key(seed), global step)`` and each replica takes its rows;
* the generators' batch norm is synchronised over ``'data'``.

One GAN step is one update of both discriminators (with their Q heads) and one
update of both generators, as in the authors' code:

* **independent** (``joint=False``): D1 compares G1(z1, y) with E's fc3 of the
  real batch; G0 is conditioned on E's *real* fc3 features, so the two stacks
  learn separately (paper, Section 3.5);
* **joint** (``joint=True``): G0 is conditioned on G1's output, D0 sees the
  stacked samples, and G1 also receives ``joint_bottom_weight`` times the
  gradient of G0's loss (:func:`jaxgan.sgan.losses.scale_gradient`).

The labels G1 is conditioned on are those of the real batch (the authors'
choice), so generated and real classes have the same frequencies.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jax.sharding import PartitionSpec as P

from jaxgan import losses as gan_losses
from jaxgan.parallel import DATA_AXIS
from jaxgan.sgan import losses
from jaxgan.sgan.models import Encoder, Networks, bottom_z_dim
from jaxgan.sgan.state import SGANState


def _local_rows(x: jax.Array, local_batch: int) -> jax.Array:
    """This replica's rows of an array drawn for the whole global batch."""
    start = lax.axis_index(DATA_AXIS) * local_batch
    return lax.dynamic_slice_in_dim(x, start, local_batch, axis=0)


def _global_mean(x: jax.Array) -> jax.Array:
    return lax.pmean(jnp.mean(x), DATA_AXIS)


def draw_noise(kind: str, key: jax.Array, shape) -> jax.Array:
    """``U(0, 1)`` (the authors' noise) or ``N(0, 1)`` noise of ``shape``."""
    if kind == "uniform":
        return jax.random.uniform(key, shape)
    return jax.random.normal(key, shape)


def step_key(state: SGANState) -> jax.Array:
    """``fold_in(key(seed), global step)``: the step's randomness, from (config, step) alone."""
    return jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.global_step())


def encoder_features(encoder: Encoder, params, x):
    return encoder.apply({"params": params}, x, method=Encoder.features)


def encoder_logits(encoder: Encoder, params, x):
    return encoder.apply({"params": params}, x)["logits"]


def encoder_classify(encoder: Encoder, params, h):
    return encoder.apply({"params": params}, h, method=Encoder.classify)


def make_encoder_step(networks: Networks, enc_tx, mesh) -> Callable[..., Any]:
    """The jitted, data-parallel classifier update of E (softmax cross-entropy, Adam)."""
    encoder = networks.encoder

    def replica_step(state: SGANState, batch):
        x, y = batch["image"], batch["label"]

        def loss_fn(params):
            logits = encoder_logits(encoder, params, x)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
            return _global_mean(ce), jnp.mean(jnp.argmax(logits, -1) == y)

        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.encoder_params)
        updates, opt_state = enc_tx.update(grads, state.encoder_opt_state, state.encoder_params)
        params = optax.apply_updates(state.encoder_params, updates)
        new_state = state.replace(encoder_params=params, encoder_opt_state=opt_state,
                                  encoder_step=state.encoder_step + 1)
        return new_state, {"encoder_loss": loss, "encoder_accuracy": lax.pmean(acc, DATA_AXIS)}

    mapped = jax.shard_map(replica_step, mesh=mesh, in_specs=(P(), P(DATA_AXIS)),
                           out_specs=(P(), P()))
    return jax.jit(mapped, donate_argnums=(0,))


class _StepParts:
    """The config-dependent pieces of a GAN step, resolved once outside of tracing."""

    def __init__(self, config, networks: Networks, joint: bool):
        s = config.sgan
        self.nets = networks
        self.stacked = bool(s.stacked)
        self.joint = joint
        self.noise = s.noise
        self.z1_dim, self.z0_dim = s.z1_dim, bottom_z_dim(s)
        self.num_classes = config.data.num_classes
        self.w_adv, self.w_cond, self.w_ent = s.adv_weight, s.cond_weight, s.ent_weight
        self.w_joint = s.joint_bottom_weight
        self.d_fn, self.g_fn = gan_losses.get_loss(config.loss.name)

    def draw(self, key, local_batch: int) -> dict[str, jax.Array]:
        """z1 and z0 for this replica's rows of the global batch."""
        global_batch = local_batch * lax.axis_size(DATA_AXIS)
        k1, k0 = jax.random.split(key)
        z = {"z0": _local_rows(draw_noise(self.noise, k0, (global_batch, self.z0_dim)),
                               local_batch)}
        if self.stacked:
            z["z1"] = _local_rows(draw_noise(self.noise, k1, (global_batch, self.z1_dim)),
                                  local_batch)
        return z

    def apply_g(self, name, params, g_vars, *args):
        """A generator forward in train mode; returns its output and new batch statistics."""
        net = getattr(self.nets, name)
        return net.apply({"params": params, **g_vars}, *args, train=True, mutable=list(g_vars))

    def bottom_condition(self, fake_h1, real_h1, labels):
        """What G0 is conditioned on: real fc3 (independent), G1's fc3 (joint), or onehot(y)."""
        if not self.stacked:
            return jax.nn.one_hot(labels, self.num_classes)
        if self.joint:
            return losses.scale_gradient(fake_h1, jnp.float32(self.w_joint))
        return real_h1


def _discriminator_update(parts: _StepParts, d_tx, state: SGANState, x, y, real_h1, key):
    nets = parts.nets
    z = parts.draw(key, x.shape[0])
    fake_h1 = None
    if parts.stacked:
        fake_h1, _ = parts.apply_g("g1", state.g_params["g1"], state.g_vars["g1"], z["z1"], y)
    cond = parts.bottom_condition(fake_h1, real_h1, y)
    fake_x, _ = parts.apply_g("g0", state.g_params["g0"], state.g_vars["g0"], z["z0"], cond)
    fake_x, fake_h1 = lax.stop_gradient((fake_x, fake_h1))
    b = x.shape[0]

    def one(d_net, params, real, fake, noise, tag):
        scores, q = d_net.apply({"params": params}, jnp.concatenate([real, fake]))
        adv = jnp.mean(losses.discriminator_adversarial(parts.d_fn, scores[:b], scores[b:]))
        ent = jnp.mean(losses.entropy(q[b:], noise))
        terms = {f"d{tag}_adv": adv, f"d{tag}_ent": ent, f"d{tag}_real_score": jnp.mean(scores[:b]),
                 f"d{tag}_fake_score": jnp.mean(scores[b:])}
        return adv + parts.w_ent * ent, terms

    def loss_fn(d_params):
        total, terms = one(nets.d0, d_params["d0"], x, fake_x, z["z0"], 0)
        if parts.stacked:
            total1, terms1 = one(nets.d1, d_params["d1"], real_h1, fake_h1, z["z1"], 1)
            total, terms = total + total1, {**terms, **terms1}
        return lax.pmean(total, DATA_AXIS), terms

    (d_loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d_params)
    updates, d_opt_state = d_tx.update(grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, updates)
    metrics = {k: lax.pmean(v, DATA_AXIS) for k, v in terms.items()}
    metrics.update(d_loss=d_loss, d_grad_norm=optax.tree.norm(grads))
    return state.replace(d_params=d_params, d_opt_state=d_opt_state), metrics


def _generator_update(parts: _StepParts, g_tx, state: SGANState, y, real_h1, enc_params, key):
    nets = parts.nets
    z = parts.draw(key, y.shape[0])

    def loss_fn(g_params):
        new_vars, terms = {}, {}
        total = jnp.zeros((), jnp.float32)
        fake_h1 = None
        if parts.stacked:
            fake_h1, new_vars["g1"] = parts.apply_g("g1", g_params["g1"], state.g_vars["g1"],
                                                    z["z1"], y)
            score1, q1 = nets.d1.apply({"params": state.d_params["d1"]}, fake_h1)
            terms["g1_adv"] = jnp.mean(parts.g_fn(score1))
            terms["g1_cond"] = jnp.mean(losses.label_conditional(
                encoder_classify(nets.encoder, enc_params, fake_h1), y))
            terms["g1_ent"] = jnp.mean(losses.entropy(q1, z["z1"]))
        cond = parts.bottom_condition(fake_h1, real_h1, y)
        fake_x, new_vars["g0"] = parts.apply_g("g0", g_params["g0"], state.g_vars["g0"],
                                               z["z0"], cond)
        score0, q0 = nets.d0.apply({"params": state.d_params["d0"]}, fake_x)
        terms["g0_adv"] = jnp.mean(parts.g_fn(score0))
        if parts.stacked:
            terms["g0_cond"] = jnp.mean(losses.feature_conditional(
                encoder_features(nets.encoder, enc_params, fake_x), cond))
        else:
            terms["g0_cond"] = jnp.mean(losses.label_conditional(
                encoder_logits(nets.encoder, enc_params, fake_x), y))
        terms["g0_ent"] = jnp.mean(losses.entropy(q0, z["z0"]))
        for stack in ("g1", "g0") if parts.stacked else ("g0",):
            total += (parts.w_adv * terms[f"{stack}_adv"] + parts.w_cond * terms[f"{stack}_cond"]
                      + parts.w_ent * terms[f"{stack}_ent"])
        return lax.pmean(total, DATA_AXIS), (terms, new_vars)

    (g_loss, (terms, new_vars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
    updates, g_opt_state = g_tx.update(grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    metrics = {k: lax.pmean(v, DATA_AXIS) for k, v in terms.items()}
    metrics.update(g_loss=g_loss, g_grad_norm=optax.tree.norm(grads))
    new_state = state.replace(g_params=g_params, g_opt_state=g_opt_state, g_vars=new_vars,
                              step=state.step + 1)
    return new_state, metrics


def make_gan_step(config, networks: Networks, g_tx, d_tx, mesh, *, joint: bool
                  ) -> Callable[..., Any]:
    """Builds the jitted, data-parallel ``step(state, batch) -> (state, metrics)``.

    Args:
      config: the run's ConfigDict (``sgan``, ``loss.name``, ``data.num_classes``).
      networks: from :func:`jaxgan.sgan.models.build_networks`; the generators are
        re-built here with batch norm synchronised over ``'data'``.
      g_tx, d_tx: the optimizers the state was initialised with.
      mesh: the 1-D ``('data',)`` mesh.
      joint: False for the independent stage, True for joint training (a
        single-stack model is the same either way).
    """
    nets = networks._replace(
        g0=networks.g0.clone(bn_axis_name=DATA_AXIS),
        g1=None if networks.g1 is None else networks.g1.clone(bn_axis_name=DATA_AXIS))
    parts = _StepParts(config, nets, joint)

    def replica_step(state: SGANState, batch):
        d_key, g_key = jax.random.split(step_key(state))
        x, y = batch["image"], batch["label"]
        enc_params = lax.stop_gradient(state.encoder_params)
        real_h1 = (lax.stop_gradient(encoder_features(nets.encoder, enc_params, x))
                   if parts.stacked else None)
        state, d_metrics = _discriminator_update(parts, d_tx, state, x, y, real_h1, d_key)
        state, g_metrics = _generator_update(parts, g_tx, state, y, real_h1, enc_params, g_key)
        return state, {**d_metrics, **g_metrics}

    mapped = jax.shard_map(replica_step, mesh=mesh, in_specs=(P(), P(DATA_AXIS)),
                           out_specs=(P(), P()))
    return jax.jit(mapped, donate_argnums=(0,))
