"""What the table benchmarks share: overrides, workdir records, output capture, timing.

A table benchmark (``lga_table.py``, ``lucic_table.py``) trains one run per
(data set, row, seed) in its own workdir, writes a JSON record when the run is
measured, skips finished runs and resumes interrupted ones; these helpers are
that machinery.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import sys

import numpy as np


class BenchmarkError(ValueError):
    """A bad option or a workdir from other settings; the message names the fix."""


def apply_overrides(config, overrides) -> None:
    """``['model.g_width=4', ...]`` onto ``config``, each value parsed as the field's type."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        *parents, name = key.split(".")
        node = config
        try:
            for p in parents:
                node = node[p]
            old = node[name]
        except (KeyError, AttributeError, TypeError):
            raise BenchmarkError(f"--set {item!r}: the config has no field {key!r}.") from None
        if not sep or isinstance(old, (dict, type(None))) or hasattr(old, "keys"):
            raise BenchmarkError(f"--set {item!r}: write FIELD=VALUE for a leaf field.")
        try:
            value = raw.lower() in ("1", "true") if isinstance(old, bool) else type(old)(raw)
        except ValueError:
            raise BenchmarkError(f"--set {item!r}: {raw!r} is not a {type(old).__name__}.") from None
        node[name] = value


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def read_jsonl(path: str) -> list[dict]:
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@contextlib.contextmanager
def output_to(path: str):
    """The process's stdout and stderr (file descriptors, so jax and absl too) appended to ``path``."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a") as f:
        os.dup2(f.fileno(), 1), os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def train_images_per_sec(records: list[dict], starts: list[int], config) -> tuple[float, int]:
    """Training images/s: the median over logged intervals holding no evaluation, grid or checkpoint.

    The trainer logs ``step_time_s``, the mean since its clock started after the
    first (compiling) step ``s0`` of each start, so ``(step - s0) * step_time_s`` is
    the time at each logged step. Returns ``(images/s, intervals used)``; with no
    clean interval, the overall rate (which then includes those events) and 0.
    """
    per_step = config.train.batch_size * config.optim.n_critic
    events = [e for e in (config.eval.every, config.train.sample_every,
                          config.train.checkpoint_every) if e]
    pts = [(r["step"], r["step_time_s"]) for r in records
           if isinstance(r.get("step_time_s"), float) and math.isfinite(r["step_time_s"])]
    s0 = lambda step: max([s for s in starts if s <= step], default=1)
    rates = []
    for (a, ta), (b, tb) in zip(pts, pts[1:]):
        # Evaluations, grids and checkpoints of step e run after its log line: inside (e, next].
        if s0(a) != s0(b) or any(x % e == 0 for e in events for x in range(a, b)):
            continue
        dt = (b - s0(b)) * tb - (a - s0(a)) * ta
        if dt > 0:
            rates.append(per_step * (b - a) / dt)
    if rates:
        return statistics.median(rates), len(rates)
    return (per_step / pts[-1][1] if pts else float("nan")), 0


def check_workdir(workdir: str, config, want: dict, record: str) -> bool:
    """True when the run is finished with these settings; raises if the workdir holds another run."""
    from jaxgan.engine import checkpoint

    rec_path = os.path.join(workdir, record)
    if os.path.isfile(rec_path):
        got = read_json(rec_path).get("settings")
        if got != want:
            raise BenchmarkError(f"{workdir} was measured with {got}, not {want}; pass another "
                                 "--workdir or delete that directory.")
        return True
    cfg_path = os.path.join(workdir, "config.json")
    if os.path.isfile(cfg_path) and checkpoint.has_checkpoint(workdir):
        if read_json(cfg_path) != json.loads(config.to_json_best_effort()):
            raise BenchmarkError(f"{workdir} holds checkpoints of another config (other --steps, "
                                 "--set or config file); pass another --workdir or delete it.")
    return False


def subset(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` of ``images`` (a fixed random choice, in their order)."""
    return images[np.sort(np.random.default_rng(seed).permutation(len(images))[:n])]
