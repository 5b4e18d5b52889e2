"""The image history pool against a replay in numpy: filling, swaps, swap rate, determinism, resume.

Each test image is constant, with a value unique to its row, so a returned
image names the row it came from and the pool's contents can be followed
exactly.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.image_pool import init_pool, query_pool

SHAPE = (2, 2, 3)
QUERY = jax.jit(query_pool)  # One compiled query per shape, shared by the tests.


def rows(start, n):
    """``n`` images, image ``i`` filled with the value ``start + i``."""
    values = np.arange(start, start + n, dtype=np.float32)
    return jnp.asarray(np.broadcast_to(values[:, None, None, None], (n, *SHAPE)).copy())


def ids(images):
    """The row value of each constant image."""
    a = np.asarray(images)
    assert np.all(a == a[:, :1, :1, :1])
    return a[:, 0, 0, 0].astype(int).tolist()


def replay(pool_ids, count, size, batch_ids, returned_ids):
    """Checks a query against the rule and returns (pool ids, count, swaps) after it.

    Filling: the row is stored at slot ``count`` and returned. Full: the row is returned
    and the pool unchanged, or a stored image is returned and the row takes its slot.
    """
    pool_ids, swaps = list(pool_ids), 0
    for row, got in zip(batch_ids, returned_ids):
        if count < size:
            assert got == row
            pool_ids[count] = row
            count += 1
        elif got != row:
            assert got in pool_ids  # An image that was in the pool, now replaced by the row.
            pool_ids[pool_ids.index(got)] = row
            swaps += 1
    return pool_ids, count, swaps


def test_fills_in_order_then_returns_rows_or_stored_images():
    size = 4
    pool = init_pool(size, SHAPE)
    assert pool["images"].shape == (size, *SHAPE) and pool["images"].dtype == jnp.float32
    assert pool["count"].dtype == jnp.int32 and int(pool["count"]) == 0
    pool_ids, count = [0] * size, 0
    for step, n in enumerate((2, 1, 3, 6)):  # Fills, crosses full mid-batch, then swaps.
        start = 1 + 100 * step
        out, pool = QUERY(pool, rows(start, n), jax.random.fold_in(jax.random.key(0), step))
        assert out.shape == (n, *SHAPE)
        if step < 2:  # Not full yet: every row comes back and is stored in the next slot.
            assert ids(out) == list(range(start, start + n))
        if step == 1:
            assert ids(pool["images"]) == [1, 2, 101, 0] and int(pool["count"]) == 3
        if step == 2:  # The first row fills the last slot and comes back as is.
            assert ids(out)[0] == 201
        pool_ids, count, _ = replay(pool_ids, count, size, list(range(start, start + n)), ids(out))
        assert ids(pool["images"]) == pool_ids and int(pool["count"]) == count
    assert count == size


def test_swap_rate_is_one_half():
    """Over n = 4000 queries of a full pool the swaps are Binomial(n, 1/2): sd = sqrt(n) / 2 = 31.6.

    The tolerance, 5 sd = 158 swaps (0.040 in rate), is exceeded with probability below 6e-7; the
    slots swapped out are each Binomial(swaps, 1/size) and held to 5 of their sd as well.
    """
    size, n = 5, 4000
    pool = init_pool(size, SHAPE)
    _, pool = QUERY(pool, rows(0, size), jax.random.key(1))
    out, pool = QUERY(pool, rows(size, n), jax.random.key(2))
    batch_ids = list(range(size, size + n))
    pool_ids, _, swaps = replay(list(range(size)), size, size, batch_ids, ids(out))
    assert ids(pool["images"]) == pool_ids
    sd = math.sqrt(n * 0.25)
    assert abs(swaps - n / 2) <= 5 * sd, swaps
    # Which slot each swap emptied: the returned id's slot in the pool just before it.
    slots, current = [], list(range(size))
    for row, got in zip(range(size, size + n), ids(out)):
        if got != row:
            j = current.index(got)
            slots.append(j)
            current[j] = row
    counts = np.bincount(slots, minlength=size)
    p = 1 / size
    assert np.all(np.abs(counts - swaps * p) <= 5 * math.sqrt(swaps * p * (1 - p))), counts


def test_deterministic_for_a_key_and_independent_of_how_the_batch_is_split():
    size = 3
    pool = init_pool(size, SHAPE)
    _, pool = QUERY(pool, rows(0, size), jax.random.key(3))
    batch, key = rows(10, 8), jax.random.key(4)
    a_out, a_pool = query_pool(pool, batch, key)  # Eager against jitted.
    b_out, b_pool = QUERY(pool, batch, key)
    np.testing.assert_array_equal(a_out, b_out)
    jax.tree.map(np.testing.assert_array_equal, a_pool, b_pool)
    # Two slices with their offsets in the global batch: the same draws, the same result.
    h_out, h_pool = QUERY(pool, batch[:4], key)
    t_out, t_pool = QUERY(h_pool, batch[4:], key, row_offset=4)
    np.testing.assert_array_equal(jnp.concatenate([h_out, t_out]), a_out)
    jax.tree.map(np.testing.assert_array_equal, t_pool, a_pool)
    other, _ = QUERY(pool, batch, jax.random.key(5))
    assert not np.array_equal(other, a_out)  # Another key draws afresh for each of the 8 rows.


def test_size_zero_returns_the_images_unchanged():
    pool = init_pool(0, SHAPE)
    batch = rows(7, 4)
    for fn in (query_pool, QUERY):
        out, new = fn(pool, batch, jax.random.key(0))
        np.testing.assert_array_equal(out, batch)
        assert new["images"].shape == (0, *SHAPE) and int(new["count"]) == 0


def test_round_trip_through_numpy_continues_identically():
    """A checkpoint stores each leaf as numpy; the restored pool must continue bit for bit."""
    size = 4
    pool = init_pool(size, SHAPE)
    _, pool = QUERY(pool, rows(0, 6), jax.random.key(6))
    saved = jax.tree.map(np.asarray, pool)
    assert all(isinstance(leaf, np.ndarray) for leaf in jax.tree.leaves(saved))
    restored = jax.tree.map(jnp.asarray, saved)
    assert restored["count"].dtype == jnp.int32 and restored["images"].dtype == jnp.float32
    for step in range(3):
        key = jax.random.fold_in(jax.random.key(7), step)
        a_out, pool = QUERY(pool, rows(20 + 10 * step, 5), key)
        b_out, restored = QUERY(restored, rows(20 + 10 * step, 5), key)
        np.testing.assert_array_equal(a_out, b_out)
        jax.tree.map(np.testing.assert_array_equal, pool, restored)


def test_dtype_kept_gradient_stopped_and_mistakes_raise():
    pool = init_pool(2, SHAPE)
    out, _ = QUERY(pool, rows(1, 3).astype(jnp.bfloat16), jax.random.key(0))
    assert out.dtype == jnp.bfloat16
    g = jax.jit(jax.grad(lambda x: query_pool(pool, x, jax.random.key(0))[0].sum()))(rows(1, 3))
    assert not np.any(g)  # The discriminator's input: no gradient reaches the generator.
    with pytest.raises(ValueError, match=r"init_pool\(size, \(4, 4, 3\)\)"):
        query_pool(pool, jnp.zeros((2, 4, 4, 3)), jax.random.key(0))
    with pytest.raises(ValueError, match="non-negative integer"):
        init_pool(-1, SHAPE)
