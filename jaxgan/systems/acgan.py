"""AC-GAN (Odena et al. 2017): a conditional generator and a critic that predicts the class.

The critic is told no label: it scores the source (real or fake) and, from the
same features, predicts the class with a linear softmax head
(:class:`jaxgan.models.heads.HeadedCritic`). With ``L_S`` the adversarial loss
of ``loss.name`` and ``L_C = -log P(C = c | x)`` the class cross-entropy
(:func:`jaxgan.losses.auxiliary_classifier`), both minimised
(``w = acgan.class_weight``):

    L_D = L_S^D(x, G(z, c)) + w (E[L_C(x, y)] + E[L_C(G(z, c), c)])
    L_G = L_S^G(G(z, c))    + w  E[L_C(G(z, c), c)]

i.e. the critic maximises the log-likelihood of the right source and of the
right class, on real and on generated images, and the generator the
likelihood of the class it was asked for. The generator is conditional as
``model.conditioning`` says ('concat': one-hot joined to ``z``, as the paper's
class-embedding input; 'projection': class-conditional batch norm). Penalties,
clipping and EMA are the single-pair GAN's (:mod:`jaxgan.systems.gan`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxgan import config as config_lib
from jaxgan import losses, models
from jaxgan.models.heads import HeadedCritic
from jaxgan.systems.cgan import require_labels
from jaxgan.systems.gan import GAN


class ACGAN(GAN):
    """Conditional generator, source-and-class critic (see the module docstring)."""

    def __init__(self, config):
        generator, critic = models.build_models(config.model, config.data, critic_classes=0)
        classes = config.data.num_classes
        super().__init__(config, networks=(generator, HeadedCritic(critic, {"class": classes})))
        self._class_weight = config.acgan.class_weight

    @classmethod
    def check_config(cls, config) -> None:
        require_labels(config, "acgan")
        config_lib.positive(config, "acgan.class_weight", allow_zero=True)
        super().check_config(config)

    def critic_loss(self, ctx, batch):
        real, labels = batch["image"], batch["label"]
        local_batch = real.shape[0]
        z_key, pen_key = jax.random.split(ctx.key)
        z, fake_labels = self._draw(ctx, z_key)
        fake = lax.stop_gradient(ctx.apply("g", z, fake_labels, train=True, mutable="discard"))
        scores, heads = self._judge_real_and_fake(ctx, real, fake, None, None, heads=True)
        loss, metrics = self._critic_objective(ctx, real, fake, None, scores, pen_key)
        logits = heads["class"]
        class_real = jnp.mean(losses.auxiliary_classifier(logits[:local_batch], labels))
        class_fake = jnp.mean(losses.auxiliary_classifier(logits[local_batch:], fake_labels))
        predicted = jnp.argmax(logits, axis=-1)
        metrics.update(class_real=class_real, class_fake=class_fake,
                       class_acc_real=jnp.mean(predicted[:local_batch] == labels),
                       class_acc_fake=jnp.mean(predicted[local_batch:] == fake_labels))
        return loss + self._class_weight * (class_real + class_fake), metrics

    def generator_loss(self, ctx, batch):
        del batch
        z, fake_labels = self._draw(ctx, ctx.key)
        fake = ctx.apply("g", z, fake_labels, train=True, mutable="update")
        scores, heads = self._judge_fake(ctx, fake, None, heads=True)
        adv = self._generator_adversarial(scores)
        class_term = jnp.mean(losses.auxiliary_classifier(heads["class"], fake_labels))
        return adv + self._class_weight * class_term, {"g_adv": adv, "g_class": class_term}
