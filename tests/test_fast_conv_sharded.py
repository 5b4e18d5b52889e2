"""The fast convolution inside ``shard_map``: the train step's own setting.

Its ``custom_vjp`` rules must return cotangents of the primals' mesh-varying
types (a replicated weight's gradient summed over ``'data'``), including the
double backward pass of the gradient penalty.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from jaxgan import parallel
from jaxgan.models.fast_conv import conv2d

PADS = ((1, 1), (1, 1))


def _stock(x, w):
    return lax.conv_general_dilated(x, w, (2, 2), PADS, dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _penalty_loss(conv, w, x):
    """A WGAN-GP-shaped objective: the squared input gradient, differentiated by the weight."""
    gx = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, w))))(x)
    return jnp.mean(jnp.square(gx)) + jnp.mean(jnp.square(conv(x, w)))


def test_double_backward_inside_shard_map_equals_stock_global_gradient():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(8, 8, 8, 3)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(4, 4, 3, 5)) * 0.3, jnp.float32)
    mesh = parallel.make_mesh(jax.devices()[:4])
    fast = lambda x, w: conv2d(x, w, (2, 2), PADS)

    def per_replica(w, x):
        return jax.grad(lambda w: lax.pmean(_penalty_loss(fast, w, x), "data"))(w)

    got = jax.jit(jax.shard_map(per_replica, mesh=mesh, in_specs=(P(), P("data")),
                                out_specs=P()))(w, x)
    # Independent: the stock convolution on the whole batch, no mapping. Each
    # replica's mean over 2 rows, averaged over 4 replicas, is the global mean.
    want = jax.grad(lambda w: jnp.mean(jnp.stack(
        [_penalty_loss(_stock, w, x[i:i + 2]) for i in range(0, 8, 2)])))(w)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-5,
                               atol=2e-6 * float(jnp.max(jnp.abs(want))))
