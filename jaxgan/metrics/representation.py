"""How good an encoder's features are: nearest-neighbour and linear-probe accuracy, reconstruction.

The measures of the BiGAN paper's MNIST experiment (Donahue et al. 2017,
Table 1, and the ``NNC``, ``CLS`` and ``EGr`` of the authors' code):

* :func:`nearest_neighbour_accuracy`: each test example takes the label of
  its nearest training example (Euclidean or cosine distance);
* :func:`linear_probe_accuracy`: multinomial logistic regression on the
  standardised features, fitted to its optimum by L-BFGS (so the number is a
  property of the features, not of an optimiser's schedule);
* :func:`reconstruction_errors`: ``||x - G(E(x))||_2`` per image on [0, 1]
  pixels, and the same against a *different* image, the baseline that says
  how much of the error is reconstruction at all.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

METRICS = ("euclidean", "cosine")


def _check(train_x, train_y, test_x, test_y):
    train_x, test_x = np.asarray(train_x, np.float32), np.asarray(test_x, np.float32)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"features must be [N, D] with one D; got {train_x.shape} and "
                         f"{test_x.shape}.")
    if train_y.shape != (len(train_x),) or test_y.shape != (len(test_x),):
        raise ValueError(f"labels must be [N] beside their features; got {train_y.shape} for "
                         f"{train_x.shape} and {test_y.shape} for {test_x.shape}.")
    return train_x, train_y, test_x, test_y


def nearest_neighbour_accuracy(train_x, train_y, test_x, test_y, *, metric: str = "euclidean",
                               chunk: int = 1000) -> float:
    """Fraction of test examples whose nearest training example has their label.

    Args:
      train_x, test_x: features ``[N, D]`` and ``[M, D]``.
      train_y, test_y: integer labels ``[N]``, ``[M]``.
      metric: 'euclidean' (``||a - b||``) or 'cosine' (``1 - a.b / (|a| |b|)``).
      chunk: test rows per distance computation (bounds memory at ``chunk x N``).

    Ties go to the training example that comes first.

    >>> nearest_neighbour_accuracy([[0.], [10.]], [0, 1], [[1.], [9.], [4.]], [0, 1, 1])
    0.6666666666666666
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not one of {METRICS}.")
    train_x, train_y, test_x, test_y = _check(train_x, train_y, test_x, test_y)
    if metric == "cosine":
        unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        train_x, test_x = unit(train_x), unit(test_x)
    train = jnp.asarray(train_x)
    train_sq = jnp.sum(train * train, axis=1)

    @jax.jit
    def nearest(rows):
        # ||a - b||^2 = |a|^2 - 2 a.b + |b|^2; |a|^2 is the same for every b and drops out.
        scores = train_sq[None, :] - 2.0 * rows @ train.T
        return jnp.argmin(scores, axis=1)

    hits = 0
    for start in range(0, len(test_x), chunk):
        index = np.asarray(nearest(jnp.asarray(test_x[start:start + chunk])))
        hits += int(np.sum(train_y[index] == test_y[start:start + chunk]))
    return hits / len(test_x)


def fit_linear_probe(train_x, train_y, *, classes: int, l2: float = 1e-4,
                     max_steps: int = 500) -> dict[str, np.ndarray]:
    """Multinomial logistic regression on standardised features: ``{mean, std, w, b}``.

    Features are standardised with the training mean and std; the fit minimises
    ``mean cross-entropy + l2 * ||W||^2`` (bias unpenalised) by L-BFGS from zero,
    up to ``max_steps`` iterations or a gradient norm below 1e-6.
    """
    train_x = np.asarray(train_x, np.float32)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    xs = jnp.asarray((train_x - mean) / std)
    ys = jnp.asarray(train_y, jnp.int32)
    params = {"w": jnp.zeros((xs.shape[1], classes)), "b": jnp.zeros((classes,))}

    def objective(p):
        logits = xs @ p["w"] + p["b"]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean()
        return ce + l2 * jnp.sum(p["w"] ** 2)

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(objective)

    def step(carry):
        p, state = carry
        value, grad = value_and_grad(p, state=state)
        updates, state = solver.update(grad, state, p, value=value, grad=grad,
                                       value_fn=objective)
        return optax.apply_updates(p, updates), state

    def running(carry):
        _, state = carry
        count = optax.tree_utils.tree_get(state, "count")
        grad = optax.tree_utils.tree_get(state, "grad")
        converged = (count > 0) & (optax.tree_utils.tree_norm(grad) < 1e-6)
        return (count < max_steps) & ~converged

    fit = jax.jit(lambda c: jax.lax.while_loop(running, step, c))
    p, _ = fit((params, solver.init(params)))
    return {"mean": mean, "std": std, "w": np.asarray(p["w"]), "b": np.asarray(p["b"])}


def linear_probe_accuracy(train_x, train_y, test_x, test_y, *, l2: float = 1e-4,
                          max_steps: int = 500) -> float:
    """Test accuracy of :func:`fit_linear_probe` fitted on the training features."""
    train_x, train_y, test_x, test_y = _check(train_x, train_y, test_x, test_y)
    classes = int(max(train_y.max(), test_y.max())) + 1
    probe = fit_linear_probe(train_x, train_y, classes=classes, l2=l2, max_steps=max_steps)
    logits = ((test_x - probe["mean"]) / probe["std"]) @ probe["w"] + probe["b"]
    return float(np.mean(np.argmax(logits, axis=1) == test_y))


def reconstruction_errors(images, reconstructions) -> tuple[float, float]:
    """``(error, baseline)``: mean ``||x - G(E(x))||_2`` per image on [0, 1] pixels, and the
    mean distance of each reconstruction to the *next* image (a different one, cyclically).

    ``images`` and ``reconstructions``: ``[N, ...]`` in [-1, 1], ``N >= 2``.

    >>> x = np.array([[1.0, -1.0], [-1.0, 1.0]])
    >>> reconstruction_errors(x, x)
    (0.0, 1.4142135623730951)
    """
    x = (np.asarray(images, np.float64).reshape(len(images), -1) + 1.0) / 2.0
    r = (np.asarray(reconstructions, np.float64).reshape(len(x), -1) + 1.0) / 2.0
    if len(x) < 2:
        raise ValueError("reconstruction_errors needs at least 2 images for its baseline.")
    error = np.linalg.norm(x - r, axis=1).mean()
    baseline = np.linalg.norm(np.roll(x, -1, axis=0) - r, axis=1).mean()
    return float(error), float(baseline)
