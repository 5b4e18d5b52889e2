r"""Reconstruction losses of unpaired image-to-image translation (CycleGAN).

Two generators map between domains, ``G: X -> Y`` and ``F: Y -> X``. Besides
their adversarial losses, CycleGAN asks each round trip to come back where it
started (cycle consistency) and, optionally, each generator to leave an image
of its own output domain unchanged (the identity mapping loss). Both are L1
distances, reduced here to one value per example: the mean absolute error over
every non-batch axis (height, width, channels), so an image's weight does not
grow with its size. These are not critic losses: lower = closer, and the
weights (``lambda``, ``0.5 * lambda``) are the caller's.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxgan.losses._common import as_float, per_example_mean


def _l1(a, b, name_a: str, name_b: str) -> jnp.ndarray:
    a, b = as_float(a, name_a), as_float(b, name_b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has {b.shape}; the L1 "
                         f"distance compares images pixel by pixel, so give both the same shape.")
    return per_example_mean(jnp.abs(a - b))


def cycle_consistency(x, x_reconstructed):
    r"""Per-example cycle-consistency loss: the mean absolute error of a round trip.

    .. math::
        \ell_{cyc}(x) = \frac{1}{d} \sum_{i=1}^{d} |F(G(x))_i - x_i|

    over the ``d`` pixels and channels of one example. CycleGAN's full
    objective adds ``lambda * (E_x[l_cyc(x)] + E_y[l_cyc(y)])`` (the paper's
    ``||F(G(x)) - x||_1``, with ``lambda = 10``) to the generators' adversarial
    losses, for both directions ``x -> G(x) -> F(G(x))`` and
    ``y -> F(y) -> G(F(y))``. Lower = closer; minimized by both generators.

    Args:
      x: the original images, ``[B, ...]`` (e.g. ``[B, H, W, C]`` in [-1, 1]).
      x_reconstructed: the images after the round trip, the shape of ``x``.

    Returns:
      ``[B]`` per-example mean absolute errors.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> x = jnp.array([[1.0, -1.0], [0.5, 0.5]])
      >>> print(losses.cycle_consistency(x, jnp.array([[0.0, 0.0], [0.5, 0.0]])))
      [1.   0.25]

    References:
      Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent
      Adversarial Networks", ICCV 2017, equation (2).
    """
    return _l1(x, x_reconstructed, "x", "x_reconstructed")


def identity_loss(y, g_of_y):
    r"""Per-example identity mapping loss: how much a generator changes its own domain's images.

    .. math::
        \ell_{idt}(y) = \frac{1}{d} \sum_{i=1}^{d} |G(y)_i - y_i|

    for ``G: X -> Y`` and ``y`` from ``Y`` (and likewise ``|F(x) - x|`` for
    ``F: Y -> X``). The CycleGAN paper (section 5.2, "Photo generation from
    paintings") adds it to keep the colours of the input, with weight
    ``0.5 * lambda``; its code defaults to that weight as well. It requires
    the two domains to have the same number of channels. Lower = closer;
    minimized by the generator.

    Args:
      y: images of the generator's output domain, ``[B, ...]``.
      g_of_y: the generator applied to them, the shape of ``y``.

    Returns:
      ``[B]`` per-example mean absolute errors.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> y = jnp.array([[0.5, -0.5, 1.0, 0.0]])
      >>> print(losses.identity_loss(y, jnp.array([[0.5, 0.5, 0.0, 0.0]])))
      [0.5]

    References:
      Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent
      Adversarial Networks", ICCV 2017, section 5.2; the identity loss is from
      Taigman et al., "Unsupervised Cross-Domain Image Generation", ICLR 2017.
    """
    return _l1(y, g_of_y, "y", "g_of_y")
