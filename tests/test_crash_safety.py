"""Crash safety: kill -9 at two moments, restart, and end bit-identical to an uninterrupted run.

Every run is a real ``jaxgan.train`` process with one CPU device, on the 100
LFW faces of scikit-image. A small driver around the command arranges the kill
(SIGKILL to itself, so nothing is flushed or cleaned up):

* right after the log line of step 3 (between checkpoints 2 and 4);
* while checkpoint 4 is being written: in Orbax's commit of the ``state`` item,
  when ``meta`` is committed, ``state`` is complete but still in its temporary
  directory, and the step directory is not yet renamed.

Compiled programs go to a persistent JAX cache shared by the runs, so only the
first run compiles.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile

import jax
import numpy as np
import pytest

from fake_data import write_mnist_cache
from jaxgan import parallel
from jaxgan.engine.sampling import load_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_CACHE = os.path.join(tempfile.gettempdir(), "jaxgan-test-compile-cache")
TINY = ["--config", "configs/lga_mnist.py:sign_lga8", "--config.data.name=lfw_faces",
        "--config.model.g_width=8", "--config.model.d_width=8", "--config.model.z_dim=8",
        "--config.train.batch_size=8", "--config.train.log_every=1",
        "--config.train.checkpoint_every=2", "--config.train.sample_every=100",
        "--config.train.num_sample_images=4", "--config.model.fast_cpu_layers=False",
        "--config.data.prefetch=1", "--config.train.num_steps=6"]

DRIVER = r"""
import os, signal
from absl import app, flags

after_log = int(os.environ.get("CRASH_AFTER_LOG_STEP", "0"))
in_save = int(os.environ.get("CRASH_IN_SAVE_STEP", "0"))


def die(where):
    with open(os.environ["CRASH_MARKER"], "w") as f:
        f.write(where)
    os.kill(os.getpid(), signal.SIGKILL)


if after_log:
    from jaxgan import logging as run_logging
    scalars = run_logging.RunLogger.scalars

    def scalars_then_die(self, step, values, **kwargs):
        scalars(self, step, values, **kwargs)
        if step == after_log:
            die(f"after the log line of step {step}")

    run_logging.RunLogger.scalars = scalars_then_die

if in_save:
    from orbax.checkpoint._src.path import atomicity
    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    async def finalize_or_die(self, *args, **kwargs):
        final = self.get_final()
        if (final.name == "state" and final.parent.parent.name == "checkpoints"
                and final.parent.name.startswith(f"{in_save}.orbax-checkpoint-tmp")):
            die(f"writing {self.get()}")
        return await finalize(self, *args, **kwargs)

    atomicity.AtomicRenameTemporaryPath.finalize = finalize_or_die

from jaxgan import train
train.define_flags()
flags.mark_flags_as_required(["config"])
app.run(train.main)
"""


def _train(workdir, marker=None, args=TINY, **crash):
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu",
           "JAX_COMPILATION_CACHE_DIR": COMPILE_CACHE,
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
           "CRASH_MARKER": str(marker or ""),
           **{f"CRASH_{k.upper()}": str(v) for k, v in crash.items()}}
    return subprocess.run([sys.executable, "-c", DRIVER, *args, "--workdir", str(workdir)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _steps(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line)["step"] for line in f]


def _restore(workdir, step):
    return load_run(str(workdir), step=step).state


def test_kill_9_during_a_step_and_during_a_checkpoint_write(tmp_path):
    reference = _train(tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-3000:]

    workdir, marker = tmp_path / "crashed", tmp_path / "marker"
    first = _train(workdir, marker, after_log_step=3)
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert marker.read_text() == "after the log line of step 3"
    assert sorted(os.listdir(workdir / "checkpoints")) == ["2"]
    assert _steps(workdir) == [1, 2, 3]

    marker.unlink()
    second = _train(workdir, marker, in_save_step=4)
    assert second.returncode == -signal.SIGKILL, second.stderr[-3000:]
    assert f"Resumed {workdir} at step 2." in second.stdout
    assert marker.read_text().startswith("writing ")
    left = sorted(os.listdir(workdir / "checkpoints"))
    assert left[0] == "2" and len(left) == 2 and left[1].startswith("4.orbax-checkpoint-tmp"), left
    assert not os.path.exists(workdir / "checkpoints" / "4")

    third = _train(workdir)
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"Resumed {workdir} at step 2." in third.stdout  # The half-written 4 is not used...
    assert sorted(os.listdir(workdir / "checkpoints")) == ["2", "4", "6"]  # ...and is gone.
    assert _steps(workdir) == [1, 2, 3, 4, 5, 6]  # The log reads as one run.

    expected, got = _restore(tmp_path / "reference", 6), _restore(workdir, 6)
    assert int(got.step) == 6
    leaves_expected, leaves_got = jax.tree.leaves(expected), jax.tree.leaves(got)
    assert len(leaves_expected) == len(leaves_got) > 10
    for a, b in zip(leaves_expected, leaves_got, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert parallel.tree_digest(expected) == parallel.tree_digest(got)


@pytest.mark.slow  # Trains Stacked GAN in subprocesses (about a minute).
def test_stacked_gan_killed_in_its_independent_phase_resumes_bit_for_bit(tmp_path):
    """The same guarantee for the three-phase Stacked GAN: encoder steps 1-2, GAN steps 3-6."""
    data_dir = write_mnist_cache(tmp_path / "data")
    args = ["--config", f"tests/sgan_tiny_config.py:{data_dir}"]
    reference = _train(tmp_path / "reference", args=args)
    assert reference.returncode == 0, reference.stderr[-3000:]
    workdir, marker = tmp_path / "crashed", tmp_path / "marker"
    first = _train(workdir, marker, args=args, after_log_step=3)
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    assert sorted(os.listdir(workdir / "checkpoints")) == ["2"]  # The encoder phase's end.
    second = _train(workdir, args=args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"Resumed {workdir} at step 2." in second.stdout
    assert _steps(workdir) == [1, 2, 3, 4, 5, 6]
    expected, got = _restore(tmp_path / "reference", 6), _restore(workdir, 6)
    assert int(got.step) == 6 and int(got.data_step) == 6
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

