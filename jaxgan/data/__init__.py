"""Real images and toy points for GAN training.

``load_dataset(config.data)`` returns an :class:`ArraySource` (the split
decoded to uint8 at the configured size); :class:`Pipeline` turns it into
globally sharded float batches, a pure function of ``(seed, step)``.
``DATASETS`` lists the sources by name; :mod:`jaxgan.data.mixtures` has the
2-D Gaussian mixtures and their mode metrics.
"""

from jaxgan.data import mixtures
from jaxgan.data.pipeline import Pipeline
from jaxgan.data.registry import DATASETS, load_dataset
from jaxgan.data.source import (ArraySource, CorruptDatasetError, DatasetNotFoundError,
                                MissingDependencyError, UnknownDatasetError)
from jaxgan.data.transforms import RESIZE_FILTERS

__all__ = [
    "DATASETS", "load_dataset", "ArraySource", "Pipeline", "DatasetNotFoundError",
    "CorruptDatasetError", "UnknownDatasetError", "MissingDependencyError", "RESIZE_FILTERS",
    "mixtures",
]
