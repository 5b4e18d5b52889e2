"""Shared helpers of the loss modules: input checks and the per-example reduction."""

from __future__ import annotations

import jax.numpy as jnp


class UnknownLossError(ValueError):
    """A loss or an LGA mode was asked for by a name that does not exist."""


def as_float(x, name: str) -> jnp.ndarray:
    """``x`` as an array of at least float32 precision, with a batch dimension.

    Low-precision (bfloat16/float16) scores are promoted: a softplus of a
    large bfloat16 logit loses every digit of its fractional part.
    """
    x = jnp.asarray(x)
    if x.ndim == 0:
        raise ValueError(
            f"{name} is a scalar; pass one value per example, shape [B] or [B, ...] "
            f"(e.g. x[None] for a batch of one).")
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def per_example_mean(x: jnp.ndarray) -> jnp.ndarray:
    """Mean over every non-batch dimension: ``[B, ...] -> [B]``."""
    if x.ndim == 1:
        return x
    return jnp.mean(x, axis=tuple(range(1, x.ndim)))


def check_same_batch(a: jnp.ndarray, b: jnp.ndarray, name_a: str, name_b: str) -> None:
    """Raises when two per-example inputs disagree on the batch size."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} has batch size {a.shape[0]} (shape {a.shape}) but {name_b} has "
            f"{b.shape[0]} (shape {b.shape}); the loss is per example, so give both the "
            f"same number of examples.")


def is_concrete_number(x) -> bool:
    """True for a Python or numpy number (checkable now), False for a traced value."""
    try:
        float(x)
    except Exception:  # A tracer under jit: it is checked by nobody, by design.
        return False
    return jnp.ndim(x) == 0
