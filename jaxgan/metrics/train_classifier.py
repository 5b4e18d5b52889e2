r"""Trains the metric classifier on MNIST or Fashion-MNIST and caches its weights.

    python -m jaxgan.metrics.train_classifier --dataset fashion_mnist

Writes ``<cache>/classifiers/jaxgan-<dataset>.npz`` (``$JAXGAN_CACHE`` or
``~/.cache/jaxgan``), which ``eval.metric='classifier_fid'`` then uses, and prints
one JSON line with the test accuracy. The network is
:class:`jaxgan.metrics.classifier.DigitCNN`; training is Adam on the
cross-entropy with random +-2 pixel shifts, as small-classifier recipes do.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from jaxgan.metrics import classifier


def _shift(images: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """Each image translated by up to ``max_shift`` pixels (zero fill): cheap augmentation."""
    n, h, w, c = images.shape
    p = max_shift
    padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))
    dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
    rows = dy[:, None] + np.arange(h)[None]
    cols = dx[:, None] + np.arange(w)[None]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def train(images: np.ndarray, labels: np.ndarray, *, normalization: tuple[float, float],
          epochs: int = 3, batch_size: int = 128, learning_rate: float = 1e-3, seed: int = 0,
          augment: bool = True, log_every: int = 100) -> dict:
    """Fits :class:`~jaxgan.metrics.classifier.DigitCNN`; returns its params.

    Args:
      images: uint8 ``[N, H, W, C]`` (resized to 28x28 grayscale by the network's input map).
      labels: int ``[N]`` in ``[0, 10)``.
      normalization: ``(mean, std)`` of the input map.
    """
    labels = np.asarray(labels, np.int32)
    if len(images) != len(labels) or len(images) < batch_size:
        raise ValueError(f"Need at least batch_size={batch_size} labelled images, got "
                         f"{len(images)} images and {len(labels)} labels.")
    apply = classifier.make_apply_fn(*normalization)
    model = classifier.DigitCNN()
    params = model.init(jax.random.key(seed), jnp.zeros((1, classifier.INPUT_SIZE,
                                                         classifier.INPUT_SIZE, 1)))["params"]
    steps_per_epoch = len(images) // batch_size
    schedule = optax.cosine_decay_schedule(learning_rate, epochs * steps_per_epoch)
    tx = optax.adam(schedule)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            logits = apply(p, x)["logits"]
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    t0 = time.time()
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        for i in range(steps_per_epoch):
            idx = np.sort(order[i * batch_size:(i + 1) * batch_size])
            x = images[idx]
            if augment:
                x = _shift(x, rng)
            params, opt_state, loss = step(params, opt_state, x, labels[idx])
            if log_every and i % log_every == 0:
                print(f"epoch {epoch} step {i}/{steps_per_epoch} loss {float(loss):.4f} "
                      f"({time.time() - t0:.0f} s)", flush=True)
    return jax.device_get(params)


def accuracy(params: dict, images: np.ndarray, labels: np.ndarray,
             normalization: tuple[float, float], batch_size: int = 1000) -> float:
    apply = jax.jit(classifier.make_apply_fn(*normalization))
    preds = np.concatenate([np.argmax(apply(params, images[i:i + batch_size])["logits"], axis=1)
                            for i in range(0, len(images), batch_size)])
    return float(np.mean(preds == np.asarray(labels)))


def _load_split(dataset: str, split: str, data_dir: str):
    from jaxgan import config as config_lib
    from jaxgan.data import load_dataset  # Lazy: only the command needs the data layer.

    cfg = config_lib.base_config().data
    cfg.name, cfg.split, cfg.image_size, cfg.channels = dataset, split, classifier.INPUT_SIZE, 1
    cfg.data_dir = data_dir
    src = load_dataset(cfg)
    return src.images, src.labels


def define_flags() -> None:
    """Registers the command's flags (once; not at import, see jaxgan.evaluate.define_flags)."""
    if "dataset" in flags.FLAGS:
        return
    flags.DEFINE_enum("dataset", "mnist", list(classifier.CLASSIFIER_DATASETS),
                      "The data set to train the metric classifier on.")
    flags.DEFINE_integer("epochs", 3, "Passes over the training split.")
    flags.DEFINE_integer("batch_size", 128, "Training batch size.")
    flags.DEFINE_float("learning_rate", 1e-3, "Adam's peak learning rate (cosine decay).")
    flags.DEFINE_integer("seed", 0, "Initialisation and shuffling seed.")
    flags.DEFINE_string("data_dir", "", "config.data.data_dir for the data set.")
    flags.DEFINE_string("out", "", "Output .npz; default <cache>/classifiers/jaxgan-<dataset>.npz.")


def main(argv):
    del argv
    f = flags.FLAGS
    dataset = f.dataset
    norm = classifier.NORMALIZATION[dataset]
    train_x, train_y = _load_split(dataset, "train", f.data_dir)
    test_x, test_y = _load_split(dataset, "test", f.data_dir)
    t0 = time.time()
    params = train(train_x, train_y, normalization=norm, epochs=f.epochs,
                   batch_size=f.batch_size, learning_rate=f.learning_rate, seed=f.seed)
    seconds = time.time() - t0
    acc = accuracy(params, test_x, test_y, norm)
    out = f.out or classifier.weights_path(dataset, "jaxgan")
    info = dict(dataset=dataset, source=f"jaxgan train_classifier epochs={f.epochs} "
                f"seed={f.seed}", test_accuracy=acc, normalization=list(norm),
                train_seconds=round(seconds, 1))
    classifier.save_classifier(out, params, info)
    print(json.dumps({"path": out, **info}))


if __name__ == "__main__":
    define_flags()
    app.run(main)
