"""The Local Gradient Amplifier (LGA) of the spatially decomposed hinge loss.

A critic that scores an ``n x n`` map ``Y`` of local patches gives the hinge
generator loss ``-mean(Y)``, whose gradient is the same ``-1/(n*n)`` for every
cell. The LGA reweights that gradient cell by cell with an amplifier ``A``
computed from ``Y`` itself, so that the generator's update concentrates on
some regions of the image rather than spreading evenly.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxgan.losses._common import UnknownLossError, as_float, per_example_mean

#: Valid ``mode`` values of :func:`lga` and :func:`lga_g`.
LGA_MODES = ("lga", "zero", "sign_preserving")


def _amplifier(y, mode):
    if mode == "lga":
        return jnp.minimum(y, 1.0)
    if mode == "zero":
        return jnp.minimum(y, 0.0)
    return jnp.maximum(1.0, 1.0 - y)  # "sign_preserving"


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _lga(y, mode):
    return y * _amplifier(y, mode)


def _lga_fwd(y, mode):
    a = _amplifier(y, mode)
    return y * a, a


def _lga_bwd(mode, a, g):
    # The amplifier is held constant: the cotangent is scaled by A, not by the
    # product rule's d(Y * A)/dY (2Y where A = Y).
    return (g * a,)


_lga.defvjp(_lga_fwd, _lga_bwd)


def check_lga_mode(mode) -> None:
    """Raises :class:`UnknownLossError` (a ``ValueError``) naming the valid modes."""
    if not isinstance(mode, str) or mode not in LGA_MODES:
        raise UnknownLossError(
            f"Unknown LGA mode {mode!r}; valid modes are {', '.join(map(repr, LGA_MODES))} "
            f"(for the plain hinge generator loss use losses.hinge_g instead).")


def lga(y, mode="lga"):
    r"""Local Gradient Amplifier: ``Y * A`` whose backward pass scales the gradient by ``A``.

    .. math::
        \hat Y = Y \odot A, \qquad
        \frac{\partial \mathcal L}{\partial Y} := \frac{\partial \mathcal L}{\partial \hat Y} \odot A

    with ``A`` computed from ``Y`` and then held constant (a ``jax.custom_vjp``):

    - ``"lga"`` (the paper, literally; the default): ``A = min(Y, 1)``.
    - ``"zero"`` (the paper's zero-LGA ablation): ``A = min(Y, 0)``.
    - ``"sign_preserving"`` (this library's variant, not from the paper):
      ``A = max(1, 1 - Y)``.

    **The paper's ambiguity.** The text motivates the LGA as amplifying the
    gradient of locally unrealistic regions. Read literally, ``A = min(Y, 1)``
    is negative wherever the critic scores a cell ``Y < 0`` ("looks fake"), so
    under ``-mean(lga(Y))`` such a cell receives the gradient ``-A/N = -Y/N > 0``:
    the *opposite* sign to the plain WGAN/hinge generator gradient ``-1/N``, and
    gradient descent makes that cell look more fake still. Cells with
    ``0 < Y < 1`` are attenuated (``|A| < 1``), cells with ``Y >= 1`` get the
    plain gradient. The default implements this literally, because reproducing
    the paper is the point of the default; the ``"zero"`` ablation has the same
    sign flip for ``Y < 0`` and zero gradient elsewhere.

    **The sign-preserving variant** ``A = max(1, 1 - Y)`` implements what the
    text says it intends: ``A >= 1`` everywhere, so every cell is pushed towards
    "more real" (the plain gradient's sign); cells the critic finds real
    (``Y >= 0``) get exactly the plain gradient; a cell it finds fake gets a
    weight growing linearly with how fake it looks, ``1 + |Y|``. That is the
    literal rule's own magnitude ``|A| = |Y|`` for ``Y < 0``, shifted by one so
    that ``A`` is continuous at ``Y = 0`` and never zero there: a cell on the
    critic's decision boundary is still trained, at the plain rate. Which of
    the modes trains better is an empirical question this function does not
    answer.

    Args:
      y: critic scores (higher = more real), any shape; usually ``[B, n, n]``.
      mode: one of :data:`LGA_MODES`.

    Returns:
      ``Y * A``, the shape and dtype of ``y``.

    Raises:
      UnknownLossError: ``mode`` is not in :data:`LGA_MODES`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxgan import losses
      >>> y = jnp.array([-2.0, 0.5, 3.0])
      >>> print(losses.lga(y))
      [4.   0.25 3.  ]
      >>> print(jax.grad(lambda y: losses.lga(y).sum())(y))  # A = min(Y, 1), not 2Y
      [-2.   0.5  1. ]
      >>> print(jax.grad(lambda y: losses.lga(y, "sign_preserving").sum())(y))
      [3. 1. 1.]

    References:
      "Spatially decomposed hinge adversarial loss by Local Gradient Amplifier".
    """
    check_lga_mode(mode)
    return _lga(jnp.asarray(y), mode)


def lga_g(fake_map, mode="lga"):
    r"""Hinge generator loss through the Local Gradient Amplifier, per example.

    .. math::
        \ell_G = -\frac{1}{n^2} \sum_{i,j} \operatorname{lga}(Y)_{ij}

    so ``jax.grad`` of ``lga_g(Y, mode).mean()`` with respect to ``Y`` is exactly
    ``-A / (B * n * n)`` elementwise (see :func:`lga` for ``A`` and for the sign
    of the literal ``"lga"`` mode at cells with ``Y < 0``).

    Sign convention: ``fake_map`` are critic scores of generated data, higher =
    more real; minimized by the generator.

    Args:
      fake_map: critic scores of generated data, ``[B, n, n]`` (any ``[B, ...]``;
        ``[B]`` gives one cell per example).
      mode: one of :data:`LGA_MODES`.

    Returns:
      ``[B]`` per-example losses, averaged over the map.

    Raises:
      UnknownLossError: ``mode`` is not in :data:`LGA_MODES`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> y = jnp.array([[[2.0, 0.5], [-1.0, 1.0]]])  # B = 1, n = 2
      >>> print(losses.lga_g(y))  # -(2*1 + 0.5*0.5 + (-1)*(-1) + 1*1) / 4
      [-1.0625]

    References:
      "Spatially decomposed hinge adversarial loss by Local Gradient Amplifier".
    """
    check_lga_mode(mode)
    fake_map = as_float(fake_map, "fake_map")
    return per_example_mean(-_lga(fake_map, mode))
