"""Run logs: ``metrics.jsonl``, TensorBoard event files and a progress line.

TensorBoard files are written with tensorboardX, so no TensorFlow is needed.
Only process 0 writes; the other hosts of a multi-host run get a logger that
does nothing, so callers never branch on the process index.

A run resumed at step ``s`` (after a crash or a preemption) redoes the steps
after its checkpoint, so the logger first drops what the previous run logged
past ``s``: records of the JSONL files (and a line cut short by a kill), and
TensorBoard events (tensorboardX's ``purge_step``). The logs then read as one
uninterrupted run.
"""

from __future__ import annotations

import glob
import json
import math
import os
import sys
import time
from typing import Any, Mapping

import numpy as np

from jaxgan import images as image_utils


def _plain(value: Any) -> Any:
    value = np.asarray(value)
    return value.item() if value.ndim == 0 else value.tolist()


def drop_records_after(path: str, step: int) -> int:
    """Removes the records of a JSONL log with ``"step" > step``, and unreadable lines.

    Rewrites the file atomically, only if something goes; returns how many lines went.
    """
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        lines = f.readlines()
    keep = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # A line cut short by a kill.
            continue
        if isinstance(record, dict) and int(record.get("step", 0)) <= step:
            keep.append(line if line.endswith("\n") else line + "\n")
    if keep != lines:
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.writelines(keep)
        os.replace(tmp, path)
    return len(lines) - len(keep)


class RunLogger:
    """Appends scalars to ``WORKDIR/metrics.jsonl`` and TensorBoard; writes sample grids."""

    def __init__(self, workdir: str, *, enabled: bool = True, resume_step: int | None = None):
        self.enabled = enabled
        self.workdir = workdir
        self._tb = None
        if enabled:
            os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
            from tensorboardX import SummaryWriter  # Imported lazily: only process 0 needs it.

            tb_dir = os.path.join(workdir, "tensorboard")
            purge = None
            if resume_step is not None:
                for path in [os.path.join(workdir, "metrics.jsonl"),
                             *glob.glob(os.path.join(workdir, "metric-*.jsonl"))]:
                    drop_records_after(path, resume_step)
                if glob.glob(os.path.join(tb_dir, "events.*")):
                    purge = resume_step + 1
            self._tb = SummaryWriter(tb_dir, purge_step=purge)
            self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", buffering=1)

    def scalars(self, step: int, values: Mapping[str, Any], *, file: str = "metrics.jsonl") -> None:
        if not self.enabled:
            return
        record = {"step": int(step), **{k: _plain(v) for k, v in values.items()}}
        if file == "metrics.jsonl":
            self._jsonl.write(json.dumps(record) + "\n")
        else:
            with open(os.path.join(self.workdir, file), "a") as f:
                f.write(json.dumps(record) + "\n")
        for k, v in record.items():
            if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                self._tb.add_scalar(k, v, int(step))
        self._tb.flush()

    def image_grid(self, step: int, images_uint8: np.ndarray, tag: str = "samples",
                   ncols: int | None = None) -> str | None:
        """Saves ``samples/<tag>_<step>.png`` and the same grid to TensorBoard."""
        if not self.enabled:
            return None
        grid = image_utils.make_grid(images_uint8, ncols=ncols)
        path = os.path.join(self.workdir, "samples", f"{tag}_{int(step):07d}.png")
        image_utils.save_png(path, grid)
        self._tb.add_image(tag, grid, int(step), dataformats="HWC")
        self._tb.flush()
        return path

    def close(self) -> None:
        if self.enabled:
            self._jsonl.close()
            self._tb.close()


class Progress:
    """A one-line progress report: step, images/s, ETA and a few losses."""

    def __init__(self, total_steps: int, start_step: int, *, enabled: bool = True, stream=sys.stdout):
        self.total = total_steps
        self.enabled = enabled
        self.stream = stream
        self._t0 = time.perf_counter()
        self._s0 = start_step

    def restart_clock(self, step: int) -> None:
        """Call after the first (compiling) step so the rate reflects steady state."""
        self._t0, self._s0 = time.perf_counter(), step

    def rate(self, step: int) -> float:
        """Steps per second since the clock was last started."""
        elapsed = time.perf_counter() - self._t0
        return (step - self._s0) / elapsed if elapsed > 0 and step > self._s0 else float("nan")

    def line(self, step: int, images_per_step: int, values: Mapping[str, Any]) -> str:
        rate = self.rate(step)
        eta = (self.total - step) / rate if rate and math.isfinite(rate) and rate > 0 else float("nan")
        # Every group's loss (``<group>_loss``) and the critic's usual diagnostics.
        shown = " ".join(f"{k}={_plain(v):.4g}" for k, v in values.items()
                         if (k.endswith("_loss") and k.count("_") == 1)
                         or k in ("gp", "real_score", "fake_score"))
        eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "--:--:--"
        speed = f"{rate * images_per_step:.1f}" if math.isfinite(rate) else "--"
        text = (f"step {step}/{self.total} | {speed} img/s | "
                f"ETA {eta_s} | {shown}")
        if self.enabled:
            print(text, file=self.stream, flush=True)
        return text
