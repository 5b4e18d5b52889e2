"""Smoke run of benchmarks/torch_mnist_probe.py: the map critic with the whole-image score, the penalty and the LGA."""

import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytest.importorskip("torch")


@pytest.mark.slow  # Trains the PyTorch probe twice (half a minute).
@pytest.mark.parametrize("settings", [
    dict(LOSS="wgan", MAP="8", GLOBAL="1", LGA="1", GP="10", NC="2"),
    dict(LOSS="hinge", MAP="1", DBN="1", GBN="0"),
])
def test_probe_trains_and_writes_samples(tmp_path, settings):
    out = tmp_path / "samples.npz"
    env = {**os.environ, **settings, "STEPS": "2", "W": "4", "BS": "8", "OUT": str(out)}
    done = subprocess.run([sys.executable, "benchmarks/torch_mnist_probe.py"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    images = np.load(out)["images"]
    assert images.shape == (2000, 32, 32, 1) and images.dtype == np.uint8
    assert images.std() > 0  # not a constant image
