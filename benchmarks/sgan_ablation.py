r"""The Stacked GAN ablation (the paper's Table 2 rows) on MNIST and Fashion-MNIST, on a CPU.

    python benchmarks/sgan_ablation.py --out runs/sgan_ablation/results.jsonl

Rows (every one conditioned on the class label, the same encoder, widths,
batch, optimizer and number of GAN steps):

    dcgan_adv            one generator G(z, y) -> image, z of z1+z0 = 66 dims, L_adv only
    dcgan_adv_ent        + L_ent (Q recovers z from the image)
    dcgan_adv_cond       + L_cond (the encoder's cross-entropy of G's image against y)
    dcgan_adv_cond_ent   + both
    sgan_no_joint        the two-stack SGAN, every step independent, sampled through the stack
    sgan                 the two-stack SGAN, half the steps independent, half joint

Protocol: per data set the encoder is pre-trained once (``--encoder_steps``) and
shared by every row and seed, as the paper trains its stacks on one fixed
encoder. Each (row, data set, seed) trains ``--steps`` GAN steps, then draws
``--eval_per_class`` samples of each class with fresh noise and measures, with
jaxgan.metrics' small classifier (not the SGAN encoder):

* ``cfid``: the classifier FID of the samples against the training split;
* ``label_acc``: how often the classifier gives the label the sample was asked for;
* ``covered`` / ``class_kl``: class coverage of the classifier's predictions;
* ``div_px`` / ``div_feat``: the mean pairwise distance of samples of one class
  (RMS per pixel, images in [0, 1]; and in the classifier's 128-d features), averaged
  over the classes: the diversity the entropy loss is for.

The same numbers for real test images (``real``) give the scale. One JSON line
per run goes to ``--out`` (appended; finished runs are skipped, so the script
resumes), and the table of means and standard deviations over seeds is printed
(``--table`` prints it from the file alone; ``--evaluate WORKDIR`` measures any
trained SGAN workdir the same way). Compiled programs are shared by every seed
and data set of a row (jaxgan.engine.trainer.programs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROWS = {
    "dcgan_adv": dict(stacked=False, cond_weight=0.0, ent_weight=0.0),
    "dcgan_adv_ent": dict(stacked=False, cond_weight=0.0, ent_weight=10.0),
    "dcgan_adv_cond": dict(stacked=False, cond_weight=1.0, ent_weight=0.0),
    "dcgan_adv_cond_ent": dict(stacked=False, cond_weight=1.0, ent_weight=10.0),
    "sgan_no_joint": dict(stacked=True, joint=False),
    "sgan": dict(stacked=True, joint=True),
}
METRICS = ("cfid", "label_acc", "covered", "class_kl", "div_px", "div_feat")


def row_config(row: str, dataset: str, seed: int, args, encoder_path: str = ""):
    from jaxgan.systems.sgan_config import cpu_config

    spec = ROWS[row]
    c = cpu_config(dataset)
    c.seed = seed
    c.sgan.stacked = spec["stacked"]
    c.sgan.cond_weight = spec.get("cond_weight", c.sgan.cond_weight)
    c.sgan.ent_weight = spec.get("ent_weight", c.sgan.ent_weight)
    c.train.num_steps = args.steps
    c.sgan.independent_steps = args.steps // 2 if spec.get("joint") else args.steps
    c.train.batch_size = args.batch
    c.train.log_every = max(args.steps // 4, 1)
    c.train.sample_every = args.steps
    c.train.checkpoint_every = args.steps
    c.sgan.encoder_steps = args.encoder_steps
    c.sgan.encoder_path = encoder_path
    return c


def _classifier_outputs(extractor, images_uint8):
    out = {"features": [], "logits": []}
    for batch in extractor.iter_batches(images_uint8):
        for k in out:
            out[k].append(batch[k])
    return {k: np.concatenate(v) for k, v in out.items()}


def measure(images_uint8, labels, extractor, reference, num_classes: int) -> dict[str, float]:
    """The ablation's metrics of uint8 images asked for (or labelled) ``labels``."""
    from jaxgan.metrics import frechet_distance
    from jaxgan.metrics.classifier import class_coverage
    from jaxgan.metrics.diversity import per_class_diversity

    out = _classifier_outputs(extractor, images_uint8)
    feats = out["features"].astype(np.float64)
    mu, sigma = reference
    cov = class_coverage(out["logits"], num_classes)
    return {
        "cfid": float(frechet_distance(feats.mean(0), np.cov(feats, rowvar=False), mu, sigma)),
        "label_acc": float(np.mean(np.argmax(out["logits"], 1) == labels)),
        "covered": cov["classes_covered"],
        "class_kl": cov["class_kl"],
        "div_px": per_class_diversity(images_uint8.astype(np.float64) / 255.0, labels,
                                      num_classes),
        "div_feat": per_class_diversity(feats, labels, num_classes),
    }


def _done(path: str) -> set[tuple]:
    if not os.path.isfile(path):
        return set()
    with open(path) as f:
        return {(r["row"], r["dataset"], r["seed"]) for r in map(json.loads, f) if "row" in r}


def _append(path: str, record: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def run(args) -> None:
    import jax

    from jaxgan import data, parallel, systems
    from jaxgan.engine import trainer
    from jaxgan.metrics.classifier import classifier_extractor
    from jaxgan.metrics.evaluator import reference_statistics

    mesh = parallel.make_mesh()
    done = _done(args.out)
    for dataset in args.datasets:
        extractor = classifier_extractor(dataset, mesh=mesh, batch_size=500)
        base = row_config("sgan", dataset, 0, args)
        train = systems.build_system(base).load_data()
        mu, sigma, _ = reference_statistics(extractor, train.images)
        test_cfg = base.data.copy_and_resolve_references()
        test_cfg.split = "test"
        test = data.load_dataset(test_cfg)
        per = args.eval_per_class
        want = np.repeat(np.arange(10), per)
        if ("real", dataset, -1) not in done:  # The scale: real test images, per_class of each.
            idx = np.concatenate([np.flatnonzero(test.labels == k)[:per] for k in range(10)])
            real = measure(test.images[idx], test.labels[idx], extractor, (mu, sigma), 10)
            _append(args.out, {"row": "real", "dataset": dataset, "seed": -1, **real})
        # The encoder every row and seed of this data set shares.
        enc_dir = os.path.join(args.workdir, dataset, "encoder")
        enc_path = os.path.join(enc_dir, "encoder.npz")
        if not os.path.isfile(enc_path):
            pre = row_config("sgan", dataset, 0, args)
            pre.train.num_steps = pre.sgan.independent_steps = 1
            summary = trainer.run(pre, enc_dir)
            print(f"{dataset}: encoder test accuracy {summary['encoder_test_accuracy']:.4f}",
                  flush=True)
        with np.load(enc_path) as z:
            enc_acc = json.loads(str(z["__info__"])).get("test_accuracy")
        for row in args.rows:
            for seed in args.seeds:
                if (row, dataset, seed) in done:
                    continue
                config = row_config(row, dataset, seed, args, encoder_path=enc_path)
                t0 = time.time()
                summary = trainer.run(config, os.path.join(args.workdir, dataset, row,
                                                           f"seed{seed}"))
                train_s = time.time() - t0
                sampler = trainer.programs(config, mesh).sampler
                key = jax.random.fold_in(jax.random.key(seed), 0xAB1A)
                x = sampler.generate(summary["state"], key, len(want), want)
                record = {"row": row, "dataset": dataset, "seed": seed, "steps": args.steps,
                          "batch": args.batch, "train_s": round(train_s, 1),
                          "encoder_test_accuracy": enc_acc,
                          **measure(x, want, extractor, (mu, sigma), 10)}
                _append(args.out, record)
                print(json.dumps(record), flush=True)


def evaluate_workdir(workdir: str, args) -> dict:
    """The ablation's metrics of the last checkpoint of any SGAN workdir (e.g. a configs/ run)."""
    import jax

    from jaxgan import data, parallel
    from jaxgan.engine.sampling import load_run
    from jaxgan.metrics.classifier import classifier_extractor
    from jaxgan.metrics.evaluator import reference_statistics

    saved = load_run(workdir, step=args.evaluate_step or None)
    config, state = saved.config, saved.state
    mesh = parallel.make_mesh()
    extractor = classifier_extractor(config.data.name, mesh=mesh, batch_size=500)
    mu, sigma, _ = reference_statistics(extractor, data.load_dataset(config.data).images)
    want = np.repeat(np.arange(10), args.eval_per_class)
    key = jax.random.fold_in(jax.random.key(config.seed), 0xAB1A)
    x = saved.sampler.generate(state, key, len(want), want)
    phase_steps = {p.name: p.steps for p in saved.system.phases}
    return {"workdir": workdir, "dataset": config.data.name, "global_step": int(state.step),
            "gan_steps": int(state.step) - phase_steps.get("encoder", 0),
            "batch": config.train.batch_size, **measure(x, want, extractor, (mu, sigma), 10)}


def table(path: str) -> str:
    """Markdown table: mean ± std over seeds of every metric, per data set and row."""
    with open(path) as f:
        records = [json.loads(line) for line in f]
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        lines += [f"\n{dataset}\n", "| row | seeds | " + " | ".join(METRICS) + " |",
                  "|---|---|" + "---|" * len(METRICS)]
        for row in ["real", *ROWS]:
            rs = [r for r in records if r["dataset"] == dataset and r["row"] == row]
            if not rs:
                continue
            cells = []
            for m in METRICS:
                v = np.array([r[m] for r in rs], np.float64)
                cells.append(f"{v.mean():.3f}" if len(v) == 1 else
                             f"{v.mean():.3f} ± {v.std(ddof=1):.3f}")
            lines.append(f"| {row} | {len(rs) if row != 'real' else '-'} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="mnist,fashion_mnist")
    p.add_argument("--rows", default=",".join(ROWS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=800, help="GAN steps per run")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--encoder_steps", type=int, default=1000)
    p.add_argument("--eval_per_class", type=int, default=200)
    p.add_argument("--workdir", default="runs/sgan_ablation")
    p.add_argument("--out", default="runs/sgan_ablation/results.jsonl")
    p.add_argument("--table", action="store_true", help="only print the table of --out")
    p.add_argument("--evaluate", default="", help="only measure this trained SGAN workdir")
    p.add_argument("--evaluate_step", type=int, default=0,
                   help="with --evaluate: the checkpoint's global step (default the latest)")
    args = p.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(",") if d]
    args.rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        p.error(f"unknown rows {unknown}; choose from {list(ROWS)}")
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    if args.evaluate:
        print(json.dumps(evaluate_workdir(args.evaluate, args)))
        return
    if not args.table:
        run(args)
    print(table(args.out))


if __name__ == "__main__":
    main()
