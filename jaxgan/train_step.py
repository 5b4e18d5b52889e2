"""The pure train step: n_critic critic updates, one generator update, EMA of G.

``make_train_step`` returns ``step(state, batches) -> (state, metrics)``, jitted,
with the state donated. ``batches`` is a tuple of ``n_critic`` batch dicts
(``{"image": [B, H, W, C], "label": [B]}``), each sharded over the ``'data'``
mesh axis; critic update ``i`` sees real batch ``i``.

The step is written per replica and mapped with ``jax.shard_map``. Two things
make its result independent of the number of devices, which a test pins:

* Losses are ``pmean``-ed over ``'data'`` before differentiation. Under
  ``check_vma`` the transpose of that replicated-to-varying boundary sums
  the per-replica gradients, so the gradient of the pmean-ed loss is exactly the
  gradient of the global-batch mean (pmean-ing the gradients again would
  multiply them by the device count).
* Every random draw (latents, fake labels, penalty interpolation) is made for
  the whole global batch from ``fold_in(key(seed), step)`` and each replica
  takes its own rows, so a run is reproducible from (config, step) alone.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jax.sharding import PartitionSpec as P

from jaxgan import losses, regularizers
from jaxgan.parallel import DATA_AXIS
from jaxgan.state import GANState

Metrics = dict[str, jax.Array]


def _local_rows(x: jax.Array, local_batch: int) -> jax.Array:
    """This replica's rows of an array drawn for the whole global batch."""
    start = lax.axis_index(DATA_AXIS) * local_batch
    return lax.dynamic_slice_in_dim(x, start, local_batch, axis=0)


def _global_mean(x: jax.Array) -> jax.Array:
    return lax.pmean(jnp.mean(x), DATA_AXIS)


def _tree_norm(tree) -> jax.Array:
    return optax.tree.norm(tree)


class _StepParts:
    """The config-dependent pieces of the step, resolved once outside of tracing."""

    def __init__(self, config, generator, critic):
        self.generator = generator
        self.critic = critic
        self.z_dim = config.model.z_dim
        self.num_classes = config.data.num_classes
        self.seed = config.seed
        d_loss, self.g_loss = losses.get_loss(config.loss.name)
        if config.loss.name in ("minimax", "nonsaturating") and config.loss.real_label != 1.0:
            d_loss = functools.partial(d_loss, real_label=config.loss.real_label)
        self.d_loss = d_loss
        self.lga_mode = config.loss.lga
        self.reg = config.reg
        self.ema_decay = config.train.ema_decay

    # -- sampling ----------------------------------------------------------
    def draw(self, key: jax.Array, local_batch: int) -> tuple[jax.Array, jax.Array | None]:
        """Latents and fake labels for this replica's rows of the global batch."""
        global_batch = local_batch * lax.axis_size(DATA_AXIS)
        z_key, y_key = jax.random.split(key)
        z = _local_rows(jax.random.normal(z_key, (global_batch, self.z_dim)), local_batch)
        if not self.num_classes:
            return z, None
        y = jax.random.randint(y_key, (global_batch,), 0, self.num_classes)
        return z, _local_rows(y, local_batch)

    def generate(self, g_params, g_vars, z, labels, *, train: bool):
        """Generator forward in train mode; returns images and the updated collections."""
        if not g_vars:
            return self.generator.apply({"params": g_params}, z, labels, train=train), g_vars
        return self.generator.apply({"params": g_params, **g_vars}, z, labels, train=train,
                                    mutable=list(g_vars))

    def critic_fn(self, d_params, d_vars, labels) -> Callable[[jax.Array], jax.Array]:
        """The critic as a function of its input only, statistics frozen (for penalties)."""
        variables = {"params": d_params, **d_vars}

        def fn(x):
            return self.critic.apply(variables, x, labels, train=False)

        return fn

    def per_example_keys(self, key, local_batch):
        global_batch = local_batch * lax.axis_size(DATA_AXIS)
        return _local_rows(jax.random.split(key, global_batch), local_batch)


def _penalties(parts: _StepParts, d_params, d_vars, real, fake, labels, fake_labels, key):
    """The critic's regularizers, each a per-replica mean, weighted sum and named values."""
    reg = parts.reg
    local_batch = real.shape[0]
    terms: dict[str, jax.Array] = {}
    total = jnp.zeros((), jnp.float32)

    if reg.gp_weight:
        # One key per example of the global batch, so the draw does not depend on the
        # device count. The critic then runs once on the whole batch: it treats examples
        # independently (no batch norm), and a batched call differentiates its weights
        # far faster than a vmap over single examples (2.48x vs 1.25x the plain step's time
        # for the DCGAN critic, benchmarks/step_speed.py).
        keys = parts.per_example_keys(jax.random.fold_in(key, 0), local_batch)
        eps = jax.vmap(lambda k: jax.random.uniform(k, (), real.dtype))(keys)
        gp = regularizers.gradient_penalty(parts.critic_fn(d_params, d_vars, labels), real, fake,
                                           epsilon=eps, target=reg.gp_target)
        terms["gp"] = jnp.mean(gp)
        total += reg.gp_weight * terms["gp"]
    if reg.dragan_weight:
        # DRAGAN scales its perturbation by the std of the batch it is given, here
        # this replica's rows, so (unlike the other terms) it depends on the device count.
        replica_key = jax.random.fold_in(jax.random.fold_in(key, 1), lax.axis_index(DATA_AXIS))
        dr = regularizers.dragan_penalty(parts.critic_fn(d_params, d_vars, labels), real,
                                         replica_key)
        terms["dragan"] = jnp.mean(dr)
        total += reg.dragan_weight * terms["dragan"]
    if reg.r1_weight:
        r1 = regularizers.r1_penalty(parts.critic_fn(d_params, d_vars, labels), real)
        terms["r1"] = jnp.mean(r1)
        total += 0.5 * reg.r1_weight * terms["r1"]
    del fake_labels
    return total, terms


def _critic_update(parts: _StepParts, d_tx, state: GANState, real, labels, key):
    """One critic update on one real batch; returns the new state and metrics."""
    local_batch = real.shape[0]
    z_key, pen_key = jax.random.split(key)
    z, fake_labels = parts.draw(z_key, local_batch)
    fake, _ = parts.generate(state.g_params, state.g_vars, z, fake_labels, train=True)
    fake = lax.stop_gradient(fake)
    both_labels = None if labels is None else jnp.concatenate([labels, fake_labels])

    def loss_fn(d_params):
        variables = {"params": d_params, **state.d_vars}
        both = jnp.concatenate([real, fake])
        # The one call per update that moves the spectral-norm vectors.
        if state.d_vars:
            scores, new_d_vars = parts.critic.apply(variables, both, both_labels, train=True,
                                                    mutable=list(state.d_vars))
        else:
            scores, new_d_vars = parts.critic.apply(variables, both, both_labels, train=True), {}
        real_scores, fake_scores = scores[:local_batch], scores[local_batch:]
        adv = jnp.mean(parts.d_loss(real_scores, fake_scores))
        penalty, terms = _penalties(parts, d_params, new_d_vars, real, fake, labels, fake_labels,
                                    pen_key)
        drift_weight = parts.reg.get("drift_weight", 0.0)  # Absent from older runs' configs.
        if drift_weight:  # Reads the scores above, so it is not one of _penalties' terms.
            terms["drift"] = jnp.mean(regularizers.drift_penalty(real_scores))
            penalty += drift_weight * terms["drift"]
        loss = lax.pmean(adv + penalty, DATA_AXIS)
        aux = {"d_adv": adv, "real_score": jnp.mean(real_scores),
               "fake_score": jnp.mean(fake_scores), **terms}
        return loss, (aux, new_d_vars)

    (d_total, (aux, new_d_vars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d_params)
    updates, d_opt_state = d_tx.update(grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, updates)
    if parts.reg.clip_value:
        d_params = regularizers.clip_weights(d_params, parts.reg.clip_value)
    metrics = {k: lax.pmean(v, DATA_AXIS) for k, v in aux.items()}
    metrics["d_loss"] = d_total
    metrics["d_grad_norm"] = _tree_norm(grads)
    return state.replace(d_params=d_params, d_opt_state=d_opt_state, d_vars=new_d_vars), metrics


def _generator_update(parts: _StepParts, g_tx, state: GANState, local_batch: int, key):
    z, fake_labels = parts.draw(key, local_batch)

    def loss_fn(g_params):
        fake, new_g_vars = parts.generate(g_params, state.g_vars, z, fake_labels, train=True)
        scores = parts.critic_fn(state.d_params, state.d_vars, fake_labels)(fake)
        if parts.lga_mode != "none":
            per_example = losses.lga_g(scores, parts.lga_mode)
        else:
            per_example = parts.g_loss(scores)
        return _global_mean(per_example), new_g_vars

    (g_loss, new_g_vars), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
    updates, g_opt_state = g_tx.update(grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    if parts.ema_decay:
        d = parts.ema_decay
        ema = jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, state.ema_params, g_params)
    else:
        ema = g_params
    new_state = state.replace(g_params=g_params, g_opt_state=g_opt_state, g_vars=new_g_vars,
                              ema_params=ema, step=state.step + 1)
    return new_state, {"g_loss": g_loss, "g_grad_norm": _tree_norm(grads)}


def make_train_step(config, generator, critic, g_tx, d_tx, mesh) -> Callable[..., Any]:
    """Builds the jitted, data-parallel ``step(state, batches) -> (state, metrics)``.

    Args:
      config: the run's ConfigDict (``loss``, ``reg``, ``model.z_dim``, ``data.num_classes``,
        ``train.ema_decay``, ``seed``).
      generator, critic: Flax modules. A generator with batch norm must take a
        ``bn_axis_name`` attribute so its statistics are computed over the global batch.
      g_tx, d_tx: the optax optimizers the state was initialised with.
      mesh: the 1-D ``('data',)`` mesh.
    """
    if hasattr(generator, "bn_axis_name"):
        generator = generator.clone(bn_axis_name=DATA_AXIS)
    parts = _StepParts(config, generator, critic)
    conditional = bool(config.data.num_classes)

    def replica_step(state: GANState, batches):
        key = jax.random.fold_in(jax.random.key(parts.seed), state.step)
        critic_key, gen_key = jax.random.split(key)
        real = jnp.stack([b["image"] for b in batches])
        labels = jnp.stack([b["label"] for b in batches]) if conditional else None

        def critic_body(st, inputs):
            i, x = inputs[0], inputs[1]
            y = inputs[2] if conditional else None
            st, m = _critic_update(parts, d_tx, st, x, y, jax.random.fold_in(critic_key, i))
            return st, m

        xs = (jnp.arange(real.shape[0]), real) + ((labels,) if conditional else ())
        state, d_metrics = lax.scan(critic_body, state, xs)
        d_metrics = jax.tree.map(lambda m: m[-1], d_metrics)  # The last critic update's values.
        state, g_metrics = _generator_update(parts, g_tx, state, real.shape[1], gen_key)
        return state, {**d_metrics, **g_metrics}

    mapped = jax.shard_map(replica_step, mesh=mesh, in_specs=(P(), P(DATA_AXIS)),
                           out_specs=(P(), P()))
    return jax.jit(mapped, donate_argnums=(0,))
