"""End to end: train a few steps on real faces, log, sample, checkpoint, resume.

Uses the 100 LFW faces that ship with scikit-image, so it needs no download.
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxgan import sample
from jaxgan.engine import checkpoint, trainer
from jaxgan.config import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(num_steps=4):
    sys.path.insert(0, os.path.join(REPO, "configs"))
    try:
        import lga_mnist
    finally:
        sys.path.pop(0)
    c = lga_mnist.get_config("sign_lga8")  # one critic update per step: fast tests
    c.data.name = "lfw_faces"
    c.model.z_dim = 8
    c.model.g_width = 8
    c.model.d_width = 8
    c.train.batch_size = 8
    c.train.num_steps = num_steps
    c.train.log_every = 2
    c.train.checkpoint_every = 2
    c.train.sample_every = 2
    c.train.num_sample_images = 4
    c.data.prefetch = 1
    return c


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]


def test_train_logs_samples_checkpoints_and_resumes_exactly(tmp_path):
    full = trainer.run(tiny_config(num_steps=6), str(tmp_path / "full"))
    assert full["step"] == 6

    workdir = str(tmp_path / "split")
    first = trainer.run(tiny_config(num_steps=4), workdir)
    assert first["step"] == 4
    lines = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
    assert [l["step"] for l in lines] == [2, 4]
    for key in ("d_loss", "g_loss", "gp", "real_score", "fake_score", "d_grad_norm",
                "g_grad_norm", "img_per_sec", "step_time_s"):
        assert key in lines[-1] and np.isfinite(lines[-1][key]), key
    assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
        "samples_0000002.png", "samples_0000004.png"]
    assert any(f.startswith("events.") for f in os.listdir(os.path.join(workdir, "tensorboard")))
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4"]

    # Same workdir, more steps: resumes at 4 (data position included) and matches
    # the uninterrupted run bit for bit.
    resumed = trainer.run(tiny_config(num_steps=6), workdir)
    assert resumed["step"] == 6
    for a, b in zip(_leaves(full["state"]), _leaves(resumed["state"]), strict=True):
        np.testing.assert_array_equal(a, b)

    images = sample.generate_from_workdir(workdir, 5, seed=3)
    assert images.shape == (5, 32, 32, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, sample.generate_from_workdir(workdir, 5, seed=3))
    assert not np.array_equal(images, sample.generate_from_workdir(workdir, 5, seed=4))


def test_incompatible_workdir_is_refused_before_compute(tmp_path):
    workdir = str(tmp_path / "run")
    trainer.run(tiny_config(num_steps=2), workdir)
    other = tiny_config(num_steps=4)
    other.model.g_width = 16
    with pytest.raises(checkpoint.CheckpointError, match="model.g_width"):
        trainer.run(other, workdir)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2"]


def test_bad_config_is_refused_with_the_field_named(tmp_path):
    c = tiny_config()
    c.train.ema_decay = 1.5
    with pytest.raises(ConfigError, match="train.ema_decay"):
        trainer.run(c, str(tmp_path / "x"))
    assert not os.path.exists(tmp_path / "x")
    c = tiny_config()
    c.loss.lga = "amplify"
    with pytest.raises(ConfigError, match="loss.lga"):
        trainer.run(c, str(tmp_path / "x"))
    c = tiny_config()
    c.system = "no_such_gan"
    with pytest.raises(ConfigError, match=r"system='no_such_gan'.*choose one of \[.*'gan'.*\]"):
        trainer.run(c, str(tmp_path / "x"))
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.slow  # Three fresh processes, each compiling the step; tests/test_bad_input.py covers the CLI's errors.
def test_command_line_train_then_sample(tmp_path):
    workdir = str(tmp_path / "cli")
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    overrides = ["--config.data.name=lfw_faces", "--config.model.g_width=8",
                 "--config.model.d_width=8", "--config.model.z_dim=8",
                 "--config.train.batch_size=8", "--config.train.num_steps=2",
                 "--config.train.log_every=1", "--config.train.num_sample_images=4"]
    subprocess.run([sys.executable, "-m", "jaxgan.train", "--config", "configs/lga_mnist.py",
                    "--workdir", workdir, *overrides], cwd=REPO, env=env, check=True)
    assert os.path.exists(os.path.join(workdir, "checkpoints", "2"))
    out = str(tmp_path / "s.npz")
    subprocess.run([sys.executable, "-m", "jaxgan.sample", "--workdir", workdir, "--num", "3",
                    "--out", out], cwd=REPO, env=env, check=True)
    assert np.load(out)["images"].shape == (3, 32, 32, 1)

    bad = subprocess.run([sys.executable, "-m", "jaxgan.train", "--config", "configs/lga_mnist.py",
                          "--workdir", str(tmp_path / "bad"), "--config.loss.name=wasserstain"],
                         cwd=REPO, env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "wasserstain" in bad.stderr and "hinge" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_resume_with_another_n_critic_continues_the_data_stream_and_logs_valid_json(tmp_path):
    """The data position is saved in the state: a resume reads on from it, whatever n_critic."""
    workdir = str(tmp_path / "run")
    c = tiny_config(num_steps=2)
    c.train.log_every = 1
    first = trainer.run(c, workdir)
    assert int(first["state"].data_step) == 2  # One critic batch per step.
    more = tiny_config(num_steps=3)
    more.optim.n_critic = 2
    resumed = trainer.run(more, workdir)
    assert int(resumed["state"].data_step) == 2 + 2  # Step 3 read batches 3 and 4.

    def no_constants(name):
        raise AssertionError(f"metrics.jsonl holds {name}, which is not JSON")

    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        records = [json.loads(line, parse_constant=no_constants) for line in f]
    assert [r["step"] for r in records] == [1, 2, 3]
    # No rate exists yet on a run's first (compiling) step: the key is left out, not NaN.
    assert "img_per_sec" not in records[0] and records[1]["img_per_sec"] > 0
