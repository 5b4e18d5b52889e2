"""Conditional metrics against brute force: label accuracy, per-class FID, matched code accuracy."""

import itertools

import numpy as np
import pytest
from scipy import linalg

from jaxgan.metrics import conditional


def test_matched_accuracy_equals_the_best_of_every_permutation():
    rng = np.random.default_rng(0)
    k = 5
    classes = rng.integers(0, k, 400)
    # A code that follows the class through a permutation, with noise and one merged pair.
    perm = rng.permutation(k)
    codes = np.where(rng.uniform(size=400) < 0.7, perm[classes], rng.integers(0, k, 400))
    codes[classes == 3] = perm[2]
    got = conditional.matched_accuracy(codes, classes, k, k)
    best = max(np.mean(np.asarray(p)[codes] == classes) for p in itertools.permutations(range(k)))
    assert got["accuracy"] == pytest.approx(best)
    assert sorted(got["assignment"]) == list(range(k))  # one-to-one
    assert np.asarray(got["counts"]).sum() == 400
    # Purity and majority from the counts, code by code.
    for c in range(k):
        mine = classes[codes == c]
        if len(mine):
            assert got["majority"][c] == np.bincount(mine, minlength=k).argmax()
            assert got["purity"][c] == pytest.approx(np.bincount(mine).max() / len(mine))


def test_a_perfect_code_under_any_relabelling_scores_one():
    classes = np.repeat(np.arange(10), 7)
    codes = (classes * 3 + 1) % 10  # A bijection of the classes.
    got = conditional.matched_accuracy(codes, classes, 10, 10)
    assert got["accuracy"] == 1.0 and got["purity"] == [1.0] * 10


def _fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def test_per_class_fid_is_the_fid_of_each_class_alone():
    rng = np.random.default_rng(1)
    feats, labels = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
    real, real_labels = rng.normal(size=(200, 4)) + 0.5, rng.integers(0, 3, 200)
    got = conditional.per_class_fid(feats, labels, real, real_labels, 3)
    want = [_fid(feats[labels == k], real[real_labels == k]) for k in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="class 3 has 0 samples"):
        conditional.per_class_fid(feats, labels, real, real_labels, 4)


def test_label_accuracy_and_its_shape_check():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0]])
    assert conditional.label_accuracy(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="logits \\[N, K\\] and labels \\[N\\]"):
        conditional.label_accuracy(logits, np.array([0, 1]))
