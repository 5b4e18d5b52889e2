r"""The Stacked GAN losses, pure: per-example values of shape ``[B]``.

Each generator ``G_i`` of the stack minimises (Huang et al., CVPR 2017, eq. 5)

.. math::
    \mathcal{L}_{G_i} = \lambda_{adv} \mathcal{L}^{adv}_{G_i}
        + \lambda_{cond} \mathcal{L}^{cond}_{G_i} + \lambda_{ent} \mathcal{L}^{ent}_{G_i}

* :math:`\mathcal{L}^{adv}` is any adversarial loss of :data:`jaxgan.losses.LOSSES`
  on the representation discriminator's scores (the paper: the non-saturating
  :math:`-\log D_i(G_i(h_{i+1}, z_i))`); the discriminator minimises
  :func:`discriminator_adversarial`, half the sum over real and fake as in the
  authors' code.
* :math:`\mathcal{L}^{cond} = f(E_i(\hat h_i), h_{i+1})`: the generated
  representation fed back through the encoder must give back the condition:
  :func:`label_conditional` (cross-entropy, the top stack) or
  :func:`feature_conditional` (squared Euclidean distance, the bottom stack).
* :math:`\mathcal{L}^{ent}`: a network :math:`Q_i` recovers :math:`z_i` from
  :math:`\hat h_i`; :math:`-\log Q_i(z_i | \hat h_i)` for a Gaussian
  :math:`Q_i` of fixed variance is, up to constants, the squared error
  :func:`entropy` (a lower bound on the conditional entropy, so minimising it
  maximises the bound). Both :math:`G_i` and :math:`Q_i` (the discriminator's
  Q head) minimise it.

:func:`scale_gradient` couples the stacks in joint training.

Example:
  >>> import jax.numpy as jnp
  >>> from jaxgan.losses import stacked
  >>> print(stacked.feature_conditional(jnp.array([[1.0, 3.0]]), jnp.array([[0.0, 1.0]])))
  [2.5]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgan.losses._common import as_float, check_same_batch, per_example_mean
from jaxgan.losses.auxiliary import auxiliary_classifier


def discriminator_adversarial(d_fn, real_scores, fake_scores):
    r"""A representation discriminator's adversarial loss: half of ``d_fn(real, fake)``.

    .. math::
        \mathcal{L}_{D_i} = \tfrac12 \big(-\log D_i(h_i) - \log(1 - D_i(\hat h_i))\big)

    for ``d_fn = jaxgan.losses.minimax_d``. The factor 1/2 is the authors'
    (``0.5 * loss_real + 0.5 * loss_fake``); it sets the adversarial term's weight
    against the entropy term the discriminator's Q head adds.

    Args:
      d_fn: a discriminator loss of :data:`jaxgan.losses.LOSSES` (``(real, fake) -> [B]``).
      real_scores, fake_scores: logits ``[B]``, higher = more real.

    Returns:
      ``[B]`` per-example losses.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(discriminator_adversarial(losses.minimax_d, jnp.zeros(1), jnp.zeros(1)))
      [0.6931472]
    """
    return 0.5 * d_fn(real_scores, fake_scores)


def label_conditional(class_logits, labels):
    r"""The top stack's conditional loss: cross-entropy of ``E_1(h_hat_1)`` against the label.

    .. math::
        \mathcal{L}^{cond}_{G_1} = -\log \operatorname{softmax}(E_1(\hat h_1))_y

    Args:
      class_logits: ``[B, K]``, the encoder's fc4 applied to generated fc3 features
        (or, for the single-stack baseline, the whole encoder applied to the image).
      labels: int ``[B]``, the labels G1 was conditioned on.

    Returns:
      ``[B]`` per-example cross-entropies (natural log).

    Example:
      >>> import jax.numpy as jnp
      >>> print(label_conditional(jnp.array([[0.0, 0.0]]), jnp.array([1])))
      [0.6931472]

    References:
      Huang et al., "Stacked Generative Adversarial Networks", CVPR 2017, Section 3.3.
    """
    return auxiliary_classifier(class_logits, labels)


def feature_conditional(recovered, condition):
    r"""The bottom stack's conditional loss: squared distance of ``E_0(x_hat)`` to ``h_1``.

    .. math::
        \mathcal{L}^{cond}_{G_0} = \tfrac{1}{F} \lVert E_0(\hat x) - h_1 \rVert_2^2

    The mean over the ``F`` feature dimensions, as the authors' ``T.mean``
    (a sum would scale the weight by ``F``).

    Args:
      recovered: ``[B, F]``, the encoder's fc3 features of the generated images.
      condition: ``[B, F]``, the features G0 was conditioned on.

    Returns:
      ``[B]`` per-example mean squared distances.

    Example:
      >>> import jax.numpy as jnp
      >>> print(feature_conditional(jnp.ones((1, 4)), jnp.zeros((1, 4))))
      [1.]
    """
    recovered = as_float(recovered, "recovered")
    condition = as_float(condition, "condition")
    check_same_batch(recovered, condition, "recovered", "condition")
    if recovered.shape != condition.shape:
        raise ValueError(f"recovered features {recovered.shape} and condition {condition.shape} "
                         "must have the same shape.")
    return per_example_mean(jnp.square(recovered - condition))


def entropy(q_estimate, z):
    r"""The entropy loss: squared error of Q's estimate of the noise.

    .. math::
        \mathcal{L}^{ent}_{G_i} = \tfrac{1}{Z} \lVert Q_i(\hat h_i) - z_i \rVert_2^2
        = \tfrac{2\sigma^2}{Z}\big(-\log Q_i(z_i \mid \hat h_i)\big) + \text{const}

    for ``Q_i(z | h) = N(Q_i(h), sigma^2 I)``: maximising the variational lower
    bound ``E[log Q_i(z_i | h_hat_i)] + H(z_i)`` on the conditional entropy
    ``H(h_hat_i | h_{i+1})`` (paper, eq. 4) is minimising this. Minimised by G_i
    and by Q_i. Averaged over the ``Z`` noise dimensions (the authors' ``T.mean``).

    Args:
      q_estimate: ``[B, Z]``, Q's reconstruction of the noise.
      z: ``[B, Z]``, the noise the generator was given.

    Returns:
      ``[B]`` per-example mean squared errors.

    Example:
      >>> import jax.numpy as jnp
      >>> print(entropy(jnp.array([[0.5, 0.5]]), jnp.array([[0.0, 1.0]])))
      [0.25]

    References:
      Huang et al., "Stacked Generative Adversarial Networks", CVPR 2017, Section 3.4;
      Chen et al., "InfoGAN", NeurIPS 2016 (the same variational bound on mutual information).
    """
    q_estimate = as_float(q_estimate, "q_estimate")
    z = as_float(z, "z")
    if q_estimate.shape != z.shape:
        raise ValueError(f"Q's estimate {q_estimate.shape} and the noise {z.shape} must have the "
                         "same shape; the Q head's output size must equal the noise size.")
    return per_example_mean(jnp.square(q_estimate - z))


@jax.custom_vjp
def scale_gradient(x, scale):
    r"""Identity forward; multiplies the cotangent by ``scale`` backward.

    Joint training feeds G1's features to G0 through it with ``scale = 0.01``:
    one backward pass of ``L_G1 + L_G0`` then gives G0 the gradient of
    ``L_G0`` and G1 the gradient of ``L_G1 + 0.01 L_G0`` (the authors'
    ``cifar/train_joint.py``), since ``L_G1`` does not depend on G0.

    Example:
      >>> import jax
      >>> print(jax.grad(lambda x: 3.0 * scale_gradient(x, 0.01))(1.0))
      0.03
    """
    del scale
    return x


def _scale_fwd(x, scale):
    return x, scale


def _scale_bwd(scale, g):
    return jax.tree.map(lambda t: (t * scale).astype(t.dtype), g), jnp.zeros_like(scale)


scale_gradient.defvjp(_scale_fwd, _scale_bwd)
