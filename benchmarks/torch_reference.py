"""Plain PyTorch eager reference of jaxgan's 32x32 DCGAN and SNGAN ResNet train steps.

The speed reference of ``benchmarks/step_speed.py``: the same layers, widths and
parameter counts as :mod:`jaxgan.models.dcgan` and :mod:`jaxgan.models.resnet`,
written the way a PyTorch user would (NCHW, ``torch.nn`` layers, spectral norm by
``torch.nn.utils.parametrizations.spectral_norm``, the gradient penalty by
``torch.autograd.grad(..., create_graph=True)``, ``torch.optim.Adam``), and the
same step: one critic update on ``cat([real, fake])``, one generator update
through the frozen critic, then an EMA of the generator's parameters.

Deliberate equalities with jaxgan (so both sides do the same arithmetic): the
ResNet generator's 1x1 shortcut convolves before the nearest up-sampling (exact,
4x cheaper; jaxgan does the same), and the critic's parameters take no gradient
in the generator update (``requires_grad_(False)``, as jaxgan differentiates the
generator's parameters only).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm


# ----------------------------------------------------------------------------- DCGAN 32x32

class DCGANGenerator(nn.Module):
    """z -> Linear 4*4*4w (no bias) -> BN, ReLU -> ConvT 2w, w (no bias) + BN, ReLU -> ConvT C -> tanh."""

    def __init__(self, channels: int, width: int, z_dim: int):
        super().__init__()
        w = width
        self.base = 4 * w
        self.project = nn.Linear(z_dim, 16 * 4 * w, bias=False)
        self.net = nn.Sequential(
            nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, channels, 4, 2, 1), nn.Tanh())

    def forward(self, z):
        return self.net(self.project(z).view(z.shape[0], self.base, 4, 4))


class DCGANCritic(nn.Module):
    """Convs of w, 2w, 4w channels with LeakyReLU(0.2), then the score layer.

    4x4 stride-2 convs down to 4x4; for an 8x8 map the last one is a 3x3
    stride-1 conv of the same width instead (every map has the same depth).
    """

    def __init__(self, channels: int, width: int, critic_map: int):
        super().__init__()
        n_down = 2 if critic_map == 8 else 3
        layers, cin = [], channels
        for i in range(3):
            cout = width * 2 ** i
            conv = nn.Conv2d(cin, cout, 4, 2, 1) if i < n_down else nn.Conv2d(cin, cout, 3, 1, 1)
            layers += [conv, nn.LeakyReLU(0.2)]
            cin = cout
        # One score: a 4x4 valid conv (a linear layer on the 4x4 map); a map: a 1x1 conv.
        layers.append(nn.Conv2d(cin, 1, 4) if critic_map == 1 else nn.Conv2d(cin, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)[:, 0]  # [B, n, n]


# ----------------------------------------------------------------------------- SNGAN ResNet 32x32

class GBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(ch), nn.BatchNorm2d(ch)
        self.conv1, self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1), nn.Conv2d(ch, ch, 3, 1, 1)
        self.shortcut = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + F.interpolate(self.shortcut(x), scale_factor=2, mode="nearest")


class ResNetGenerator(nn.Module):
    """z -> Linear 4*4*4w -> 3 x GBlock(4w, up) -> BN, ReLU -> Conv 3x3 C -> tanh."""

    def __init__(self, channels: int, width: int, z_dim: int):
        super().__init__()
        self.ch = 4 * width
        self.project = nn.Linear(z_dim, 16 * self.ch)
        self.blocks = nn.Sequential(*(GBlock(self.ch) for _ in range(3)))
        self.bn_out = nn.BatchNorm2d(self.ch)
        self.conv_out = nn.Conv2d(self.ch, channels, 3, 1, 1)

    def forward(self, z):
        h = self.blocks(self.project(z).view(z.shape[0], self.ch, 4, 4))
        return torch.tanh(self.conv_out(F.relu(self.bn_out(h))))


class DBlock(nn.Module):
    def __init__(self, cin: int, ch: int, down: bool, first: bool):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = spectral_norm(nn.Conv2d(cin, ch, 3, 1, 1))
        self.conv2 = spectral_norm(nn.Conv2d(ch, ch, 3, 1, 1))
        self.shortcut = (spectral_norm(nn.Conv2d(cin, ch, 1)) if first or down or cin != ch
                         else None)

    def forward(self, x):
        h = self.conv1(x if self.first else F.relu(x))
        h = self.conv2(F.relu(h))
        if self.down:
            h = F.avg_pool2d(h, 2)
        if self.first:
            s = self.shortcut(F.avg_pool2d(x, 2))
        elif self.shortcut is not None:
            s = self.shortcut(x)
            s = F.avg_pool2d(s, 2) if self.down else s
        else:
            s = x
        return h + s


class ResNetCritic(nn.Module):
    """OptBlock(2w, down), DBlock(2w, down), 2 x DBlock(2w), ReLU, sum (or 4x4 pool) -> SN Linear 1."""

    def __init__(self, channels: int, width: int, critic_map: int):
        super().__init__()
        ch = 2 * width
        self.critic_map = critic_map
        self.blocks = nn.Sequential(DBlock(channels, ch, True, True), DBlock(ch, ch, True, False),
                                    DBlock(ch, ch, False, False), DBlock(ch, ch, False, False))
        self.score = spectral_norm(nn.Linear(ch, 1))

    def forward(self, x):
        h = F.relu(self.blocks(x))
        if self.critic_map == 1:
            return self.score(h.sum(dim=(2, 3)))[:, :, None]  # [B, 1, 1]
        h = F.avg_pool2d(h, 2) * 64.0  # [B, ch, 4, 4]: each score reads a 2x2 window
        return self.score(h.permute(0, 2, 3, 1))[..., 0]  # [B, 4, 4]


def build_models(arch: str, *, channels: int, width: int, z_dim: int, critic_map: int):
    """``(generator, critic)`` of ``arch`` ('dcgan' or 'resnet') at image size 32."""
    if arch == "dcgan":
        return DCGANGenerator(channels, width, z_dim), DCGANCritic(channels, width, critic_map)
    if arch == "resnet":
        return ResNetGenerator(channels, width, z_dim), ResNetCritic(channels, width, critic_map)
    raise ValueError(f"no PyTorch reference for arch {arch!r}; choose 'dcgan' or 'resnet'")


def num_params(module: nn.Module) -> int:
    """Trainable parameter count (spectral norm's ``u``/``v`` are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters())


def generator_loss(scores: torch.Tensor, lga: bool) -> torch.Tensor:
    """``-mean(Y)``, or with the LGA ``-mean(Y * A)`` with ``A = min(Y, 1)`` held constant."""
    if lga:
        scores = scores * torch.clamp(scores, max=1.0).detach()
    return -scores.mean()


def make_train_step(generator, critic, *, loss: str, gp_weight: float, lga: bool, batch: int,
                    z_dim: int, real: torch.Tensor, lr: float = 1e-4, ema_decay: float = 0.999):
    """A zero-argument ``step()``: one critic update, one generator update, EMA of G.

    ``loss`` is 'wasserstein' or 'hinge'; ``lga`` multiplies the generator's
    critic map by ``A = min(Y, 1)`` held constant, so the gradient per cell is
    scaled by ``A`` (jaxgan's ``losses.lga_g(..., 'lga')``). Returns when the
    work is done (synchronises CUDA).
    """
    if loss not in ("wasserstein", "hinge"):
        raise ValueError(f"reference loss must be 'wasserstein' or 'hinge', not {loss!r}")
    device = real.device
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.0, 0.9))
    g_params = list(generator.parameters())
    ema = [p.detach().clone() for p in g_params]

    def critic_update():
        with torch.no_grad():
            fake = generator(torch.randn(batch, z_dim, device=device))
        scores = critic(torch.cat([real, fake]))
        r, f = scores[:batch], scores[batch:]
        if loss == "hinge":
            d_loss = F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()
        else:
            d_loss = f.mean() - r.mean()
        if gp_weight:
            eps = torch.rand(batch, 1, 1, 1, device=device)
            mix = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
            d_loss = d_loss + gp_weight * ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

    def generator_update():
        critic.requires_grad_(False)
        g_loss = generator_loss(critic(generator(torch.randn(batch, z_dim, device=device))), lga)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        critic.requires_grad_(True)
        with torch.no_grad():
            torch._foreach_lerp_(ema, g_params, 1.0 - ema_decay)

    def step():
        critic_update()
        generator_update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step
