"""Preemption: SIGTERM saves a checkpoint and exits with status 0; the next start resumes.

A real ``python -m jaxgan.train`` process (one CPU device, the LFW faces of
scikit-image) gets SIGTERM once ``metrics.jsonl`` shows it stepping.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_CACHE = os.path.join(tempfile.gettempdir(), "jaxgan-test-compile-cache")
TINY = ["--config", "configs/lga_mnist.py:sign_lga8", "--config.data.name=lfw_faces",
        "--config.model.g_width=8", "--config.model.d_width=8", "--config.model.z_dim=8",
        "--config.train.batch_size=8", "--config.train.log_every=1",
        "--config.train.checkpoint_every=1000", "--config.train.sample_every=1000",
        "--config.train.num_sample_images=4", "--config.model.fast_cpu_layers=False",
        "--config.data.prefetch=1"]
ENV = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu",
       "JAX_COMPILATION_CACHE_DIR": COMPILE_CACHE,
       "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
       "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def _command(workdir, num_steps, args=TINY):
    return [sys.executable, "-m", "jaxgan.train", *args, "--workdir", str(workdir),
            f"--config.train.num_steps={num_steps}"]


def _steps(workdir):
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["step"] for line in f if line.endswith("\n")]


def wait_for_steps(proc, workdir, count, timeout=300):
    """Polls metrics.jsonl until it holds ``count`` records (the run is stepping)."""
    deadline = time.monotonic() + timeout
    while len(_steps(workdir)) < count:
        assert proc.poll() is None, "the run ended before it was signalled"
        assert time.monotonic() < deadline, "the run did not start stepping"
        time.sleep(0.05)


def sigterm_once_stepping(workdir, count, args=TINY) -> int:
    """Starts a long run, sends SIGTERM once ``count`` steps are logged; returns the step saved."""
    proc = subprocess.Popen(_command(workdir, 100_000, args), cwd=REPO, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_steps(proc, workdir, count)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    saved = re.search(r"SIGTERM: saved step (\d+) in ", out)
    assert saved, out[-3000:]
    return int(saved.group(1))


def test_sigterm_saves_exits_zero_and_the_next_start_resumes(tmp_path):
    workdir = tmp_path / "run"
    step = sigterm_once_stepping(workdir, 2)
    assert step >= 2
    assert sorted(os.listdir(workdir / "checkpoints")) == [str(step)]
    assert _steps(workdir) == list(range(1, step + 1))

    resumed = subprocess.run(_command(workdir, step + 2), cwd=REPO, env=ENV, text=True,
                             capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resumed {workdir} at step {step}." in resumed.stdout
    assert f"step {step + 1}/{step + 2}" in resumed.stdout
    assert f"step {step}/" not in resumed.stdout  # Nothing before the checkpoint is redone.
    assert sorted(os.listdir(workdir / "checkpoints"), key=int) == [str(step), str(step + 2)]
    assert _steps(workdir) == list(range(1, step + 3))


def test_stacked_gan_sigterm_saves_in_any_phase_and_resumes(tmp_path):
    """SIGTERM on the three-phase Stacked GAN: saved and resumed like the single pair."""
    from fake_data import write_mnist_cache

    args = ["--config", f"tests/sgan_tiny_config.py:{write_mnist_cache(tmp_path / 'data')}",
            "--config.train.checkpoint_every=1000", "--config.sgan.encoder_steps=3"]
    workdir = tmp_path / "run"
    step = sigterm_once_stepping(workdir, 5, args)  # Into the independent phase.
    assert step >= 5
    assert str(step) in os.listdir(workdir / "checkpoints")
    # 3 encoder steps, then num_steps GAN steps: ask for 2 more steps than were done.
    resumed = subprocess.run(_command(workdir, step - 3 + 2, args), cwd=REPO, env=ENV, text=True,
                             capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resumed {workdir} at step {step}." in resumed.stdout
    assert _steps(workdir) == list(range(1, step + 3))

