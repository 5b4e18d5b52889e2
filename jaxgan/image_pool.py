"""The history pool of generated images, as a pure function of (pool, images, key).

Shrivastava et al. (2017, section 2.3) update the discriminator with a mix of
the newest generated images and ones generated earlier, so that it does not
forget old artefacts and the generator cannot reintroduce them; CycleGAN
(Zhu et al. 2017, section 4) keeps 50 such images per domain. The rule, per
image, in order (that of CycleGAN's released code):

* while the pool holds fewer than ``size`` images, the image is stored in the
  next free slot and returned itself;
* once the pool is full, with probability 1/2 a stored image chosen uniformly
  is returned and the new image takes its slot; otherwise the new image is
  returned and the pool is left as it was.

The pool is a pytree of two arrays, ``{"images": [size, *shape] float32,
"count": int32}`` (``count`` = images stored, saturating at ``size``), so it
lives in a train state, is donated, checkpointed and restored like any other
leaf. Row ``i`` of a query draws from ``jax.random.fold_in(key, row_offset +
i)``: the outcome depends on the row's position in the global batch, never on
how many rows are queried together or on which device holds them.

Example:
  >>> import jax, jax.numpy as jnp
  >>> pool = init_pool(2, (1,))
  >>> out, pool = query_pool(pool, jnp.array([[1.0], [2.0], [3.0]]), jax.random.key(0))
  >>> out[:2].tolist(), int(pool["count"])  # The first two fill it and come back as they are.
  ([[1.0], [2.0]], 2)
  >>> out[2].tolist() in ([1.0], [2.0], [3.0])  # Then the row itself or a stored image.
  True
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

#: The history size CycleGAN uses (its ``--pool_size``).
CYCLEGAN_POOL_SIZE = 50


def init_pool(size: int, image_shape: Sequence[int]) -> dict[str, jax.Array]:
    """An empty pool for ``size`` images of ``image_shape`` (e.g. ``(H, W, C)``).

    Args:
      size: how many images it keeps; 0 makes a pool that returns every query unchanged.
      image_shape: the shape of one image, without the batch axis.

    Returns:
      ``{"images": zeros [size, *image_shape] float32, "count": int32 0}``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"image pool size={size!r} must be a non-negative integer "
                         f"(CycleGAN uses {CYCLEGAN_POOL_SIZE}; 0 turns the pool off).")
    return {"images": jnp.zeros((size, *tuple(image_shape)), jnp.float32),
            "count": jnp.zeros((), jnp.int32)}


def query_pool(pool: dict[str, jax.Array], images: jax.Array, key: jax.Array,
               row_offset: int | jax.Array = 0) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Images for the discriminator, and the pool after storing ``images``.

    Rows are processed in order (a ``lax.scan``), so a row later in the batch
    sees the pool as the rows before it left it; row ``i`` draws with
    ``fold_in(key, row_offset + i)``. Pure and jittable; pass the *global*
    batch (or successive slices of it with ``row_offset`` = the slice start,
    which gives the same result).

    Args:
      pool: a pool from :func:`init_pool` or a previous query.
      images: ``[B, *image_shape]`` newly generated images; gradients do not
        flow through the pool (the discriminator's input is a constant).
      key: a PRNG key, fresh for each step (e.g. a named split of
        ``fold_in(base_key, step)``).
      row_offset: the position of ``images[0]`` in the global batch.

    Returns:
      ``(returned [B, *image_shape] in images.dtype, new_pool)``.
    """
    stored, count = pool["images"], pool["count"]
    size = stored.shape[0]
    if images.shape[1:] != stored.shape[1:]:
        raise ValueError(f"images of shape {images.shape[1:]} cannot enter a pool of "
                         f"{stored.shape[1:]} images; build the pool with init_pool(size, "
                         f"{images.shape[1:]}).")
    images = jax.lax.stop_gradient(images)
    if size == 0:
        return images, pool

    def one_row(state, row):
        stored, count = state
        image, index = row
        swap_key, slot_key = jax.random.split(jax.random.fold_in(key, index))
        full = count >= size
        swap = full & jax.random.bernoulli(swap_key, 0.5)
        # Filling: the next free slot; full: the slot of the image swapped out (if any).
        slot = jnp.where(full, jax.random.randint(slot_key, (), 0, size), count)
        old = jax.lax.dynamic_index_in_dim(stored, slot, keepdims=False)
        new = image.astype(jnp.float32)
        returned = jnp.where(swap, old, new)
        # A full pool that keeps its images rewrites the slot with what it held.
        stored = jax.lax.dynamic_update_index_in_dim(
            stored, jnp.where(full & ~swap, old, new), slot, axis=0)
        return (stored, jnp.minimum(count + 1, size)), returned

    indices = jnp.asarray(row_offset, jnp.int32) + jnp.arange(images.shape[0], dtype=jnp.int32)
    (stored, count), returned = jax.lax.scan(one_row, (stored, count), (images, indices))
    return returned.astype(images.dtype), {"images": stored, "count": count}
