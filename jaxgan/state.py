"""GANState: everything a run needs to continue, as one pytree.

The optimizers themselves (pure ``optax`` transformations) are not state; they
are rebuilt from the config. Mutable Flax collections are kept apart from the
trainable params and threaded explicitly through every ``apply``:
``g_vars`` holds the generator's batch statistics, ``d_vars`` the critic's
spectral-norm vectors (``u``, ``sigma``); both may be empty dicts.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class GANState:
    step: jax.Array  # Generator updates done so far (int32 scalar).
    g_params: PyTree
    d_params: PyTree
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    g_vars: PyTree  # Generator's mutable collections, e.g. {'batch_stats': ...}.
    d_vars: PyTree  # Critic's mutable collections, e.g. spectral-norm {'batch_stats': ...}.
    ema_params: PyTree  # EMA of g_params; equal to g_params when the config keeps no EMA.

    def generator_variables(self, use_ema: bool = True) -> dict:
        """The variables dict for ``generator.apply``."""
        return {"params": self.ema_params if use_ema else self.g_params, **self.g_vars}

    def critic_variables(self) -> dict:
        return {"params": self.d_params, **self.d_vars}


def make_optimizers(optim_cfg) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """Adam for G and D with the config's rates and betas (beta1=0, beta2=0.9 by default)."""
    g_tx = optax.adam(optim_cfg.g_lr, b1=optim_cfg.b1, b2=optim_cfg.b2)
    d_tx = optax.adam(optim_cfg.d_lr, b1=optim_cfg.b1, b2=optim_cfg.b2)
    return g_tx, d_tx


def init_state(key: jax.Array, generator, critic, g_tx, d_tx, *, z_dim: int, image_shape,
               num_classes: int = 0) -> GANState:
    """Initialises both networks on a batch of two and their optimizer states.

    Modules are initialised with ``train=False`` so no cross-device collective
    runs outside the mapped step; every variable is still created.
    """
    g_key, d_key = jax.random.split(key)
    z = jnp.zeros((2, z_dim), jnp.float32)
    x = jnp.zeros((2, *image_shape), jnp.float32)
    labels = jnp.zeros((2,), jnp.int32) if num_classes else None
    g_all = generator.init(g_key, z, labels, train=False)
    d_all = critic.init(d_key, x, labels, train=False)
    g_params = g_all["params"]
    d_params = d_all["params"]
    g_vars = {k: v for k, v in g_all.items() if k != "params"}
    d_vars = {k: v for k, v in d_all.items() if k != "params"}
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params,
        d_params=d_params,
        g_opt_state=g_tx.init(g_params),
        d_opt_state=d_tx.init(d_params),
        g_vars=g_vars,
        d_vars=d_vars,
        ema_params=jax.tree.map(jnp.copy, g_params),
    )
