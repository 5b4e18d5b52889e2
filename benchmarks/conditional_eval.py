r"""Conditional accuracy, per-class FID and InfoGAN's code accuracy of trained workdirs: one table.

    python benchmarks/conditional_eval.py runs/cgan_mnist runs/acgan_mnist runs/infogan_mnist_s0 \
        --num 10000 --out runs/conditional.jsonl

Protocol (every figure read off jaxgan.metrics' small classifier of the
workdir's data set: ccexam's MNIST network, or the Fashion-MNIST one trained by
``python -m jaxgan.metrics.train_classifier --dataset fashion_mnist``):

* each workdir's latest checkpoint draws ``--num`` samples with ``jaxgan.sample``'s
  sampler (EMA generator, ``--seed``): labels (CGAN, AC-GAN) or categorical codes
  (InfoGAN) uniform;
* ``acc``: the share of samples the classifier assigns to the label they were
  drawn for; ``covered``: classes holding at least 1% of the predictions;
* ``cfid``: classifier FID (128-d penultimate features) of all samples against
  the whole training split; ``cfid_k``: per class, the samples drawn for class k
  against the training images of class k (mean, worst class in the table);
* InfoGAN: ``acc`` is the categorical code as a classifier of the class the
  classifier sees, under the best one-to-one matching of codes to classes
  (Hungarian algorithm), and ``purity`` each code's share in its majority class;
  ``merged`` counts classes that are no code's majority (two classes drawn by
  one code), ``split`` the classes that are the majority of two or more codes.

The ``real`` row of each data set runs the same measures on ``--num`` real test
images with their true labels: the scale. One JSON line per workdir goes to
``--out`` (appended), and the table is printed.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np


def _classify(extractor, images):
    out = {"features": [], "logits": []}
    for batch in extractor.iter_batches(images):
        for k in out:
            out[k].append(batch[k])
    return {k: np.concatenate(v) for k, v in out.items()}


class Reference:
    """One data set's classifier and its real training and test features."""

    def __init__(self, data_cfg, mesh):
        from jaxgan import data
        from jaxgan.metrics.classifier import classifier_extractor

        self.name = data_cfg.name
        self.extractor = classifier_extractor(self.name, mesh=mesh, batch_size=500)
        cfg = data_cfg.copy_and_resolve_references()
        cfg.num_classes = 10
        cfg.split = "train"
        train = data.load_dataset(cfg)
        self.train = _classify(self.extractor, train.images)
        self.train_labels = train.labels
        cfg.split = "test"
        self.test = data.load_dataset(cfg)

    def measure(self, images, labels) -> dict:
        """``acc``, ``covered``, ``cfid`` and ``cfid_k`` of uint8 images drawn for ``labels``."""
        from jaxgan.metrics import conditional, frechet_distance

        out = _classify(self.extractor, images)
        feats = out["features"].astype(np.float64)
        train = self.train["features"].astype(np.float64)
        predicted = np.argmax(out["logits"], axis=1)
        shares = np.bincount(predicted, minlength=10) / len(predicted)
        record = {
            "cfid": float(frechet_distance(feats.mean(0), np.cov(feats, rowvar=False),
                                           train.mean(0), np.cov(train, rowvar=False))),
            "covered": int(np.sum(shares >= 0.01)),
            "predicted": predicted,
        }
        if labels is not None:
            record["acc"] = conditional.label_accuracy(out["logits"], labels)
            record["cfid_k"] = conditional.per_class_fid(
                feats, labels, train, self.train_labels, 10).round(2).tolist()
        return record


def evaluate(workdir: str, args, references: dict, mesh) -> dict:
    from jaxgan.engine.checkpoint import load_workdir_config
    from jaxgan.engine.sampling import sample_workdir
    from jaxgan.metrics import conditional

    config = load_workdir_config(workdir)
    if config.data.name not in references:
        references[config.data.name] = Reference(config.data, mesh)
    ref = references[config.data.name]
    arrays = sample_workdir(workdir, args.num, args.seed)
    record = {"workdir": workdir, "system": config.system, "dataset": config.data.name,
              "seed": config.seed, "num": args.num}
    measured = ref.measure(arrays["images"], arrays.get("labels"))
    predicted = measured.pop("predicted")
    record.update(measured)
    if "codes" in arrays:
        k = config.infogan.categorical
        match = conditional.matched_accuracy(arrays["codes"], predicted, k, 10)
        majority = match["majority"]
        record.update(acc=match["accuracy"], assignment=match["assignment"],
                      purity=[round(p, 3) for p in match["purity"]],
                      merged=10 - len(set(majority)),
                      split=sum(majority.count(c) > 1 for c in set(majority)))
    return record


def real_record(ref, num: int) -> dict:
    idx = np.arange(min(num, len(ref.test.images)))
    measured = ref.measure(ref.test.images[idx], ref.test.labels[idx])
    measured.pop("predicted")
    return {"workdir": "real test images", "system": "real", "dataset": ref.name,
            "num": len(idx), **measured}


def table(records: list[dict]) -> str:
    lines = ["| run | data | seed | accuracy | classes | classifier FID | per-class FID: mean (worst) "
             "| codes: merged / split |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        per = r.get("cfid_k")
        per_s = f"{np.mean(per):.1f} ({max(per):.1f}, class {int(np.argmax(per))})" if per else "-"
        codes = f"{r['merged']} / {r['split']}" if "merged" in r else "-"
        lines.append(f"| {r['workdir']} ({r['system']}) | {r['dataset']} | {r.get('seed', '-')} | "
                     f"{100 * r['acc']:.1f}% | {r['covered']}/10 | {r['cfid']:.1f} | {per_s} | "
                     f"{codes} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdirs", nargs="+")
    parser.add_argument("--num", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)

    from jaxgan import parallel

    mesh = parallel.make_mesh()
    references: dict = {}
    records = [evaluate(w, args, references, mesh) for w in args.workdirs]
    records = [real_record(ref, args.num) for ref in references.values()] + records
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
    print(table(records))


if __name__ == "__main__":
    main()
