"""A group's loss may write the system's extra state (``ctx.set_extra``): the value is the state's
from that update on, it is the same on 1 device and on 4 when computed from the global batch,
and a bad write is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from device_checks import assert_four_devices_equal_one, with_sgd
from jaxgan.engine.context import Context
from jaxgan.systems.bigan import BiGAN
from test_bigan import BATCH, _config, _images


class RecordingBiGAN(BiGAN):
    """BiGAN whose critic update records what it saw: the running sum of its global batch's
    pixel means, and the last batch's per-example means in row order."""

    def init_extra(self):
        return {"seen": {"sum": jnp.zeros((), jnp.float32),
                         "rows": jnp.zeros((BATCH,), jnp.float32)}}

    def critic_loss(self, ctx, batch):
        rows = ctx.gather_global(jnp.mean(batch["image"], axis=(1, 2, 3)))
        seen = ctx.extra["seen"]
        ctx.set_extra("seen", {"sum": seen["sum"] + jnp.sum(rows), "rows": rows})
        return super().critic_loss(ctx, batch)


def test_a_group_writes_extra_state_the_same_on_one_and_four_devices():
    system = with_sgd(RecordingBiGAN(_config()))
    batches = [({"image": _images(20 + s)},) for s in range(3)]
    _, one, _, _ = assert_four_devices_equal_one(system, batches, BATCH)
    means = [b[0]["image"].mean(axis=(1, 2, 3)) for b in batches]
    np.testing.assert_allclose(one.extra["seen"]["rows"], means[-1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(one.extra["seen"]["sum"], sum(m.sum() for m in means), rtol=1e-5)


def test_set_extra_refuses_unknown_entries_and_other_structures():
    ctx = Context({}, {}, {}, jax.random.key(0), 2, extra={"k": jnp.zeros(())})
    with pytest.raises(KeyError, match="no entry 'pool'"):
        ctx.set_extra("pool", jnp.zeros(()))
    with pytest.raises(ValueError, match="must keep its structure"):
        ctx.set_extra("k", {"a": jnp.zeros(())})
    ctx.set_extra("k", jnp.ones(()))
    assert float(ctx.extra["k"]) == 1.0 and set(ctx.updated_extra()) == {"k"}


def test_gather_global_is_every_replicas_rows_in_order():
    from jax.sharding import PartitionSpec as P

    from jaxgan import parallel

    mesh = parallel.make_mesh(jax.devices()[:4])
    x = jnp.arange(8.0 * 3).reshape(8, 3) - 7.5

    def replica(x):
        return Context({}, {}, {}, jax.random.key(0), 2).gather_global(x)

    got = jax.jit(jax.shard_map(replica, mesh=mesh, in_specs=P(parallel.DATA_AXIS),
                                out_specs=P()))(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(x))
