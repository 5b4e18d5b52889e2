"""Critic regularizers: WGAN-GP, DRAGAN, R1, drift, weight clipping, feature matching, historical averaging.

The gradient penalties take a ``critic_fn`` mapping inputs ``[B, ...]`` to
scores ``[B, ...]`` (higher = more real; the caller closes it over the critic's
parameters) and differentiate it with respect to its inputs. A critic whose
output is an ``n x n`` map is reduced to one score per example by the mean of
its map first, the same reduction the adversarial losses use.

Per-example input gradients are taken as the gradient of the *summed* scores:
``d/dx_i sum_j D(x_j) = dD(x_i)/dx_i`` only if example ``j``'s score does not
depend on example ``i``. So the critic must treat examples independently -- no
batch normalization, no minibatch-discrimination layer, nothing that mixes the
batch -- as the WGAN-GP paper also requires. A critic whose spectral-norm power
iteration updates state must be evaluated here without updating it.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxgan.losses._common import as_float, is_concrete_number, per_example_mean


def _input_gradients(critic_fn: Callable, x: jnp.ndarray) -> jnp.ndarray:
    """``dD(x_i)/dx_i`` for every example, ``[B, ...]``, with map scores mean-reduced."""

    def summed_scores(x):
        scores = jnp.asarray(critic_fn(x))
        if scores.ndim == 0 or scores.shape[0] != x.shape[0]:
            raise ValueError(
                f"critic_fn returned scores of shape {scores.shape} for {x.shape[0]} "
                f"examples; it must return one score (or one score map) per example, "
                f"[B] or [B, ...].")
        return jnp.sum(per_example_mean(scores.astype(jnp.promote_types(scores.dtype, jnp.float32))))

    return jax.grad(summed_scores)(x)


def _squared_norms(g: jnp.ndarray) -> jnp.ndarray:
    """``||g_i||^2`` over ALL non-batch dimensions (image height, width and channels together)."""
    return jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), axis=1)


def _norm_penalty(sq: jnp.ndarray, target) -> jnp.ndarray:
    """``(sqrt(sq) - target)^2`` with a finite gradient where ``sq == 0`` (sqrt's is infinite there)."""
    positive = sq > 0
    norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)
    return jnp.square(norm - target)


def _batch_uniform(key, x):
    """One ``U[0, 1]`` draw per example, broadcastable against ``x``."""
    return jax.random.uniform(key, (x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype)


def gradient_penalty(critic_fn, real, fake, key=None, *, target=1.0, epsilon=None):
    r"""WGAN-GP: the squared distance of the critic's input-gradient norm from ``target``, per example.

    .. math::
        \hat x = \epsilon x + (1 - \epsilon) \tilde x, \quad \epsilon \sim U[0, 1] \text{ per example};
        \qquad \mathrm{GP} = (\|\nabla_{\hat x} D(\hat x)\|_2 - \text{target})^2

    ``epsilon`` is drawn as ``jax.random.uniform(key, (B, 1, ..., 1))``, or
    given: pass ``epsilon`` (``[B]``) instead of ``key`` to draw it elsewhere,
    e.g. one key per example of a global batch split over devices. The
    norm is over all non-batch dimensions at once (an image's pixels and
    channels together), not per channel. A map-valued critic is reduced to its
    mean score first. ``critic_fn`` must treat examples independently (no batch
    normalization): the per-example gradients are computed as the gradient of
    the summed scores, which is ``dD(x_hat_i)/dx_hat_i`` only then. The caller multiplies by lambda (10 in the paper) and
    adds the mean to the critic loss; its gradient with respect to the critic's
    parameters is a double backward pass through ``critic_fn``.

    Args:
      critic_fn: inputs ``[B, ...]`` -> scores ``[B]`` or ``[B, ...]``, higher = more real.
      real: a batch of real data, ``[B, ...]``.
      fake: a batch of generated data, the shape of ``real``.
      key: a PRNG key for ``epsilon``; give this or ``epsilon``.
      target: the norm pulled towards (1 in the paper; Lipschitz constant ``K``).
      epsilon: ``[B]`` interpolation weights in [0, 1], the weight of ``real``.

    Returns:
      ``[B]`` per-example penalties.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxgan import regularizers
      >>> w = jnp.array([3.0, 4.0])  # a linear critic with ||w|| = 5
      >>> gp = regularizers.gradient_penalty(lambda x: x @ w, jnp.ones((2, 2)),
      ...                                    jnp.zeros((2, 2)), jax.random.key(0))
      >>> print(gp)  # (5 - 1)^2 wherever x_hat lies
      [16. 16.]

    References:
      Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, Algorithm 1.
    """
    real = as_float(real, "real")
    fake = as_float(fake, "fake")
    if real.shape != fake.shape:
        raise ValueError(
            f"real has shape {real.shape} but fake has {fake.shape}; the penalty "
            f"interpolates example by example, so both batches must have the same shape.")
    if (key is None) == (epsilon is None):
        raise ValueError("give gradient_penalty either key (epsilon is then drawn uniformly per "
                         "example) or epsilon ([B] interpolation weights), not both or neither.")
    if epsilon is None:
        eps = _batch_uniform(key, real)
    else:
        eps = jnp.asarray(epsilon, real.dtype)
        if eps.shape != real.shape[:1]:
            raise ValueError(f"epsilon has shape {eps.shape}; it must be [B] = {real.shape[:1]}, "
                             "one interpolation weight per example.")
        eps = eps.reshape(real.shape[:1] + (1,) * (real.ndim - 1))
    x_hat = eps * real + (1.0 - eps) * fake
    return _norm_penalty(_squared_norms(_input_gradients(critic_fn, x_hat)), target)


def dragan_penalty(critic_fn, real, key, *, target=1.0, perturb_scale=0.5):
    r"""DRAGAN: the gradient penalty at random perturbations of the real data, per example.

    .. math::
        \delta = c \cdot \operatorname{std}(x) \cdot u, \; u \sim U[0, 1]^{d};
        \quad \hat x = x + \alpha \delta, \; \alpha \sim U[0, 1] \text{ per example};
        \qquad \mathrm{P} = (\|\nabla_{\hat x} D(\hat x)\|_2 - \text{target})^2

    The paper states the penalty at perturbed points ``x + delta``; the exact
    draw here follows the authors' reference code. ``std(x)`` is the standard
    deviation of every element of the batch ``real`` as passed, held constant
    (under ``shard_map`` that is the local shard; called on one example at a
    time, that example's own std). ``u`` is elementwise uniform noise, so
    ``delta`` only ever moves data upwards, as in that code, and the gradient is
    taken at a uniformly random point on the segment from ``x`` to ``x + delta``.
    The draws: ``k_delta, k_alpha = jax.random.split(key)``,
    ``u = jax.random.uniform(k_delta, x.shape)``,
    ``alpha = jax.random.uniform(k_alpha, (B, 1, ..., 1))``. Norms are over all
    non-batch dimensions and map scores are mean-reduced, as in
    :func:`gradient_penalty`; ``critic_fn`` must treat examples independently.

    Args:
      critic_fn: inputs ``[B, ...]`` -> scores ``[B]`` or ``[B, ...]``, higher = more real.
      real: a batch of real data, ``[B, ...]``.
      key: a PRNG key for the perturbation and the interpolation.
      target: the norm pulled towards (1, as in the paper).
      perturb_scale: ``c``, the perturbation size in units of the data's std (0.5 in the code).

    Returns:
      ``[B]`` per-example penalties.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxgan import regularizers
      >>> w = jnp.array([0.6, 0.0, 0.8])  # ||w|| = 1: a 1-Lipschitz linear critic
      >>> x = jax.random.normal(jax.random.key(1), (4, 3))
      >>> print(regularizers.dragan_penalty(lambda x: x @ w, x, jax.random.key(0)))
      [0. 0. 0. 0.]

    References:
      Kodali et al., "On Convergence and Stability of GANs", arXiv:1705.07215, 2017.
    """
    if is_concrete_number(perturb_scale) and not float(perturb_scale) >= 0:
        raise ValueError(f"perturb_scale={perturb_scale} must be non-negative (0.5 in the paper's code).")
    real = as_float(real, "real")
    k_delta, k_alpha = jax.random.split(key)
    scale = perturb_scale * jax.lax.stop_gradient(jnp.std(real))
    delta = scale * jax.random.uniform(k_delta, real.shape, dtype=real.dtype)
    x_hat = real + _batch_uniform(k_alpha, real) * delta
    return _norm_penalty(_squared_norms(_input_gradients(critic_fn, x_hat)), target)


def r1_penalty(critic_fn, real):
    r"""R1: the squared norm of the critic's input gradient at real data, per example.

    .. math::
        R_1 = \|\nabla_x D(x)\|_2^2, \quad x \sim p_{data}

    The caller applies the weight: ``gamma / 2 * r1_penalty(...).mean()``.
    Norms are over all non-batch dimensions and map scores are mean-reduced;
    ``critic_fn`` must treat examples independently.

    Args:
      critic_fn: inputs ``[B, ...]`` -> scores ``[B]`` or ``[B, ...]``, higher = more real.
      real: a batch of real data, ``[B, ...]``.

    Returns:
      ``[B]`` per-example squared gradient norms.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import regularizers
      >>> w = jnp.array([1.0, 2.0])
      >>> print(regularizers.r1_penalty(lambda x: x @ w, jnp.zeros((3, 2))))
      [5. 5. 5.]

    References:
      Mescheder et al., "Which Training Methods for GANs do actually Converge?", ICML 2018.
    """
    real = as_float(real, "real")
    return _squared_norms(_input_gradients(critic_fn, real))


def clip_weights(params: Any, c) -> Any:
    r"""WGAN weight clipping: every floating-point parameter clipped to ``[-c, c]``.

    .. math::
        w \leftarrow \operatorname{clip}(w, -c, c)

    Applied after each critic update. Integer leaves (counters) pass unchanged.

    Args:
      params: a pytree of critic parameters.
      c: the clipping bound, ``c > 0`` (0.01 in the paper).

    Returns:
      The clipped pytree, same structure.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import regularizers
      >>> print(regularizers.clip_weights({"w": jnp.array([-0.5, 0.005, 2.0])}, 0.01)["w"])
      [-0.01   0.005  0.01 ]

    References:
      Arjovsky et al., "Wasserstein Generative Adversarial Networks", ICML 2017, Algorithm 1.
    """
    if is_concrete_number(c) and not float(c) > 0:
        raise ValueError(f"clip value c={c} must be positive (the WGAN paper uses 0.01).")

    def clip(p):
        p = jnp.asarray(p)
        if not jnp.issubdtype(p.dtype, jnp.floating):
            return p
        bound = jnp.asarray(c, p.dtype)
        return jnp.clip(p, -bound, bound)

    return jax.tree.map(clip, params)


def drift_penalty(real_scores):
    r"""Drift: the squared critic score of real data, per example (Progressive GAN).

    .. math::
        P_{drift} = D(x)^2, \quad x \sim p_{data}

    The Wasserstein loss does not change when a constant is added to every
    score, so a critic's scores can drift far from 0; this term anchors them.
    The caller applies the weight (``epsilon_drift = 0.001`` in the paper) and
    adds the mean to the critic loss. A map-valued critic is reduced to its
    mean score first, as everywhere in jaxgan; sign convention: higher = more real.

    Args:
      real_scores: the critic's scores of real data, ``[B]`` or ``[B, ...]``.

    Returns:
      ``[B]`` per-example penalties.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import regularizers
      >>> print(regularizers.drift_penalty(jnp.array([[1.0, 3.0], [-2.0, 0.0]])))
      [4. 1.]

    References:
      Karras et al., "Progressive Growing of GANs for Improved Quality, Stability,
      and Variation", ICLR 2018, appendix A.1.
    """
    scores = as_float(real_scores, "real_scores")
    return jnp.square(per_example_mean(scores))


def feature_matching(real_features, fake_features):
    r"""Feature matching: squared distance between the batch means of an intermediate critic layer.

    .. math::
        \mathcal L_{FM} = \big\| \mathbb E_{x} f(x) - \mathbb E_{z} f(G(z)) \big\|_2^2

    The generator's objective in Salimans et al. (in place of, or added to, its
    adversarial loss). Only the fake features depend on the generator, so the
    real ones may come from a different (even a larger) batch.

    Args:
      real_features: ``f(x)`` of real data, ``[B_r, ...]``.
      fake_features: ``f(G(z))`` of generated data, ``[B_f, ...]`` with the same feature shape.

    Returns:
      A scalar.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import regularizers
      >>> real = jnp.array([[1.0, 2.0], [3.0, 2.0]])  # mean (2, 2)
      >>> fake = jnp.array([[0.0, 0.0]])
      >>> print(regularizers.feature_matching(real, fake))
      8.0

    References:
      Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, sec. 3.1.
    """
    real = as_float(real_features, "real_features")
    fake = as_float(fake_features, "fake_features")
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"real_features {real.shape} and fake_features {fake.shape} must have the same "
            f"feature shape (all but the batch dimension); take both from the same layer.")
    diff = jnp.mean(real, axis=0) - jnp.mean(fake, axis=0)
    return jnp.sum(jnp.square(diff))


def _check_same_tree(params, average_params):
    if jax.tree.structure(params) != jax.tree.structure(average_params):
        raise ValueError(
            "params and average_params have different tree structures; the average must "
            "be built from params of the same model (start it with average_params = params).")


def historical_average(params: Any, average_params: Any):
    r"""Historical averaging: squared distance of the parameters from their running mean.

    .. math::
        \mathcal L_{HA} = \Big\| \theta - \frac{1}{t} \sum_{i=1}^{t} \theta[i] \Big\|_2^2

    summed over every leaf. ``average_params`` is treated as a constant; keep
    it with :func:`update_historical_average`. The caller applies the weight.

    Args:
      params: the current parameters ``theta``, a pytree.
      average_params: the running mean of past parameters, the same structure.

    Returns:
      A scalar.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import regularizers
      >>> print(regularizers.historical_average({"w": jnp.array([1.0, 2.0])},
      ...                                       {"w": jnp.array([0.0, 0.0])}))
      5.0

    References:
      Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, sec. 3.3.
    """
    _check_same_tree(params, average_params)
    sq = jax.tree.map(
        lambda p, a: jnp.sum(jnp.square(jnp.asarray(p) - jax.lax.stop_gradient(jnp.asarray(a)))),
        params, average_params)
    return sum(jax.tree.leaves(sq), jnp.zeros((), jnp.float32))


def update_historical_average(average_params: Any, params: Any, count):
    r"""Folds the current parameters into the running mean of past parameters.

    .. math::
        \bar\theta_{t+1} = \bar\theta_t + \frac{\theta - \bar\theta_t}{t + 1}

    so after ``t`` calls starting from ``count = 0`` the average is exactly the
    mean of the ``t`` parameter vectors passed in.

    Args:
      average_params: the mean of the ``count`` parameter vectors seen so far
        (anything of the right structure when ``count == 0``).
      params: the current parameters, the same structure.
      count: how many parameter vectors ``average_params`` already averages (``t``).

    Returns:
      The updated average, the same structure.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgan import regularizers
      >>> avg = {"w": jnp.zeros(2)}
      >>> for t, w in enumerate([jnp.array([1.0, 0.0]), jnp.array([3.0, 2.0])]):
      ...     avg = regularizers.update_historical_average(avg, {"w": w}, t)
      >>> print(avg["w"])
      [2. 1.]

    References:
      Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, sec. 3.3.
    """
    if is_concrete_number(count) and not float(count) >= 0:
        raise ValueError(f"count={count} must be the number of parameter vectors averaged so far (>= 0).")
    _check_same_tree(params, average_params)

    def step(a, p):
        a, p = jnp.asarray(a), jnp.asarray(p)
        return a + (p - a) / (jnp.asarray(count, a.dtype) + 1)

    return jax.tree.map(step, average_params, params)
