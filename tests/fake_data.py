"""Labelled MNIST-format data written by tests: the real MNIST source's code path, no download."""

import numpy as np


def write_mnist_cache(root, num_train: int = 160, num_test: int = 40, seed: int = 0) -> str:
    """Writes ``<root>/mnist/mnist-{train,test}.npz`` (random digits, labels 0-9 in turn) and
    returns ``root``, to pass as ``data.data_dir``."""
    rng = np.random.default_rng(seed)
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", num_train), ("test", num_test)):
        images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
        np.savez(root / "mnist" / f"mnist-{split}.npz", images=images,
                 labels=np.arange(n, dtype=np.int64) % 10)
    return str(root)
