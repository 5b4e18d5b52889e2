"""Images per second that jaxgan.data.Pipeline delivers to the devices, on this machine.

    python benchmarks/input_pipeline.py            # the table below, ~1 minute on 2 cores
    python benchmarks/input_pipeline.py --steps 50 --repeats 3

Each measurement runs the pipeline with a consumer that only waits for each
batch to be on the devices (``jax.block_until_ready``), so it is the most the
input side can feed a train step; the median over ``--repeats`` runs is
reported. The data is random uint8 in the shape of MNIST at 32x32x1 and of
CelebA/LSUN at 64x64x3 (decoding happens once, before training, and is not
part of the loop). :func:`pipeline_images_per_second` is importable so a
trainer benchmark can put its own images/s column beside these.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxgan import parallel  # noqa: E402
from jaxgan.data import ArraySource, Pipeline  # noqa: E402


def synthetic_source(n: int, size: int, channels: int, *, num_classes: int = 10,
                     seed: int = 0) -> ArraySource:
    """Random uint8 images and labels of a given shape (throughput does not depend on content)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    labels = rng.integers(0, num_classes, (n,), dtype=np.int32)
    return ArraySource(images, labels, num_classes, f"random {size}x{size}x{channels}")


def pipeline_images_per_second(source: ArraySource, *, batch_size: int = 64, steps: int = 100,
                               repeats: int = 5, warmup: int = 5, mesh=None, seed: int = 0,
                               random_flip: bool = False, prefetch: int = 2) -> float:
    """Median over ``repeats`` of images/s through ``Pipeline`` into device memory.

    Each repeat starts a fresh pipeline at a new step (new batches, a cold
    queue), discards ``warmup`` batches, then times ``steps`` batches.
    """
    mesh = mesh if mesh is not None else parallel.make_mesh()
    rates = []
    for r in range(repeats):
        with Pipeline(source, global_batch_size=batch_size, mesh=mesh, seed=seed,
                      start_step=r * (steps + warmup), random_flip=random_flip,
                      prefetch=prefetch) as batches:
            for _ in range(warmup):
                jax.block_until_ready(next(batches))
            t0 = time.perf_counter()
            for _ in range(steps):
                jax.block_until_ready(next(batches))
            rates.append(steps * batch_size / (time.perf_counter() - t0))
    return float(np.median(rates))


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


CASES = [  # (label, N, size, channels, random_flip, prefetch)
    ("MNIST-shaped", 60_000, 32, 1, False, 2),
    ("MNIST-shaped", 60_000, 32, 1, False, 0),
    ("64x64x3 (CelebA/LSUN-shaped)", 20_000, 64, 3, False, 2),
    ("64x64x3 (CelebA/LSUN-shaped)", 20_000, 64, 3, True, 2),
    ("64x64x3 (CelebA/LSUN-shaped)", 20_000, 64, 3, False, 0),
]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    mesh = parallel.make_mesh()
    rows = []
    for label, n, size, channels, flip, prefetch in CASES:
        src = synthetic_source(n, size, channels)
        rate = pipeline_images_per_second(src, batch_size=args.batch_size, steps=args.steps,
                                          repeats=args.repeats, mesh=mesh, random_flip=flip,
                                          prefetch=prefetch)
        rows.append({"data": label, "image": f"{size}x{size}x{channels}",
                     "batch": args.batch_size, "flip": "yes" if flip else "no",
                     "prefetch": prefetch, "pipeline images/s": f"{rate:,.0f}"})
    devices = jax.devices()
    print(f"{len(devices)} x {devices[0].device_kind} ({jax.default_backend()}), "
          f"{os.cpu_count()} host cores; median of {args.repeats} runs of {args.steps} batches")
    print()
    print(markdown_table(rows, ["data", "image", "batch", "flip", "prefetch",
                                "pipeline images/s"]))


if __name__ == "__main__":
    main()
