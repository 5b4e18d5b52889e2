"""benchmarks/lga_table.py's report: the table, the paper-ordering sentences, the protocol, the plot.

Everything here is computed from the run records (and the configs the runs
used); nothing about the outcome is written in advance.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from _plot import line_panels

LABELS = {"wgan_gp": "WGAN-GP", "wgan_gp_hinge": "WGAN-GP + hinge", "geogan": "GeoGAN",
          "lga4": "LGA 4x4", "lga8": "LGA 8x8", "zero_lga4": "zero-LGA 4x4",
          "sign_lga8": "sign-preserving LGA 8x8", "sngan": "SNGAN", "sngan_lga": "SNGAN + LGA 4x4",
          "real": "real images"}
# The paper's ordering (lower FID first): LGA 8x8 < LGA 4x4 < WGAN-GP+hinge / GeoGAN < WGAN-GP,
# and SNGAN+LGA < SNGAN.
PAPER_ORDER = (("lga8", "lga4"), ("lga4", "wgan_gp_hinge"), ("lga4", "geogan"),
               ("wgan_gp_hinge", "wgan_gp"), ("geogan", "wgan_gp"), ("sngan_lga", "sngan"))
METRICS = {"cfid": "classifier FID (final)", "ifid": "Inception FID",
           "covered": "classes covered", "img_per_sec": "images/s"}
SHARED = ("optim.g_lr", "optim.d_lr", "optim.b1", "optim.b2", "optim.n_critic",
          "train.batch_size", "train.num_steps", "train.ema_decay", "model.z_dim",
          "model.g_width", "model.d_width")


def label(row: str) -> str:
    return LABELS.get(row, row)


def _get(config, dotted: str):
    section, name = dotted.split(".")
    return config[section][name]


def summarize(records: list[dict], datasets, rows) -> dict:
    """``{(dataset, row): {'n', 'n_div', metric: (mean, std, values)}}`` over finished seeds."""
    out = {}
    for d in datasets:
        for r in ["real", *rows]:
            rs = [x for x in records if x["dataset"] == d and x["row"] == r]
            if not rs:
                continue
            ok = [x for x in rs if x["status"] == "ok"]
            s = {"n": len(rs), "n_div": len(rs) - len(ok)}
            for m in METRICS:
                v = np.array([x[m] for x in ok if m in x], np.float64)
                s[m] = (float(v.mean()) if len(v) else math.nan,
                        float(v.std(ddof=1)) if len(v) > 1 else math.nan, v.tolist())
            out[(d, r)] = s
    return out


def _cell(stat, digits: int) -> str:
    mean, std, values = stat
    if not values:
        return "-"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if len(values) > 1 else "")


def table(summary: dict) -> str:
    lines = ["| dataset | row | runs | " + " | ".join(METRICS.values()) + " |",
             "|---|---|---|" + "---|" * len(METRICS)]
    for (d, r), s in summary.items():
        runs = "-" if r == "real" else (f"{s['n']}" if not s["n_div"] else
                                        f"{s['n'] - s['n_div']} of {s['n']} ({s['n_div']} diverged)")
        cells = [_cell(s["cfid"], 1), _cell(s["ifid"], 1), _cell(s["covered"], 1),
                 "-" if r == "real" else _cell(s["img_per_sec"], 0)]
        lines.append(f"| {d} | {label(r)} | {runs} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ordering(summary: dict, dataset: str, metric: str) -> str:
    """Whether each of the paper's relations holds here, as one sentence.

    A row that diverged in some seed ranks behind one that did not (the share of
    diverged seeds is compared first, then the mean FID of the finished seeds).
    """
    parts, held, clear, n = [], 0, 0, 0
    for a, b in PAPER_ORDER:
        sa, sb = summary.get((dataset, a)), summary.get((dataset, b))
        if sa is None or sb is None:
            continue
        n += 1
        score = lambda s: (s["n_div"] / s["n"], s[metric][0] if s[metric][2] else math.inf)
        ok = score(sa) < score(sb)
        held += ok
        show = lambda s: (f"{s[metric][0]:.1f}" if s[metric][2] else "diverged") + (
            f" ({s['n_div']} diverged)" if s["n_div"] and s[metric][2] else "")
        gap_clear = (ok and not sa["n_div"] and not sb["n_div"] and len(sa[metric][2]) > 1
                     and len(sb[metric][2]) > 1
                     and sb[metric][0] - sa[metric][0] > sa[metric][1] + sb[metric][1])
        clear += gap_clear
        parts.append(f"{label(a)} < {label(b)}: {show(sa)} vs {show(sb)}, "
                     f"{'holds' if ok else 'does not hold'}")
    if not n:
        return (f"{dataset}, {METRICS[metric]}: no pair of the paper's ordering was measured.")
    verdict = "holds in full" if held == n else ("does not hold in any measured relation"
                                                 if not held else "holds only in part")
    return (f"{dataset}, {METRICS[metric]}: the paper's ordering {verdict} ({held} of {n} "
            f"relations; {clear} of them by more than the two rows' summed std over seeds): "
            + "; ".join(parts) + ".")


def _param_counts(config) -> tuple[int, int]:
    import jax
    import jax.numpy as jnp

    from jaxgan import models

    g, d = models.build_models(config.model, config.data)
    s = config.data.image_size
    key = jax.random.key(0)
    gv = jax.eval_shape(lambda: g.init(key, jnp.zeros((2, config.model.z_dim)), None, train=False))
    dv = jax.eval_shape(lambda: d.init(key, jnp.zeros((2, s, s, config.data.channels)), None,
                                       train=False))
    count = lambda v: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(v["params"]))
    return count(gv), count(dv)


def protocol(args, configs: dict, summary: dict, records: list[dict]) -> list[str]:
    """The protocol stated under the table, from the configs and records the runs used."""
    from jaxgan.config import LGA_VARIANTS

    first = next(iter(configs.values()))
    lines = [f"Config: configs/lga_mnist.py get_config(ROW), data.name = the data set (28x28 "
             f"padded to {first.data.image_size}x{first.data.image_size}, {first.data.channels} "
             f"channel), seeds {args.seeds}"
             + (f", overrides {args.set}" if args.set else "") + "."]
    same = [f for f in SHARED if len({repr(_get(c, f)) for c in configs.values()}) == 1]
    lines.append("Shared by every row: " + ", ".join(f"{f}={_get(first, f)}" for f in same)
                 + " (Adam; the batch is the global batch per critic update).")
    for f in (f for f in SHARED if f not in same):
        lines.append(f"Differs between rows: {f}: "
                     + ", ".join(f"{r}={_get(c, f)}" for r, c in configs.items()) + ".")
    seen = {}
    for r, c in configs.items():
        arch = (c.model.arch, c.model.g_width, c.model.d_width, c.model.critic_map)
        if arch not in seen:
            seen[arch] = _param_counts(c)
    for (arch, gw, dw, cm), (gp, dp) in seen.items():
        what = ("SNGAN ResNet (G 4w, D 2w channels, spectral norm)" if arch == "resnet"
                else "DCGAN (G 4w-2w-w, D w-2w-4w channels)")
        lines.append(f"Model {arch}, critic map {cm}x{cm}: {what}, G width {gw} ({gp:,} params), "
                     f"D width {dw} ({dp:,} params).")
    lines.append("Rows: " + "; ".join(
        f"{r}: {v['loss']} loss, amplifier {v['lga']}, {v['critic_map']}x{v['critic_map']} map, "
        f"GP {v['gp_weight']}" + (", ResNet + SN" if v.get("arch") == "resnet" else "")
        for r, v in LGA_VARIANTS.items() if r in configs) + ".")
    reals = {x["dataset"]: x for x in records if x["row"] == "real"}
    real = next(iter(reals.values()), {})
    inc = real.get("inception_protocol", {})
    # Each data set has its own classifier (and weights): one clause per data set.
    nets = "; ".join(
        f"{d}: {x.get('classifier_protocol', {}).get('num_real', '?')} images, "
        f"{x.get('classifier_protocol', {}).get('network', 'the classifier')}, weights "
        f"{x.get('classifier_protocol', {}).get('weights', '?')}" for d, x in reals.items())
    lines.append(f"Classifier FID: {args.eval_samples} EMA-generator samples every "
                 f"{args.eval_every} steps against the training split's features of the data "
                 f"set's classifier ({nets or 'no real-images row measured'}); the table's value "
                 "is the final step's. Classes covered: classes holding at least 10% of their "
                 "uniform share of the classifier's argmax predictions of the final samples.")
    lines.append(f"Inception FID: {args.fid_samples} EMA-generator samples (latent seed = run "
                 f"seed) against {args.fid_samples} test-split images (a fixed random subset), "
                 f"{inc.get('feature', '?')} {inc.get('dim', '?')}-d features of "
                 f"{inc.get('network', '?')}, weights {inc.get('weights', '?')}, input "
                 f"{inc.get('preprocessing', 'as the network takes it')}"
                 + (f", grayscale {inc['grayscale']}" if "grayscale" in inc else "")
                 + "; the real statistics are cached under the workdir root. FID from this few "
                 "images is biased upwards: compare rows, not other papers' numbers.")
    lines.append("Real images row: Inception FID of as many training images, classifier FID "
                 f"of {args.eval_samples} test images, against the same references.")
    lines.append(f"images/s: real images through the critic per second of training (batch x "
                 f"n_critic per step), the median over {args.log_every}-step logged intervals "
                 "holding no evaluation, grid or checkpoint; "
                 f"{os.cpu_count()} CPU cores shared with other work, so compare within a column.")
    for d in args.datasets:
        rate = lambda arch: [summary[(d, r)]["img_per_sec"][0] for r, c in configs.items()
                             if c.model.arch == arch and (d, r) in summary
                             and summary[(d, r)]["img_per_sec"][2]]
        res, dc = rate("resnet"), rate("dcgan")
        if res and dc:
            lines.append(f"Per-step cost, {d}: the ResNet rows train at {np.mean(res):.0f} img/s, "
                         f"the DCGAN rows at {np.mean(dc):.0f} img/s: a ResNet step takes "
                         f"{np.mean(dc) / np.mean(res):.2f}x a DCGAN step.")
    lines.append("mean ± std (ddof 1) over the seeds that finished; diverged runs (a non-finite "
                 "loss) are counted in the runs column and left out of the means.")
    return lines


def plot(records: list[dict], datasets, rows, path: str) -> str:
    """Classifier FID against step, mean over finished seeds, one panel per data set."""
    panels = []
    for d in datasets:
        series = {}
        for r in rows:
            curves = [dict(map(tuple, x["curve"])) for x in records
                      if x["dataset"] == d and x["row"] == r and x["status"] == "ok"]
            if curves:
                steps = sorted(set.intersection(*(set(c) for c in curves)))
                series[label(r)] = (steps, [float(np.mean([c[s] for c in curves])) for s in steps])
        real = [x for x in records if x["dataset"] == d and x["row"] == "real"]
        xs = [s for xs, _ in series.values() for s in xs]
        if real and xs:
            series[label("real")] = ([min(xs), max(xs)], [real[0]["cfid"]] * 2)
        panels.append((d, series))
    return line_panels(panels, path, xlabel="generator step", ylabel="classifier FID",
                       log_y=True)


def _strict(obj):
    """NaN and infinity as null: the file stays standard JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def report(records: list[dict], args, configs: dict) -> str:
    """Prints nothing; returns the table, the ordering sentences and the protocol as markdown,
    and writes ``<workdir>/results.json`` and ``<workdir>/fid_vs_step.png``."""
    summary = summarize(records, args.datasets, args.rows)
    sentences = [ordering(summary, d, m) for d in args.datasets for m in ("ifid", "cfid")]
    proto = protocol(args, configs, summary, records)
    png = plot(records, args.datasets, args.rows, os.path.join(args.workdir, "fid_vs_step.png"))
    text = "\n\n".join([table(summary), "\n".join(sentences),
                        "Protocol:\n" + "\n".join(f"- {line}" for line in proto),
                        f"Plot: {png}. Raw numbers: {os.path.join(args.workdir, 'results.json')}."])
    out = {"table": text, "protocol": proto, "ordering": sentences,
           "settings": {k: getattr(args, k) for k in ("rows", "datasets", "seeds", "steps",
                                                      "eval_every", "eval_samples",
                                                      "fid_samples", "log_every", "set")},
           "summary": [{"dataset": d, "row": r, "runs": s["n"], "diverged": s["n_div"],
                        **{m: {"mean": s[m][0], "std": s[m][1], "values": s[m][2]}
                           for m in METRICS}} for (d, r), s in summary.items()],
           "runs": records}
    with open(os.path.join(args.workdir, "results.json"), "w") as f:
        json.dump(_strict(out), f, indent=1, default=str)
    return text
