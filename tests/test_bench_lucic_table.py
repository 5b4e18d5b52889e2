"""benchmarks/lucic_table.py end to end on tiny networks, fake MNIST files and a tiny feature
network (the Inception FID recomputed in numpy and scipy), plus its configs and bad options."""

import importlib.util
import json
import os

import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan import sample
from jaxgan.engine import trainer
from jaxgan.systems.lucic_configs import ROWS, lucic_config
from test_bench_lga_table import fake_mnist, pooled, scipy_fid, tiny_eval_extractor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load("lucic_table")


@pytest.mark.parametrize("row", sorted(ROWS))
def test_every_row_is_a_valid_config_of_their_protocol(row):
    for variant in ("", "fashion"):
        c = lucic_config(row, variant)
        config_lib.validate(c)
        assert (c.model.arch, c.data.image_size, c.model.z_dim, c.model.z_prior) == (
            "infogan", 28, 64, "uniform")
        # Their 15,625 steps are critic updates: n_d of them per step here.
        assert c.train.num_steps * c.optim.n_critic == 15_625 == lucic_config(row).train.num_steps \
            * ROWS[row][4]
        assert c.train.batch_size == 64 and c.train.ema_decay == 0
        assert c.optim.g_lr == c.optim.d_lr
    assert lucic_config("began").system == "began"
    assert lucic_config("wgan_gp").model.d_norm == "none"  # a gradient penalty needs it


def test_lengths_count_critic_updates():
    assert lucic_config("wgan", steps=1500).train.num_steps == 300
    assert lucic_config("ns_gan", steps=1500).train.num_steps == 1500
    # Their k moves by 0.001 after each of the 5 critic updates; ours once per step.
    assert lucic_config("began").energy.lambda_k == pytest.approx(0.005)
    assert lucic_config("began").energy.clip_k is False  # Their k is never clipped.
    with pytest.raises(config_lib.ConfigError, match="multiple of 5"):
        lucic_config("wgan_gp", steps=1502)


@pytest.mark.slow  # Trains and measures two rows, then again (about a minute).
def test_table_trains_measures_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(trainer, "eval_extractor", tiny_eval_extractor)
    fake_mnist(tmp_path / "data", np.random.default_rng(1))
    drawn, original = {}, sample.generate_from_workdir

    def generate(workdir, num, seed=0, **kw):
        row = os.path.basename(os.path.dirname(workdir))
        drawn[row] = (num, seed, original(workdir, num, seed, **kw))
        return drawn[row][2]

    monkeypatch.setattr(sample, "generate_from_workdir", generate)
    root = tmp_path / "bench"
    argv = ["--rows", "ns_gan,began", "--datasets", "mnist", "--steps", "10", "--fid_samples", "24",
            "--log_every", "1", "--workdir", str(root), "--set", f"data.data_dir={tmp_path / 'data'}",
            "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "model.z_dim=8",
            "--set", "began:energy.code_dim=8", "--set", "train.batch_size=8",
            "--set", "train.num_sample_images=4", "--set", "data.prefetch=1"]
    text = bench.main(argv)

    runs = {r["row"]: r for r in json.loads((root / "results.json").read_text())}
    assert set(runs) == {"real", "ns_gan", "began"}
    for row in ("ns_gan", "began"):
        assert runs[row]["status"] == "ok" and np.isfinite(runs[row]["fid"])
        line = next(l for l in text.splitlines() if l.startswith(f"| {row} | mnist |"))
        assert f"{runs[row]['fid']:.1f} (1)" in line
        assert ("6.8 +- 0.5" if row == "ns_gan" else "13.1 +- 1.0") in line  # theirs beside
    assert "gamma 0.75, lambda_k 0.001" in runs["began"]["hyper_parameters"]
    # The FID recomputed from the samples the benchmark drew and the fixed test subset.
    num, seed, fake = drawn["began"]
    assert (num, seed, fake.shape) == (24, 0, (24, 28, 28, 1))
    test = np.load(tmp_path / "data" / "mnist" / "mnist-test.npz")["images"]
    test = test[np.sort(np.random.default_rng(0).permutation(len(test))[:24])]
    expected = scipy_fid(np.asarray(pooled(fake), np.float64), np.asarray(pooled(test), np.float64))
    assert runs["began"]["fid"] == pytest.approx(expected, rel=1e-4)

    # Finished runs are not trained again; other settings on the same workdir are refused.
    log = (root / "mnist" / "ns_gan" / "seed0" / "train.log").read_text()
    assert bench.main(argv) == text
    assert (root / "mnist" / "ns_gan" / "seed0" / "train.log").read_text() == log
    assert bench.main(argv + ["--table"]) == text
    with pytest.raises(SystemExit):
        bench.main([a if a != "10" else "20" for a in argv])
    assert "--workdir" in capsys.readouterr().err


def test_bad_options_are_refused_before_compute(capsys):
    for argv, message in ((["--rows", "vae"], "unknown rows/datasets ['vae']"),
                          (["--set", "wgan:optim.nope=1"], "no field 'optim.nope'"),
                          (["--set", "vae:optim.b1=0"], "'vae' is not a row")):
        with pytest.raises(SystemExit):
            bench.main(argv + ["--workdir", "/nonexistent/never"])
        assert message in capsys.readouterr().err
