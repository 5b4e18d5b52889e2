"""Adversarial losses on critic scores: minimax, non-saturating, LSGAN, Wasserstein, hinge.

Convention (every function here): a critic outputs real-valued scores, higher =
more real, of shape ``[B]`` or ``[B, ...]`` (e.g. an ``n x n`` map of local
scores). A loss is evaluated per score and averaged over the non-batch
dimensions, so every function returns per-example values of shape ``[B]``;
``.mean()`` of them is the minibatch estimate that an optimizer minimizes.
The discriminator functions ``*_d(real, fake)`` score a real and a generated
batch of the same size; the generator functions ``*_g(fake)`` score a generated
batch. Scores of any float dtype are computed in at least float32.

Where a probability is meant, ``D = sigmoid(score)``; such losses are written
with ``softplus`` (``-log sigmoid(s) = softplus(-s)``, ``-log(1 - sigmoid(s)) =
softplus(s)``), so values and gradients stay finite at logits of +-100.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgan.losses._common import as_float, check_same_batch, is_concrete_number, per_example_mean


def _pair(real, fake):
    real = as_float(real, "real")
    fake = as_float(fake, "fake")
    check_same_batch(real, fake, "real", "fake")
    return real, fake


def minimax_d(real, fake, *, real_label=1.0):
    r"""Discriminator loss of the original minimax GAN, with one-sided label smoothing.

    .. math::
        \ell_D = -t \log D(x) - (1 - t) \log(1 - D(x)) - \log(1 - D(G(z))),
        \quad D = \sigma(\text{score})

    computed as ``t * softplus(-r) + (1 - t) * softplus(r) + softplus(f)``. With
    ``t = 1`` it is the binary cross-entropy of real against fake; ``t < 1``
    smooths only the real targets (Salimans et al. 2016): smoothing the fake
    targets as well would move the optimal discriminator's zero and reward
    the generator for staying where the data is not.

    Sign convention: scores are logits, higher = more real; minimized by the
    discriminator. Gradients: ``d/dr = sigmoid(r) - t``, ``d/df = sigmoid(f)``
    (before the per-example mean).

    Args:
      real: critic logits of real data, ``[B]`` or ``[B, ...]``.
      fake: critic logits of generated data, same batch size.
      real_label: the target ``t`` of real data, in ``[0, 1]``; 1 = no smoothing
        (0.9 is the usual smoothed value).

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.minimax_d(jnp.array([0.0, 100.0]), jnp.array([0.0, -100.0])))
      [1.3862944 0.       ]
      >>> print(losses.minimax_d(jnp.array([100.0]), jnp.array([-100.0]), real_label=0.9))
      [10.]

    References:
      Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
      Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
    """
    if is_concrete_number(real_label) and not 0.0 <= float(real_label) <= 1.0:
        raise ValueError(
            f"real_label={real_label} is not a probability; use a value in [0, 1] "
            f"(1.0 = no smoothing, 0.9 = the usual one-sided smoothing).")
    real, fake = _pair(real, fake)
    t = jnp.asarray(real_label, real.dtype)
    real_term = t * jax.nn.softplus(-real) + (1.0 - t) * jax.nn.softplus(real)
    return per_example_mean(real_term) + per_example_mean(jax.nn.softplus(fake))


def minimax_g(fake):
    r"""Generator loss of the original (saturating) minimax GAN.

    .. math::
        \ell_G = \log(1 - D(G(z))) = -\operatorname{softplus}(f), \quad D = \sigma(f)

    Sign convention: ``f`` are logits, higher = more real; minimized by the
    generator. Its gradient ``-sigmoid(f)`` vanishes exactly where the
    discriminator confidently rejects the samples, which is why
    :func:`nonsaturating_g` is used in practice.

    Args:
      fake: critic logits of generated data, ``[B]`` or ``[B, ...]``.

    Returns:
      ``[B]`` per-example losses (at most 0), averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.minimax_g(jnp.array([0.0, -100.0])))
      [-0.6931472 -0.       ]

    References:
      Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
    """
    fake = as_float(fake, "fake")
    return per_example_mean(-jax.nn.softplus(fake))


def nonsaturating_g(fake):
    r"""Non-saturating generator loss: maximize ``log D(G(z))`` instead of minimizing ``log(1 - D)``.

    .. math::
        \ell_G = -\log D(G(z)) = \operatorname{softplus}(-f), \quad D = \sigma(f)

    Sign convention: ``f`` are logits, higher = more real; minimized by the
    generator. Gradient ``sigmoid(f) - 1``: strongest where the discriminator
    rejects the samples.

    Args:
      fake: critic logits of generated data, ``[B]`` or ``[B, ...]``.

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.nonsaturating_g(jnp.array([0.0, -100.0])))
      [  0.6931472 100.       ]

    References:
      Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, section 3.
    """
    fake = as_float(fake, "fake")
    return per_example_mean(jax.nn.softplus(-fake))


def lsgan_d(real, fake):
    r"""Least-squares GAN discriminator loss with targets real = 1, fake = 0.

    .. math::
        \ell_D = (D(x) - 1)^2 + D(G(z))^2

    ``D`` is the raw score (no sigmoid). This is the paper's ``a = 0, b = 1``
    coding without its factor 1/2, so the same learning rate gives twice the
    paper's step.

    Sign convention: higher = more real; minimized by the discriminator.

    Args:
      real: critic scores of real data, ``[B]`` or ``[B, ...]``.
      fake: critic scores of generated data, same batch size.

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.lsgan_d(jnp.array([1.0, 0.0]), jnp.array([0.0, 2.0])))
      [0. 5.]

    References:
      Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017.
    """
    real, fake = _pair(real, fake)
    return per_example_mean(jnp.square(real - 1.0)) + per_example_mean(jnp.square(fake))


def lsgan_g(fake):
    r"""Least-squares GAN generator loss with target ``c = 1``.

    .. math::
        \ell_G = (D(G(z)) - 1)^2

    Sign convention: higher = more real; minimized by the generator (without
    the paper's factor 1/2).

    Args:
      fake: critic scores of generated data, ``[B]`` or ``[B, ...]``.

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.lsgan_g(jnp.array([1.0, -1.0])))
      [0. 4.]

    References:
      Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017.
    """
    fake = as_float(fake, "fake")
    return per_example_mean(jnp.square(fake - 1.0))


def wasserstein_d(real, fake):
    r"""Wasserstein GAN critic loss: the negated Kantorovich-Rubinstein estimate.

    .. math::
        \ell_D = D(G(z)) - D(x)

    Meaningful only with a Lipschitz constraint on the critic (weight clipping,
    :func:`jaxgan.regularizers.gradient_penalty`, spectral normalization).

    Sign convention: higher = more real; minimized by the critic.

    Args:
      real: critic scores of real data, ``[B]`` or ``[B, ...]``.
      fake: critic scores of generated data, same batch size.

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.wasserstein_d(jnp.array([3.0, 1.0]), jnp.array([1.0, 1.0])))
      [-2.  0.]

    References:
      Arjovsky et al., "Wasserstein Generative Adversarial Networks", ICML 2017.
    """
    real, fake = _pair(real, fake)
    return per_example_mean(fake) - per_example_mean(real)


def wasserstein_g(fake):
    r"""Wasserstein GAN generator loss.

    .. math::
        \ell_G = -D(G(z))

    Sign convention: higher = more real; minimized by the generator.

    Args:
      fake: critic scores of generated data, ``[B]`` or ``[B, ...]``.

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.wasserstein_g(jnp.array([2.0, -0.5])))
      [-2.   0.5]

    References:
      Arjovsky et al., "Wasserstein Generative Adversarial Networks", ICML 2017.
    """
    fake = as_float(fake, "fake")
    return per_example_mean(-fake)


def hinge_d(real, fake):
    r"""Hinge discriminator loss.

    .. math::
        \ell_D = \max(0, 1 - D(x)) + \max(0, 1 + D(G(z)))

    On an ``[B, n, n]`` map the hinge is taken per cell and then averaged (the
    spatially decomposed hinge loss of the LGA paper), not applied to the map's
    mean. Gradients: ``-1[r < 1]`` and ``1[f > -1]`` (0 at the kinks).

    Sign convention: higher = more real; minimized by the discriminator.

    Args:
      real: critic scores of real data, ``[B]`` or ``[B, ...]``.
      fake: critic scores of generated data, same batch size.

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.hinge_d(jnp.array([2.0, 0.5]), jnp.array([-2.0, 0.0])))
      [0.  1.5]

    References:
      Lim & Ye, "Geometric GAN", arXiv:1705.02894, 2017.
      Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
    """
    real, fake = _pair(real, fake)
    return per_example_mean(jax.nn.relu(1.0 - real)) + per_example_mean(jax.nn.relu(1.0 + fake))


def hinge_g(fake):
    r"""Hinge-GAN generator loss (the same form as the Wasserstein generator's).

    .. math::
        \ell_G = -D(G(z))

    Sign convention: higher = more real; minimized by the generator. For the
    Local Gradient Amplifier variant see :func:`jaxgan.losses.lga_g`.

    Args:
      fake: critic scores of generated data, ``[B]`` or ``[B, ...]``.

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.hinge_g(jnp.array([[1.0, 3.0], [-1.0, 0.0]])))
      [-2.   0.5]

    References:
      Lim & Ye, "Geometric GAN", arXiv:1705.02894, 2017.
      Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
    """
    fake = as_float(fake, "fake")
    return per_example_mean(-fake)
