"""Sample-quality metrics: FID, KID, IS in an in-JAX Inception network, classifier metrics, and
k-NN precision/recall and density/coverage.

The trainer uses :func:`make_evaluator`; ``python -m jaxgan.evaluate`` the rest.
Each module's docstring states its protocol and how it matches the reference
implementations (TTUR / pytorch-fid / StyleGAN's metrics).
"""

from jaxgan.metrics.coverage import density_coverage, precision_recall
from jaxgan.metrics.evaluator import Evaluator, count_tag, feature_stats, make_evaluator
from jaxgan.metrics.features import FeatureExtractor, inception_extractor
from jaxgan.metrics.fid import frechet_distance, frechet_distance_sqrtm, trace_sqrt_product
from jaxgan.metrics.inception_score import inception_score
from jaxgan.metrics.kid import kernel_inception_distance, mmd2_unbiased
from jaxgan.metrics.stats import FeatureStats, load_stats, save_stats

__all__ = [
    "Evaluator", "FeatureExtractor", "FeatureStats", "count_tag", "density_coverage",
    "feature_stats", "frechet_distance", "frechet_distance_sqrtm", "inception_extractor",
    "inception_score", "kernel_inception_distance", "load_stats", "make_evaluator",
    "mmd2_unbiased", "precision_recall", "save_stats", "trace_sqrt_product",
]
