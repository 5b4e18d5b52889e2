"""The pre-trained encoder on disk, and its test accuracy.

After pre-training, the SGAN trainer writes ``<workdir>/encoder.npz``: the
encoder's parameters flattened as ``'fc3/kernel'``-style keys plus an
``__info__`` JSON (data set, sizes, steps, test accuracy). Another run reuses
it with ``--config.sgan.encoder_path=<workdir>/encoder.npz`` and skips
pre-training, as the paper's stacks are trained on one fixed encoder.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxgan.config import ConfigError

ENCODER_FILE = "encoder.npz"


def save_encoder(path: str, params, info: dict[str, Any]) -> None:
    """Writes the parameters and ``info`` atomically (a crash leaves no torn file)."""
    flat = {"/".join(k): np.asarray(v) for k, v in
            traverse_util.flatten_dict(jax.device_get(params)).items()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}.npz"
    np.savez(tmp, __info__=np.asarray(json.dumps(info)), **flat)
    os.replace(tmp, path)


def load_encoder(path: str, like) -> tuple[Any, dict[str, Any]]:
    """The parameters in ``path``, checked against the tree ``like`` (shapes and names).

    ``like`` may be abstract (``jax.ShapeDtypeStruct`` leaves): nothing is computed.

    Raises:
      FileNotFoundError: no such file.
      ConfigError: the file is not an encoder file, or holds another architecture
        (the message names the differing entries and the fix).
    """
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sgan.encoder_path={path} does not exist; point it at the "
                                f"{ENCODER_FILE} an SGAN run wrote, or set it to ''.")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise ConfigError(f"sgan.encoder_path={path} cannot be read ({e}); it is damaged or not "
                          f"an {ENCODER_FILE}. Pre-train again with sgan.encoder_path=''.") from e
    if "__info__" not in arrays:
        raise ConfigError(f"{path} is not an SGAN encoder file (no __info__ entry).")
    info = json.loads(str(arrays.pop("__info__")))
    want = {"/".join(k): tuple(v.shape)
            for k, v in traverse_util.flatten_dict(like).items()}
    have = {k: tuple(v.shape) for k, v in arrays.items()}
    if want != have:
        diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        shown = ", ".join(f"{k}: {have.get(k)} in the file, {want.get(k)} expected"
                          for k in diff[:4])
        raise ConfigError(
            f"{path} holds an encoder of another shape ({shown}). Use the sgan.enc_channels, "
            f"sgan.feature_dim and data fields it was trained with (its info: {info}), or "
            "pre-train a new one with sgan.encoder_path=''.")
    params = traverse_util.unflatten_dict({tuple(k.split("/")): jnp.asarray(v)
                                           for k, v in arrays.items()})
    return params, info


def make_predictor(encoder):
    """A jitted ``predict(params, uint8 images) -> class ids``, images mapped to [-1, 1]."""

    @jax.jit
    def predict(params, images_uint8):
        x = images_uint8.astype(jnp.float32) / 127.5 - 1.0
        return jnp.argmax(encoder.apply({"params": params}, x)["logits"], -1)

    return predict


def accuracy(predict, params, images_uint8: np.ndarray, labels: np.ndarray,
             batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``predict`` (from :func:`make_predictor`) on uint8 images.

    Batches are padded to ``batch_size`` rows, so ``predict`` compiles once.
    """
    correct = 0
    for i in range(0, len(images_uint8), batch_size):
        x = images_uint8[i:i + batch_size]
        n = len(x)
        x = np.pad(x, ((0, batch_size - n),) + ((0, 0),) * (x.ndim - 1))
        pred = np.asarray(predict(params, x))[:n]
        correct += int(np.sum(pred == labels[i:i + batch_size]))
    return correct / max(len(images_uint8), 1)


def encoder_test_accuracy(config, predict, params) -> float | None:
    """The encoder's accuracy on the data set's test split, None when there is none."""
    from jaxgan import data  # Lazy: reading the encoder file needs no data code.

    test_cfg = config.data.copy_and_resolve_references()
    test_cfg.split = "test"
    try:
        test = data.load_dataset(test_cfg)
    except (ValueError, FileNotFoundError):  # No test split for this source.
        return None
    return accuracy(predict, params, test.images, test.labels)
