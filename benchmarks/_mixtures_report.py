"""The mixtures benchmark's output: the markdown table, its note and the PNG of samples."""

from __future__ import annotations

import math
import os

import jax
import numpy as np


def _spread(values, kind: str) -> float:
    v = np.asarray(values, np.float64)
    if len(v) < 2:
        return float("nan")
    sd = v.std(ddof=1)
    return float(sd / math.sqrt(len(v)) if kind == "sem" else sd)


def _cell(values, kind: str, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    mean, spread = float(np.mean(values)) * scale, _spread(values, kind) * scale
    spread_text = "" if math.isnan(spread) else f" ± {spread:.{digits}f}"
    return f"{mean:.{digits}f}{spread_text}{unit}"


def format_table(results: dict, args, real: dict, datasets: dict, specs: dict) -> str:
    """The markdown table: a row per loss, modes and high-quality share per data set."""
    head = ["loss", "critic", "D:G updates"]
    for d in args.dataset_names:
        label, k = datasets[d].label, len(datasets[d].centers)
        head += [f"{label} modes (max {k})", f"{label} high quality"]
    head.append("time (s)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in args.loss_names:
        spec, res = specs[name], results[name]
        critic = f"{args.views} views" if spec.map else "whole point"
        row = [f"`{name}`", critic, f"{spec.n_critic}:1"]
        for d in args.dataset_names:
            runs = res["runs"][d]
            row += [_cell([r["modes"] for r in runs], args.spread),
                    _cell([r["high_quality"] for r in runs], args.spread, 100.0, 1, " %")]
        row.append(f"{res['seconds']:.0f}")
        lines.append("| " + " | ".join(row) + " |")
    row = ["real data (2,500 points)", "-", "-"]
    for d in args.dataset_names:
        row += [str(real[d]["modes"]), f"{100 * real[d]['high_quality']:.1f} %"]
    lines.append("| " + " | ".join(row + ["-"]) + " |")
    return "\n".join(lines)


def format_note(args, total_seconds: float, diverged: dict, num_eval: int, pacgan_row: dict) -> str:
    spread = "std" if args.spread == "std" else "standard error"
    lines = [
        f"Mean ± {spread} over {args.seeds} seeds; each run {args.steps} generator updates (WGAN-GP: 5 critic "
        f"updates each), batch {args.batch}, Adam(lr {args.lr:g}, b1 {args.b1:g}, b2 {args.b2:g}) for "
        f"both nets, fresh data every update; generator z ~ N(0, I_2) -> {args.g_depth} x {args.g_width} "
        f"BN-ReLU -> 2, critic {args.d_depth} maxout layers x {args.d_width} units x {args.pieces} pieces "
        f"(map critics: {args.views} projection views x {args.view_width} units each, hinge per cell, "
        "LGA per cell).",
        f"{num_eval} samples per run (batch norm's running averages); a mode is covered when >= 1 sample "
        "lies within 3 std of it (nearest mode); high quality = share of samples within 3 std of their "
        "nearest mode. Real data scores the last row.",
        "Reference, PacGAN (Lin et al., NeurIPS 2018) Table 1, row GAN (10 trials, ± standard error; "
        "G 4 x 400, D 3 maxout x 200 x 5, Adam 1e-4, 400 epochs of 100k points at batch 100, ring radius 1 "
        f"std 0.01): 2D-ring {pacgan_row['ring'][0]} modes, {pacgan_row['ring'][1]}; "
        f"2D-grid {pacgan_row['grid'][0]} modes, {pacgan_row['grid'][1]}.",
        f"Wall time {total_seconds:.0f} s on {jax.devices()[0].platform.upper()} "
        f"({os.cpu_count()} cores), compilation included.",
    ]
    bad = [f"{n}/{d}: {k}" for (n, d), k in diverged.items() if k]
    if bad:
        lines.append("Runs whose samples were not finite (counted as 0 modes): " + ", ".join(bad) + ".")
    return "\n".join(lines)


def save_png(path: str, samples: dict, args, datasets: dict, panel: int = 200) -> None:
    """A grid of scatter plots (rows: losses, columns: data sets), seed 0, with the modes in grey."""
    from PIL import Image, ImageDraw

    label_w, label_h = 130, 18
    img = Image.new("RGB", (label_w + panel * len(args.dataset_names), label_h + panel * len(args.loss_names)),
                    "white")
    draw = ImageDraw.Draw(img)
    for j, d in enumerate(args.dataset_names):
        draw.text((label_w + j * panel + 4, 3), datasets[d].label, fill="black")
    for i, name in enumerate(args.loss_names):
        y0 = label_h + i * panel
        draw.text((4, y0 + panel // 2 - 6), name, fill="black")
        for j, d in enumerate(args.dataset_names):
            x0, data = label_w + j * panel, datasets[d]
            half = 1.25 * float(np.abs(data.centers).max())
            scale = (panel - 8) / (2 * half)

            def px(p, x0=x0, y0=y0, half=half, scale=scale):
                return x0 + 4 + (p[0] + half) * scale, y0 + 4 + (half - p[1]) * scale

            draw.rectangle([x0, y0, x0 + panel - 1, y0 + panel - 1], outline=(200, 200, 200))
            r = max(3 * data.std * scale, 2.0)
            for c in data.centers:
                cx, cy = px(c)
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(170, 170, 170))
            for p in np.asarray(samples[name][d]):
                if np.all(np.isfinite(p)) and np.all(np.abs(p) < half):
                    draw.point(px(p), fill=(200, 30, 30))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img.save(path)
