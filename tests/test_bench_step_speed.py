"""benchmarks/step_speed.py and its PyTorch reference (benchmarks/torch_reference.py).

The reference must be jaxgan's models in PyTorch (same parameter counts, same
critic maps, the same LGA gradient) and its step must run for every loss; the
script must print one sound table. Compiling jaxgan's real train step costs
seconds, so the end-to-end run is one (architecture, step) pair, in a
subprocess with XLA's backend optimisations off (a smoke test, not a timing);
the parameter counts cover every pair without compiling anything.
"""

import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
torch = pytest.importorskip("torch")

from benchmarks import step_speed, torch_reference  # noqa: E402
from jaxgan import losses, parallel  # noqa: E402
from jaxgan.engine.state import abstract_state  # noqa: E402
from jaxgan.systems import build_system  # noqa: E402


def _jaxgan_param_counts(case, channels=3):
    config = step_speed.make_config(case, batch=4, channels=channels)
    mesh = parallel.make_mesh(jax.devices()[:1])
    state = abstract_state(build_system(config), mesh)  # Shapes only: nothing compiles.
    return {"G": step_speed._count(state.params["g"]), "D": step_speed._count(state.params["d"])}


def _case(arch, step, width):
    critic_map = step_speed.LGA_MAP[arch] if step_speed.STEPS[step][3] else 1
    return step_speed.Case(arch, step, width, critic_map)


@pytest.mark.parametrize("arch", step_speed.ARCHS)
@pytest.mark.parametrize("step", list(step_speed.STEPS))
@pytest.mark.parametrize("width", [3, 64])
def test_torch_reference_has_jaxgan_parameter_counts(arch, step, width):
    case = _case(arch, step, width)
    g, d = torch_reference.build_models(arch, channels=3, width=width, z_dim=step_speed.Z_DIM,
                                        critic_map=case.critic_map)
    assert _jaxgan_param_counts(case) == {"G": torch_reference.num_params(g),
                                          "D": torch_reference.num_params(d)}


@pytest.mark.parametrize("arch", step_speed.ARCHS)
def test_torch_reference_shapes(arch):
    for critic_map in (1, step_speed.LGA_MAP[arch]):
        g, d = torch_reference.build_models(arch, channels=1, width=2, z_dim=8, critic_map=critic_map)
        images = g(torch.zeros(3, 8))
        assert images.shape == (3, 1, 32, 32)
        assert d(images).shape == (3, critic_map, critic_map)


@pytest.mark.parametrize("lga", [False, True])
def test_torch_generator_loss_gradient_is_jaxgans(lga):
    scores = np.random.default_rng(0).normal(0.5, 1.5, size=(4, 8, 8)).astype(np.float32)
    y = torch.tensor(scores, requires_grad=True)
    torch_reference.generator_loss(y, lga).backward()
    g_loss = (lambda s: losses.lga_g(s, "lga")) if lga else losses.hinge_g
    expected = jax.grad(lambda s: jnp.mean(g_loss(s)))(jnp.asarray(scores))
    np.testing.assert_allclose(y.grad.numpy(), np.asarray(expected), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("step", list(step_speed.STEPS))
def test_torch_step_updates_both_networks(step):
    loss, gp_weight, lga, _ = step_speed.STEPS[step]
    torch.manual_seed(0)
    g, d = torch_reference.build_models("resnet", channels=3, width=2, z_dim=8, critic_map=1)
    before = [p.detach().clone() for p in (*g.parameters(), *d.parameters())]
    run = torch_reference.make_train_step(g, d, loss=loss, gp_weight=gp_weight, lga=lga, batch=4,
                                          z_dim=8, real=torch.rand(4, 3, 32, 32) * 2 - 1)
    run()
    after = list((*g.parameters(), *d.parameters()))
    n_g = len(list(g.parameters()))
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(after[:n_g], before[:n_g], strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(after[n_g:], before[n_g:], strict=True))


@pytest.mark.slow  # Times every step of both frameworks.
def test_script_prints_one_table():
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_backend_optimization_level=0"}
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "step_speed.py"), "--archs", "dcgan",
         "--losses", "hinge_lga", "--width", "2", "--batch", "4", "--reps", "1", "--channels", "1"],
        env=env, capture_output=True, text=True, timeout=600, check=True).stdout
    assert "median of 1 interleaved" in out and "PyTorch 2" in out
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) == 3  # header, rule, one row
    cells = [c.strip() for c in table[2].split("|")[1:-1]]
    assert cells[:2] == ["DCGAN (G 2, D 2 ch)", "hinge_lga (8x8)"]
    for value in (cells[2], cells[3], cells[4], cells[9]):  # img/s both sides, ratio, compile s
        assert math.isfinite(float(value)) and float(value) > 0
    g_params, d_params = (int(v.replace(",", "")) for v in cells[10].split(" / "))
    assert (g_params, d_params) == tuple(_jaxgan_param_counts(_case("dcgan", "hinge_lga", 2), 1).values())


def test_table_ratios():
    def row(step, critic_map, jaxgan_s, torch_s):
        return {"arch": "resnet", "step": step, "case": step_speed.Case("resnet", step, 8, critic_map),
                "compile_s": 1.0, "params": {"G": 10, "D": 5}, "jaxgan_s": jaxgan_s, "torch_s": torch_s}

    rows = [row("wgan_gp", 1, 0.6, 1.2), row("hinge", 1, 0.5, 0.8), row("hinge_map", 4, 0.4, 0.8),
            row("hinge_lga", 4, 0.41, 1.0)]
    lines = step_speed.format_table(rows, {}, step_speed.argparse.Namespace(batch=64)).splitlines()[2:]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines]
    # model, step, jaxgan img/s, torch img/s, ratio, jaxgan/hinge, torch/hinge, LGA jaxgan, LGA torch
    assert cells[0][:9] == ["SNGAN ResNet (G 32, D 16 ch)", "wgan_gp (1x1)", "106.7", "53.3", "2.00",
                            "1.20", "1.50", "-", "-"]
    assert cells[1][4:7] == ["1.60", "1.00", "1.00"]
    assert cells[3][7:9] == ["+2.5%", "+25.0%"]
    assert cells[3][10] == "10 / 5"
