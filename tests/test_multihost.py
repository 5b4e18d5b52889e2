"""Two processes on localhost, joined by jax.distributed, train as one and agree with one process.

``launch/local_multiprocess.sh`` starts two ``jaxgan.train`` processes with one
CPU device each, sharing a workdir (as hosts share a filesystem). Once they are
stepping, process 1 alone gets SIGTERM, as when one host of a pod is preempted:
both must save the same step and exit with status 0. Then:

* at every checkpoint the trainer compared a fingerprint of the whole state across
  the processes, and process 0 printed it; the checkpoint on disk has that digest;
* only process 0 wrote logs and sample grids (sampling itself ran on both);
* a 1-process run of the same global batch reaches the same state at checkpoint 4
  (parameters, EMA, batch statistics, optimizer moments) to float32 reduction-order
  tolerance: two devices sum the batch in two halves.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
import pytest

from jaxgan import parallel
from jaxgan.engine.sampling import load_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_CACHE = os.path.join(tempfile.gettempdir(), "jaxgan-test-compile-cache")
TINY = ["--config", "configs/lga_mnist.py:sign_lga8", "--config.data.name=lfw_faces",
        "--config.model.g_width=8", "--config.model.d_width=8", "--config.model.z_dim=8",
        "--config.train.batch_size=8", "--config.train.log_every=1",
        "--config.train.checkpoint_every=4", "--config.train.sample_every=3",
        "--config.train.num_sample_images=4", "--config.model.fast_cpu_layers=False",
        "--config.data.prefetch=1"]
ENV = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu",
       "JAX_COMPILATION_CACHE_DIR": COMPILE_CACHE,
       "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
       "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def _steps(workdir):
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["step"] for line in f if line.endswith("\n")]


def _restore(workdir, step):
    return load_run(str(workdir), step=step).state


def _pids(launcher_err):
    with open(launcher_err) as f:
        return {int(i): int(p) for i, p in re.findall(r"process (\d+) of 2 is pid (\d+)", f.read())}


def test_two_processes_agree_with_each_other_and_with_one(tmp_path):
    workdir, logs, err = tmp_path / "two", tmp_path / "logs", tmp_path / "launcher.err"
    with open(err, "w") as err_file:
        launcher = subprocess.Popen(
            ["launch/local_multiprocess.sh", "-n", "2", "-l", str(logs), "--", *TINY,
             "--workdir", str(workdir), "--config.train.num_steps=100000",
             # Keep every checkpoint: on a fast machine step 4's would otherwise be rotated out.
             "--config.train.keep_checkpoints=100000"],
            cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        deadline = time.monotonic() + 400
        while len(_steps(workdir)) < 5:  # Checkpoint 4 is written before step 5 starts.
            assert launcher.poll() is None, (err.read_text(), *(
                p.read_text()[-3000:] for p in sorted(logs.glob("*.log"))))
            assert time.monotonic() < deadline, "the processes did not start stepping"
            time.sleep(0.05)
        os.kill(_pids(err)[1], signal.SIGTERM)  # One host preempted.
        assert launcher.wait(timeout=120) == 0, err.read_text()
    finally:
        if launcher.poll() is None:
            for pid in _pids(err).values():
                os.kill(pid, signal.SIGKILL)
            launcher.kill()

    out0 = (logs / "process_0.log").read_text()
    out1 = (logs / "process_1.log").read_text()
    step = int(re.search(r"SIGTERM: saved step (\d+) in ", out0).group(1))
    digests = dict(re.findall(r"Checkpoint (\d+): the state is identical on all 2 processes "
                              r"\(fingerprint ([0-9a-f]{16})\)", out0))
    assert str(step) in digests and "4" in digests, out0[-3000:]
    assert "step 1/" not in out1 and "Checkpoint" not in out1  # Process 1 prints no progress.

    # Logs and grids: once, from process 0.
    assert _steps(workdir) == list(range(1, step + 1))
    assert sorted(os.listdir(workdir / "samples")) == [
        f"samples_{s:07d}.png" for s in range(3, step + 1, 3)]
    saved = sorted(int(s) for s in os.listdir(workdir / "checkpoints"))
    assert saved[-1] == step and all(s % 4 == 0 for s in saved[:-1])

    # The collective checkpoint holds exactly the state both processes held.
    two = _restore(workdir, step)
    assert parallel.tree_digest(two)[:16] == digests[str(step)]
    assert parallel.tree_digest(_restore(workdir, 4))[:16] == digests["4"]

    # One process, one device, the same global batch, the same steps. Compared at checkpoint 4,
    # a fixed step: the SIGTERM step depends on the machine's speed, and a GAN's training
    # amplifies float32 reduction-order differences step by step (on a faster machine a later
    # step's 32-entry leaf differed by 0.5% of its scale), so a late step tests the chaos, not
    # the hosts.
    one_dir = tmp_path / "one"
    one = subprocess.run([sys.executable, "-m", "jaxgan.train", *TINY, "--workdir", str(one_dir),
                          "--config.train.num_steps=4"],
                         cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    one, two = _restore(one_dir, 4), _restore(workdir, 4)
    assert int(one.step) == int(two.step) == 4
    # Measured: the largest difference of a leaf is 2.8e-6 of its largest entry (two devices
    # sum the batch in two halves; Adam divides near-zero gradients by their own size); 3e-5
    # leaves a 10x margin, while a host reading the wrong rows changes the update itself,
    # ~1e-3 of a weight's scale per step at lr 2e-4.
    leaves_one, leaves_two = jax.tree.leaves(one), jax.tree.leaves(two)
    assert len(leaves_one) == len(leaves_two) > 10
    for a, b in zip(leaves_one, leaves_two, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        np.testing.assert_allclose(b, a, rtol=3e-5, atol=3e-5 * float(np.abs(a).max()))


@pytest.mark.parametrize("args, match", [
    (("127.0.0.1:8476", None, None), "missing: the number of processes .*; this process's id"),
    ((None, 2, None), r"missing: the coordinator address \(--coordinator_address or JAXGAN_COOR"),
    (("127.0.0.1:8476", 2, 2), r"process_id=2 must be in \[0, num_processes=2\)"),
    (("127.0.0.1:8476", "two", 0), "num_processes='two' must be an integer"),
    (("127.0.0.1", 2, 0), "must be HOST:PORT"),
])
def test_incomplete_distributed_settings_are_refused_before_connecting(args, match):
    with pytest.raises(parallel.DistributedError, match=match):
        parallel.initialize_distributed(*args)
    assert not jax.distributed.is_initialized()


def test_distributed_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("JAXGAN_COORDINATOR_ADDRESS", "127.0.0.1:8476")
    monkeypatch.setenv("JAXGAN_NUM_PROCESSES", "2")
    with pytest.raises(parallel.DistributedError, match=r"missing: this process's id \(--process_id"):
        parallel.initialize_distributed()
    monkeypatch.delenv("JAXGAN_COORDINATOR_ADDRESS")
    monkeypatch.delenv("JAXGAN_NUM_PROCESSES")
    for name in ("SLURM_NTASKS", "SLURM_PROCID", "TPU_WORKER_HOSTNAMES", "JAXGAN_DISTRIBUTED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_NTASKS", "4")  # The batch script itself, outside srun: no PROCID.
    assert parallel.initialize_distributed() is False
    assert not jax.distributed.is_initialized()
