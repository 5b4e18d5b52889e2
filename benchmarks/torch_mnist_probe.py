"""Plain PyTorch DCGAN recipes on MNIST 32x32: which losses and critic maps collapse, outside jaxgan.

Trains the DCGAN of ``jaxgan.models.dcgan`` at width 32 (same layers, N(0, 0.02)
init) in eager PyTorch and writes 2,000 samples, so a recipe's failure can be
told apart from a trainer bug. Settings are environment variables:

    LOSS   ns | hinge | wgan          MAP    1 | 8 (8x8 map: third conv 3x3 stride 1)
    GP     penalty weight (0: none)   GPT    the norm it pulls towards (1)
    NC     critic updates per step    LR, DLR, B1, B2   Adam (DLR: critic lr, default LR)
    GBN    batch norm in G (1)        DBN    batch norm in the critic (0)
    GLOBAL 1: a whole-image score added to every cell (as model.critic_global)
    DEEP   extra 3x3 convs of 4w channels at the 8x8 map (0)
    LGA    1: the sign-preserving amplifier on the generator's gradient
    STEPS  generator updates          SEED, W, ZD, BS, OUT (samples .npz)

Example (docs/results.md section 4), then the classifier metrics:

    LOSS=wgan MAP=8 GLOBAL=1 GP=10 NC=5 LR=1e-4 STEPS=400 OUT=w8glob.npz \
        python benchmarks/torch_mnist_probe.py
    python -m jaxgan.evaluate --fake w8glob.npz --real mnist_test.npz --num 2000 \
        --num_real 10000 --metrics classifier_fid

It prints the per-pixel std over 64 fixed latents (train-mode batch norm) every
100 steps: near 0 means one image for every latent.
"""
import os, sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(int(os.environ.get("SEED", 0))); torch.set_num_threads(2)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jaxgan import data
from jaxgan.config import base_config
E = lambda k, d: type(d)(os.environ.get(k, d))
LOSS, MAP, GP, NC, LR, B1, B2 = E("LOSS", "ns"), E("MAP", 1), E("GP", 0.0), E("NC", 1), E("LR", 2e-4), E("B1", 0.5), E("B2", 0.9)
GPT = E("GPT", 1.0)
GBN, DBN, STEPS, W, ZD, BS, DLR = E("GBN", 1), E("DBN", 0), E("STEPS", 600), E("W", 32), E("ZD", 64), E("BS", 64), E("DLR", 0.0)
OUT = os.environ.get("OUT", "torch_mnist_probe.npz")
x_all = data.load_dataset(base_config().data).images
x_all = torch.tensor(x_all[..., 0][:, None].astype(np.float32) / 127.5 - 1)
gb = (lambda c: nn.BatchNorm2d(c)) if GBN else (lambda c: nn.Identity())
db = (lambda c: nn.BatchNorm2d(c)) if DBN else (lambda c: nn.Identity())
w = W
G = nn.Sequential(nn.Linear(ZD, 16 * 4 * w, bias=not GBN), nn.Unflatten(1, (4 * w, 4, 4)), gb(4 * w), nn.ReLU(),
                  nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=not GBN), gb(2 * w), nn.ReLU(),
                  nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=not GBN), gb(w), nn.ReLU(),
                  nn.ConvTranspose2d(w, 1, 4, 2, 1), nn.Tanh())
if MAP == 1:
    D = nn.Sequential(nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(w, 2 * w, 4, 2, 1), db(2 * w), nn.LeakyReLU(0.2),
                      nn.Conv2d(2 * w, 4 * w, 4, 2, 1), db(4 * w), nn.LeakyReLU(0.2), nn.Conv2d(4 * w, 1, 4, 1, 0), nn.Flatten())
else:  # 8x8 map: third conv 3x3 stride 1
    DEEP, GLOBAL = E("DEEP", 0), E("GLOBAL", 0)
    extra = []
    for _ in range(DEEP):
        extra += [nn.Conv2d(4 * w, 4 * w, 3, 1, 1), nn.LeakyReLU(0.2)]
    body = nn.Sequential(nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(w, 2 * w, 4, 2, 1), db(2 * w), nn.LeakyReLU(0.2),
                      nn.Conv2d(2 * w, 4 * w, 3, 1, 1), db(4 * w), nn.LeakyReLU(0.2), *extra)
    class MapD(nn.Module):
        def __init__(s):
            super().__init__(); s.body = body; s.head = nn.Conv2d(4 * w, 1, 1)
            if GLOBAL: s.glob = nn.Sequential(nn.Conv2d(4 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4 * w, 1, 4, 1, 0))
        def forward(s, x):
            h = s.body(x); y = s.head(h).flatten(1)
            if GLOBAL: y = y + s.glob(h).flatten(1)
            return y
    D = MapD()
for m in list(G.modules()) + list(D.modules()):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0, 0.02)
        if m.bias is not None: nn.init.zeros_(m.bias)
og = torch.optim.Adam(G.parameters(), LR, betas=(B1, B2)); od = torch.optim.Adam(D.parameters(), DLR or LR, betas=(B1, B2))
def d_loss(r, f):
    if LOSS == "ns": return F.softplus(-r).mean() + F.softplus(f).mean()
    if LOSS == "hinge": return F.relu(1 - r).mean() + F.relu(1 + f).mean()
    if LOSS == "wgan": return f.mean() - r.mean()
LGA = E("LGA", 0)
def g_loss(f):
    if LOSS == "ns": return F.softplus(-f).mean()
    if LGA: return -(f * torch.clamp(1 - f, min=1).detach()).mean()
    return -f.mean()
zfix = torch.randn(64, ZD)
gen = torch.Generator().manual_seed(1)
t0 = time.time(); it = 0
for i in range(1, STEPS + 1):
    for _ in range(NC):
        idx = torch.randint(0, 60000, (BS,), generator=gen)
        real = x_all[idx]
        fake = G(torch.randn(BS, ZD)).detach()
        ld = d_loss(D(real), D(fake))
        if GP:
            e = torch.rand(BS, 1, 1, 1)
            xh = (e * real + (1 - e) * fake).requires_grad_(True)
            g, = torch.autograd.grad(D(xh).mean(1).sum(), xh, create_graph=True)
            ld = ld + GP * ((g.flatten(1).norm(dim=1) - GPT) ** 2).mean()
        od.zero_grad(); ld.backward(); od.step()
    lg = g_loss(D(G(torch.randn(BS, ZD))))
    og.zero_grad(); lg.backward(); og.step()
    if i % 100 == 0:
        with torch.no_grad():
            xf = G(zfix)
        print(i, f"real {D(real).mean().item():.2f} fake {D(fake).mean().item():.2f} t {time.time()-t0:.0f}s std_z {xf.std(0).mean():.4f} mean {xf.mean():.3f}", flush=True)
with torch.no_grad():
    imgs = torch.cat([G(torch.randn(100, ZD)) for _ in range(20)])
u8 = ((imgs.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
np.savez(OUT, images=u8)
