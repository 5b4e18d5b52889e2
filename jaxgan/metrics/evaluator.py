"""The evaluator the trainer calls: FID (Inception or classifier) of a generator against real data.

    evaluator = make_evaluator(config.eval, config.data, real_images_uint8, mesh)
    results = evaluator(generate_fn)      # {'fid10k': 12.3}
    evaluator.protocol                    # how the number was measured

The reference statistics of the real images are computed once, at construction,
and cached on disk under ``<cache>/reference_stats/`` keyed by the images'
sha256 and the feature network, so a resumed run does not recompute them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from typing import Any, Callable

import jax
import numpy as np

from jaxgan.metrics import fid as fid_lib
from jaxgan.metrics.features import FeatureExtractor
from jaxgan.metrics.inception_weights import cache_dir
from jaxgan.metrics.stats import FeatureStats, StatsFileError, load_stats, save_stats

METRICS = ("fid", "classifier_fid")
SQRTM = "tr sqrt(S1 S2) from eigh of S1^1/2 S2 S1^1/2 (float64)"


def count_tag(n: int) -> str:
    """The image count as metric names write it: 10000 -> '10k', 2500 -> '2.5k', 500 -> '500'.

    >>> [count_tag(n) for n in (50000, 10000, 2500, 500)]
    ['50k', '10k', '2.5k', '500']
    """
    if n >= 1000 and n % 100 == 0:
        return f"{n / 1000:g}k"
    return str(n)


def host_slice(images: np.ndarray) -> np.ndarray:
    """This process's equal share of images every process holds in full."""
    p, i = jax.process_count(), jax.process_index()
    if p == 1:
        return images
    per = len(images) // p
    return images[i * per:(i + 1) * per]


def feature_stats(extractor: FeatureExtractor, images: np.ndarray,
                  keep: tuple[str, ...] = ()) -> tuple[FeatureStats, dict[str, np.ndarray]]:
    """Streams ``images`` through ``extractor`` into float64 statistics of its main feature.

    Returns the statistics and the outputs named in ``keep``, concatenated.
    """
    stats, kept = FeatureStats(), {k: [] for k in keep}
    images = host_slice(images)
    t0, every = time.time(), max(1, len(images) // (10 * extractor.local_batch_size))
    for i, out in enumerate(extractor.iter_batches(images)):
        if i % every == every - 1:
            logging.info("%s features: %d / %d images (%.1f s)", extractor.info["name"],
                         stats.n, len(images), time.time() - t0)
        stats.update(out[extractor.feature])
        for k in keep:
            if k not in out:
                raise ValueError(f"The feature network gives {sorted(out)}, not {k!r} "
                                 f"({extractor.info.get('logits', '')}).")
            kept[k].append(out[k])
    return stats, {k: np.concatenate(v) for k, v in kept.items()}


def _images_key(images: np.ndarray) -> str:
    h = hashlib.sha256(repr((images.shape, str(images.dtype))).encode())
    h.update(np.ascontiguousarray(images).data)
    return h.hexdigest()[:16]


def _check_images(images: Any, what: str, num: int | None = None) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"{what} must be uint8 [N, H, W, C] with C in (1, 3), got "
                         f"{images.dtype} {images.shape}; convert with jaxgan.images.to_uint8.")
    if num is not None and len(images) != num:
        raise ValueError(f"{what} returned {len(images)} images, {num} were asked for.")
    return images


class Evaluator:
    """Computes the configured metric for a generator; see :func:`make_evaluator`.

    Attributes:
      protocol: everything the number depends on: metric name, numbers of real and
        fake images, the reference, network, weights, preprocessing, sqrtm method.
    """

    def __init__(self, extractor: FeatureExtractor, metric: str, num_samples: int,
                 mu: np.ndarray, sigma: np.ndarray, protocol: dict[str, Any]):
        self.extractor, self.metric, self.num_samples = extractor, metric, num_samples
        self.mu, self.sigma = mu, sigma
        self.name = f"{metric}{count_tag(num_samples)}"
        self.protocol = dict(protocol, metric=self.name, num_fake=num_samples)

    def __call__(self, generate_fn: Callable[[int], np.ndarray]) -> dict[str, float]:
        """Draws ``num_samples`` images with one ``generate_fn(num_samples)`` call, returns metrics.

        The first entry is the metric the trainer tracks (lower is better).
        """
        images = _check_images(generate_fn(self.num_samples), "generate_fn", self.num_samples)
        keep = ("logits",) if self.metric == "classifier_fid" else ()
        stats, kept = feature_stats(self.extractor, images, keep)
        results = {self.name: fid_lib.frechet_distance(stats.mean, stats.cov, self.mu, self.sigma)}
        if self.metric == "classifier_fid":
            from jaxgan.metrics.classifier import class_coverage

            tag = count_tag(self.num_samples)
            results.update({f"{k}{tag}": v for k, v in class_coverage(kept["logits"]).items()})
        return results


def reference_statistics(extractor: FeatureExtractor, real_images: np.ndarray, *,
                         cache: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """``(mu, sigma, n)`` of the real images' features, from the disk cache when present."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{extractor.info['name']}-{extractor.info['weights']}")
    path = os.path.join(cache or cache_dir(), "reference_stats",
                        f"{name}-{_images_key(real_images)}.npz")
    if os.path.isfile(path):
        try:
            mu, sigma, meta = load_stats(path)
            return mu, sigma, meta.get("num_images", len(real_images))
        except (StatsFileError, OSError, ValueError) as e:
            logging.warning("Recomputing unreadable cached statistics %s: %s", path, e)
    stats, _ = feature_stats(extractor, real_images)
    if jax.process_index() == 0:
        try:
            save_stats(path, stats.mean, stats.cov, num_images=stats.n, protocol=extractor.info)
        except OSError as e:
            logging.warning("Could not cache reference statistics: %s", e)
    return stats.mean, stats.cov, stats.n


def make_evaluator(eval_cfg: Any, data_cfg: Any, real_images_uint8: np.ndarray | None, mesh, *,
                   extractor: FeatureExtractor | None = None, cache: str | None = None) -> Evaluator:
    """Builds the evaluator of ``config.eval`` and computes (or loads) the reference statistics.

    Args:
      eval_cfg: ``config.eval``: ``metric`` ('fid' | 'classifier_fid'), ``num_samples``,
        ``reference`` (an ``.npz`` of ``mu``/``sigma``; '' = the real images).
      data_cfg: ``config.data`` (its ``name`` picks the classifier; its split is recorded).
      real_images_uint8: the real images ``[N, H, W, C]`` (unused with a reference file).
      mesh: the ``('data',)`` mesh features are computed on.
      extractor: a feature network to use instead of the metric's default (tests).
      cache: cache root (default ``$JAXGAN_CACHE`` or ``~/.cache/jaxgan``).

    Raises:
      ValueError: an unknown metric, ``num_samples`` < 2, bad images, or a reference
        file from another network; all before any feature is computed.
    """
    metric, num = eval_cfg.metric, int(eval_cfg.num_samples)
    if metric not in METRICS:
        raise ValueError(f"eval.metric={metric!r} is not one of {METRICS}.")
    if num < 2:
        raise ValueError(f"eval.num_samples={num} must be >= 2 (a covariance needs 2 images).")
    reference = getattr(eval_cfg, "reference", "") or ""
    if not reference:
        real_images_uint8 = _check_images(real_images_uint8, "the real images")
    if extractor is None:
        if metric == "fid":
            from jaxgan.metrics.features import inception_extractor
            extractor = inception_extractor(mesh=mesh)
        else:
            from jaxgan.metrics.classifier import classifier_extractor
            extractor = classifier_extractor(data_cfg.name, mesh=mesh)
    protocol = dict(extractor.info, sqrtm=SQRTM)
    if reference:
        mu, sigma, meta = load_stats(reference, dim=extractor.info.get("dim"))
        recorded = meta.get("protocol", {})
        if recorded and (recorded.get("name"), recorded.get("weights")) != (
                extractor.info["name"], extractor.info["weights"]):
            raise StatsFileError(
                f"eval.reference={reference} was computed with {recorded.get('name')} "
                f"({recorded.get('weights')}), this metric uses {extractor.info['name']} "
                f"({extractor.info['weights']}); recompute the reference or change eval.metric.")
        protocol.update(reference=reference, num_real=meta.get("num_images", "unrecorded"))
    else:
        mu, sigma, n = reference_statistics(extractor, real_images_uint8, cache=cache)
        protocol.update(reference=f"{data_cfg.name} split={data_cfg.get('split', '?')} "
                                  f"{tuple(real_images_uint8.shape[1:])}", num_real=n)
    logging.info("Evaluator %s: %s", metric, json.dumps(protocol, default=str))
    return Evaluator(extractor, metric, num, mu, sigma, protocol)
