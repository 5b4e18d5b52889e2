"""The train step of two checkouts side by side: did a change slow the step?

    python benchmarks/compare_checkouts.py --before /path/to/old/checkout [--after .] \
        [--rounds 3] -- --archs dcgan --width 64 --reps 5

Runs ``benchmarks/step_speed.py --no-torch`` (with the arguments after ``--``)
from each checkout in turn, ``--rounds`` times, alternating which goes first,
each in a fresh process: the two sides share the machine's state of the moment
and its load falls evenly on both. Each round yields each side's median step
time per (model, step); the table gives the median over rounds of each side's
images/s and of the per-round ratio after / before (< 1: the change made the
step slower), and the compile times.

Both checkouts must hold a ``benchmarks/step_speed.py`` that prints its markdown
table with the ``jaxgan img/s`` and ``jaxgan compile s`` columns.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys


def parse_table(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """``{(model, step): {"img_s": ..., "compile_s": ...}}`` from step_speed.py's table."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    if not lines:
        raise ValueError(f"no table in the output:\n{text[-2000:]}")
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    img, comp = header.index("jaxgan img/s"), header.index("jaxgan compile s")
    rows = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[(cells[0], cells[1])] = {"img_s": float(cells[img]), "compile_s": float(cells[comp])}
    return rows


def run_side(checkout: str, bench_args: list[str]) -> dict:
    script = os.path.join(checkout, "benchmarks", "step_speed.py")
    env = {**os.environ, "PYTHONPATH": os.path.abspath(checkout)}
    out = subprocess.run([sys.executable, script, "--no-torch", *bench_args], cwd=checkout,
                         env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{script} failed:\n{out.stderr[-3000:]}")
    return parse_table(out.stdout)


def main(argv=None) -> str:
    argv = sys.argv[1:] if argv is None else argv
    bench_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="the reference checkout")
    ap.add_argument("--after", default=".", help="the changed checkout (default: this one)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(own)
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    results = {"before": [], "after": []}
    for r in range(args.rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for side in order:
            results[side].append(run_side(getattr(args, side), bench_args))
            print(f"round {r + 1}/{args.rounds}: {side} done", file=sys.stderr, flush=True)
    lines = ["| model | step | before img/s | after img/s | after / before (median of rounds) "
             "| rounds' ratios | compile s before / after |",
             "|---|---|---:|---:|---:|---|---:|"]
    for key in results["before"][0]:
        before = [res[key]["img_s"] for res in results["before"]]
        after = [res[key]["img_s"] for res in results["after"]]
        ratios = [a / b for a, b in zip(after, before, strict=True)]
        comp_b = statistics.median(res[key]["compile_s"] for res in results["before"])
        comp_a = statistics.median(res[key]["compile_s"] for res in results["after"])
        lines.append(f"| {key[0]} | {key[1]} | {statistics.median(before):.1f} | "
                     f"{statistics.median(after):.1f} | {statistics.median(ratios):.3f} | "
                     f"{', '.join(f'{x:.3f}' for x in ratios)} | {comp_b:.1f} / {comp_a:.1f} |")
    table = "\n".join(lines)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{args.rounds} rounds, step_speed.py {' '.join(bench_args)}; load average "
          f"{load:.1f} at the end.\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
