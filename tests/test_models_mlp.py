"""The 2-D point MLPs: PacGAN's layer sizes, the view critic's locality, maxout against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import mlp
from jaxgan.models.errors import ModelConfigError


def test_default_sizes_are_pacgans():
    g, d = mlp.Generator(), mlp.Critic()
    gv = g.init(jax.random.key(0), jnp.zeros((3, 2)), train=False)
    dv = d.init(jax.random.key(1), jnp.zeros((3, 2)), train=False)
    shapes = jax.tree.map(lambda a: a.shape, gv["params"])
    assert [shapes[f"hidden{i}"]["kernel"] for i in range(4)] == [(2, 400)] + [(400, 400)] * 3
    assert "bias" not in shapes["hidden0"] and shapes["out"]["kernel"] == (400, 2)
    dshapes = jax.tree.map(lambda a: a.shape, dv["params"])
    assert [dshapes[f"hidden{i}"]["kernel"] for i in range(3)] == [(2, 1000), (200, 1000), (200, 1000)]
    assert dshapes["score"]["kernel"] == (200, 1)
    std = np.std(np.asarray(dv["params"]["hidden1"]["kernel"]))
    assert abs(std - 0.02) < 0.001  # N(0, 0.02) initialisation.


def test_maxout_critic_matches_numpy():
    d = mlp.Critic(width=3, depth=1, pieces=4)
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    v = d.init(jax.random.key(0), x, train=False)
    p = jax.tree.map(np.asarray, v["params"])
    pre = x @ p["hidden0"]["kernel"] + p["hidden0"]["bias"]        # [5, 12]
    h = pre.reshape(5, 3, 4).max(-1)                                  # groups of 4 consecutive units
    want = (h @ p["score"]["kernel"] + p["score"]["bias"])[:, 0]
    np.testing.assert_allclose(d.apply(v, x, train=False), want, rtol=1e-5, atol=1e-6)


def test_each_view_sees_only_its_projection():
    k = 6
    d = mlp.Critic(width=4, depth=2, pieces=2, views=k, view_width=5)
    x = jax.random.normal(jax.random.key(2), (7, 2))
    # Scaled up from the N(0, 0.02) init so that every view's score is far from flat.
    v = jax.tree.map(lambda a: 30.0 * a, d.init(jax.random.key(3), x, train=False))
    scores = d.apply(v, x, train=False)
    assert scores.shape == (7, k)
    u = mlp.view_directions(k)
    for j in range(k):
        normal = np.array([-u[1, j], u[0, j]], np.float32)  # orthogonal to view j's direction
        moved = d.apply(v, x + 0.7 * normal, train=False)
        np.testing.assert_allclose(moved[:, j], scores[:, j], rtol=1e-5, atol=1e-6)
        others = np.delete(np.abs(np.asarray(moved - scores)), j, axis=1)
        assert others.max() > 1e-2  # The other views do see the move.


def test_generator_batch_norm_uses_batch_statistics_in_training():
    g = mlp.Generator(width=8, depth=2)
    v = g.init(jax.random.key(0), jnp.zeros((4, 2)), train=False)
    z = jax.random.normal(jax.random.key(1), (64, 2)) * 5.0 + 3.0
    x_train, upd = g.apply(v, z, train=True, mutable=["batch_stats"])
    x_eval = g.apply(v, z, train=False)  # Running stats still at init (0, 1): a different function.
    assert not np.allclose(x_train, x_eval)
    mean = np.asarray(upd["batch_stats"]["bn0"]["mean"])
    pre = np.asarray(z @ v["params"]["hidden0"]["kernel"])
    np.testing.assert_allclose(mean, 0.05 * pre.mean(0), rtol=1e-4, atol=1e-6)  # momentum 0.95


@pytest.mark.parametrize("bad, match", [
    (dict(views=-1), "views must be an integer >= 0"),
    (dict(width=0), "width must be an integer >= 1"),
])
def test_bad_critic_config(bad, match):
    with pytest.raises(ModelConfigError, match=match):
        mlp.Critic(**bad).init(jax.random.key(0), jnp.zeros((2, 2)), train=False)


def test_points_of_the_wrong_shape():
    with pytest.raises(ModelConfigError, match=r"takes \[B, 2\] arrays, got shape \(2, 3\)"):
        mlp.Generator().init(jax.random.key(0), jnp.zeros((2, 3)), train=False)
    with pytest.raises(ModelConfigError, match="unconditional"):
        mlp.Critic().init(jax.random.key(0), jnp.zeros((2, 2)), jnp.zeros((2,), jnp.int32), train=False)


def test_eight_views_leave_no_ghost_of_the_ring():
    # A point within 3 std of a mode's projection in every view, yet far from every mode, could
    # look real to every cell of the map. With 4 directions the ring's centre is such a point;
    # with 8 (the benchmark's map) none is, on a 0.008-step grid of the plane.
    from jaxgan.data import mixtures

    c, tol = mixtures.ring_centers(), 3 * mixtures.RING_STD
    xs = np.linspace(-2.6, 2.6, 651)
    p = np.stack([a.ravel() for a in np.meshgrid(xs, xs)], 1)
    dist = np.sqrt(((p[:, None] - c[None]) ** 2).sum(-1)).min(1)
    for k, worst in ((4, 2.0), (8, tol)):
        u = mlp.view_directions(k)
        real_everywhere = (np.abs((p @ u)[:, None] - (c @ u)[None]) < tol).any(1).all(1)
        assert dist[real_everywhere].max() == pytest.approx(worst, abs=0.008)
