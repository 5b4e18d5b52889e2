"""A complete system: the non-saturating GAN on the 2-D ring of 8 Gaussians (docs/systems.md).

The real points are drawn inside the losses (no data set), so each group
consumes no batch: ``data=False``. tests/test_systems_doc.py trains it.
"""

import jax
import jax.numpy as jnp
import optax

from jaxgan import losses
from jaxgan.data import mixtures
from jaxgan.models import mlp
from jaxgan.system import Group, Phase, System


class RingGAN(System):
    """MLP generator ``g`` and maxout critic ``d``; one critic and one generator update a step."""

    def __init__(self, config):
        self.config = config
        self.networks = {"g": mlp.Generator(width=64, depth=3),
                         "d": mlp.Critic(width=32, depth=3, pieces=5)}
        adam = optax.adam(config.optim.d_lr, b1=config.optim.b1, b2=config.optim.b2)
        self.groups = {"d": Group("d", ("d",), self.critic_loss, adam),
                       "g": Group("g", ("g",), self.generator_loss, adam)}
        self.phases = (Phase("train", config.train.num_steps, ("d", "g")),)

    def init_inputs(self, name):
        return (jnp.zeros((2, 2)),), {"train": False}

    def real_points(self, ctx, key):
        """This replica's rows of a global batch drawn from the ring."""
        mode_key, noise_key = jax.random.split(key)
        centers = jnp.asarray(mixtures.ring_centers())
        mode = ctx.randint(mode_key, 0, len(centers))
        return centers[mode] + mixtures.RING_STD * ctx.normal(noise_key, 2)

    def critic_loss(self, ctx, batch):
        real_key, z_key = jax.random.split(ctx.key)
        real = self.real_points(ctx, real_key)
        # Train-mode generator (batch statistics), its new running averages dropped.
        fake = ctx.apply("g", ctx.normal(z_key, 2), train=True, mutable="discard")
        scores = ctx.apply("d", jnp.concatenate([real, jax.lax.stop_gradient(fake)]), train=True)
        real_scores, fake_scores = jnp.split(scores, 2)
        loss = jnp.mean(losses.minimax_d(real_scores, fake_scores))
        return loss, {"real_score": jnp.mean(real_scores), "fake_score": jnp.mean(fake_scores)}

    def generator_loss(self, ctx, batch):
        # The one call of this update that moves the generator's running averages.
        fake = ctx.apply("g", ctx.normal(ctx.key, 2), train=True, mutable="update")
        return jnp.mean(losses.nonsaturating_g(ctx.apply("d", fake, train=False))), {}

    def latents(self, key, num):
        return jax.random.normal(key, (num, 2))

    def render(self, apply, latents, labels):
        return apply("g", latents, train=False)
