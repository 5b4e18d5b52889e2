"""Auxiliary heads on the discriminator: the AC-GAN class loss and InfoGAN's mutual-information bound."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.losses._common import UnknownLossError, as_float, per_example_mean

#: Priors of InfoGAN's continuous codes, with the entropy of one dimension.
CONTINUOUS_PRIORS = {
    "uniform": math.log(2.0),  # U(-1, 1), the InfoGAN paper's choice.
    "normal": 0.5 * math.log(2.0 * math.pi * math.e),  # N(0, 1).
}


def _concrete(x):
    """``x`` as numpy if it is known now, None under tracing."""
    try:
        return np.asarray(x)
    except Exception:  # A tracer: nothing to check eagerly.
        return None


def _log_likelihood_categorical(logits, codes, what):
    """Per-code ``log Q(c | x)`` of shape ``logits.shape[:-1]``; integer or one-hot codes."""
    logits = as_float(logits, what + "_logits")
    log_q = jax.nn.log_softmax(logits, axis=-1)
    codes = jnp.asarray(codes)
    num_classes = logits.shape[-1]
    if jnp.issubdtype(codes.dtype, jnp.integer):
        if codes.shape != logits.shape[:-1]:
            raise ValueError(
                f"integer {what} labels have shape {codes.shape}; with logits of shape "
                f"{logits.shape} they must have shape {logits.shape[:-1]} (one class index "
                f"per row of logits).")
        known = _concrete(codes)
        if known is not None and known.size and (known.min() < 0 or known.max() >= num_classes):
            raise ValueError(
                f"{what} labels must lie in [0, {num_classes}) for {num_classes} classes; "
                f"got values from {known.min()} to {known.max()}.")
        return jnp.take_along_axis(log_q, codes[..., None], axis=-1)[..., 0]
    if codes.shape != logits.shape:
        raise ValueError(
            f"{what} labels given as probabilities have shape {codes.shape}; they must have "
            f"the logits' shape {logits.shape} (or be integer class indices of shape "
            f"{logits.shape[:-1]}).")
    return jnp.sum(codes.astype(log_q.dtype) * log_q, axis=-1)


def auxiliary_classifier(class_logits, labels):
    r"""AC-GAN auxiliary classifier loss: the cross-entropy of the class head, per example.

    .. math::
        \ell_C = -\log Q(C = c \mid x) = -\log \operatorname{softmax}(\text{logits})_c

    Both players minimize it (the paper's "maximize ``L_C``"): the discriminator
    on real and generated images, the generator on its own images conditioned
    on ``c``; the adversarial part is any loss of :data:`LOSSES`.

    Args:
      class_logits: ``[B, K]`` class logits (or ``[B, ..., K]``, averaged over ``...``).
      labels: integer classes of shape ``class_logits.shape[:-1]``, or class
        probabilities (one-hot or soft) of the shape of ``class_logits``.

    Returns:
      ``[B]`` per-example cross-entropies.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> logits = jnp.array([[0.0, 0.0], [100.0, -100.0]])
      >>> print(losses.auxiliary_classifier(logits, jnp.array([1, 1])))
      [  0.6931472 200.       ]

    References:
      Odena et al., "Conditional Image Synthesis with Auxiliary Classifier GANs", ICML 2017.
    """
    return per_example_mean(-_log_likelihood_categorical(class_logits, labels, "class"))


def infogan_mutual_information(*, categorical_logits=None, categorical_codes=None,
                               continuous_mean=None, continuous_codes=None,
                               continuous_log_std=None, continuous_prior="uniform"):
    r"""InfoGAN's variational lower bound on ``I(c; G(z, c))``, per example.

    .. math::
        L_I = \log Q(c \mid G(z, c)) + H(c) \;\le\; I(c; G(z, c))

    summed over all codes (independent codes: their informations add). ``Q`` is
    the recognition head evaluated on the generated image:

    - categorical codes (uniform prior over ``K`` classes, ``H = log K`` each):
      ``Q = softmax(categorical_logits)``;
    - continuous codes, a factored Gaussian ``Q = N(mean, exp(log_std)^2)``
      (``log_std=None`` fixes the standard deviation at 1, as the paper's
      experiments do), ``log N = -log(2 pi)/2 - log_std - (c - mean)^2 / (2 std^2)``;
      ``H = log 2`` per dimension for the paper's ``U(-1, 1)`` prior,
      ``log(2 pi e)/2`` for ``N(0, 1)``.

    Sign convention: higher = more information. It is maximized by the
    generator and ``Q``: both add ``-lambda * L_I.mean()`` to their losses (the
    paper uses ``lambda = 1`` for discrete codes, smaller for continuous ones).
    The entropies are constants: they make the value a bound without changing
    any gradient.

    Args:
      categorical_logits: ``[B, K]`` (or ``[B, M, K]`` for ``M`` codes) logits of ``Q``.
      categorical_codes: the sampled codes, integers ``[B]`` (``[B, M]``) or one-hot.
      continuous_mean: ``[B, L]`` means of ``Q`` for ``L`` continuous dimensions.
      continuous_codes: ``[B, L]`` the sampled continuous codes.
      continuous_log_std: ``[B, L]`` log standard deviations of ``Q``, or None (std 1).
      continuous_prior: the prior the codes were drawn from: ``"uniform"`` or ``"normal"``.

    Returns:
      ``[B]`` per-example lower bounds, in nats.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import losses
      >>> # A perfect categorical head reaches the bound's maximum, log 10 = H(c).
      >>> logits = jnp.array([[100.0] + [0.0] * 9])
      >>> print(losses.infogan_mutual_information(categorical_logits=logits,
      ...                                         categorical_codes=jnp.array([0])))
      [2.3025851]

    References:
      Chen et al., "InfoGAN: Interpretable Representation Learning by Information
      Maximizing Generative Adversarial Nets", NeurIPS 2016.
    """
    has_cat = categorical_logits is not None or categorical_codes is not None
    has_cont = continuous_mean is not None or continuous_codes is not None
    if not (has_cat or has_cont):
        raise ValueError(
            "infogan_mutual_information needs codes: pass categorical_logits with "
            "categorical_codes, and/or continuous_mean with continuous_codes.")
    total = None
    if has_cat:
        if categorical_logits is None or categorical_codes is None:
            raise ValueError("pass both categorical_logits and categorical_codes (one is missing).")
        log_q = _log_likelihood_categorical(categorical_logits, categorical_codes, "categorical")
        log_q = log_q.reshape(log_q.shape[0], -1)
        entropy = log_q.shape[1] * math.log(jnp.shape(categorical_logits)[-1])
        total = jnp.sum(log_q, axis=1) + entropy
    if has_cont:
        if continuous_mean is None or continuous_codes is None:
            raise ValueError("pass both continuous_mean and continuous_codes (one is missing).")
        if continuous_prior not in CONTINUOUS_PRIORS:
            raise UnknownLossError(
                f"Unknown continuous_prior {continuous_prior!r}; valid priors are "
                f"{', '.join(map(repr, CONTINUOUS_PRIORS))}.")
        mean = as_float(continuous_mean, "continuous_mean")
        codes = as_float(continuous_codes, "continuous_codes")
        log_std = (jnp.zeros_like(mean) if continuous_log_std is None
                   else as_float(continuous_log_std, "continuous_log_std"))
        if not mean.shape == codes.shape == log_std.shape:
            raise ValueError(
                f"continuous_mean {mean.shape}, continuous_codes {codes.shape} and "
                f"continuous_log_std {log_std.shape} must have the same shape [B, L].")
        z = (codes - mean) * jnp.exp(-log_std)
        log_q = -0.5 * math.log(2.0 * math.pi) - log_std - 0.5 * jnp.square(z)
        log_q = log_q.reshape(log_q.shape[0], -1)
        cont = jnp.sum(log_q, axis=1) + log_q.shape[1] * CONTINUOUS_PRIORS[continuous_prior]
        if total is not None and total.shape != cont.shape:
            raise ValueError(
                f"the categorical codes have batch size {total.shape[0]} but the continuous "
                f"codes have {cont.shape[0]}; both describe the same generated images.")
        total = cont if total is None else total + cont
    return total
