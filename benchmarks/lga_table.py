r"""The LGA paper's Table 1/2 rows re-measured on MNIST and Fashion-MNIST, on a CPU.

    python benchmarks/lga_table.py --workdir runs/lga_table

Rows: every key of ``jaxgan.config.LGA_VARIANTS`` (``--rows`` picks some). Each
(data set, row, seed) trains ``configs/lga_mnist.py``'s ``get_config(ROW)`` with
``data.name`` set to the data set and the benchmark's budget: ``--steps`` generator
steps, the classifier FID of ``--eval_samples`` EMA-generator samples every
``--eval_every`` steps (the trainer's evaluator, ``metric-classifier_fid.jsonl``).
So every row shares the base config's optimizer, batch, EMA and budget; only the
loss, the critic map, the amplifier, the penalty and (SNGAN rows) the ResNet
models with spectral norm differ. After training: the Inception FID of
``--fid_samples`` EMA samples against as many test-split images (their statistics
cached under the workdir root), the final classifier FID and classes covered, and
the training images/s. A ``real`` row gives the scale: training images against the
same references. Prints one markdown table (mean +- std over seeds) with the
protocol under it and a sentence per data set on whether the paper's ordering
holds; writes ``--workdir``/results.json (every raw number) and fid_vs_step.png.

Each run has its own workdir (``<workdir>/<data set>/<row>/seed<k>``, trainer
output in its train.log). A finished run (its ``lga_table.json`` written with
the same settings) is skipped, an interrupted one resumes: re-running the command
continues or extends the job (more seeds, rows or data sets; other settings need
another ``--workdir``). A run whose loss goes non-finite is recorded as diverged
and left out of the means.

Cost on 2 CPU cores. The job published in docs/results.md section 2 (DCGAN rows
at width 16, ResNet rows at width 8 via ``--set dcgan:...``/``--set resnet:...``,
400 steps, 100 Inception images, 3 seeds) ran as two processes, one per data
set, sharing the 2 cores: a DCGAN run trained in 44-79 s, a ResNet run in
320-375 s, and each run's Inception FID took 34-80 s (generator and Inception
compilation included); all 54 runs took about 85 minutes. At the config's own
widths (DCGAN 32; ResNet 32, i.e. G 128 / D 64 channels) a ResNet step takes
about 9.5 s, and the default job (1000 steps, 500 Inception images) is
estimated at about 43 hours here.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _lga_report import report  # noqa: E402  (the table, the ordering sentences, the plot)
from _table_runs import (BenchmarkError, apply_overrides, check_workdir, output_to,  # noqa: E402
                         read_json, read_jsonl, subset, train_images_per_sec)
from jaxgan.config import LGA_VARIANTS  # noqa: E402  (import-light: no jax)

CONFIG_FILE = os.path.join(REPO, "configs", "lga_mnist.py")
ROWS = tuple(LGA_VARIANTS)
DATASETS = ("fashion_mnist", "mnist")
RECORD = "lga_table.json"


def load_config(variant: str):
    """``configs/lga_mnist.py``'s ``get_config(variant)``, loaded from its path as jaxgan.train does."""
    spec = importlib.util.spec_from_file_location("lga_mnist_config", CONFIG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant)


ARCHS = ("dcgan", "resnet")


def row_arch(row: str) -> str:
    """The model family a row trains: the ResNet rows name it, the others keep the config's DCGAN."""
    return LGA_VARIANTS[row].get("arch", "dcgan")


def scoped(item: str, row: str):
    """``item`` without its scope when it applies to ``row``, else None.

    ``FIELD=VALUE`` applies to every row; ``SCOPE:FIELD=VALUE`` only to the row
    named SCOPE or to the rows of the model family SCOPE (``dcgan``, ``resnet``),
    so one job can shrink the costly ResNet rows alone.
    """
    if ":" not in item.partition("=")[0]:  # A ':' in the value (a path) is no scope.
        return item
    scope, _, rest = item.partition(":")
    if scope not in ROWS + ARCHS:
        raise BenchmarkError(f"--set {item!r}: {scope!r} is neither a row {list(ROWS)} nor a "
                             f"model family {list(ARCHS)}; write SCOPE:FIELD=VALUE or FIELD=VALUE.")
    return rest if scope in (row, row_arch(row)) else None


def row_config(row: str, dataset: str, seed: int, args):
    c = load_config(row)
    c.data.name = dataset  # Both sources pad 28 -> 32 and need no other field.
    c.seed = seed
    c.train.num_steps = args.steps
    c.train.log_every = args.log_every
    c.eval.every = args.eval_every
    c.eval.metric = "classifier_fid"
    c.eval.num_samples = args.eval_samples
    apply_overrides(c, [x for x in (scoped(i, row) for i in args.set) if x is not None])
    return c


def settings(args) -> dict:
    """What a run's numbers depend on beyond its (row, data set, seed)."""
    return {k: getattr(args, k) for k in ("steps", "eval_every", "eval_samples", "fid_samples",
                                          "log_every", "set")}


def run_dir(args, dataset: str, row: str, seed: int) -> str:
    return os.path.join(args.workdir, dataset, row, f"seed{seed}")


def run_one(row, dataset, seed, config, args, ctx) -> dict:
    """Trains (or resumes) one run, measures it, writes and returns its record."""
    from jaxgan import metrics
    from jaxgan.engine import checkpoint, trainer
    from jaxgan.sample import generate_from_workdir

    workdir = run_dir(args, dataset, row, seed)
    os.makedirs(workdir, exist_ok=True)
    ckpt = checkpoint.Checkpointer(workdir)
    start = (ckpt.latest_step() or 0) + 1
    ckpt.close()
    starts_path = os.path.join(workdir, "starts.json")
    starts = read_json(starts_path) if os.path.isfile(starts_path) else []
    starts = [s for s in starts if s < start] + [start]
    with open(starts_path, "w") as f:
        json.dump(starts, f)
    record = {"dataset": dataset, "row": row, "seed": seed, "settings": settings(args),
              "workdir": workdir}
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
        curve = read_jsonl(os.path.join(workdir, "metric-classifier_fid.jsonl"))
        tag = metrics.count_tag(args.eval_samples)
        record["curve"] = [[r["step"], r[f"classifier_fid{tag}"]] for r in curve]
        last = curve[-1]
        record.update(status="ok", cfid=last[f"classifier_fid{tag}"],
                      covered=last[f"classes_covered{tag}"], class_kl=last[f"class_kl{tag}"])
        rate, n = train_images_per_sec(read_jsonl(os.path.join(workdir, "metrics.jsonl")), starts,
                                       config)
        record.update(img_per_sec=rate, rate_intervals=n)
        t1 = time.time()
        images = generate_from_workdir(workdir, args.fid_samples, seed=seed)
        stats, _ = metrics.feature_stats(ctx["inception"], images)
        mu, sigma = ctx["inception_ref"][dataset]
        record["ifid"] = metrics.frechet_distance(stats.mean, stats.cov, mu, sigma)
        record["fid_s"] = round(time.time() - t1, 1)
    with open(os.path.join(workdir, RECORD), "w") as f:
        json.dump(record, f, indent=1)
    return record


def prepare(args, plan) -> dict:
    """Everything that can fail before compute: configs, workdirs, data, metric weights."""
    from jaxgan import config as config_lib
    from jaxgan import data, parallel
    from jaxgan.engine import trainer

    mesh = parallel.make_mesh()
    ctx = {"mesh": mesh, "todo": [], "sources": {}, "classifier": {}}
    for dataset, row, seed in plan:
        c = row_config(row, dataset, seed, args)
        config_lib.validate(c)
        if not check_workdir(run_dir(args, dataset, row, seed), c, settings(args), RECORD):
            ctx["todo"].append((dataset, row, seed, c))
    for dataset in args.datasets:
        c = row_config(args.rows[0], dataset, 0, args)
        test_cfg = c.data.copy_and_resolve_references()
        test_cfg.split = "test"
        ctx["sources"][dataset] = (data.load_dataset(c.data), data.load_dataset(test_cfg), c)
        n = min(len(x.images) for x in ctx["sources"][dataset][:2])
        for name in ("fid_samples", "eval_samples"):  # The real-images row draws these.
            if getattr(args, name) > n:
                raise BenchmarkError(f"--{name} {getattr(args, name)} exceeds the {n} images of "
                                     f"a {dataset} split; pass --{name} <= {n}.")
        ctx["classifier"][dataset] = trainer.eval_extractor(c, mesh)
        fid_cfg = c.copy_and_resolve_references()
        fid_cfg.eval.metric = "fid"
    ctx["inception"] = trainer.eval_extractor(fid_cfg, mesh)
    return ctx


def real_row(dataset, args, ctx) -> dict:
    """The scale: training images against the Inception reference; test images against the
    classifier reference (the trainer's own evaluator, so the same numbers as in training)."""
    from jaxgan import metrics
    from jaxgan.metrics.evaluator import reference_statistics

    train, test, c = ctx["sources"][dataset]
    mu, sigma, _ = reference_statistics(ctx["inception"], subset(test.images, args.fid_samples, 0),
                                        cache=args.workdir)
    ctx.setdefault("inception_ref", {})[dataset] = (mu, sigma)
    path = os.path.join(args.workdir, dataset, "real.json")
    if os.path.isfile(path) and read_json(path).get("settings") == settings(args):
        return read_json(path)
    stats, _ = metrics.feature_stats(ctx["inception"], subset(train.images, args.fid_samples, 1))
    ev = metrics.make_evaluator(c.eval, c.data, train.images, ctx["mesh"],
                                extractor=ctx["classifier"][dataset])
    res = ev(lambda n: subset(test.images, n, 2))
    tag = metrics.count_tag(args.eval_samples)
    record = {"dataset": dataset, "row": "real", "seed": -1, "settings": settings(args),
              "status": "ok", "ifid": metrics.frechet_distance(stats.mean, stats.cov, mu, sigma),
              "cfid": res[ev.name], "covered": res[f"classes_covered{tag}"],
              "class_kl": res[f"class_kl{tag}"], "classifier_protocol": ev.protocol,
              "inception_protocol": ctx["inception"].info}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f, indent=1, default=str)
    return record


def measure(args, plan, ctx) -> list[dict]:
    """The real-images rows, then every planned run (trained unless finished), in order."""
    records = [real_row(d, args, ctx) for d in args.datasets]
    todo = {(d, r, s): c for d, r, s, c in ctx["todo"]}
    for i, (dataset, row, seed) in enumerate(plan):
        if (dataset, row, seed) in todo:
            rec = run_one(row, dataset, seed, todo[(dataset, row, seed)], args, ctx)
            shown = {k: rec.get(k) for k in ("status", "cfid", "ifid", "covered", "img_per_sec",
                                             "train_s", "fid_s")}
            print(f"[{i + 1}/{len(plan)}] {dataset} {row} seed {seed}: "
                  f"{json.dumps(shown, default=lambda v: round(v, 3))}", flush=True)
        else:
            rec = read_json(os.path.join(run_dir(args, dataset, row, seed), RECORD))
        records.append(rec)
    return records


def finished_records(args) -> list[dict]:
    paths = [os.path.join(args.workdir, d, "real.json") for d in args.datasets]
    paths += [os.path.join(run_dir(args, d, r, s), RECORD)
              for d in args.datasets for r in args.rows for s in args.seeds]
    return [read_json(p) for p in paths if os.path.isfile(p)]


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {ROWS}")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    p.add_argument("--steps", type=int, default=1000, help="generator steps per run")
    p.add_argument("--eval_every", type=int, default=100)
    p.add_argument("--eval_samples", type=int, default=2000, help="classifier FID samples")
    p.add_argument("--fid_samples", type=int, default=500,
                   help="Inception FID: generated and test-split images")
    p.add_argument("--log_every", type=int, default=10, help="steps between timing records")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="config override applied to every run, e.g. model.g_width=16, or with "
                        "a row or model-family scope to some, e.g. resnet:model.g_width=8 "
                        "(repeatable)")
    p.add_argument("--workdir", default="runs/lga_table")
    p.add_argument("--table", action="store_true", help="only report the finished runs")
    args = p.parse_args(argv)
    args.rows = [r for r in args.rows.split(",") if r]
    args.datasets = [d for d in args.datasets.split(",") if d]
    unknown = [r for r in args.rows if r not in ROWS] or [d for d in args.datasets
                                                          if d not in DATASETS]
    if unknown or not args.rows or not args.datasets:
        p.error(f"unknown rows/datasets {unknown}; rows: {list(ROWS)}, datasets: {list(DATASETS)}")
    for name in ("seeds", "steps", "eval_every", "eval_samples", "fid_samples", "log_every"):
        if getattr(args, name) < (2 if name.endswith("samples") else 1):
            p.error(f"--{name} must be >= {2 if name.endswith('samples') else 1}")
    args.seeds = list(range(args.seeds))
    from jaxgan.engine.checkpoint import CheckpointError

    plan = [(d, r, s) for d in args.datasets for r in args.rows for s in args.seeds]
    try:  # Every user mistake surfaces here, before any training.
        configs = {r: row_config(r, args.datasets[0], 0, args) for r in args.rows}
        ctx = None if args.table else prepare(args, plan)
    except (BenchmarkError, CheckpointError, FileNotFoundError, ValueError) as e:
        p.exit(2, f"lga_table: error: {' '.join(str(e).split())}\n")
    records = finished_records(args) if args.table else measure(args, plan, ctx)
    if not any(r["row"] != "real" for r in records):
        p.exit(2, f"lga_table: error: --table found no finished run of these rows, data sets "
                  f"and seeds under {args.workdir}; pass the --workdir the job trained in.\n")
    text = report(records, args, configs)
    print(text)
    return text


if __name__ == "__main__":
    main()
