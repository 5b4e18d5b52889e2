r"""The BiGAN encoder's features for classification and its reconstructions: one table.

    python benchmarks/bigan_features.py runs/bigan_mnist [runs/bigan_mnist_fashion ...] \
        --out runs/bigan_features.jsonl

Protocol (the BiGAN paper's permutation-invariant MNIST experiment, Donahue et
al. 2017, Table 1; the ``NNC``, ``CLS`` and ``EGr`` of the authors' code):

* every image of the workdir's data set, training split (60,000) and test
  split (10,000), is encoded by the latest checkpoint (``jaxgan.encode``:
  inference mode, EMA parameters where kept);
* ``1nn``: 1-nearest-neighbour accuracy of the test images against the
  training images, Euclidean distance, on ``E(x)`` (``z``) and on the encoder's
  last hidden layer (``features``, 1024-d: their ``_e-``, their best);
* ``probe``: multinomial logistic regression fitted on the training features
  (standardised, L2 1e-4, L-BFGS to convergence), accuracy on the test images;
* ``rec``: mean ``||x - G(E(x))||_2`` over the test images on [0, 1] pixels,
  and ``rec_base``: the same against a different test image (a reconstruction
  that ignored its input would score the baseline);
* the ``pixels`` row: the same classifiers on the raw pixels, the number a
  feature must beat to have learnt anything beyond the image itself.

Their numbers: the paper's Table 1 gives 97.39% 1-NN for BiGAN; the README of
their code shows, after 400 epochs, 1-NN 92.10% on ``E(x)``, 97.35% on the
hidden features, a logistic-regression 79.48%, and reconstruction 5.95 against
a baseline of 9.60.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

THEIRS = {"1nn_z": 0.9210, "1nn_features": 0.9735, "probe_features": 0.7948, "rec": 5.95,
          "rec_base": 9.60}


def split(data_cfg, name: str):
    from jaxgan import data

    cfg = data_cfg.copy_and_resolve_references()
    cfg.split = name
    cfg.num_classes = 10
    return data.load_dataset(cfg)


def measure(train_x, train_y, test_x, test_y) -> dict[str, float]:
    from jaxgan.metrics import representation as rep

    return {"1nn": rep.nearest_neighbour_accuracy(train_x, train_y, test_x, test_y),
            "probe": rep.linear_probe_accuracy(train_x, train_y, test_x, test_y)}


def evaluate_workdir(workdir: str) -> dict:
    import jax
    import jax.numpy as jnp

    from jaxgan.encode import encode_workdir
    from jaxgan.engine.checkpoint import load_workdir_config
    from jaxgan.engine.sampling import load_run

    config = load_workdir_config(workdir)
    train, test = split(config.data, "train"), split(config.data, "test")
    start = time.perf_counter()
    codes = {name: encode_workdir(workdir, s.images, features=True)
             for name, s in (("train", train), ("test", test))}
    record = {"workdir": workdir, "dataset": config.data.name,
              "encode_s": time.perf_counter() - start}
    for kind in ("z", "features"):
        for k, v in measure(codes["train"][kind], train.labels, codes["test"][kind],
                            test.labels).items():
            record[f"{k}_{kind}"] = v
    run = load_run(workdir)
    recon = jax.jit(run.system.reconstruct)
    x = jnp.asarray(test.images, jnp.float32) / 127.5 - 1.0
    rebuilt = np.concatenate([np.asarray(recon(run.state.variables("g"), run.state.variables("e"),
                                               x[i:i + 1000])) for i in range(0, len(x), 1000)])
    from jaxgan.metrics.representation import reconstruction_errors

    record["rec"], record["rec_base"] = reconstruction_errors(np.asarray(x), rebuilt)
    record["step"] = int(run.meta.get("step", -1)) if isinstance(run.meta, dict) else -1
    return record


def pixel_row(dataset: str, data_cfg) -> dict:
    train, test = split(data_cfg, "train"), split(data_cfg, "test")
    flat = lambda s: s.images.reshape(len(s.images), -1).astype(np.float32) / 255.0
    row = {"workdir": "pixels", "dataset": dataset}
    for k, v in measure(flat(train), train.labels, flat(test), test.labels).items():
        row[f"{k}_pixels"] = v
    return row


def table(records) -> str:
    pct = lambda v: f"{100 * v:.2f}%" if v is not None else "-"
    num = lambda v: f"{v:.2f}" if v is not None else "-"
    lines = ["| run | data | 1-NN E(x) | 1-NN features | probe E(x) | probe features | "
             "rec / baseline |", "|---|---|---|---|---|---|---|"]
    for r in records:
        if r["workdir"] == "pixels":
            lines.append(f"| raw pixels | {r['dataset']} | - | {pct(r['1nn_pixels'])} | - | "
                         f"{pct(r['probe_pixels'])} | - |")
            continue
        lines.append(f"| {r['workdir']} | {r['dataset']} | {pct(r['1nn_z'])} | "
                     f"{pct(r['1nn_features'])} | {pct(r['probe_z'])} | "
                     f"{pct(r['probe_features'])} | {num(r['rec'])} / {num(r['rec_base'])} |")
    t = THEIRS
    lines.append(f"| theirs (400 epochs, README of their code) | mnist | {pct(t['1nn_z'])} | "
                 f"{pct(t['1nn_features'])} (paper: 97.39%) | - | {pct(t['probe_features'])} | "
                 f"{num(t['rec'])} / {num(t['rec_base'])} |")
    return "\n".join(lines)


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("workdirs", nargs="+", help="workdirs of system 'bigan'")
    p.add_argument("--out", default="", help="append one JSON line per row to this file")
    p.add_argument("--no_pixels", action="store_true", help="skip the raw-pixel rows")
    args = p.parse_args(argv)
    from jaxgan.engine.checkpoint import load_workdir_config

    configs = {}
    for w in args.workdirs:  # Every workdir read (and checked) before any compute.
        if not os.path.isfile(os.path.join(w, "config.json")):
            sys.exit(f"bigan_features: {w} is not a workdir (no config.json).")
        c = load_workdir_config(w)
        if c.get("system") != "bigan":
            sys.exit(f"bigan_features: {w} is a run of system {c.get('system')!r}; this "
                     "benchmark reads runs of system 'bigan'.")
        configs[w] = c
    records = []
    if not args.no_pixels:
        for dataset in dict.fromkeys(c.data.name for c in configs.values()):
            cfg = next(c for c in configs.values() if c.data.name == dataset).data
            records.append(pixel_row(dataset, cfg))
    records += [evaluate_workdir(w) for w in args.workdirs]
    if args.out:
        with open(args.out, "a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
    text = table(records)
    print(text)
    return text


if __name__ == "__main__":
    main()
