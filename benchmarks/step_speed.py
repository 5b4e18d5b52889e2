"""Train-step speed: jaxgan's real step against a plain PyTorch eager reference.

    python benchmarks/step_speed.py [--reps 5] [--batch 64] [--width dcgan=64,resnet=64]
        [--archs dcgan,resnet] [--losses wgan_gp,hinge,hinge_map,hinge_lga] [--channels 3] [--no-torch]

One step = one critic update + one generator update (+ the EMA of G), Adam(0, 0.9),
on 32x32 images. The jaxgan column is the product's own step: a config from
``jaxgan.config.base_config()`` with a few overrides, the engine's programs
(``jaxgan.engine.trainer.programs``: init and the step) on a 1-device mesh, a batch as a device
array, the state donated -- what ``python -m jaxgan.train`` runs each step. The
PyTorch column is ``benchmarks/torch_reference.py`` (eager, NCHW, as many threads
as cores), with the same parameter count (asserted). Steps:

* ``wgan_gp``: Wasserstein loss + gradient penalty (lambda 10), one score per image.
* ``hinge``: the hinge loss, one score per image, no penalty (the plain step).
* ``hinge_map``: the hinge loss on the LGA critic map (8x8 DCGAN, 4x4 ResNet), no LGA.
* ``hinge_lga``: the same with the Local Gradient Amplifier in the generator loss.

The columns of one architecture (every step, jaxgan and PyTorch) run in turn each
repetition after an untimed warm-up, and each figure is the median over ``--reps``:
on a shared machine the load then falls evenly on all of them and their ratios stay
fair. images/s = batch / step time. jaxgan's compile time (lower + compile of the
step) is reported on its own.

Measured here (2 AVX-512 cores, otherwise idle, full widths, ``--reps 5``), jaxgan / PyTorch:
DCGAN 0.78 (hinge), 0.46-0.49 (WGAN-GP; 0.93-0.95 and 1.23-1.25x the hinge step since the
penalty runs the critic once on the batch, load 1.6-2.6); ResNet 0.79-0.84 (hinge), 0.83-0.88 (WGAN-GP),
with glibc malloc or with jemalloc (``MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1``,
which makes both sides 1.3-1.6x faster by not page-faulting big buffers afresh each step).
PyTorch already runs these steps at 150-180 GFLOP/s, the machine's 4096x4096 matmul rate.
On the same machine shared with other jobs (load average 5-9) PyTorch's threads suffer
far more and the ratio turns to 1.1-4x: compare runs only at the same load (the note gives it).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._timing import interleaved_medians  # noqa: E402
from jaxgan import config as config_lib  # noqa: E402
from jaxgan import parallel  # noqa: E402
from jaxgan.engine.trainer import programs  # noqa: E402

ARCHS = ("dcgan", "resnet")
# name -> (loss, gradient-penalty weight, LGA, use the arch's LGA critic map)
STEPS = {
    "wgan_gp": ("wasserstein", 10.0, False, False),
    "hinge": ("hinge", 0.0, False, False),
    "hinge_map": ("hinge", 0.0, False, True),
    "hinge_lga": ("hinge", 0.0, True, True),
}
LGA_MAP = {"dcgan": 8, "resnet": 4}
REAL_WIDTHS = {"dcgan": 64, "resnet": 64}  # base_config()'s g_width / d_width
Z_DIM = 128


@dataclasses.dataclass
class Case:
    arch: str
    step: str
    width: int
    critic_map: int


def make_config(case: Case, batch: int, channels: int):
    """The run config of one benchmark case: the base config with the case's overrides."""
    loss, gp_weight, lga, _ = STEPS[case.step]
    c = config_lib.base_config()
    c.data.image_size = 32
    c.data.channels = channels
    c.model.arch = case.arch
    c.model.z_dim = Z_DIM
    c.model.g_width = c.model.d_width = case.width
    c.model.critic_map = case.critic_map
    c.model.spectral_norm = case.arch == "resnet"
    c.loss.name = loss
    c.loss.lga = "lga" if lga else "none"
    c.reg.gp_weight = gp_weight
    c.optim.n_critic = 1
    c.train.batch_size = batch
    config_lib.validate(c)
    return c


def jaxgan_step(case: Case, batch: int, channels: int):
    """``(run, compile_s, num_params)``: the trainer's jitted step on a 1-device mesh."""
    config = make_config(case, batch, channels)
    mesh = parallel.make_mesh(jax.devices()[:1])
    prog = programs(config, mesh)
    state = prog.init(jax.random.key(config.seed))
    step = prog.step(prog.system.phases[0])
    images = jax.random.uniform(jax.random.key(1), (batch, 32, 32, channels), minval=-1.0, maxval=1.0)
    batches = ({"image": jax.device_put(images, parallel.data_sharding(mesh)),
                "label": jax.device_put(jnp.zeros((batch,), jnp.int32), parallel.data_sharding(mesh))},)
    n_params = {"G": _count(state.params["g"]), "D": _count(state.params["d"])}
    t0 = time.perf_counter()
    compiled = step.lower(state, batches).compile()
    compile_s = time.perf_counter() - t0
    holder = {"state": state}

    def run():
        holder["state"], metrics = compiled(holder["state"], batches)  # The state is donated.
        return metrics

    return run, compile_s, n_params


def _count(tree) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def torch_step(case: Case, batch: int, channels: int, device: str):
    """``(run, num_params)``: the PyTorch eager reference of the same step."""
    import torch

    from benchmarks import torch_reference

    loss, gp_weight, lga, _ = STEPS[case.step]
    torch.manual_seed(0)
    g, d = torch_reference.build_models(case.arch, channels=channels, width=case.width, z_dim=Z_DIM,
                                        critic_map=case.critic_map)
    g, d = g.to(device), d.to(device)
    real = torch.rand(batch, channels, 32, 32, device=device) * 2 - 1
    run = torch_reference.make_train_step(g, d, loss=loss, gp_weight=gp_weight, lga=lga, batch=batch,
                                          z_dim=Z_DIM, real=real)
    return run, {"G": torch_reference.num_params(g), "D": torch_reference.num_params(d)}


def parse_widths(text: str | None) -> dict:
    """``None`` -> the real widths; ``'16'`` -> 16 for every arch; ``'dcgan=64,resnet=16'``."""
    widths = dict(REAL_WIDTHS)
    if not text:
        return widths
    try:
        if "=" not in text:
            return {a: int(text) for a in ARCHS}
        for part in text.split(","):
            arch, value = part.split("=")
            if arch.strip() not in ARCHS:
                raise ValueError
            widths[arch.strip()] = int(value)
    except ValueError:
        raise SystemExit(f"--width {text!r}: give one integer or arch=int pairs, e.g. "
                         "--width dcgan=64,resnet=16 (archs: dcgan, resnet)") from None
    return widths


def _choices(text: str, valid, flag: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in chosen if s not in valid]
    if bad or not chosen:
        raise SystemExit(f"{flag} {text!r}: choose from {', '.join(valid)} (comma-separated)")
    return chosen


def measure(args) -> tuple[list[dict], dict]:
    """Runs the benchmark; returns one row per (arch, step) and facts for the note."""
    archs = _choices(args.archs, ARCHS, "--archs")
    steps = _choices(args.losses, tuple(STEPS), "--losses")
    widths = parse_widths(args.width)
    gpu = jax.default_backend() == "gpu"
    use_torch = not args.no_torch
    facts = {"torch_device": None,
             "load_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")}
    if use_torch:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        facts["torch_device"] = "cuda" if gpu and torch.cuda.is_available() else "cpu"
        facts["torch_version"] = torch.__version__
    rows = []
    for arch in archs:
        fns, info = {}, {}
        for name in steps:
            case = Case(arch, name, widths[arch], LGA_MAP[arch] if STEPS[name][3] else 1)
            run, compile_s, n_jax = jaxgan_step(case, args.batch, args.channels)
            fns[(name, "jaxgan")] = run
            info[name] = {"case": case, "compile_s": compile_s, "params": n_jax}
            if use_torch:
                run_t, n_torch = torch_step(case, args.batch, args.channels, facts["torch_device"])
                if n_torch != n_jax:
                    raise AssertionError(f"{arch} {name}: PyTorch reference has {n_torch} parameters, "
                                         f"jaxgan {n_jax}; the two models differ")
                fns[(name, "torch")] = run_t
        times = interleaved_medians(fns, args.reps)
        for name in steps:
            row = {"arch": arch, "step": name, **info[name], "jaxgan_s": times[(name, "jaxgan")],
                   "torch_s": times.get((name, "torch"))}
            rows.append(row)
    facts["gpu"] = gpu
    return rows, facts


def _rel(rows, arch, base_step, side):
    base = next((r for r in rows if r["arch"] == arch and r["step"] == base_step), None)
    return None if base is None or base[f"{side}_s"] is None else base[f"{side}_s"]


def format_table(rows: list[dict], facts: dict, args) -> str:
    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = ["| model | step | jaxgan img/s | PyTorch img/s | jaxgan / PyTorch | jaxgan step / hinge "
             "| PyTorch step / hinge | LGA overhead jaxgan | LGA overhead PyTorch | jaxgan compile s "
             "| params G / D |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        case = r["case"]
        g_ch, d_ch = (4 * case.width, 2 * case.width) if case.arch == "resnet" else (case.width,) * 2
        model = f"{'DCGAN' if case.arch == 'dcgan' else 'SNGAN ResNet'} (G {g_ch}, D {d_ch} ch)"
        step = f"{r['step']} ({case.critic_map}x{case.critic_map})"
        jx, tt = r["jaxgan_s"], r["torch_s"]
        cells = [model, step, num(args.batch / jx, ".1f"),
                 num(None if tt is None else args.batch / tt, ".1f"),
                 num(None if tt is None else tt / jx, ".2f")]
        for side, t in (("jaxgan", jx), ("torch", tt)):
            base = _rel(rows, case.arch, "hinge", side)
            cells.append(num(None if base is None or t is None else t / base, ".2f"))
        for side, t in (("jaxgan", jx), ("torch", tt)):
            base = _rel(rows, case.arch, "hinge_map", side)
            is_lga = r["step"] == "hinge_lga"
            cells.append(num(100 * (t / base - 1) if is_lga and base and t else None, "+.1f") +
                         ("%" if is_lga and base and t else ""))
        cells += [f"{r['compile_s']:.1f}", f"{r['params']['G']:,} / {r['params']['D']:,}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def allocator() -> str:
    """The C allocator both sides run on: it decides whether big buffers are page-faulted afresh each step."""
    preload = [os.path.basename(p) for p in os.environ.get("LD_PRELOAD", "").split() if "malloc" in p]
    name = ", ".join(preload) if preload else "glibc malloc"
    conf = os.environ.get("MALLOC_CONF", "")
    return f"{name} ({conf})" if conf else name


def format_note(facts: dict, args) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    torch_part = (f"PyTorch {facts['torch_version']} eager on {facts['torch_device']}, "
                  f"{os.cpu_count()} threads" if facts["torch_device"] else "PyTorch not run")
    note = (f"batch {args.batch}, 32x32x{args.channels} images, one critic + one generator update "
            f"per step, Adam(0, 0.9); median of {args.reps} interleaved repetitions after one "
            f"warm-up step; images/s = batch / step time; ratios > 1 mean jaxgan is faster "
            f"(jaxgan / PyTorch) or the step is slower than the plain hinge step (step / hinge); "
            f"LGA overhead = hinge_lga against hinge_map (same critic map, without the amplifier). "
            f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
            f"{torch_part}; allocator {allocator()}; {os.cpu_count()} cores, load average "
            f"{facts.get('load_start', float('nan')):.1f} at the start, {load:.1f} at the end.")
    if facts["gpu"]:
        note += (" bf16 mixed precision not measured: jaxgan's models take no compute dtype "
                 "(config.model has none; they compute in float32).")
    return note


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", default=None,
                    help="model width (config.model.g_width = d_width): one int for every arch or "
                         "arch=int pairs; default the base config's 64 (DCGAN 64 channels, ResNet "
                         "G 256 / D 128)")
    ap.add_argument("--channels", type=int, default=3, choices=(1, 3))
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--losses", default=",".join(STEPS))
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    args = ap.parse_args(argv)
    if args.reps < 1 or args.batch < 1:
        raise SystemExit("--reps and --batch must be >= 1")
    rows, facts = measure(args)
    print("\n" + format_note(facts, args) + "\n")
    print(format_table(rows, facts, args))
    for r in rows:
        if not all(math.isfinite(v) and v > 0 for v in (r["jaxgan_s"], r["torch_s"] or 1.0)):
            raise AssertionError(f"non-positive or non-finite time in {r}")
    return rows


if __name__ == "__main__":
    main()
