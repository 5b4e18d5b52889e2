"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time

import jax


def interleaved_medians(fns: dict, reps: int) -> dict:
    """Median seconds of each zero-argument function, run in turn each repetition.

    Each function is called once first (compile and warm-up, untimed). Results are
    waited for with ``jax.block_until_ready``, so a function returning jax arrays is
    timed to completion; one returning ``None`` must finish its work before it returns.
    Interleaving spreads the load of a shared machine evenly over the columns, so
    their ratios stay fair even when the absolute times drift.
    """
    for fn in fns.values():
        jax.block_until_ready(fn())
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}
