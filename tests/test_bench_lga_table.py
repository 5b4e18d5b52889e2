"""benchmarks/lga_table.py end to end on tiny models, fake MNIST files and a tiny feature network.

The MNIST split caches are written from random blobs, and ``trainer.eval_extractor``
(which the benchmark also uses for the Inception and classifier networks) returns a
4x4-pooled-pixel "network", so the test needs no download and no weights, and the
benchmark's Inception FID can be recomputed here in numpy and scipy.
"""

import importlib.util
import json
import math
import os

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from PIL import Image

from jaxgan import sample
from jaxgan.engine import trainer
from jaxgan.metrics.features import FeatureExtractor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W = np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32)


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load("lga_table")


def pooled(images):
    """8 features: the 2x2 block means of the pixels and of their squares."""
    x = images.astype(jnp.float32).mean(-1) / 255.0
    n, h, w = x.shape
    blocks = lambda v: v.reshape(n, 2, h // 2, 2, w // 2).mean((2, 4)).reshape(n, 4)
    return jnp.concatenate([blocks(x), blocks(x * x)], axis=1)


def tiny_eval_extractor(config, mesh):
    feature = "pool3" if config.eval.metric == "fid" else "features"
    apply = lambda params, images: {feature: pooled(images), "logits": pooled(images) @ params}
    info = dict(name=f"tiny-{feature}", feature=feature, dim=8, weights="w0",
                network="2x2 block means")
    return FeatureExtractor(apply, W, info, mesh=mesh, batch_size=8)


def fake_mnist(root, rng):
    for split, n in (("train", 96), ("test", 48)):
        labels = rng.integers(0, 10, n)
        images = np.zeros((n, 28, 28, 1), np.uint8)
        for i, k in enumerate(labels):  # A bright square whose place depends on the class.
            r, c = 2 + 2 * k, 4 + rng.integers(0, 8)
            images[i, r:r + 8, c:c + 8] = rng.integers(150, 256)
        os.makedirs(root / "mnist", exist_ok=True)
        np.savez(root / "mnist" / f"mnist-{split}.npz", images=images, labels=labels)


def scipy_fid(a, b):
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2)
                 + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2))))


@pytest.mark.slow  # About a minute: trains and evaluates every row of a small table twice.
def test_table_json_plot_and_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(trainer, "eval_extractor", tiny_eval_extractor)
    fake_mnist(tmp_path / "data", np.random.default_rng(1))
    drawn, original = {}, sample.generate_from_workdir  # What the benchmark sampled, by row.

    def generate(workdir, num, seed=0, **kw):
        row = os.path.basename(os.path.dirname(workdir))
        drawn[row] = (num, seed, original(workdir, num, seed, **kw))
        return drawn[row][2]

    monkeypatch.setattr(sample, "generate_from_workdir", generate)
    root = tmp_path / "bench"
    argv = ["--rows", "geogan,lga8", "--datasets", "mnist", "--seeds", "1", "--steps", "4",
            "--eval_every", "2", "--eval_samples", "16", "--fid_samples", "24", "--log_every", "1",
            "--workdir", str(root), "--set", f"data.data_dir={tmp_path / 'data'}",
            "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "model.z_dim=8",
            "--set", "train.batch_size=8", "--set", "train.num_sample_images=16",
            "--set", "data.prefetch=1"]
    text = bench.main(argv)

    results = json.loads((root / "results.json").read_text())
    runs = {r["row"]: r for r in results["runs"]}
    assert set(runs) == {"real", "geogan", "lga8"}
    for row in ("geogan", "lga8"):
        r = runs[row]
        assert r["status"] == "ok" and [s for s, _ in r["curve"]] == [2, 4]
        for k in ("cfid", "ifid", "covered", "img_per_sec"):
            assert math.isfinite(r[k]) and r[k] >= 0, (row, k)
        assert r["rate_intervals"] == 1  # Of (2, 3] and (3, 4] only the second holds no evaluation.
        row_line = next(l for l in text.splitlines()
                        if l.startswith(f"| mnist | {'GeoGAN' if row == 'geogan' else 'LGA 8x8'} |"))
        assert f"{r['cfid']:.1f}" in row_line and f"{r['ifid']:.1f}" in row_line
    # The Inception FID, recomputed in numpy and scipy from the EMA samples the benchmark
    # drew (latent seed = run seed) and the fixed subset of the test split.
    num, seed, fake = drawn["lga8"]
    assert (num, seed, fake.shape) == (24, 0, (24, 32, 32, 1))
    test = np.load(tmp_path / "data" / "mnist" / "mnist-test.npz")["images"]
    test = np.pad(test, ((0, 0), (2, 2), (2, 2), (0, 0)))  # 28 -> 32, as the source pads.
    test = test[np.sort(np.random.default_rng(0).permutation(len(test))[:24])]
    expected = scipy_fid(np.asarray(pooled(fake), np.float64), np.asarray(pooled(test), np.float64))
    assert runs["lga8"]["ifid"] == pytest.approx(expected, rel=1e-4)
    assert "mnist, Inception FID: no pair of the paper's ordering was measured." in text
    with Image.open(root / "fid_vs_step.png") as im:
        assert im.size[0] > 400 and len(np.unique(np.asarray(im.convert("L")))) > 2

    # Again: both runs are finished, so nothing trains and the numbers come back unchanged.
    log = (root / "mnist" / "geogan" / "seed0" / "train.log").read_text()
    assert bench.main(argv) == text
    assert (root / "mnist" / "geogan" / "seed0" / "train.log").read_text() == log
    # Other settings on the same workdir are refused before any compute.
    with pytest.raises(SystemExit):
        bench.main([a if a != "4" else "6" for a in argv])
    assert "--workdir" in capsys.readouterr().err


def test_training_rate_from_the_logged_step_times():
    from ml_collections import ConfigDict

    c = ConfigDict(dict(train=dict(batch_size=8, sample_every=100, checkpoint_every=100),
                        optim=dict(n_critic=2), eval=dict(every=4)))
    # Seconds since the clock started after step 1 (and again after step 8, a resume):
    # 1 s a step, but 6 s from step 4 to 5, which holds the evaluation of step 4.
    times = {2: 1, 3: 2, 4: 3, 5: 9, 6: 10, 7: 11, 9: 1, 10: 2}
    starts = [1, 8]
    records = [{"step": s, "step_time_s": t / (s - max(x for x in starts if x <= s))}
               for s, t in times.items()]
    rate, n = bench.train_images_per_sec(records, starts, c)
    # Clean: (2,3], (3,4], (5,6], (6,7], (9,10], each 8 x 2 images in 1 s; not (4,5] (the
    # evaluation) nor (7,9] (two clocks).
    assert n == 5 and rate == pytest.approx(16.0)


def test_ordering_sentence_counts_relations_and_divergence():
    report = _load("_lga_report")
    rec = lambda row, fid, status="ok", seed=0: {"dataset": "mnist", "row": row, "seed": seed,
                                                 "status": status, "ifid": fid, "cfid": fid}
    records = [rec("lga8", 10.0), rec("lga8", 12.0, seed=1), rec("lga4", 20.0),
               rec("lga4", 22.0, seed=1), rec("geogan", 15.0), rec("geogan", 0.0, "diverged", 1)]
    summary = report.summarize(records, ["mnist"], ["lga8", "lga4", "geogan"])
    text = report.ordering(summary, "mnist", "ifid")
    # lga8 < lga4 holds clearly (gap 10 > 1.41 + 1.41); lga4 < GeoGAN holds although GeoGAN's
    # finished seed is lower, because GeoGAN diverged in one seed of two.
    assert "2 of 2 relations; 1 of them" in text and "holds in full" in text
    assert "15.0 (1 diverged)" in text
    assert summary[("mnist", "geogan")]["n_div"] == 1


def test_scoped_overrides_reach_only_their_rows(tmp_path):
    """``resnet:FIELD=V`` shrinks the ResNet rows alone, ``lga8:FIELD=V`` one row; an
    unknown scope is refused by name, and a ':' after '=' (a path) is not a scope."""
    args = bench.argparse.Namespace(steps=4, log_every=1, eval_every=2, eval_samples=16,
                                    set=["resnet:model.g_width=8", "lga8:model.d_width=12",
                                         "model.z_dim=16", f"data.data_dir={tmp_path}:x"])
    widths = {r: (c.model.g_width, c.model.d_width, c.model.z_dim, c.data.data_dir)
              for r in ("wgan_gp", "lga8", "sngan", "sngan_lga")
              for c in [bench.row_config(r, "mnist", 0, args)]}
    base = bench.load_config("wgan_gp").model
    assert widths["wgan_gp"] == (base.g_width, base.d_width, 16, f"{tmp_path}:x")
    assert widths["lga8"] == (base.g_width, 12, 16, f"{tmp_path}:x")
    assert widths["sngan"][:3] == widths["sngan_lga"][:3] == (8, base.d_width, 16)
    args.set = ["cnn:model.g_width=8"]
    with pytest.raises(bench.BenchmarkError, match="'cnn' is neither a row"):
        bench.row_config("lga8", "mnist", 0, args)


def test_table_of_an_empty_workdir_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--table", "--workdir", str(tmp_path / "nothing")])
    assert exit_info.value.code == 2
    assert "no finished run" in capsys.readouterr().err
