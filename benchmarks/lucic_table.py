r"""Lucic et al. (2018), "Are GANs Created Equal?", Table 2 rows re-measured here, beside theirs.

    python benchmarks/lucic_table.py --workdir runs/lucic            # every row, full protocol
    python benchmarks/lucic_table.py --rows ns_gan,began --datasets mnist --seeds 1
    python benchmarks/lucic_table.py --workdir runs/lucic_short --steps 1500 --fid_samples 2000

Rows: the keys of ``jaxgan.systems.lucic_configs.ROWS`` (MM GAN, NS GAN, LSGAN,
WGAN with clipping, WGAN-GP, DRAGAN, BEGAN), each trained by
``configs/lucic_mnist.py``'s config: their networks, prior, batch and each
loss's default hyper-parameters in their code (the table's numbers are the best
of a search around those; none is run here). ``--steps`` counts their steps,
critic updates of one batch each (a row with ``n_d`` critic updates per
generator update trains ``steps / n_d`` steps of ours), and defaults to their
15,625; ``--set FIELD=VALUE`` (or ``ROW:FIELD=VALUE``) changes a field.

Measure, after training: the Inception FID (the 2015-12-05 pool3 network,
grayscale tiled to RGB, as theirs) of ``--fid_samples`` samples of the final
generator (no EMA, as theirs) against as many test-split images (10,000: their
protocol). A ``real`` row gives the bias of the sample count: that many
training images against the same test statistics. Prints one markdown table
(per row and data set: FID mean +- std over seeds, theirs, hyper-parameters,
steps, training time) and writes ``--workdir``/results.json.

Each run trains in ``<workdir>/<data set>/<row>/seed<k>`` (trainer output in its
train.log); a finished run is skipped and an interrupted one resumes, so
re-running the command continues or extends the job (more rows, data sets or
seeds; other settings need another ``--workdir``). A run whose loss goes
non-finite is recorded as diverged and left out of the means.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _table_runs import (BenchmarkError, apply_overrides, check_workdir, output_to,  # noqa: E402
                         read_json, read_jsonl, subset, train_images_per_sec)
from jaxgan.systems.lucic_configs import FULL_STEPS, ROWS, lucic_config  # noqa: E402

DATASETS = ("mnist", "fashion_mnist")
RECORD = "lucic_table.json"
VARIANT = {"mnist": "", "fashion_mnist": "fashion"}
# Their Table 2 (best FID of each loss, mean +- std over seeds of the best setting).
PAPER = {
    "mm_gan": {"mnist": (9.8, 0.9), "fashion_mnist": (29.6, 1.6)},
    "ns_gan": {"mnist": (6.8, 0.5), "fashion_mnist": (26.5, 1.6)},
    "lsgan": {"mnist": (7.8, 0.6), "fashion_mnist": (30.7, 2.2)},
    "wgan": {"mnist": (6.7, 0.4), "fashion_mnist": (21.5, 1.6)},
    "wgan_gp": {"mnist": (20.3, 5.0), "fashion_mnist": (24.5, 2.1)},
    "dragan": {"mnist": (7.6, 0.4), "fashion_mnist": (27.7, 1.2)},
    "began": {"mnist": (13.1, 1.0), "fashion_mnist": (22.9, 0.9)},
}


def scoped(item: str, row: str):
    """``item`` without its ``ROW:`` scope when it applies to ``row``, else None."""
    if ":" not in item.partition("=")[0]:
        return item
    scope, _, rest = item.partition(":")
    if scope not in ROWS:
        raise BenchmarkError(f"--set {item!r}: {scope!r} is not a row {list(ROWS)}; write "
                             "ROW:FIELD=VALUE or FIELD=VALUE.")
    return rest if scope == row else None


def row_config(row: str, dataset: str, seed: int, args):
    c = lucic_config(row, VARIANT[dataset], steps=args.steps)
    c.seed = seed
    c.train.log_every = args.log_every
    apply_overrides(c, [x for x in (scoped(i, row) for i in args.set) if x is not None])
    return c


def hyper_parameters(c) -> str:
    """The fields a row's loss is tuned on, as one short string."""
    o, parts = c.optim, []
    parts.append(f"lr {o.d_lr:g}, b1 {o.b1:g}, n_d {o.n_critic}, BN {c.model.d_norm == 'batch'}")
    for field, name in (("reg.clip_value", "clip"), ("reg.gp_weight", "gp"),
                        ("reg.dragan_weight", "dragan")):
        section, key = field.split(".")
        if c[section][key]:
            parts.append(f"{name} {c[section][key]:g}")
    if c.system == "began":  # lambda_k per critic update, as theirs (ours moves once per step).
        parts.append(f"gamma {c.energy.gamma:g}, lambda_k {c.energy.lambda_k / o.n_critic:g}")
    return ", ".join(parts)


def settings(args) -> dict:
    return {k: getattr(args, k) for k in ("steps", "fid_samples", "log_every", "set")}


def run_dir(args, dataset, row, seed) -> str:
    return os.path.join(args.workdir, dataset, row, f"seed{seed}")


def run_one(row, dataset, seed, config, args, ctx) -> dict:
    """Trains (or resumes) one run, measures its FID, writes and returns its record."""
    from jaxgan import metrics
    from jaxgan.engine import checkpoint, trainer
    from jaxgan.sample import generate_from_workdir

    workdir = run_dir(args, dataset, row, seed)
    os.makedirs(workdir, exist_ok=True)
    ckpt = checkpoint.Checkpointer(workdir)
    start = (ckpt.latest_step() or 0) + 1
    ckpt.close()
    record = {"dataset": dataset, "row": row, "seed": seed, "settings": settings(args),
              "hyper_parameters": hyper_parameters(config), "workdir": workdir}
    t0 = time.time()
    try:
        with output_to(os.path.join(workdir, "train.log")):
            summary = trainer.run(config, workdir)
    except trainer.TrainingError as e:
        record.update(status="diverged", error=" ".join(str(e).split()),
                      train_s=round(time.time() - t0, 1))
    else:
        if summary["preempted"]:
            raise SystemExit(f"SIGTERM: {workdir} saved at step {summary['step']}; run the same "
                             "command again to continue.")
        record["train_s"] = round(time.time() - t0, 1)
        rate, _ = train_images_per_sec(read_jsonl(os.path.join(workdir, "metrics.jsonl")),
                                       [start], config)
        record["img_per_sec"] = rate
        t1 = time.time()
        images = generate_from_workdir(workdir, args.fid_samples, seed=seed)
        stats, _ = metrics.feature_stats(ctx["inception"], images)
        mu, sigma = ctx["reference"][dataset]
        record.update(status="ok", fid=metrics.frechet_distance(stats.mean, stats.cov, mu, sigma),
                      fid_s=round(time.time() - t1, 1))
    with open(os.path.join(workdir, RECORD), "w") as f:
        json.dump(record, f, indent=1)
    return record


def prepare(args, plan) -> dict:
    """Everything that can fail before compute: configs, workdirs, data, Inception weights; then
    each data set's test statistics (cached under the workdir) and its ``real`` row."""
    from jaxgan import config as config_lib
    from jaxgan import data, metrics, parallel
    from jaxgan.engine import trainer
    from jaxgan.metrics.evaluator import reference_statistics

    mesh = parallel.make_mesh()
    ctx = {"todo": {}, "reference": {}, "real": []}
    for dataset, row, seed in plan:
        c = row_config(row, dataset, seed, args)
        config_lib.validate(c)
        if not check_workdir(run_dir(args, dataset, row, seed), c, settings(args), RECORD):
            ctx["todo"][(dataset, row, seed)] = c
    splits = {}
    for dataset in args.datasets:
        c = row_config(args.rows[0], dataset, 0, args)
        test_cfg = c.data.copy_and_resolve_references()
        test_cfg.split = "test"
        splits[dataset] = (data.load_dataset(c.data).images, data.load_dataset(test_cfg).images)
        n = min(len(x) for x in splits[dataset])
        if args.fid_samples > n:
            raise BenchmarkError(f"--fid_samples {args.fid_samples} exceeds the {n} images of a "
                                 f"{dataset} split; pass --fid_samples <= {n}.")
    c.eval.metric = "fid"
    ctx["inception"] = trainer.eval_extractor(c, mesh)
    for dataset, (train, test) in splits.items():
        mu, sigma, _ = reference_statistics(ctx["inception"], subset(test, args.fid_samples, 0),
                                            cache=args.workdir)
        ctx["reference"][dataset] = (mu, sigma)
        path = os.path.join(args.workdir, dataset, "real.json")
        if os.path.isfile(path) and read_json(path).get("settings") == settings(args):
            ctx["real"].append(read_json(path))
            continue
        stats, _ = metrics.feature_stats(ctx["inception"], subset(train, args.fid_samples, 1))
        record = {"dataset": dataset, "row": "real", "seed": -1, "settings": settings(args),
                  "status": "ok", "fid": metrics.frechet_distance(stats.mean, stats.cov, mu, sigma),
                  "inception_protocol": ctx["inception"].info}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(record, f, indent=1, default=str)
        ctx["real"].append(record)
    return ctx


def _mean_std(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} +- {statistics.stdev(values):.1f}"


def report(records, args) -> str:
    """The markdown table, theirs beside ours, and the protocol under it."""
    lines = ["| row | data | FID here (seeds) | theirs (Table 2) | hyper-parameters | "
             "critic / generator updates | train time per run |", "|---|---|---|---|---|---|---|"]
    for dataset in args.datasets:
        real = [r for r in records if r["row"] == "real" and r["dataset"] == dataset]
        if real:
            lines.append(f"| real train images | {dataset} | {real[0]['fid']:.1f} | - | - | - | - |")
        for row in args.rows:
            runs = [r for r in records if r["row"] == row and r["dataset"] == dataset]
            if not runs:
                continue
            ok = [r for r in runs if r["status"] == "ok"]
            diverged = len(runs) - len(ok)
            fid = _mean_std([r["fid"] for r in ok]) + f" ({len(ok)})"
            if diverged:
                fid += f", {diverged} diverged"
            theirs = "{:.1f} +- {:.1f}".format(*PAPER[row][dataset])
            minutes = _mean_std([r["train_s"] / 60 for r in runs]) + " min"
            g_steps = args.steps // ROWS[row][4]
            lines.append(f"| {row} | {dataset} | {fid} | {theirs} | {runs[0]['hyper_parameters']} "
                         f"| {args.steps} / {g_steps} | {minutes} |")
    lines += ["", f"Protocol: InfoGAN networks (width 64, 28x28), z ~ U(-1, 1)^64, batch 64, "
              f"{args.steps} critic updates (theirs: {FULL_STEPS}), final generator (no EMA); FID of "
              f"{args.fid_samples} samples against {args.fid_samples} test images, Inception "
              "2015-12-05 pool3 (theirs: 10,000 against 10,000, best of a hyper-parameter "
              "search). The 'real' row is the FID of as many training images: the floor at "
              "this sample count."]
    if args.set:
        lines.append(f"Overrides: {' '.join(args.set)}.")
    return "\n".join(lines)


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {tuple(ROWS)}")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1")
    p.add_argument("--steps", type=int, default=FULL_STEPS,
                   help="critic updates (their steps) per run; a multiple of every row's n_d")
    p.add_argument("--fid_samples", type=int, default=10_000,
                   help="Inception FID: generated and test-split images")
    p.add_argument("--log_every", type=int, default=100, help="steps between log records")
    p.add_argument("--set", action="append", default=[], metavar="[ROW:]FIELD=VALUE",
                   help="config override, for every row or for one (repeatable)")
    p.add_argument("--workdir", default="runs/lucic_table")
    p.add_argument("--table", action="store_true", help="only report the finished runs")
    args = p.parse_args(argv)
    args.rows = [r for r in args.rows.split(",") if r]
    args.datasets = [d for d in args.datasets.split(",") if d]
    unknown = [r for r in args.rows if r not in ROWS] + [d for d in args.datasets
                                                         if d not in DATASETS]
    if unknown or not args.rows or not args.datasets:
        p.error(f"unknown rows/datasets {unknown}; rows: {list(ROWS)}, datasets: {list(DATASETS)}")
    for name, least in (("seeds", 1), ("steps", 1), ("fid_samples", 2), ("log_every", 1)):
        if getattr(args, name) < least:
            p.error(f"--{name} must be >= {least}")
    seeds = range(args.seeds)
    plan = [(d, r, s) for d in args.datasets for r in args.rows for s in seeds]
    from jaxgan.engine.checkpoint import CheckpointError

    try:  # Every user mistake surfaces here, before any training.
        for row in args.rows:
            row_config(row, args.datasets[0], 0, args)
        ctx = None if args.table else prepare(args, plan)
    except (BenchmarkError, CheckpointError, FileNotFoundError, ValueError) as e:
        p.exit(2, f"lucic_table: error: {' '.join(str(e).split())}\n")
    records = []
    for dataset in args.datasets:
        path = os.path.join(args.workdir, dataset, "real.json")
        if args.table and os.path.isfile(path):
            records.append(read_json(path))
    if ctx is not None:
        records += ctx["real"]
    for i, (dataset, row, seed) in enumerate(plan):
        path = os.path.join(run_dir(args, dataset, row, seed), RECORD)
        if ctx is not None and (dataset, row, seed) in ctx["todo"]:
            rec = run_one(row, dataset, seed, ctx["todo"][(dataset, row, seed)], args, ctx)
            print(f"[{i + 1}/{len(plan)}] {dataset} {row} seed {seed}: {rec['status']} "
                  f"FID {rec.get('fid', float('nan')):.2f}, {rec['train_s']:.0f} s", flush=True)
        elif os.path.isfile(path):
            rec = read_json(path)
        else:
            continue
        records.append(rec)
    if not any(r["row"] != "real" for r in records):
        p.exit(2, f"lucic_table: error: no finished run of these rows, data sets and seeds under "
                  f"{args.workdir}; pass the --workdir the job trained in.\n")
    os.makedirs(args.workdir, exist_ok=True)
    with open(os.path.join(args.workdir, "results.json"), "w") as f:
        json.dump(records, f, indent=1, default=str)
    text = report(records, args)
    print(text)
    return text


if __name__ == "__main__":
    main()
