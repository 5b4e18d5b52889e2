r"""Mode coverage on the 2-D ring of 8 and grid of 25 Gaussians: adversarial losses side by side.

    python benchmarks/mixtures.py --out runs/mixtures.png

The setting of PacGAN's Table 1 (Lin, Khetan, Fanti, Oh, "PacGAN: The power of
two samples in generative adversarial networks", NeurIPS 2018), whose two
measures come from VEEGAN (Srivastava et al., NeurIPS 2017): each trained
generator draws 2,500 points; a point is *high quality* when it lies within 3
standard deviations of its nearest mode, and a mode is *covered* when at least
one point registers with it (``jaxgan.data.mixtures``, as PacGAN's code counts
them). Every (loss, data set, seed) is trained from scratch; the table gives
the mean and the spread over seeds.

Models (``jaxgan.models.mlp``): PacGAN's released architecture at a quarter
of its width or less, so that the table trains on a CPU: generator z ~ N(0, I_2)
-> 4 x (Dense 64 -> BatchNorm -> ReLU) -> Dense 2 (PacGAN: 400 units); critic
3 maxout layers of 32 units x 5 pieces -> a linear score (PacGAN: 200 units);
N(0, 0.02) weights. ``--g_width 400 --d_width 200`` gives PacGAN's sizes.
Samples for the metrics are drawn with batch norm's running averages, as
PacGAN's code draws them.

Losses (rows; every row the same generator, optimizer, batch, data and number
of generator updates):

    nonsaturating    the GAN of PacGAN's table: cross-entropy critic, -log D(G(z)) generator
    wgan_gp          Wasserstein critic + gradient penalty (lambda 10), 5 critic updates per
                     generator update, as WGAN-GP's Algorithm 1 (the other rows use 1)
    hinge            hinge critic, -D(G(z)) generator, one score per point
    hinge_map        hinge on a K-cell critic map (below), hinge per cell, -mean(Y) generator
    hinge_lga        hinge_map, generator loss through the Local Gradient Amplifier, mode 'lga'
    hinge_zero_lga   ... mode 'zero'
    hinge_sign_lga   ... mode 'sign_preserving'

Trick rows (``--losses tricks``: ``nonsaturating`` and each of these, the
same GAN with one trick, README "Training tricks"): ``pacgan2/3/4`` (the
critic judges 2, 3, 4 points joined, PacGAN's own rows), ``feature_matching``
(the generator minimises feature matching alone), ``minibatch_disc`` (100
kernels of 5), ``minibatch_std`` (groups of 4), ``virtual_bn`` (100 reference
latents), ``historical_avg`` (weight 1e-3) and ``label_smoothing`` (0.9).

**The critic map of a point.** The LGA acts on an ``n x n`` map of critic
scores, one per image patch; a point has no patches. Here the map rows use
``Critic(views=K)`` (default K = 8): cell ``k`` scores only the projection of
the point on the fixed direction at angle ``pi k / K``, with its own maxout
MLP (``--view_width`` 8 units per layer, 5 pieces, 3 layers). A view is the
analogue of a patch: partial, so cells disagree (a point between two ring
modes projects onto a mode along some directions and off every mode along
others) and the amplifier has something to redistribute; together the views
determine the point set's distribution (Cramer-Wold), and with 8 directions
no point off the ring's modes projects onto a mode in every view (with 4, the
ring's centre would). The hinge is taken per cell and
:func:`jaxgan.losses.lga_g` is applied to the ``[B, K]`` scores exactly as to
an image critic's ``[B, n, n]`` map (the map need not be square). ``hinge_map``
is the same critic without the amplifier, so it isolates the amplifier's
effect, and ``hinge`` shows what the views cost against the whole-point
critic. Rejected alternative: K linear heads on one shared trunk read the same
features of the whole point and differ only by their initialisation: a
near-copy of one score, not a map. The 8 views hold about twice the whole
critic's activations and cost 1 to 1.5 times its step time here.

Protocol differences from PacGAN (stated in the printed note too): PacGAN
trains 400 epochs of a fixed 100,000-point training set at batch 100 (400,000
updates) with Adam(1e-4, beta1 0.8) and averages 10 trials, reporting the
standard error; this script draws fresh data every step, trains ``--steps``
generator updates (default 2,000) with Adam(``--lr`` 1e-3, beta1 0.8, beta2
0.999) for generator and critic, and prints mean +- std over ``--seeds``
(default 3; ``--spread sem`` prints the standard error). 2,000 updates are
0.5 % of PacGAN's schedule: the defaults are sized so that the whole table
(7 losses x 2 data sets x 3 seeds) runs in about 15 minutes on 2 shared CPU
cores, and the table measures where each loss stands after that many
updates, not where it converges. The ring here has radius 2 and std 0.02
(Unrolled GAN, VEEGAN); PacGAN's code uses radius 1 and std 0.01, the same
shape at half the scale. Every update is the engine's step of the single-pair
GAN system (``jaxgan.systems.gan``, here with MLP networks), the step
``python -m jaxgan.train`` runs; all runs of a loss (both data sets, every
seed) train in one jitted program: ``jax.vmap`` over runs of a ``lax.scan``
over steps; compiling it takes 10-35 s of the time column.

Measured here with the defaults (313 s wall on 2 CPU cores): after 2,000
updates no row is converged (high quality <= 50 % on the ring, <= 3.4 % on the
grid, against PacGAN's 98 % and 95 % after 400,000); ring modes 6.7
(non-saturating), 5.3 (WGAN-GP), 5.7 (hinge), 3.3 (hinge_map), 0 (hinge_lga
and hinge_zero_lga: the literal amplifier's sign flip sends every sample away
from the data), 3.0 (hinge_sign_lga), with stds of 1-3.8 modes over the 3 seeds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import NamedTuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jax.sharding import PartitionSpec as P  # noqa: E402

import _mixtures_report as report  # noqa: E402  (the table, its note, the PNG)
from jaxgan import config as config_lib  # noqa: E402
from jaxgan import parallel  # noqa: E402
from jaxgan.data import mixtures  # noqa: E402
from jaxgan.engine.state import init_state  # noqa: E402
from jaxgan.engine.step import make_replica_step  # noqa: E402
from jaxgan.models import mlp  # noqa: E402
from jaxgan.parallel import DATA_AXIS  # noqa: E402
from jaxgan.systems.gan import GAN  # noqa: E402

NUM_EVAL = 2500  # Samples per trained generator, as in VEEGAN and PacGAN.
DATA_SALT = 0xDA7A  # Folded into a run's key for its real points.


class LossSpec(NamedTuple):
    d: str            # 'nonsaturating' | 'wasserstein' | 'hinge': the critic loss family
    map: bool = False  # critic scores K views (a [B, K] map) instead of the whole point
    lga: str = ""      # LGA mode for the generator loss, '' = none
    n_critic: int = 1
    gp: float = 0.0    # gradient-penalty weight
    # The training tricks (README, "Training tricks"), each on the non-saturating GAN:
    pack: int = 1              # PacGAN: the critic judges this many points joined
    fm: float = 0.0            # feature matching alone as the generator's loss, this weight
    minibatch: int = 0         # minibatch-discrimination kernels (of 5 dimensions)
    mbstd: int = 0             # minibatch standard deviation over groups of this many
    vbn: int = 0               # virtual batch norm in G over this many reference latents
    historical: float = 0.0    # historical-averaging weight, both players
    real_label: float = 1.0    # one-sided label smoothing


LOSS_SPECS = {
    "nonsaturating": LossSpec("nonsaturating"),
    "wgan_gp": LossSpec("wasserstein", n_critic=5, gp=10.0),
    "hinge": LossSpec("hinge"),
    "hinge_map": LossSpec("hinge", map=True),
    "hinge_lga": LossSpec("hinge", map=True, lga="lga"),
    "hinge_zero_lga": LossSpec("hinge", map=True, lga="zero"),
    "hinge_sign_lga": LossSpec("hinge", map=True, lga="sign_preserving"),
    "pacgan2": LossSpec("nonsaturating", pack=2),
    "pacgan3": LossSpec("nonsaturating", pack=3),
    "pacgan4": LossSpec("nonsaturating", pack=4),
    "feature_matching": LossSpec("nonsaturating", fm=1.0),
    "minibatch_disc": LossSpec("nonsaturating", minibatch=100),
    "minibatch_std": LossSpec("nonsaturating", mbstd=4),
    "virtual_bn": LossSpec("nonsaturating", vbn=100),
    "historical_avg": LossSpec("nonsaturating", historical=1e-3),
    "label_smoothing": LossSpec("nonsaturating", real_label=0.9),
}
# PacGAN, Table 1, row "PacGAN2" (as the GAN row below).
PACGAN_PAC2_ROW = {"ring": ("7.9 ± 0.1", "95.6 ± 0.6 %"), "grid": ("23.8 ± 0.7", "91.3 ± 0.8 %")}
# Each row's trick, for the table's note.
TRICK_NOTES = {
    "pacgan2": "critic on 2 points joined (PacGAN)", "pacgan3": "3 points joined",
    "pacgan4": "4 points joined",
    "feature_matching": "generator minimises feature matching alone (weight 1)",
    "minibatch_disc": "minibatch discrimination, 100 kernels of 5",
    "minibatch_std": "minibatch standard deviation, groups of 4",
    "virtual_bn": "virtual batch norm in G, 100 reference latents",
    "historical_avg": "historical averaging, weight 1e-3, both players",
    "label_smoothing": "one-sided label smoothing, real label 0.9",
}


class Mixture(NamedTuple):
    centers: np.ndarray
    std: float
    label: str


DATASETS = {
    "ring": Mixture(mixtures.ring_centers(), mixtures.RING_STD, "2D-ring"),
    "grid": Mixture(mixtures.grid_centers(), mixtures.GRID_STD, "2D-grid"),
}

# PacGAN, Table 1, row "GAN" (10 trials, mean +- standard error): modes, high-quality %.
PACGAN_GAN_ROW = {"ring": ("6.3 ± 0.5", "98.2 ± 0.2 %"), "grid": ("17.3 ± 0.8", "94.8 ± 0.7 %")}


def _padded_mixtures(data: list[Mixture]):
    """Centers ``[D, K_max, 2]`` (zero-padded), mode counts ``[D]`` and stds ``[D]``."""
    k_max = max(len(m.centers) for m in data)
    centers = np.zeros((len(data), k_max, 2), np.float32)
    for i, m in enumerate(data):
        centers[i, :len(m.centers)] = m.centers
    counts = np.array([len(m.centers) for m in data], np.int32)
    stds = np.array([m.std for m in data], np.float32)
    return centers, counts, stds


def mixture_system(spec: LossSpec, *, batch: int, lr: float, b1: float, b2: float,
                   gen_kwargs: dict, critic_kwargs: dict, views: int):
    """The single-pair GAN system of a row, on MLPs of 2-D points (``jaxgan.systems.gan``)."""
    c = config_lib.base_config()
    c.loss.name = "nonsaturating" if spec.d == "nonsaturating" else spec.d
    c.loss.lga = spec.lga or "none"
    c.reg.gp_weight = spec.gp
    c.optim.g_lr = c.optim.d_lr = lr
    c.optim.b1, c.optim.b2 = b1, b2
    c.optim.n_critic = spec.n_critic
    c.train.batch_size = batch
    c.train.ema_decay = 0.0  # Samples come from the trained generator itself, as PacGAN's.
    c.model.pack = spec.pack
    c.loss.feature_matching = spec.fm
    c.loss.g_adversarial = not spec.fm
    c.model.minibatch_kernels, c.model.minibatch_std = spec.minibatch, spec.mbstd
    c.reg.historical_weight = spec.historical
    c.loss.real_label = spec.real_label
    gen = mlp.Generator(**gen_kwargs, vbn_reference=spec.vbn)
    c.model.z_dim = gen.z_dim
    critic = mlp.Critic(**critic_kwargs, views=views if spec.map else 0, in_dim=gen.out_dim * spec.pack,
                        minibatch_kernels=spec.minibatch, minibatch_std=spec.mbstd)
    return GAN(c, networks=(gen, critic), data_shape=(gen.out_dim,))


def build_trainer(spec: LossSpec, data: list[Mixture] | None = None, *, steps: int, batch: int, lr: float,
                  b1: float, b2: float, gen_kwargs: dict, critic_kwargs: dict, views: int,
                  num_eval: int = NUM_EVAL):
    """One loss's training, jitted over a batch of runs: ``(seeds [R], data_ids [R]) -> outputs``.

    ``data_ids[r]`` indexes the mixtures ``data`` (default: :data:`DATASETS`' values
    in order), so that all of them train in one compiled program (the ring's
    centers are zero-padded to the grid's 25 and sampled among the first 8). Outputs: samples
    ``[R, num_eval, 2]``, critic and generator losses ``[R, steps]``.

    Every update is the engine's own step (``jaxgan.engine.step.make_replica_step``) of the
    single-pair GAN system, as ``python -m jaxgan.train`` runs it; only the loop differs:
    the steps of a run are a ``lax.scan``, the runs side by side under ``jax.vmap``, and
    the real points are drawn inside the program (fresh data every step) instead of read
    from a data set. One run's randomness: the system's state from
    ``key(seed)`` (data set index folded in, so a (loss, data set, seed) gives the same run
    whichever other runs share the program), whose step ``s`` draws from ``fold_in(key, s)``
    as every run of the engine does; the real points of step ``s`` from
    ``fold_in(fold_in(key, DATA_SALT), s)``; the evaluation noise from ``fold_in(key, steps + 1)``.
    """
    system = mixture_system(spec, batch=batch, lr=lr, b1=b1, b2=b2, gen_kwargs=gen_kwargs,
                            critic_kwargs=critic_kwargs, views=views)
    phase = system.phases[0]
    n = system.batches_per_step(phase)
    replica_step = make_replica_step(system, phase, batch, num_devices=1)
    gen = system.networks["g"]
    all_centers, all_counts, all_stds = _padded_mixtures(list(DATASETS.values()) if data is None else data)

    def run(seed, data_id):
        centers, num_modes, std = (jnp.asarray(all_centers)[data_id], jnp.asarray(all_counts)[data_id],
                                   jnp.asarray(all_stds)[data_id])
        base = jax.random.fold_in(jax.random.key(seed), data_id)
        data_key = jax.random.fold_in(base, DATA_SALT)

        def step(state, i):
            # mixtures.sample_mixture from uniform and normal draws made once per step (fewer
            # random-bit generators in the program: they dominate its compile time).
            k_u, k_real = jax.random.split(jax.random.fold_in(data_key, i))
            mode = jnp.minimum((jax.random.uniform(k_u, (n, batch)) * num_modes).astype(jnp.int32),
                               num_modes - 1)
            real = centers[mode] + std * jax.random.normal(k_real, (n, batch, 2))
            state, metrics = replica_step(state, tuple({"image": real[j]} for j in range(n)))
            return state, (metrics["d_loss"], metrics["g_loss"])

        state, (d_loss, g_loss) = jax.lax.scan(step, init_state(system, base), jnp.arange(1, steps + 1))
        z = jax.random.normal(jax.random.fold_in(base, steps + 1), (num_eval, gen.z_dim))
        samples = gen.apply(state.variables("g"), z, train=False)
        return samples, d_loss, g_loss

    # One device: the runs of the batch are vmapped inside the one replica (their inputs
    # "sharded" over a mesh of one, so the step's collectives see per-replica values).
    mesh = parallel.make_mesh(jax.devices()[:1])
    mapped = jax.shard_map(jax.vmap(run), mesh=mesh, in_specs=(P(DATA_AXIS), P(DATA_AXIS)),
                           out_specs=P(DATA_AXIS))
    return jax.jit(mapped)


def evaluate(samples, dataset: str) -> dict:
    """PacGAN's two measures of one run's samples: ``{"modes": int, "high_quality": fraction}``."""
    data = DATASETS[dataset]
    return {"modes": mixtures.modes_covered(samples, data.centers, data.std),
            "high_quality": mixtures.high_quality_fraction(samples, data.centers, data.std)}


# Named sets of rows for --losses: the losses (the default), the tricks on the GAN, or all.
ROW_SETS = {"losses": [n for n in LOSS_SPECS if n not in TRICK_NOTES],
            "tricks": ["nonsaturating", *TRICK_NOTES]}


def _names(text: str, valid: dict, flag: str, sets: dict | None = None) -> list[str]:
    sets = {"all": list(valid), **(sets or {})}
    names = sets[text] if text in sets else [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise ValueError(f"{flag} {text!r}: unknown {', '.join(map(repr, bad)) or 'empty list'}; valid "
                         f"choices are {', '.join(valid)} (comma-separated) or one of "
                         f"{', '.join(map(repr, sets))}")
    return names


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2000, help="generator updates per run")
    p.add_argument("--seeds", type=int, default=3, help="runs per (loss, data set): seeds 0..N-1")
    p.add_argument("--datasets", default="all", help=f"comma-separated, from {', '.join(DATASETS)}")
    p.add_argument("--losses", default="losses",
                   help=f"comma-separated, from {', '.join(LOSS_SPECS)}; or 'losses' (the "
                        "adversarial losses), 'tricks' (the GAN and each trick on it), 'all'")
    p.add_argument("--out", default="", help="optional PNG: samples of seed 0, a row per loss")
    p.add_argument("--batch", type=int, default=100, help="real and generated points per update (PacGAN: 100)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of G and D (PacGAN: 1e-4)")
    p.add_argument("--b1", type=float, default=0.8, help="Adam beta1 (PacGAN: 0.8)")
    p.add_argument("--b2", type=float, default=0.999, help="Adam beta2")
    p.add_argument("--g_width", type=int, default=64, help="generator hidden units (PacGAN: 400)")
    p.add_argument("--g_depth", type=int, default=4, help="generator hidden layers (PacGAN: 4)")
    p.add_argument("--d_width", type=int, default=32, help="critic maxout units (PacGAN: 200)")
    p.add_argument("--d_depth", type=int, default=3, help="critic maxout layers (PacGAN: 3)")
    p.add_argument("--pieces", type=int, default=5, help="maxout pieces (PacGAN: 5)")
    p.add_argument("--views", type=int, default=8, help="cells of the map critics: projection directions")
    p.add_argument("--view_width", type=int, default=8, help="maxout units per view in the map critics")
    p.add_argument("--spread", choices=("std", "sem"), default="std",
                   help="what follows +-: the std over seeds, or the standard error (PacGAN's)")
    args = p.parse_args(argv)
    args.dataset_names = _names(args.datasets, DATASETS, "--datasets")
    args.loss_names = _names(args.losses, LOSS_SPECS, "--losses", ROW_SETS)
    for flag in ("steps", "seeds", "batch", "g_width", "g_depth", "d_width", "d_depth", "pieces", "views",
                 "view_width"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    if args.out and not args.out.lower().endswith(".png"):
        raise ValueError(f"--out {args.out!r}: give a .png path (a grid of sample scatter plots)")
    return args


def main(argv=None) -> dict:
    """Train every requested (loss, data set, seed), print the table and its note; return the results."""
    args = parse_args(argv)
    start = time.time()
    gen_kwargs = dict(width=args.g_width, depth=args.g_depth)
    critic_kwargs = dict(width=args.d_width, depth=args.d_depth, pieces=args.pieces, view_width=args.view_width)
    data_index = {d: i for i, d in enumerate(DATASETS)}
    run_data = [d for d in args.dataset_names for _ in range(args.seeds)]
    seeds = jnp.asarray([s for _ in args.dataset_names for s in range(args.seeds)], jnp.uint32)
    data_ids = jnp.asarray([data_index[d] for d in run_data], jnp.int32)
    results, first_samples, diverged = {}, {}, {}
    for name in args.loss_names:
        t0 = time.time()
        trainer = build_trainer(LOSS_SPECS[name], steps=args.steps, batch=args.batch, lr=args.lr, b1=args.b1,
                                b2=args.b2, gen_kwargs=gen_kwargs, critic_kwargs=critic_kwargs,
                                views=args.views)
        samples, d_loss, g_loss = jax.device_get(trainer(seeds, data_ids))
        runs = {d: [] for d in args.dataset_names}
        first_samples[name] = {}
        for r, d in enumerate(run_data):
            runs[d].append({**evaluate(samples[r], d), "d_loss_last": float(d_loss[r, -1]),
                            "g_loss_last": float(g_loss[r, -1])})
            first_samples[name].setdefault(d, samples[r])
            diverged[(name, d)] = diverged.get((name, d), 0) + int(not np.all(np.isfinite(samples[r])))
        results[name] = {"runs": runs, "seconds": time.time() - t0}
        summary = ", ".join(f"{d} modes {np.mean([x['modes'] for x in runs[d]]):.1f}" for d in runs)
        print(f"[{name}] {results[name]['seconds']:.0f} s: {summary}", file=sys.stderr, flush=True)
    real_key = jax.random.key(10_000)
    real = {d: evaluate(mixtures.sample_mixture(jax.random.fold_in(real_key, data_index[d]), NUM_EVAL,
                                                DATASETS[d].centers, DATASETS[d].std), d)
            for d in args.dataset_names}
    total = time.time() - start
    table = report.format_table(results, args, real, DATASETS, LOSS_SPECS)
    note = report.format_note(args, total, diverged, NUM_EVAL, PACGAN_GAN_ROW)
    tricks = [n for n in args.loss_names if n in TRICK_NOTES]
    if tricks:
        note += ("\nTrick rows (the nonsaturating row plus one trick): "
                 + "; ".join(f"`{n}`: {TRICK_NOTES[n]}" for n in tricks) + ". PacGAN's PacGAN2 row: "
                 + ", ".join(f"{DATASETS[d].label} {m} modes, {q}"
                             for d, (m, q) in PACGAN_PAC2_ROW.items()) + ".")
    print(table)
    print()
    print(note)
    if args.out:
        report.save_png(args.out, first_samples, args, DATASETS)
        print(f"Samples (seed 0): {args.out}")
    return {"results": results, "real": real, "table": table, "note": note, "seconds": total}


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:  # A user mistake in the flags: one line, no traceback.
        sys.exit(f"error: {e}")
