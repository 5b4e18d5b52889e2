"""Line plots drawn with PIL, for the benchmarks' figures (matplotlib is not a dependency).

    line_panels([("mnist", {"GeoGAN": ([100, 200], [80.0, 41.5])})], "fid.png",
                xlabel="step", ylabel="classifier FID", log_y=True)

One panel per entry, side by side, sharing a legend on the right; axes with
tick labels, and a log-10 y axis on request (non-positive values are dropped).
"""

from __future__ import annotations

import math
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

# Ten colours that stay distinct on white (the "tab10" palette).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
PANEL_W, PANEL_H = 460, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 46


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` at a 1/2/5 x 10^k spacing.

    >>> nice_ticks(0.0, 1000.0)
    [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
    """
    span = (hi - lo) or abs(hi) or 1.0
    raw = span / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in ``[lo, hi]`` (lo > 0), with 2x and 5x added while fewer than 3 fall inside.

    >>> log_ticks(30.0, 400.0)
    [50.0, 100.0, 200.0]
    """
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for mults in ((1,), (1, 2, 5), (1, 2, 3, 5, 7)):
        ticks = [m * 10.0 ** k for k in range(k0, k1 + 1) for m in mults
                 if lo <= m * 10.0 ** k <= hi]
        if len(ticks) >= 3:
            break
    return ticks


def _label(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e5 else f"{v:.0e}"


def _panel(draw, x0: int, title: str, series: dict, labels: list[str], font, log_y: bool,
           xlabel: str) -> None:
    def ok(y):
        return y is not None and math.isfinite(y) and (y > 0 or not log_y)

    pts = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys) if ok(y)]
    ax0, ay0, ax1, ay1 = x0 + LEFT, TOP, x0 + PANEL_W - RIGHT, PANEL_H - BOTTOM
    draw.text((x0 + LEFT, 6), title, fill="black", font=font)
    draw.rectangle((ax0, ay0, ax1, ay1), outline="black")
    if not pts:
        draw.text((ax0 + 10, ay0 + 10), "no finite values", fill="black", font=font)
        return
    f = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    xlo, xhi = min(p[0] for p in pts), max(p[0] for p in pts)
    ylo, yhi = min(f(p[1]) for p in pts), max(f(p[1]) for p in pts)
    pad = 0.06 * ((yhi - ylo) or 1.0)
    ylo, yhi = ylo - pad, yhi + pad
    xhi = xhi if xhi > xlo else xlo + 1
    sx = lambda x: ax0 + (x - xlo) / (xhi - xlo) * (ax1 - ax0)
    sy = lambda y: ay1 - (f(y) - ylo) / (yhi - ylo) * (ay1 - ay0)
    for t in nice_ticks(xlo, xhi):
        draw.line((sx(t), ay1, sx(t), ay1 + 4), fill="black")
        draw.text((sx(t) - 3 * len(_label(t)), ay1 + 6), _label(t), fill="black", font=font)
    yticks = log_ticks(10 ** ylo, 10 ** yhi) if log_y else nice_ticks(ylo, yhi)
    for t in yticks:
        draw.line((ax0 + 1, sy(t), ax1 - 1, sy(t)), fill="#e6e6e6")
        draw.line((ax0 - 4, sy(t), ax0, sy(t)), fill="black")
        draw.text((ax0 - 8 - 6 * len(_label(t)), sy(t) - 6), _label(t), fill="black", font=font)
    draw.text(((ax0 + ax1) // 2 - 3 * len(xlabel), ay1 + 24), xlabel, fill="black", font=font)
    for name, (xs, ys) in series.items():
        colour = PALETTE[labels.index(name) % len(PALETTE)]
        line = [(sx(x), sy(y)) for x, y in zip(xs, ys) if ok(y)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        for px, py in line:
            draw.ellipse((px - 2.5, py - 2.5, px + 2.5, py + 2.5), fill=colour)


def line_panels(panels: Sequence[tuple[str, dict]], path: str, *, xlabel: str, ylabel: str,
                log_y: bool = False) -> str:
    """Draws each ``(title, {series label: (xs, ys)})`` as a panel and saves one PNG at ``path``.

    A series keeps its colour in every panel; its points are joined in the given
    order. Returns ``path``.
    """
    font = ImageFont.load_default()
    labels = list(dict.fromkeys(name for _, series in panels for name in series))
    legend_w = 24 + 7 * max((len(s) for s in labels), default=0)
    width = 22 + PANEL_W * len(panels) + legend_w
    img = Image.new("RGB", (width, max(PANEL_H, 30 + 16 * len(labels))), "white")
    draw = ImageDraw.Draw(img)
    for i, (title, series) in enumerate(panels):
        _panel(draw, 22 + i * PANEL_W, title, series, labels, font, log_y, xlabel)
    # The y label, written sideways along the left edge.
    text = ylabel + (" (log scale)" if log_y else "")
    strip = Image.new("RGB", (7 * len(text) + 4, 14), "white")
    ImageDraw.Draw(strip).text((2, 1), text, fill="black", font=font)
    strip = strip.rotate(90, expand=True)
    img.paste(strip, (2, max(TOP, (PANEL_H - strip.height) // 2)))
    lx = 22 + PANEL_W * len(panels) + 4
    for j, name in enumerate(labels):
        y = TOP + 16 * j
        draw.line((lx, y + 6, lx + 14, y + 6), fill=PALETTE[j % len(PALETTE)], width=3)
        draw.text((lx + 18, y), name, fill="black", font=font)
    img.save(path)
    return path
