r"""DiffAugment (Zhao et al. 2020): differentiable augmentations of every image the critic sees.

A critic trained on few images memorises them; augmenting only the real
images would teach the generator to draw augmented images. DiffAugment
applies the same random family of transforms ``T`` to real *and* generated
images, in the critic's update and in the generator's, so the critic judges
``D(T(x))`` and ``D(T(G(z)))`` and the generator's gradient flows through
``T`` (each transform is linear in the image for fixed random parameters).

Transforms (images in [-1, 1], ``[B, H, W, C]``; one independent draw per
example, in the order of the policy string's groups):

* ``color``: brightness ``x + (u_1 - 1/2)``; saturation
  ``(x - mean_c x) * 2 u_2 + mean_c x`` (``mean_c``: the mean over channels of
  each pixel); contrast ``(x - mean x) * (u_3 + 1/2) + mean x`` (``mean``: over
  the whole image); ``u_i ~ U(0, 1)``.
* ``translation``: an integer shift of up to ``round(S / 8)`` pixels along
  each axis (``S`` the side), uniform, the vacated pixels zero.
* ``cutout``: a square of side ``round(S / 2)`` centred uniformly (it may
  hang over the border) set to zero.

These follow the reference implementation's policy ``'color,translation,cutout'``
and its constants. Draws come from one key per example, so a batch split over
devices is augmented exactly as on one device.

Reference: Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

TRANSFORMS = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str) -> tuple[str, ...]:
    """``'color,translation'`` -> ``('color', 'translation')``; raises ValueError naming the choices.

    >>> parse_policy("color, cutout")
    ('color', 'cutout')
    >>> parse_policy("")
    ()
    """
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"DiffAugment policy {policy!r}: each of {TRANSFORMS} at most once, "
                         f"comma-separated (e.g. 'color,translation,cutout'); got {list(names)}.")
    return names


def color(x: jax.Array, key: jax.Array) -> jax.Array:
    """Brightness, saturation and contrast of one image ``[H, W, C]`` (see the module docstring)."""
    u = jax.random.uniform(key, (3,), x.dtype)
    x = x + (u[0] - 0.5)
    mean_c = jnp.mean(x, axis=-1, keepdims=True)
    x = (x - mean_c) * (2.0 * u[1]) + mean_c
    mean = jnp.mean(x)
    return (x - mean) * (u[2] + 0.5) + mean


def _shift(size: int, ratio: float) -> int:
    return int(size * ratio + 0.5)


def translation(x: jax.Array, key: jax.Array, ratio: float = TRANSLATION_RATIO) -> jax.Array:
    """One image shifted by ``(dy, dx)``, each uniform in ``[-s, s]``, ``s = round(ratio * side)``;
    pixels shifted in from outside are zero."""
    h, w = x.shape[:2]
    sy, sx = _shift(h, ratio), _shift(w, ratio)
    ky, kx = jax.random.split(key)
    dy = jax.random.randint(ky, (), -sy, sy + 1)
    dx = jax.random.randint(kx, (), -sx, sx + 1)
    # Output pixel (i, j) reads input (i - dy, j - dx) when that lies inside the image.
    rows = jnp.arange(h) - dy
    cols = jnp.arange(w) - dx
    inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
    gathered = x[jnp.clip(rows, 0, h - 1)][:, jnp.clip(cols, 0, w - 1)]
    return jnp.where(inside[..., None], gathered, jnp.zeros_like(gathered))


def cutout(x: jax.Array, key: jax.Array, ratio: float = CUTOUT_RATIO) -> jax.Array:
    """One image with a square of side ``round(ratio * side)`` zeroed, its centre uniform over
    the image (the square is clipped at the border)."""
    h, w = x.shape[:2]
    ch, cw = _shift(h, ratio), _shift(w, ratio)
    ky, kx = jax.random.split(key)
    # The square's first row / column: centre - half, centre uniform in [0, side - 1 + side % 2].
    y0 = jax.random.randint(ky, (), 0, h + (1 - ch % 2)) - ch // 2
    x0 = jax.random.randint(kx, (), 0, w + (1 - cw % 2)) - cw // 2
    rows = jnp.arange(h)[:, None]
    cols = jnp.arange(w)[None, :]
    hole = (rows >= y0) & (rows < y0 + ch) & (cols >= x0) & (cols < x0 + cw)
    return jnp.where(hole[..., None], jnp.zeros_like(x), x)


_FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(images: jax.Array, keys: jax.Array, policy: str | tuple[str, ...]) -> jax.Array:
    """The policy's transforms applied to ``images [B, H, W, C]``, example ``i`` drawn from
    ``keys[i]`` (one key per example); differentiable in ``images``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> x = jnp.zeros((2, 8, 8, 3))
      >>> y = diff_augment(x, jax.random.split(jax.random.key(0), 2), "translation,cutout")
      >>> y.shape, float(jnp.abs(y).max())
      ((2, 8, 8, 3), 0.0)
    """
    names = parse_policy(policy) if isinstance(policy, str) else tuple(policy)
    if images.ndim != 4:
        raise ValueError(f"DiffAugment takes images [B, H, W, C], got shape {images.shape}.")
    if keys.shape[:1] != images.shape[:1]:
        raise ValueError(f"DiffAugment needs one key per image: {keys.shape[0]} keys for "
                         f"{images.shape[0]} images.")

    def one(x, key):
        for i, name in enumerate(names):
            x = _FUNCTIONS[name](x, jax.random.fold_in(key, i))
        return x

    return jax.vmap(one)(images, keys)
