"""CycleGAN's generator and PatchGAN: shapes, patch maps, channels, per-example independence."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import cyclegan
from jaxgan.models.cyclegan import PatchDiscriminator, ResnetGenerator
from jaxgan.models.errors import ModelConfigError

B = 3


def images(seed, size, channels, batch=B):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)),
                       jnp.float32)


@functools.lru_cache(maxsize=None)
def initialised(module, size, channels):
    """Variables of ``module``'s init shapes and a jitted apply, for ``[*, size, size, channels]``.

    The variables are drawn with numpy from the shapes ``eval_shape`` gives (kernels
    N(0, 1 / fan_in), biases and norm offsets N(0, 0.1^2), norm scales 1 + N(0, 0.1^2)):
    compiling the initializers costs several seconds per module here, and only
    :func:`test_weights_are_normal_002` needs them.
    """
    shapes = jax.eval_shape(module.init, jax.random.key(0), images(0, size, channels, batch=1))
    rng = np.random.default_rng(size + channels)

    def fill(path, leaf):
        name = jax.tree_util.keystr(path)
        if name.endswith("['kernel']"):
            fan_in = int(np.prod(leaf.shape[:-1]))
            return jnp.asarray(rng.standard_normal(leaf.shape) / np.sqrt(fan_in), jnp.float32)
        noise = 0.1 * rng.standard_normal(leaf.shape)
        return jnp.asarray(1 + noise if name.endswith("['scale']") else noise, jnp.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes), jax.jit(module.apply)


@pytest.mark.parametrize("size,norm", [(28, "instance"), (32, "instance"), (64, "instance"),
                                       (28, "none")])
def test_generator_shapes_and_range(size, norm):
    g = ResnetGenerator(channels=3, width=4, blocks=1, norm=norm)
    variables, apply = initialised(g, size, 3)
    y = apply(variables, images(1, size, 3))
    assert y.shape == (B, size, size, 3) and y.dtype == jnp.float32
    assert np.all(np.abs(y) <= 1) and np.std(np.asarray(y)) > 0
    params = variables["params"]
    assert params["down1"]["kernel"].shape == (3, 3, 8, 16)  # d2w -> d4w.
    assert params["up0"]["kernel"].shape[:2] == (3, 3) and "block0_conv1" in params
    # Convolutions followed by a norm carry no bias; the rest do.
    assert ("bias" in params["c7s1"]) == (norm == "none") and "bias" in params["to_image"]
    assert set(variables) == {"params"}  # No batch statistics to thread.


@pytest.mark.parametrize("cin,cout", [(1, 3), (3, 1)])
def test_generator_changes_channels_at_28(cin, cout):
    """MNIST (1 channel) <-> MNIST-M (3): 28 -> 14 -> 7 and back to exactly 28."""
    g = ResnetGenerator(channels=cout, width=4, blocks=2)
    variables, apply = initialised(g, 28, cin)
    assert apply(variables, images(2, 28, cin)).shape == (B, 28, 28, cout)
    assert variables["params"]["c7s1"]["kernel"].shape == (7, 7, cin, 4)
    assert variables["params"]["to_image"]["kernel"].shape == (7, 7, 4, cout)


@pytest.mark.parametrize("size,layers,n,rf", [(28, 1, 12, 16), (28, 2, 5, 34), (28, 3, 1, 70),
                                               (32, 2, 6, 34), (32, 3, 2, 70), (64, 3, 6, 70),
                                               (64, 4, 2, 142)])
def test_patch_map_size_and_receptive_field(size, layers, n, rf):
    d = PatchDiscriminator(width=4, layers=layers)
    variables, apply = initialised(d, size, 3)
    s = apply(variables, images(3, size, 3))
    assert s.shape == (B, n, n) and s.dtype == jnp.float32
    assert cyclegan.patch_map_size(size, layers) == n and cyclegan.receptive_field(layers) == rf
    widths = [variables["params"][f"conv{i}"]["kernel"].shape[-1] for i in range(layers + 1)]
    assert widths == [4 * min(2 ** i, 8) for i in range(layers + 1)]  # w, 2w, ..., capped at 8w.
    assert "bias" in variables["params"]["conv0"] and "bias" not in variables["params"]["conv1"]


@pytest.mark.parametrize("layers", [1, 2])
def test_receptive_field_by_gradient(layers):
    """The input pixels a central score depends on form a receptive_field(layers) square."""
    d = PatchDiscriminator(width=4, layers=layers, norm="none")  # Instance norm couples all pixels.
    variables, _ = initialised(d, 64, 1)
    p = cyclegan.patch_map_size(64, layers) // 2
    g = jax.grad(lambda x: d.apply(variables, x)[0, p, p])(images(4, 64, 1, batch=1))
    rows, cols = np.nonzero(np.asarray(g)[0, :, :, 0])
    rf = cyclegan.receptive_field(layers)
    assert rows.max() - rows.min() + 1 == rf and cols.max() - cols.min() + 1 == rf
    assert 0 < rows.min() and rows.max() < 63  # Wholly inside the image: no padding clipped it.


@pytest.mark.parametrize("module,cin", [(ResnetGenerator(channels=1, width=4, blocks=1), 3),
                                        (PatchDiscriminator(width=4, layers=2), 1)])
def test_an_example_does_not_depend_on_the_rest_of_the_batch(module, cin):
    variables, apply = initialised(module, 32, cin)
    a, b = images(5, 32, cin), images(6, 32, cin)
    mixed = a.at[1:].set(b[1:])  # Example 0 kept, the others replaced.
    np.testing.assert_allclose(apply(variables, mixed)[0], apply(variables, a)[0], rtol=1e-5,
                               atol=1e-6)
    alone = apply(variables, a[:1])[0]
    np.testing.assert_allclose(alone, apply(variables, a)[0], rtol=1e-5, atol=1e-6)


def test_instance_norm_is_per_example_per_channel():
    """After c7s1's norm each channel of each example has mean = offset and std = scale."""
    g = ResnetGenerator(channels=3, width=4, blocks=0)
    variables, _ = initialised(g, 28, 1)
    _, state = g.apply(variables, images(7, 28, 1),
                       capture_intermediates=lambda m, _: m.name == "c7s1_norm")
    h = np.asarray(state["intermediates"]["c7s1_norm"]["__call__"][0], np.float64)
    norm = variables["params"]["c7s1_norm"]
    scale, offset = np.asarray(norm["scale"], np.float64), np.asarray(norm["bias"], np.float64)
    assert np.all(np.abs(scale - 1) > 1e-3)  # Not the identity: the test sees both terms.
    np.testing.assert_allclose(h.mean(axis=(1, 2)), np.broadcast_to(offset, (B, 4)), atol=1e-5)
    # epsilon = 1e-5 against pre-norm variances near 1/3 moves the std by about 2e-5 (relative).
    np.testing.assert_allclose(h.std(axis=(1, 2)), np.broadcast_to(np.abs(scale), (B, 4)),
                               rtol=1e-4)


def test_weights_are_normal_002():
    variables = jax.jit(ResnetGenerator(channels=3, width=8, blocks=2).init)(
        jax.random.key(1), images(0, 32, 3, batch=1))
    leaves = [(jax.tree_util.keystr(path), np.ravel(p))
              for path, p in jax.tree_util.tree_flatten_with_path(variables)[0]]
    kernels = np.concatenate([p for name, p in leaves if name.endswith("['kernel']")])
    # 50,736 N(0, 0.02^2) draws: the sample std has a standard error of 0.32% of 0.02 and the
    # mean one of 9e-5, so these bounds sit at about 9 and 11 standard errors.
    assert kernels.size == 50_736
    assert abs(kernels.std() / 0.02 - 1) < 0.03 and abs(kernels.mean()) < 0.001
    conv_biases = [p for name, p in leaves if name.endswith("['bias']") and "norm" not in name]
    assert conv_biases and not any(np.any(p) for p in conv_biases)


def test_fast_cpu_layers_give_the_same_outputs():
    x = images(8, 28, 1, batch=2)
    for stock, fast in [(ResnetGenerator(channels=3, width=4, blocks=1),
                         ResnetGenerator(channels=3, width=4, blocks=1, fast_cpu_layers=True)),
                        (PatchDiscriminator(width=4, layers=2),
                         PatchDiscriminator(width=4, layers=2, fast_cpu_layers=True))]:
        variables, apply = initialised(stock, 28, 1)
        np.testing.assert_allclose(jax.jit(fast.apply)(variables, x), apply(variables, x),
                                   rtol=1e-5, atol=1e-6)


def test_check_names_cause_and_fix():
    cyclegan.check(64, width=4, blocks=0, layers=4)
    with pytest.raises(ModelConfigError, match=r"image sizes \(28, 32, 64\), not 48"):
        cyclegan.check(48)
    with pytest.raises(ModelConfigError, match="at most 3 at this size"):
        cyclegan.check(32, layers=4)
    with pytest.raises(ModelConfigError, match="blocks=-1"):
        cyclegan.check(28, blocks=-1)
    with pytest.raises(ModelConfigError, match="width=0"):
        cyclegan.check(28, width=0)
    with pytest.raises(ModelConfigError, match="'instance' is the paper's"):
        cyclegan.check(28, norm="batch")
    with pytest.raises(ModelConfigError, match="not 30"):
        ResnetGenerator(channels=1, width=4, blocks=1).init(jax.random.key(0),
                                                           jnp.zeros((1, 30, 30, 1)))
    with pytest.raises(ModelConfigError, match="square NHWC"):
        PatchDiscriminator(width=4).init(jax.random.key(0), jnp.zeros((1, 28, 32, 1)))
