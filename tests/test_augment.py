"""DiffAugment's transforms against numpy recomputations from the same random draws, their
gradients (each transform is affine in the image), and the policy parser."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import augment

SHAPE = (8, 6, 3)


def _image(seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, SHAPE).astype(np.float32)


def _color_numpy(x, key):
    u = np.asarray(jax.random.uniform(key, (3,)), np.float64)
    x = np.asarray(x, np.float64) + (u[0] - 0.5)
    mean_c = x.mean(-1, keepdims=True)
    x = (x - mean_c) * 2 * u[1] + mean_c
    return (x - x.mean()) * (u[2] + 0.5) + x.mean()


def _translation_numpy(x, key):
    h, w, _ = x.shape
    sy, sx = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
    ky, kx = jax.random.split(key)
    dy = int(jax.random.randint(ky, (), -sy, sy + 1))
    dx = int(jax.random.randint(kx, (), -sx, sx + 1))
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[i, j] = x[i - dy, j - dx]
    return out, (dy, dx)


def _cutout_numpy(x, key):
    h, w, _ = x.shape
    ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    ky, kx = jax.random.split(key)
    cy = int(jax.random.randint(ky, (), 0, h + (1 - ch % 2)))
    cx = int(jax.random.randint(kx, (), 0, w + (1 - cw % 2)))
    out = x.copy()
    for i in range(h):
        for j in range(w):
            if cy - ch // 2 <= i < cy - ch // 2 + ch and cx - cw // 2 <= j < cx - cw // 2 + cw:
                out[i, j] = 0.0
    return out


def test_color_matches_numpy():
    for seed in range(4):
        x, key = _image(seed), jax.random.key(seed)
        np.testing.assert_allclose(augment.color(jnp.asarray(x), key), _color_numpy(x, key),
                                   rtol=1e-5, atol=1e-5)


def test_translation_matches_numpy_and_moves_by_at_most_an_eighth():
    shifts = set()
    for seed in range(30):
        x, key = _image(seed), jax.random.key(seed)
        want, shift = _translation_numpy(x, key)
        shifts.add(shift)
        np.testing.assert_array_equal(augment.translation(jnp.asarray(x), key), want)
    assert {dy for dy, _ in shifts} <= {-1, 0, 1} and len(shifts) > 3


def test_cutout_matches_numpy_and_zeroes_a_square_of_half_the_side():
    for seed in range(30):
        x, key = _image(seed) + 5.0, jax.random.key(seed)  # No pixel is 0 before the cutout.
        got = np.asarray(augment.cutout(jnp.asarray(x), key))
        np.testing.assert_array_equal(got, _cutout_numpy(x, key))
        assert (got == 0).all(-1).sum() <= 4 * 3  # At most (8/2) x (6/2) pixels.


@pytest.mark.parametrize("name", augment.TRANSFORMS)
def test_each_transform_is_affine_and_its_gradient_is_the_transposed_map(name):
    """For fixed draws T(x) = A x + b: the gradient of <w, T(x)> is A^T w, with A's columns
    read off T(e_k) - T(0) on the basis images."""
    fn = getattr(augment, name)
    key, x = jax.random.key(3), jnp.asarray(_image(1))
    w = np.random.default_rng(2).standard_normal(SHAPE)
    n = int(np.prod(SHAPE))
    zero = np.asarray(fn(jnp.zeros(SHAPE), key), np.float64).ravel()
    columns = np.stack([np.asarray(fn(jnp.asarray(np.eye(n, dtype=np.float32)[k].reshape(SHAPE)),
                                      key), np.float64).ravel() - zero for k in range(n)], 1)
    np.testing.assert_allclose(np.asarray(fn(x, key)).ravel(),
                               columns @ np.asarray(x, np.float64).ravel() + zero, atol=1e-5)
    grad = jax.grad(lambda v: jnp.sum(jnp.asarray(w, jnp.float32) * fn(v, key)))(x)
    np.testing.assert_allclose(np.asarray(grad).ravel(), columns.T @ w.ravel(), atol=1e-4)


def test_diff_augment_draws_each_example_from_its_own_key_in_policy_order():
    images = jnp.asarray(np.stack([_image(s) for s in range(3)]))
    keys = jax.random.split(jax.random.key(9), 3)
    got = augment.diff_augment(images, keys, "color,cutout")
    for i in range(3):
        want = augment.cutout(augment.color(images[i], jax.random.fold_in(keys[i], 0)),
                              jax.random.fold_in(keys[i], 1))
        np.testing.assert_allclose(got[i], want, rtol=1e-6, atol=1e-6)
    # One example's result depends on its key only, not on the rest of the batch.
    alone = augment.diff_augment(images[1:2], keys[1:2], "color,cutout")
    np.testing.assert_allclose(alone[0], got[1], rtol=1e-6, atol=1e-6)


def test_bad_policies_and_inputs():
    assert augment.parse_policy(" translation ,color") == ("translation", "color")
    for bad in ("flip", "color,color"):
        with pytest.raises(ValueError, match="each of .* at most once"):
            augment.parse_policy(bad)
    with pytest.raises(ValueError, match="one key per image: 2 keys for 3 images"):
        augment.diff_augment(jnp.zeros((3, 4, 4, 1)), jax.random.split(jax.random.key(0), 2),
                             "color")
    with pytest.raises(ValueError, match=r"images \[B, H, W, C\]"):
        augment.diff_augment(jnp.zeros((3, 4, 4)), jax.random.split(jax.random.key(0), 3),
                             "color")
