"""SGANState: everything a Stacked GAN run needs to continue, as one pytree.

Parameters are grouped by who updates them: ``g_params = {'g1', 'g0'}``
share one optimizer (Adam is per parameter, so that is two Adams), and
``d_params = {'d1', 'd0'}`` likewise; the encoder has its own optimizer for
pre-training and is frozen afterwards. For the single-stack baseline the
``'g1'`` / ``'d1'`` entries are absent. ``g_vars`` holds the generators' batch
statistics. ``rng`` is the run's base key (raw uint32 key data, which Orbax
saves like any array); the step keys are ``fold_in(rng, global step)``.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from jaxgan.sgan.models import Networks, bottom_z_dim

PyTree = Any


@flax.struct.dataclass
class SGANState:
    step: jax.Array  # GAN updates done (independent + joint), int32 scalar.
    encoder_step: jax.Array  # Encoder pre-training updates done, int32 scalar.
    rng: jax.Array  # uint32 key data of jax.random.key(seed).
    encoder_params: PyTree
    encoder_opt_state: optax.OptState
    g_params: PyTree  # {'g1': ..., 'g0': ...}
    d_params: PyTree  # {'d1': ..., 'd0': ...}
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    g_vars: PyTree  # {'g1': {'batch_stats': ...}, 'g0': {...}}

    def global_step(self) -> jax.Array:
        """Encoder plus GAN updates: the checkpoint and data-stream position."""
        return self.encoder_step + self.step

    def generator_variables(self, name: str) -> dict:
        """The variables dict for ``networks.<name>.apply`` (``name`` in {'g1', 'g0'})."""
        return {"params": self.g_params[name], **self.g_vars[name]}


def make_optimizers(config) -> tuple[optax.GradientTransformation, ...]:
    """``(encoder_tx, g_tx, d_tx)``: Adam with the config's rates and betas.

    The SGAN configs set ``optim.b1 = 0.5`` and ``b2 = 0.999`` (the authors'
    Adam); the encoder uses ``sgan.encoder_lr`` with the default betas.
    """
    o = config.optim
    return (optax.adam(config.sgan.encoder_lr),
            optax.adam(o.g_lr, b1=o.b1, b2=o.b2),
            optax.adam(o.d_lr, b1=o.b1, b2=o.b2))


def init_state(seed_key: jax.Array, networks: Networks, txs, config) -> SGANState:
    """Initialises every network on a batch of two, and the optimizer states.

    ``seed_key`` is ``jax.random.key(config.seed)``, an argument (not read from
    the config) so one compiled initialiser serves every seed. Modules are
    initialised with ``train=False`` so no cross-device collective runs outside
    the mapped step; every variable is still created.
    """
    s, d = config.sgan, config.data
    enc_tx, g_tx, d_tx = txs
    keys = dict(zip(("encoder", "g1", "g0", "d1", "d0"),
                    jax.random.split(jax.random.fold_in(seed_key, 0x1A17), 5)))
    x = jnp.zeros((2, d.image_size, d.image_size, d.channels), jnp.float32)
    labels = jnp.zeros((2,), jnp.int32)
    enc_params = networks.encoder.init(keys["encoder"], x)["params"]
    condition_dim = s.feature_dim if s.stacked else d.num_classes
    g_all = {"g0": networks.g0.init(keys["g0"], jnp.zeros((2, bottom_z_dim(s))),
                                    jnp.zeros((2, condition_dim)), train=False)}
    d_params = {"d0": networks.d0.init(keys["d0"], x)["params"]}
    if s.stacked:
        g_all["g1"] = networks.g1.init(keys["g1"], jnp.zeros((2, s.z1_dim)), labels, train=False)
        d_params["d1"] = networks.d1.init(keys["d1"], jnp.zeros((2, s.feature_dim)))["params"]
    g_params = {k: v["params"] for k, v in g_all.items()}
    g_vars = {k: {c: t for c, t in v.items() if c != "params"} for k, v in g_all.items()}
    return SGANState(
        step=jnp.zeros((), jnp.int32),
        encoder_step=jnp.zeros((), jnp.int32),
        rng=jax.random.key_data(seed_key),
        encoder_params=enc_params,
        encoder_opt_state=enc_tx.init(enc_params),
        g_params=g_params,
        d_params=d_params,
        g_opt_state=g_tx.init(g_params),
        d_opt_state=d_tx.init(d_params),
        g_vars=g_vars,
    )
