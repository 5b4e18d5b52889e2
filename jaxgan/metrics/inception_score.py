"""The Inception Score from classifier logits.

Which logits: the original implementation (OpenAI's improved-gan
``inception_score/model.py``) and StyleGAN2-ADA's ``is50k`` take the softmax of
``pool3 @ W`` over all 1008 outputs of the 2015-12-05 graph's head, without its
bias (StyleGAN's ``no_output_bias=True``); the 8 extra outputs are never-trained
classes with near-zero probability. :func:`jaxgan.metrics.features.inception_extractor`
returns exactly those logits (pytorch-fid's weights carry the head; fid-helper's do not).
"""

from __future__ import annotations

import numpy as np
import scipy.special


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Mean and std over ``splits`` of ``exp(E_x KL(p(y|x) || p(y)))``.

    ``p(y|x) = softmax(logits)``; ``p(y)`` is the mean of ``p(y|x)`` within each
    split; split ``i`` holds rows ``[i N // splits, (i + 1) N // splits)``; the std
    is ``ddof=0``, as in the references. Computed in float64 from log-probabilities.

    Args:
      logits: ``[N, K]`` classifier logits.
      splits: number of consecutive splits (10 in the references).

    Returns:
      ``(mean, std)``.

    >>> inception_score(np.zeros((20, 5)), splits=2)
    (1.0, 0.0)

    Reference: Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
    """
    logits = np.asarray(logits, np.float64)
    n = len(logits)
    if logits.ndim != 2 or n < splits:
        raise ValueError(f"The Inception Score needs [N, K] logits with N >= splits={splits}, "
                         f"got shape {logits.shape}.")
    log_p = scipy.special.log_softmax(logits, axis=1)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]
        log_py = scipy.special.logsumexp(part, axis=0) - np.log(len(part))
        kl = np.sum(np.exp(part) * (part - log_py), axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
