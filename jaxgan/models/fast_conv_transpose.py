"""The 4x4, stride-2 transposed convolution with an ordinary convolution's weight gradient.

XLA:CPU computes the weight gradient of ``lax.conv_transpose`` about 25x slower
than its forward pass (DESIGN.md, measured facts). :func:`conv_transpose_4x4_s2`
computes the same values (output = 2 x input, PyTorch
``ConvTranspose2d(Cin, Cout, 4, stride=2, padding=1)``) so that its weight
gradient is that of an ordinary convolution, which :mod:`fast_conv`'s
:func:`~jaxgan.models.fast_conv.conv2d` computes at matrix-multiply speed:
either as the exact adjoint (input gradient) of the 4x4 stride-2 ``conv2d`` (the
default), or as four 2x2 convolutions, one per output phase (even/odd row x
even/odd column), interleaved depth-to-space.

:class:`FastConvTranspose` is a drop-in replacement for
``flax.linen.ConvTranspose`` at that shape: same parameter names, shapes and
initializers, so a checkpoint does not depend on which one trained it.
Reverse mode only, as for :func:`~jaxgan.models.fast_conv.conv2d`.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models.errors import ModelConfigError
from jaxgan.models.fast_conv import WEIGHT_GRAD_MODES, _conv2d_input_grad, _pair, conv2d


def _phase_kernel(kernel: jax.Array, transpose_kernel: bool) -> jax.Array:
    """The 4x4 transposed-conv kernel as a 2x2 kernel with 4 * Cout outputs, phase-major.

    With the scatter kernel ``Ws[k]`` (``out[2i + k - 1] += x[i] Ws[k]``, PyTorch's
    convention), output phase ``r`` reads ``xpad[m + r + a]`` with tap
    ``Ws[3 - r - 2a]`` for ``a`` in {0, 1}.
    """
    if transpose_kernel:  # kernel [4, 4, Cout, Cin], lax flips it: the scatter kernel itself.
        ws = jnp.swapaxes(kernel, 2, 3)
    else:  # kernel [4, 4, Cin, Cout] correlates the dilated input: the scatter kernel flipped.
        ws = kernel[::-1, ::-1]
    cin, cout = ws.shape[2:]
    f = ws[::-1, ::-1]  # f[r + 2a] = ws[3 - r - 2a]
    f = f.reshape(2, 2, 2, 2, cin, cout)  # [a, r_h, b, r_w, Cin, Cout]
    return f.transpose(0, 2, 4, 1, 3, 5).reshape(2, 2, cin, 4 * cout)  # outputs (r_h, r_w, Cout)


def _conv_transpose_phases(x, kernel, transpose_kernel, weight_grad):
    n, h, w, _ = x.shape
    k2 = _phase_kernel(kernel, transpose_kernel)
    cout = k2.shape[-1] // 4
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # The four phase convolutions as one: every phase's filters over every window; phase
    # (r_h, r_w) keeps its own filters at offset (r_h, r_w). One larger matrix product beats
    # four small ones on XLA:CPU, most of all for few output channels.
    y = conv2d(xp, k2, (1, 1), ((0, 0), (0, 0)), weight_grad)  # [N, H + 1, W + 1, 4 * Cout]
    rows = []
    for r_h in range(2):
        cols = [y[:, r_h:r_h + h, r_w:r_w + w, (2 * r_h + r_w) * cout:(2 * r_h + r_w + 1) * cout]
                for r_w in range(2)]
        rows.append(jnp.stack(cols, axis=3))  # [N, H, W, r_w, Cout]
    return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, cout)  # [N, H, r_h, W, r_w, Cout]


def _conv_transpose_adjoint(x, kernel, transpose_kernel, weight_grad):
    # PyTorch's ConvTranspose2d(4, stride=2, padding=1) is the adjoint (input gradient) of
    # Conv2d(4, stride=2, padding=1) with the same [Cin, Cout, 4, 4] weight, i.e. of conv2d with
    # the [4, 4, Cout, Cin] kernel below, applied to a [N, 2H, 2W, Cout] input.
    conv_kernel = kernel if transpose_kernel else jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
    n, h, w, _ = x.shape
    out_shape = (n, 2 * h, 2 * w, conv_kernel.shape[2])
    return _conv2d_input_grad(x, conv_kernel, out_shape, (2, 2), ((1, 1), (1, 1)), weight_grad)


CONV_TRANSPOSE_METHODS = {"adjoint": _conv_transpose_adjoint, "phases": _conv_transpose_phases}


def conv_transpose_4x4_s2(x: jax.Array, kernel: jax.Array, *, transpose_kernel: bool,
                          method: str = "adjoint", weight_grad: str = "auto") -> jax.Array:
    """``lax.conv_transpose(x, kernel, (2, 2), 'SAME', transpose_kernel=...)`` for a 4x4 kernel.

    With ``transpose_kernel=True`` and ``kernel = torch_weight.permute(2, 3, 1, 0)``
    this is PyTorch's ``ConvTranspose2d(Cin, Cout, 4, stride=2, padding=1)``:
    ``out[2i + k - 1] += x[i] kernel[k]`` on each axis. Two exact methods:

    * ``'adjoint'``: the input gradient of :func:`conv2d` (4x4, stride 2,
      padding 1). The forward pass and the input gradient are lax's own (the
      forward is the same XLA op as the stock layer's); the weight gradient is
      16 tap matmuls of the output cotangent with the input.
    * ``'phases'``: output phase ``(r_h, r_w)`` (rows ``2m + r_h``, columns
      ``2n + r_w``) is a 2x2 valid convolution of the input padded by one, read
      at offset ``(r_h, r_w)``; the four phases are interleaved depth-to-space.

    ``benchmarks/layer_speed.py`` times both; ``'adjoint'`` measured as fast or
    faster on XLA:CPU at every DCGAN shape, and far faster with few output
    channels.

    Args:
      x: ``[N, H, W, Cin]``.
      kernel: ``[4, 4, Cout, Cin]`` if ``transpose_kernel`` else ``[4, 4, Cin, Cout]``.
      transpose_kernel: as in ``lax.conv_transpose``.
      method: ``'adjoint'`` or ``'phases'``.
      weight_grad: as in :func:`conv2d` (the convolution being the 4x4 stride-2 one
        for ``'adjoint'``, the 2x2 one with ``4 * Cout`` outputs for ``'phases'``).

    Returns:
      ``[N, 2H, 2W, Cout]``.

    Example:
      >>> x, k = jnp.ones((1, 3, 3, 2)), jnp.ones((4, 4, 5, 2))
      >>> y = conv_transpose_4x4_s2(x, k, transpose_kernel=True)
      >>> y.shape, bool(jnp.allclose(y, conv_transpose_4x4_s2(x, k, transpose_kernel=True,
      ...                                                     method="phases")))
      ((1, 6, 6, 5), True)
    """
    if method not in CONV_TRANSPOSE_METHODS:
        raise ModelConfigError(
            f"unknown transposed-conv method {method!r}; valid: {', '.join(CONV_TRANSPOSE_METHODS)}")
    if weight_grad not in WEIGHT_GRAD_MODES:
        raise ModelConfigError(f"weight_grad must be one of {WEIGHT_GRAD_MODES}, not {weight_grad!r}")
    return CONV_TRANSPOSE_METHODS[method](x, kernel, transpose_kernel, weight_grad)


class FastConvTranspose(nn.Module):
    """``flax.linen.ConvTranspose(features, (4, 4), strides=(2, 2), padding='SAME')``, fast weight gradient.

    The up-sampling layer of DCGAN generators, computed by
    :func:`conv_transpose_4x4_s2`. Same parameter names, shapes and
    initializers as the stock layer, ``transpose_kernel`` included.

    Example:
      >>> layer = FastConvTranspose(8, transpose_kernel=True)
      >>> y, _ = jax.eval_shape(lambda: layer.init_with_output(jax.random.key(0), jnp.ones((1, 4, 4, 3))))
      >>> y.shape
      (1, 8, 8, 8)
    """

    features: int
    kernel_size: Sequence[int] = (4, 4)
    strides: Sequence[int] = (2, 2)
    padding: str = "SAME"
    use_bias: bool = True
    transpose_kernel: bool = False
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    param_dtype: jnp.dtype = jnp.float32
    method: str = "adjoint"  # or 'phases'; see conv_transpose_4x4_s2.
    weight_grad: str = "auto"  # 'auto' | 'taps' | 'xla', see conv2d.

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if (_pair(self.kernel_size, 1) != (4, 4) or _pair(self.strides, 1) != (2, 2)
                or self.padding != "SAME"):
            raise ModelConfigError(
                "FastConvTranspose only computes the 4x4, stride-2, 'SAME' transposed convolution; got "
                f"kernel_size={self.kernel_size}, strides={self.strides}, padding={self.padding!r}. "
                "Use flax.linen.ConvTranspose (fast_cpu_layers=False) for other shapes")
        if x.ndim != 4:
            raise ModelConfigError(f"FastConvTranspose expects NHWC inputs, got shape {x.shape}")
        if self.method not in CONV_TRANSPOSE_METHODS:
            raise ModelConfigError(f"unknown FastConvTranspose method {self.method!r}; valid: "
                                   f"{', '.join(CONV_TRANSPOSE_METHODS)}")
        cin = x.shape[-1]
        shape = (4, 4, self.features, cin) if self.transpose_kernel else (4, 4, cin, self.features)
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        y = conv_transpose_4x4_s2(x, kernel.astype(x.dtype), transpose_kernel=self.transpose_kernel,
                                  method=self.method, weight_grad=self.weight_grad)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), self.param_dtype).astype(y.dtype)
        return y
