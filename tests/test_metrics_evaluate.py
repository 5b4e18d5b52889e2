"""The evaluator and the evaluate command's plumbing, with a tiny feature network injected.

Features are 4x4 average-pooled pixels (exactly computable in numpy), so every
number is checked against an independent numpy/scipy computation.
"""


import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.linalg
from PIL import Image

from jaxgan import evaluate, parallel
from jaxgan.metrics import evaluator as evaluator_lib
from jaxgan.metrics import sources
from jaxgan.metrics.features import FeatureExtractor
from jaxgan.metrics.stats import StatsFileError, save_stats

D = 16  # 4x4 pooled grayscale features.


def tiny_apply(params, images):
    x = images.astype(jnp.float32).mean(-1) / 255.0
    n, h, w = x.shape
    f = x.reshape(n, 4, h // 4, 4, w // 4).mean((2, 4)).reshape(n, D) * params["scale"]
    return {"feat": f, "logits": f @ params["w"]}


def numpy_features(images, params):
    x = images.astype(np.float64).mean(-1) / 255.0
    n, h, w = x.shape
    f = x.reshape(n, 4, h // 4, 4, w // 4).mean((2, 4)).reshape(n, D) * params["scale"]
    return f, f @ params["w"]


PARAMS = {"scale": np.float32(3.0), "w": np.random.default_rng(0).normal(size=(D, 5)).astype(np.float32)}


def tiny_extractor(mesh=None, batch_size=4, name="tiny", params=PARAMS):
    info = dict(name=name, feature="feat", dim=D, weights="w0", logits="5 classes")
    return FeatureExtractor(tiny_apply, params, info, mesh=mesh, batch_size=batch_size)


def scipy_fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(scipy.linalg.sqrtm(s1 @ s2))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def images(n, seed, hw=8, c=1):
    return np.random.default_rng(seed).integers(0, 256, (n, hw, hw, c), dtype=np.uint8)


def test_extractor_pads_and_agrees_across_device_counts():
    x = images(13, 1, c=3)
    ref, ref_logits = numpy_features(x, PARAMS)
    four = tiny_extractor(batch_size=6)  # Rounded up to 8 over the 4 devices.
    assert four.batch_size == 8 and four.mesh.devices.size == 4
    one = tiny_extractor(mesh=parallel.make_mesh(jax.devices()[:1]), batch_size=5)
    for ext in (four, one):
        out = ext(x)
        np.testing.assert_allclose(out["feat"], ref, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(out["logits"], ref_logits, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        four(x.astype(np.float32))


def config(metric="fid", num=10, reference=""):
    e = ml_collections.ConfigDict(dict(every=1, metric=metric, num_samples=num, reference=reference))
    d = ml_collections.ConfigDict(dict(name="mnist", split="train"))
    return e, d


def test_evaluator_fid_equals_scipy_and_reference_is_cached(tmp_path):
    real, fake = images(40, 2), images(10, 3)
    e, d = config()
    ev = evaluator_lib.make_evaluator(e, d, real, None, extractor=tiny_extractor(),
                                      cache=str(tmp_path))
    calls = []
    results = ev(lambda n: calls.append(n) or fake)
    assert calls == [10]  # One call for all samples: the trainer's generate_fn is step-keyed.
    assert list(results) == ["fid10"]
    expected = scipy_fid(numpy_features(fake, PARAMS)[0], numpy_features(real, PARAMS)[0])
    assert results["fid10"] == pytest.approx(expected, rel=1e-5)
    assert ev.protocol["metric"] == "fid10" and ev.protocol["num_fake"] == 10
    assert ev.protocol["num_real"] == 40 and "mnist" in ev.protocol["reference"]
    assert ev(lambda n: real[:n])["fid10"] >= 0
    cached = list((tmp_path / "reference_stats").glob("*.npz"))
    assert len(cached) == 1
    # A second evaluator loads the cached statistics instead of recomputing them: with other
    # feature weights but the same name it still compares against the first reference.
    other = tiny_extractor(params={"scale": np.float32(1.0), "w": PARAMS["w"]})
    ev2 = evaluator_lib.make_evaluator(e, d, real, None, extractor=other, cache=str(tmp_path))
    np.testing.assert_array_equal(ev2.mu, ev.mu)


def test_evaluator_fid_of_the_reference_set_is_zero(tmp_path):
    real = images(64, 4)
    e, d = config(num=64)
    ev = evaluator_lib.make_evaluator(e, d, real, None, extractor=tiny_extractor(),
                                      cache=str(tmp_path))
    assert abs(ev(lambda n: real)["fid64"]) < 1e-9


def test_classifier_metric_reports_coverage(tmp_path):
    real, fake = images(30, 5), images(20, 6)
    e, d = config(metric="classifier_fid", num=20)
    ev = evaluator_lib.make_evaluator(e, d, real, None, extractor=tiny_extractor(),
                                      cache=str(tmp_path))
    results = ev(lambda n: fake)
    assert list(results) == ["classifier_fid20", "classes_covered20", "class_kl20"]
    logits = numpy_features(fake, PARAMS)[1]
    h = np.bincount(logits.argmax(1), minlength=5) / 20
    kl = sum(p * np.log(5 * p) for p in h if p > 0)
    assert results["class_kl20"] == pytest.approx(kl, rel=1e-9)
    assert results["classes_covered20"] == np.sum(h >= 0.1 / 5)


def test_evaluator_errors_before_compute(tmp_path):
    real = images(10, 7)
    e, d = config(metric="bogus")
    with pytest.raises(ValueError, match="classifier_fid"):
        evaluator_lib.make_evaluator(e, d, real, None, extractor=tiny_extractor())
    e, d = config(num=1)
    with pytest.raises(ValueError, match=">= 2"):
        evaluator_lib.make_evaluator(e, d, real, None, extractor=tiny_extractor())
    e, d = config()
    with pytest.raises(ValueError, match="uint8"):
        evaluator_lib.make_evaluator(e, d, real.astype(np.float32), None, extractor=tiny_extractor())
    ev = evaluator_lib.make_evaluator(e, d, real, None, extractor=tiny_extractor(),
                                      cache=str(tmp_path))
    with pytest.raises(ValueError, match="to_uint8"):
        ev(lambda n: np.zeros((n, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="10 were asked"):
        ev(lambda n: images(n - 1, 8))
    # Reference statistics from another network or of another dimension.
    path = str(tmp_path / "ref.npz")
    save_stats(path, np.zeros(D), np.eye(D), num_images=5, protocol={"name": "inception", "weights": "x"})
    e, d = config(reference=path)
    with pytest.raises(StatsFileError, match="recompute the reference"):
        evaluator_lib.make_evaluator(e, d, None, None, extractor=tiny_extractor())
    save_stats(path, np.zeros(3), np.eye(3))
    with pytest.raises(StatsFileError, match="another network"):
        evaluator_lib.make_evaluator(e, d, None, None, extractor=tiny_extractor())
    save_stats(path, np.ones(D), 2 * np.eye(D), num_images=7, protocol={"name": "tiny", "weights": "w0"})
    ev = evaluator_lib.make_evaluator(e, d, None, None, extractor=tiny_extractor())
    assert ev.protocol["reference"] == path and ev.protocol["num_real"] == 7


def test_evaluate_inputs_and_metrics(tmp_path):
    fake_imgs, real_imgs = images(24, 9, c=3), images(30, 10, c=3)
    np.savez(tmp_path / "fake.npz", images=fake_imgs)
    folder = tmp_path / "real"
    folder.mkdir()
    for i, im in enumerate(real_imgs):
        Image.fromarray(im).save(folder / f"{i:03d}.png")
    fake = sources.load_input(str(tmp_path / "fake.npz"))
    real = sources.load_input(str(folder))
    np.testing.assert_array_equal(real.images, real_imgs)
    ext = {"inception": tiny_extractor()}
    out = evaluate.evaluate(fake, real, ["fid", "kid", "is"], extractors=ext, kid_subsets=5,
                            kid_subset_size=20, is_splits=3, save_real_stats=str(tmp_path / "s.npz"))
    f_fake, l_fake = numpy_features(fake_imgs, PARAMS)
    f_real, _ = numpy_features(real_imgs, PARAMS)
    assert out["fid24"] == pytest.approx(scipy_fid(f_fake, f_real), rel=1e-5)
    from jaxgan.metrics import inception_score, kernel_inception_distance

    kid = kernel_inception_distance(f_real, f_fake, num_subsets=5, subset_size=20, seed=0)
    assert (out["kid24"], out["kid24_std"]) == pytest.approx(kid, rel=1e-4)
    assert (out["is24"], out["is24_std"]) == pytest.approx(inception_score(l_fake, 3), rel=1e-4)
    assert out["protocol"]["num_real"] == 30 and "kid" in out["protocol"]
    # Statistics files stand in for images for FID, and give the same number.
    stats_in = sources.load_input(str(tmp_path / "s.npz"))
    assert stats_in.is_stats and stats_in.count() == 30
    again = evaluate.evaluate(fake, stats_in, ["fid"], extractors=ext)
    assert again["fid24"] == pytest.approx(out["fid24"], rel=1e-9)
    with pytest.raises(evaluate.EvaluateError, match="KID needs images"):
        evaluate.evaluate(fake, stats_in, ["kid"], extractors=ext)
    with pytest.raises(evaluate.EvaluateError, match="pass --real"):
        evaluate.evaluate(fake, None, ["fid"], extractors=ext)
    no_logits = tiny_extractor()
    no_logits.info["logits"] = "unavailable"
    with pytest.raises(evaluate.EvaluateError, match="pytorch-fid"):
        evaluate.evaluate(fake, None, ["is"], extractors={"inception": no_logits})


def test_input_errors_and_workdir(tmp_path, monkeypatch):
    with pytest.raises(sources.InputError, match="does not exist"):
        sources.load_input(str(tmp_path / "nope"))
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(images(1, 0, hw=8, c=3)[0]).save(folder / "a.png")
    Image.fromarray(images(1, 0, hw=12, c=3)[0]).save(folder / "b.png")
    with pytest.raises(sources.InputError, match="differ in size"):
        sources.load_input(str(folder))
    np.savez(tmp_path / "floats.npz", images=np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(sources.InputError, match="to_uint8"):
        sources.load_input(str(tmp_path / "floats.npz"))
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(sources.InputError, match="expected 'images'"):
        sources.load_input(str(tmp_path / "other.npz"))
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text("{}")
    calls = []

    def fake_generate(path, num, seed):
        calls.append((path, num, seed))
        return images(num, seed)

    inp = sources.load_input(str(workdir), num=12, seed=3, sample_workdir=fake_generate)
    assert calls == [(str(workdir), 12, 3)] and inp.count() == 12
    with pytest.raises(sources.InputError, match="only --fake"):
        sources.load_input(str(workdir))
