"""Exact convolution rewrites that are fast on XLA:CPU.

XLA:CPU runs a convolution's forward pass and its input gradient at matrix-
multiply speed, but its *weight* gradient (a convolution that contracts over
the batch and spatial axes) up to about 15x slower for wide layers, and the
weight gradient of ``lax.conv_transpose`` about 25x slower than its forward
(DESIGN.md, measured facts). This module removes the first path without
changing a single value beyond float rounding; ``fast_conv_transpose`` builds
the transposed convolution on it and so removes the second.

* :func:`conv2d` keeps ``lax.conv_general_dilated`` for the forward pass and
  the input gradient, and computes the weight gradient as one matrix product
  per kernel tap, ``dW[a, b] = sum_{n,i,j} xpad[n, s*i+a, s*j+b, :]^T g[n, i, j, :]``,
  inside a ``jax.custom_vjp``. The input gradient is itself a ``custom_vjp``
  with the same weight derivative, so penalties that differentiate the
  critic's input gradient (WGAN-GP, R1, DRAGAN) stay on the fast path too.
  ``weight_grad="xla"`` keeps XLA's own weight gradient (faster for narrow
  layers without a penalty; see ``TAP_MIN_CHANNELS``).
* :class:`FastConv` is a drop-in replacement for ``flax.linen.Conv``: same
  parameter names, shapes and initializers, so a checkpoint does not depend on
  which one trained it.

It works under ``jit``, ``vmap`` and ``shard_map``; it is reverse-mode only
(``jax.grad``, ``jax.vjp`` and their nesting): forward mode (``jax.jvp``,
``jax.jacfwd``) raises, as for any ``custom_vjp``.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.models.errors import ModelConfigError

_DN = ("NHWC", "HWIO", "NHWC")
Pads = tuple[tuple[int, int], tuple[int, int]]


def _lax_conv(x, w, strides, pads):
    return lax.conv_general_dilated(x, w, strides, pads, dimension_numbers=_DN)


def tap_weight_grad(x: jax.Array, g: jax.Array, kernel_hw: tuple[int, int],
                    strides: tuple[int, int], pads: Pads) -> jax.Array:
    """Weight gradient of a 2-D convolution as one matrix product per kernel tap.

    ``dW[a, b] = sum_{n,i,j} xpad[n, s_h*i + a, s_w*j + b, :]^T g[n, i, j, :]``,
    the cotangent of ``W`` for ``y = conv(x, W)`` (NHWC / HWIO, no dilation,
    one feature group) and output cotangent ``g``.

    Args:
      x: the convolution's input, ``[N, H, W, Cin]``.
      g: the cotangent of its output, ``[N, Ho, Wo, Cout]``.
      kernel_hw: ``(kh, kw)``.
      strides: ``(s_h, s_w)``.
      pads: explicit ``((lo, hi), (lo, hi))`` spatial padding.

    Returns:
      ``[kh, kw, Cin, Cout]``, in the dtype of ``g``.
    """
    kh, kw = kernel_hw
    (sh, sw), (n, ho, wo, cout) = strides, g.shape
    cin = x.shape[-1]
    xp = lax.pad(x, jnp.zeros((), x.dtype),
                 ((0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)))
    g2 = g.reshape(n * ho * wo, cout)
    taps = []
    for a in range(kh):
        for b in range(kw):
            patch = lax.slice(xp, (0, a, b, 0), (n, a + (ho - 1) * sh + 1, b + (wo - 1) * sw + 1, cin),
                              (1, sh, sw, 1))
            # Contract the flattened (batch, row, column) axis of both operands.
            taps.append(lax.dot_general(patch.reshape(n * ho * wo, cin), g2, (((0,), (0,)), ((), ())),
                                        preferred_element_type=jnp.float32))
    return jnp.stack(taps).reshape(kh, kw, cin, cout).astype(g.dtype)


# Cin * Cout from which the tap products replace XLA's own weight gradient of a convolution.
# In isolation (benchmarks/layer_speed.py, 2 AVX2 cores) XLA's is 1.3-2.5x faster at 32-64
# channels, the taps 2.5-3x faster from 96-128 channels and 8-13x for DCGAN's transposed
# convolutions. Inside a train step with the gradient penalty (whose double backward
# differentiates the weight gradients again) the taps win at every width: the MNIST DCGAN
# step at width 32 took 0.34 s with taps everywhere against 4.4 s with XLA's for layers below
# 8192 (one probe run of configs/lga_mnist.py's step). So: taps throughout.
TAP_MIN_CHANNELS = 0
WEIGHT_GRAD_MODES = ("auto", "taps", "xla")


def _xla_weight_grad(x, g, kernel_hw, strides, pads):
    """XLA's own weight gradient of ``conv(x, .)`` at cotangent ``g``, as JAX's autodiff emits it.

    ``dW[a, b, ci, co] = sum_{n,i,j} xpad[n, s i + a, s j + b, ci] g[n, i, j, co]``: a
    convolution over (row, column) with the batch as the contracted feature axis and ``g``
    as a kernel dilated by the strides. Written out (no dummy primal, see
    :func:`_lax_input_grad`).
    """
    padding = [(lo, (out - 1) * s + k - size - lo) for size, out, k, s, (lo, _) in
               ((x.shape[1], g.shape[1], kernel_hw[0], strides[0], pads[0]),
                (x.shape[2], g.shape[2], kernel_hw[1], strides[1], pads[1]))]
    dw = lax.conv_general_dilated(x, g, (1, 1), padding, rhs_dilation=strides,
                                  dimension_numbers=("CHWN", "IHWO", "NHWC"))  # [Cin, kh, kw, Cout]
    return jnp.transpose(dw, (1, 2, 0, 3))


def _weight_grad(x, g, w, strides, pads, mode):
    cin, cout = w.shape[2:]
    if mode == "taps" or (mode == "auto" and cin * cout >= TAP_MIN_CHANNELS):
        dw = tap_weight_grad(x, g, w.shape[:2], strides, pads)
    else:
        dw = _xla_weight_grad(x, g, w.shape[:2], strides, pads)
    return dw.astype(w.dtype)


def conv2d(x: jax.Array, w: jax.Array, strides: tuple[int, int], pads: Pads,
           weight_grad: str = "auto") -> jax.Array:
    """``lax.conv_general_dilated`` (NHWC / HWIO) whose weight gradient can be tap matmuls.

    The same values as ``lax.conv_general_dilated(x, w, strides, pads,
    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))`` and, to float rounding, the
    same gradients of every order that reverse mode reaches, inside ``jit``,
    ``vmap`` and ``shard_map``.

    Args:
      x: ``[N, H, W, Cin]``.
      w: ``[kh, kw, Cin, Cout]``.
      strides: ``(s_h, s_w)``, a tuple (static).
      pads: explicit ``((lo, hi), (lo, hi))`` spatial padding, tuples (static).
      weight_grad: ``'taps'`` (:func:`tap_weight_grad`), ``'xla'`` (XLA's own) or
        ``'auto'``: taps when ``Cin * Cout >= TAP_MIN_CHANNELS``.

    Returns:
      ``[N, Ho, Wo, Cout]``.

    Example:
      >>> x = jnp.ones((2, 8, 8, 3)); w = jnp.ones((3, 3, 3, 4))
      >>> conv2d(x, w, (2, 2), ((1, 1), (1, 1))).shape
      (2, 4, 4, 4)
    """
    if weight_grad not in WEIGHT_GRAD_MODES:
        raise ModelConfigError(f"weight_grad must be one of {WEIGHT_GRAD_MODES}, not {weight_grad!r}")
    return _conv2d(x, w, tuple(strides), tuple(map(tuple, pads)), weight_grad)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv2d(x, w, strides, pads, mode):
    return _lax_conv(x, w, strides, pads)


def _conv2d_fwd(x, w, strides, pads, mode):
    return _lax_conv(x, w, strides, pads), (x, w)


def _like_primal(ct: jax.Array, primal: jax.Array) -> jax.Array:
    """Sums a cotangent over the mesh axes it varies along but its primal does not.

    Inside ``shard_map`` a replicated weight's cotangent is computed from
    per-replica data, so it varies over ``'data'``; JAX's own transposes insert
    this ``psum`` (which is why the step's gradients are global sums), and a
    ``custom_vjp`` must do the same to return the primal's type. Outside
    ``shard_map`` both sets are empty and this is the identity.
    """
    primal_axes = _varying_axes(primal)
    extra = tuple(a for a in _varying_axes(ct) if a not in primal_axes)
    return lax.psum(ct, extra) if extra else ct


def _varying_axes(x: jax.Array) -> frozenset:
    """The mesh axes ``x`` varies along inside ``shard_map`` (empty outside it)."""
    aval = jax.typeof(x)
    if hasattr(aval, "vma"):  # The attribute's name in other JAX releases.
        return frozenset(aval.vma or ())
    manual = getattr(aval, "manual_axis_type", None)
    return frozenset(getattr(manual, "varying", None) or ())


def _conv2d_bwd(strides, pads, mode, res, g):
    x, w = res
    dx = _conv2d_input_grad(g, w, x.shape, strides, pads, mode)
    dw = _weight_grad(x, g, w, strides, pads, mode)
    return _like_primal(dx.astype(x.dtype), x), _like_primal(dw, w)


_conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


def _lax_input_grad(g, w, x_shape, strides, pads):
    """The input gradient of ``conv(x, w)``, written out as XLA's autodiff emits it.

    ``dx = conv(dilate(g, strides), flip(w) with in/out swapped)`` with the
    transposed padding. Spelled out rather than taken with ``jax.linear_transpose``
    or ``jax.vjp`` at a dummy input: inside ``shard_map`` the cotangent ``g``
    varies over the mesh while a dummy primal does not, and their types clash.
    """
    kh, kw = w.shape[:2]
    ho, wo = g.shape[1:3]
    padding = []
    for size, out, k, s, (lo, _) in ((x_shape[1], ho, kh, strides[0], pads[0]),
                                     (x_shape[2], wo, kw, strides[1], pads[1])):
        before = k - 1 - lo
        padding.append((before, size + k - 1 - ((out - 1) * s + 1) - before))
    w_t = jnp.swapaxes(w[::-1, ::-1], 2, 3)
    return lax.conv_general_dilated(g, w_t, (1, 1), padding, lhs_dilation=strides,
                                    dimension_numbers=_DN)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv2d_input_grad(g, w, x_shape, strides, pads, mode):
    return _lax_input_grad(g, w, x_shape, strides, pads)


def _input_grad_fwd(g, w, x_shape, strides, pads, mode):
    return _lax_input_grad(g, w, x_shape, strides, pads), (g, w)


def _input_grad_bwd(x_shape, strides, pads, mode, res, c):
    # dx = T_w^T g is bilinear in (g, w) with <c, T_w^T g> = <conv(c, w), g>, so its
    # cotangents are the forward convolution of c and the weight gradient at (c, g).
    g, w = res
    dg = _conv2d(c, w, strides, pads, mode).astype(g.dtype)
    dw = _weight_grad(c, g, w, strides, pads, mode)
    return _like_primal(dg, g), _like_primal(dw, w)


_conv2d_input_grad.defvjp(_input_grad_fwd, _input_grad_bwd)


def explicit_pads(padding, in_hw: Sequence[int], kernel_hw: Sequence[int],
                  strides: Sequence[int]) -> Pads:
    """Flax/lax padding ('SAME', 'VALID', an int or ``(lo, hi)`` pairs) as explicit pairs."""
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ModelConfigError(
                f"fast convolution padding {padding!r} is not supported; use 'SAME', 'VALID', an int "
                "or (lo, hi) pairs, or fast_cpu_layers=False for the stock layer")
        return tuple(tuple(p) for p in lax.padtype_to_pads(in_hw, kernel_hw, strides, padding.upper()))
    if isinstance(padding, int):
        return ((padding, padding),) * 2
    pairs = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
    if len(pairs) != 2:
        raise ModelConfigError(f"fast convolution padding {padding!r}: expected two (lo, hi) pairs")
    return pairs


def _pair(v, default) -> tuple[int, int]:
    if v is None:
        v = default
    return (v, v) if isinstance(v, int) else tuple(v)


class FastConv(nn.Module):
    """2-D ``flax.linen.Conv`` whose weight gradient runs as tap matmuls (:func:`conv2d`).

    Parameters ``kernel [kh, kw, Cin, features]`` and ``bias [features]`` with
    ``nn.Conv``'s default initializers: the two are interchangeable in a
    checkpoint. Supports NHWC inputs, strides and 'SAME' / 'VALID' / explicit
    padding; no dilation and no feature groups.

    Example:
      >>> layer = FastConv(8, (3, 3))
      >>> params = jax.eval_shape(layer.init, jax.random.key(0), jnp.ones((1, 6, 6, 2)))
      >>> jax.tree.map(jnp.shape, params)['params']
      {'bias': (8,), 'kernel': (3, 3, 2, 8)}
    """

    features: int
    kernel_size: Sequence[int]
    strides: int | Sequence[int] | None = 1
    padding: str | int | Sequence = "SAME"
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    param_dtype: jnp.dtype = jnp.float32
    weight_grad: str = "auto"  # 'auto' | 'taps' | 'xla', see conv2d.

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4:
            raise ModelConfigError(f"FastConv expects NHWC inputs, got shape {x.shape}")
        kernel_hw, strides = _pair(self.kernel_size, 1), _pair(self.strides, 1)
        pads = explicit_pads(self.padding, x.shape[1:3], kernel_hw, strides)
        kernel = self.param("kernel", self.kernel_init, (*kernel_hw, x.shape[-1], self.features),
                            self.param_dtype)
        y = conv2d(x, kernel.astype(x.dtype), strides, pads, self.weight_grad)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), self.param_dtype).astype(y.dtype)
        return y
