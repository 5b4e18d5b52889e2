"""Forward + backward time of the stock Flax conv layers against their fast rewrites.

    python benchmarks/layer_speed.py [--batch 64] [--width 64] [--resnet-width 16] [--reps 7] [--no-torch]

Times, for each DCGAN 32x32 layer shape, a jitted ``jax.grad`` of
``sum(layer(x) * c)`` with respect to the input and the parameters, with the
stock ``flax.linen.Conv`` / ``ConvTranspose`` and with ``jaxgan.models``'
``fast_conv`` and ``fast_conv_transpose`` (both transposed-conv methods); then
a whole DCGAN 32x32 step's gradients (the critic on real + fake, the generator through
the critic), without and with a per-example WGAN-GP penalty, and the same step
of a (narrow) SNGAN ResNet. PyTorch (eager, same shapes, same thread count) is
the reference column. Each figure is the median of ``--reps`` runs after one
compile/warm-up run, the columns of a row run in turn each repetition.
Prints one markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._timing import interleaved_medians  # noqa: E402
from jaxgan.models import ARCHS  # noqa: E402
from jaxgan.models.fast_conv import FastConv  # noqa: E402
from jaxgan.models.fast_conv_transpose import FastConvTranspose  # noqa: E402


def layer_grad_fn(layer: nn.Module, x_shape):
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k1, x_shape)
    params = layer.init(k2, x)
    c = jax.random.normal(k3, jax.eval_shape(layer.apply, params, x).shape)
    grad = jax.jit(jax.grad(lambda p, x: jnp.sum(layer.apply(p, x) * c), argnums=(0, 1)))
    return lambda: grad(params, x)


def layer_cases(batch: int, width: int):
    """(name, {column: flax layer}, input shape, torch layer spec)."""
    w = width
    cases = []
    for cin, cout, size in ((1, w, 32), (w, 2 * w, 16), (2 * w, 4 * w, 8)):
        kw = dict(strides=2, padding=((1, 1), (1, 1)))
        cases.append((f"Conv 4x4/2 {cin}->{cout} @{size}",
                      {"stock": nn.Conv(cout, (4, 4), **kw), "fast": FastConv(cout, (4, 4), **kw)},
                      (batch, size, size, cin), ("conv", cin, cout, 4, 2, 1)))
    for cin, cout, size in ((4 * w, 2 * w, 4), (2 * w, w, 8), (w, 1, 16)):
        cases.append((f"ConvT 4x4/2 {cin}->{cout} @{size}",
                      {"stock": nn.ConvTranspose(cout, (4, 4), strides=(2, 2), padding="SAME",
                                                 transpose_kernel=True),
                       "fast": FastConvTranspose(cout, transpose_kernel=True),
                       "phases": FastConvTranspose(cout, transpose_kernel=True, method="phases")},
                      (batch, size, size, cin), ("convT", cin, cout, 4, 2, 1)))
    cases.append((f"Conv 3x3 {2 * w}->{2 * w} @32",
                  {"stock": nn.Conv(2 * w, (3, 3)), "fast": FastConv(2 * w, (3, 3))},
                  (batch, 32, 32, 2 * w), ("conv", 2 * w, 2 * w, 3, 1, 1)))
    return cases


def step_fn(arch: str, batch: int, width: int, fast: bool, gp: bool):
    """Gradients of one 32x32 WGAN step: critic on real + fake, generator through the critic."""
    mod = ARCHS[arch]
    g = mod.Generator(32, 1, width, 128, fast_cpu_layers=fast)
    d = mod.Critic(32, 1, width, fast_cpu_layers=fast)
    kz, kx, kg, kd, ke = jax.random.split(jax.random.key(0), 5)
    z = jax.random.normal(kz, (batch, 128))
    real = jax.random.uniform(kx, (batch, 32, 32, 1), minval=-1.0, maxval=1.0)
    gv = g.init(kg, z, train=False)
    dv = d.init(kd, real, train=False)
    eps = jax.random.uniform(ke, (batch, 1, 1, 1))

    @jax.jit
    def step(gv, dv):
        def critic(dp, x):  # statistics (spectral-norm vectors) frozen, as in the penalties
            return d.apply({**dv, "params": dp}, x, train=False)

        def d_loss(dp, fake):
            scores = critic(dp, jnp.concatenate([real, fake]))
            loss = jnp.mean(scores[batch:]) - jnp.mean(scores[:batch])
            if gp:
                def one(x):
                    return jax.grad(lambda x: critic(dp, x[None])[0, 0, 0])(x)

                mix = eps * real + (1 - eps) * fake
                norms = jnp.sqrt(jnp.sum(jax.vmap(one)(mix) ** 2, axis=(1, 2, 3)) + 1e-12)
                loss = loss + 10.0 * jnp.mean((norms - 1.0) ** 2)
            return loss

        def g_loss(gp_):
            fake, _ = g.apply({**gv, "params": gp_}, z, train=True, mutable=["batch_stats"])
            return -jnp.mean(critic(dv["params"], fake)), fake

        (_, fake), g_grads = jax.value_and_grad(g_loss, has_aux=True)(gv["params"])
        d_grads = jax.grad(d_loss)(dv["params"], jax.lax.stop_gradient(fake))
        return g_grads, d_grads

    return lambda: step(gv, dv)


def torch_layer_fn(spec, x_shape):
    import torch

    kind, cin, cout, k, s, p = spec
    cls = torch.nn.Conv2d if kind == "conv" else torch.nn.ConvTranspose2d
    layer = cls(cin, cout, k, stride=s, padding=p)
    n, h, w, _ = x_shape
    x = torch.randn(n, cin, h, w, requires_grad=True)

    def run():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        y = layer(x)
        y.backward(torch.ones_like(y))

    return run


def torch_dcgan_step_fn(batch: int, width: int, gp: bool):
    """The same step in PyTorch eager: the WGAN-GP paper's DCGAN at 32x32, 4x4 kernels."""
    import torch
    from torch import nn as tnn

    w = width
    g = tnn.Sequential(
        tnn.ConvTranspose2d(128, 4 * w, 4, 1, 0, bias=False), tnn.BatchNorm2d(4 * w), tnn.ReLU(),
        tnn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), tnn.BatchNorm2d(2 * w), tnn.ReLU(),
        tnn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), tnn.BatchNorm2d(w), tnn.ReLU(),
        tnn.ConvTranspose2d(w, 1, 4, 2, 1), tnn.Tanh())
    d = tnn.Sequential(
        tnn.Conv2d(1, w, 4, 2, 1), tnn.LeakyReLU(0.2), tnn.Conv2d(w, 2 * w, 4, 2, 1), tnn.LeakyReLU(0.2),
        tnn.Conv2d(2 * w, 4 * w, 4, 2, 1), tnn.LeakyReLU(0.2), tnn.Conv2d(4 * w, 1, 4, 1, 0))
    z = torch.randn(batch, 128, 1, 1)
    real = torch.rand(batch, 1, 32, 32) * 2 - 1

    def run():
        g.zero_grad(set_to_none=True)
        d.zero_grad(set_to_none=True)
        fake = g(z)
        (-d(fake).mean()).backward()
        fake = fake.detach()
        scores = d(torch.cat([real, fake]))
        loss = scores[batch:].mean() - scores[:batch].mean()
        if gp:
            eps = torch.rand(batch, 1, 1, 1)
            mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(mix).sum(), mix, create_graph=True)
            loss = loss + 10 * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss.backward()

    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--resnet-width", type=int, default=16,
                    help="width of the ResNet row (64 = SNGAN's full size); 0 skips it")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference column")
    ap.add_argument("--only", default="", help="run only rows whose name contains this")
    args = ap.parse_args(argv)
    use_torch = not args.no_torch
    if use_torch:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)

    rows = []
    for name, layers, shape, spec in layer_cases(args.batch, args.width):
        if args.only not in name:
            continue
        fns = {k: layer_grad_fn(layer, shape) for k, layer in layers.items()}
        if use_torch:
            fns["torch"] = torch_layer_fn(spec, shape)
        rows.append((name, interleaved_medians(fns, args.reps)))
    for gp in (False, True):
        name = f"DCGAN 32x32 G+D step{' + GP' if gp else ''} (w={args.width})"
        if args.only not in name:
            continue
        fns = {"stock": step_fn("dcgan", args.batch, args.width, False, gp),
               "fast": step_fn("dcgan", args.batch, args.width, True, gp)}
        if use_torch:
            fns["torch"] = torch_dcgan_step_fn(args.batch, args.width, gp)
        rows.append((name, interleaved_medians(fns, args.reps)))
    name = f"SNGAN ResNet 32x32 G+D step (w={args.resnet_width})"
    if args.resnet_width and args.only in name:
        fns = {"stock": step_fn("resnet", args.batch, args.resnet_width, False, False),
               "fast": step_fn("resnet", args.batch, args.resnet_width, True, False)}
        rows.append((name, interleaved_medians(fns, args.reps)))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nforward + backward, batch {args.batch}, median of {args.reps} interleaved runs after "
          f"compile; jax {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} cores, "
          f"load average {load:.1f} at the end\n")
    print("| layer / model | stock Flax ms | fast ms | stock / fast | phases ms | PyTorch ms "
          "| fast / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, t in rows:
        phases = f"{1e3 * t['phases']:.1f}" if "phases" in t else "-"
        torch_cols = (f"{1e3 * t['torch']:.1f} | {t['fast'] / t['torch']:.2f}" if "torch" in t
                      else "- | -")
        print(f"| {name} | {1e3 * t['stock']:.1f} | {1e3 * t['fast']:.1f} | "
              f"{t['stock'] / t['fast']:.1f}x | {phases} | {torch_cols} |")


if __name__ == "__main__":
    main()
