"""Auxiliary heads on a critic's trunk: AC-GAN's class head, InfoGAN's recognition network Q.

:class:`HeadedCritic` wraps any critic of :mod:`jaxgan.models` (called with
``return_features=True``) and reads the features its scoring layer reads with
extra heads. Called plainly it is the critic (scores only), so penalties and
everything else that takes a critic take it unchanged; ``heads=True`` also
returns the heads' outputs from the same forward pass::

    scores = d(x, labels, train=...)                    # [B, n, n]
    scores, out = d(x, labels, train=..., heads=True)   # out: {head name: [B, dim]}

A head is ``Dense(hidden) -> LeakyReLU(0.2) -> Dense(dim)`` on the trunk's
features (``hidden=0``: one linear layer), as the recognition network of
InfoGAN (FC 128 -> lReLU -> FC, Chen et al. 2016, Table 1) and AC-GAN's class
layer (a linear softmax head beside the source score, Odena et al. 2017).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class HeadedCritic(nn.Module):
    """``critic`` plus the heads ``{name: output dim}`` on its features.

    Example:
      >>> import jax
      >>> from jaxgan.models import dcgan
      >>> d = HeadedCritic(dcgan.Critic(image_size=32, channels=1, width=4), {"class": 10})
      >>> x = jnp.zeros((2, 32, 32, 1))
      >>> (s, out), _ = jax.eval_shape(lambda: d.init_with_output(jax.random.key(0), x,
      ...                                                         train=False, heads=True))
      >>> s.shape, out["class"].shape
      ((2, 1, 1), (2, 10))
    """

    critic: nn.Module
    head_dims: dict[str, int]
    hidden: int = 0  # Width of each head's hidden layer; 0 = a linear head.
    bn_axis_name: str | None = None  # Passed on to a trunk with batch norm.

    def __post_init__(self):
        # The engine sets bn_axis_name on the networks it is given; the trunk inside
        # needs it, before Flax adopts the trunk as this module's child.
        if self.bn_axis_name is not None and hasattr(self.critic, "bn_axis_name"):
            object.__setattr__(self, "critic", self.critic.clone(bn_axis_name=self.bn_axis_name))
        super().__post_init__()

    @nn.compact
    def __call__(self, x, labels=None, *, train: bool, heads: bool = False,
                 return_features: bool = False) -> Any:
        scores, features = self.critic(x, labels, train=train, return_features=True)
        outputs = {}
        for name, dim in self.head_dims.items():
            h = features
            if self.hidden:
                h = nn.leaky_relu(nn.Dense(self.hidden, name=f"{name}_hidden")(h), 0.2)
            outputs[name] = nn.Dense(dim, name=f"{name}_out")(h).astype(jnp.float32)
        result = (scores, outputs) if heads else scores
        return (result, features) if return_features else result
