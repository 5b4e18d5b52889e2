"""The joint-pair game of BiGAN / ALI: a critic of (image, code) pairs against generator and encoder.

The critic ``D`` scores pairs: the encoder's ``(x, E(x))`` for real images
``x``, and the generator's ``(G(z), z)`` for prior draws ``z``. Its logit is
higher for pairs it takes for the encoder's. The objective of Donahue et al.
(2017) and Dumoulin et al. (2017), with ``D = sigmoid(score)``::

    V(D, E, G) = E_x[log D(x, E(x))] + E_z[log(1 - D(G(z), z))]

is maximised by ``D`` and minimised by ``G`` and ``E`` together. At the
optimum the two joint distributions are equal, so ``E`` inverts ``G``.
"""

from __future__ import annotations

import jax

from jaxgan.losses._common import as_float, check_same_batch, per_example_mean


def _pair(encoder_pairs, generator_pairs):
    encoder_pairs = as_float(encoder_pairs, "encoder_pairs")
    generator_pairs = as_float(generator_pairs, "generator_pairs")
    check_same_batch(encoder_pairs, generator_pairs, "encoder_pairs", "generator_pairs")
    return encoder_pairs, generator_pairs


def bigan_d(encoder_pairs, generator_pairs):
    r"""The critic's loss of the joint-pair game: minus its value ``V``.

    .. math::
        \ell_D = -\log D(x, E(x)) - \log(1 - D(G(z), z))
               = \mathrm{softplus}(-r) + \mathrm{softplus}(f)

    with ``r`` the logit of the encoder's pair and ``f`` that of the
    generator's pair, one of each per example.

    Sign convention: logits, higher = "the encoder's pair"; minimised by the
    critic. Gradients: ``d/dr = sigmoid(r) - 1``, ``d/df = sigmoid(f)``.

    Args:
      encoder_pairs: critic logits of ``(x, E(x))``, ``[B]`` or ``[B, ...]``.
      generator_pairs: critic logits of ``(G(z), z)``, same batch size.

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.bigan_d(jnp.array([0.0, 100.0]), jnp.array([0.0, -100.0])))
      [1.3862944 0.       ]

    References:
      Donahue, Kraehenbuehl, Darrell, "Adversarial Feature Learning", ICLR 2017.
      Dumoulin et al., "Adversarially Learned Inference", ICLR 2017.
    """
    r, f = _pair(encoder_pairs, generator_pairs)
    return per_example_mean(jax.nn.softplus(-r)) + per_example_mean(jax.nn.softplus(f))


def bigan_ge(encoder_pairs, generator_pairs, *, nonsaturating: bool = True):
    r"""The loss the generator and the encoder minimise together in the joint-pair game.

    ``nonsaturating=False``: the minimax objective itself, ``V``:

    .. math::
        \ell_{GE} = \log D(x, E(x)) + \log(1 - D(G(z), z))
                  = -\mathrm{softplus}(-r) - \mathrm{softplus}(f)

    ``nonsaturating=True`` (the default, as in the authors' code): the critic's
    targets swapped, so that neither player's gradient vanishes when the
    critic is confident:

    .. math::
        \ell_{GE} = -\log(1 - D(x, E(x))) - \log D(G(z), z)
                  = \mathrm{softplus}(r) + \mathrm{softplus}(-f)

    Sign convention: logits, higher = "the encoder's pair"; minimised by
    ``G`` and ``E``. ``E`` reaches the loss only through ``r`` and ``G`` only
    through ``f``. Gradients (non-saturating): ``d/dr = sigmoid(r)``,
    ``d/df = sigmoid(f) - 1``; (minimax): ``d/dr = 1 - sigmoid(r)``,
    ``d/df = -sigmoid(f)``.

    Args:
      encoder_pairs: critic logits of ``(x, E(x))``, ``[B]`` or ``[B, ...]``.
      generator_pairs: critic logits of ``(G(z), z)``, same batch size.
      nonsaturating: swap the targets (True) or minimise ``V`` (False).

    Returns:
      ``[B]`` per-example losses, averaged over the non-batch dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> print(losses.bigan_ge(jnp.array([0.0]), jnp.array([0.0])))
      [1.3862944]
      >>> print(losses.bigan_ge(jnp.array([0.0]), jnp.array([0.0]), nonsaturating=False))
      [-1.3862944]

    References:
      Donahue, Kraehenbuehl, Darrell, "Adversarial Feature Learning", ICLR 2017.
    """
    r, f = _pair(encoder_pairs, generator_pairs)
    if nonsaturating:
        return per_example_mean(jax.nn.softplus(r)) + per_example_mean(jax.nn.softplus(-f))
    return -(per_example_mean(jax.nn.softplus(-r)) + per_example_mean(jax.nn.softplus(f)))
