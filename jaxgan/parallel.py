"""The device mesh, data sharding and multi-host start-up.

Every program in jaxgan runs on a 1-D mesh with one axis, ``'data'``. Model
state is replicated over it and batches are split along it; the train step is
written per replica and mapped over the mesh with ``jax.shard_map`` inside
``jax.jit``. On several hosts every process runs the same program, reads its
own slice of the data and contributes it to one global ``jax.Array``.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D ``('data',)`` mesh over ``devices`` (default: every device of every host).

    The axis type is ``Auto``: the default explicit axis type rejects reshapes
    inside models that mix sharded and unsharded dimensions.
    """
    if devices is None:
        return jax.make_mesh((jax.device_count(),), (DATA_AXIS,), axis_types=(AxisType.Auto,))
    return Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over ``'data'``; everything else whole."""
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """The same full copy on every device of the mesh."""
    return NamedSharding(mesh, P())


def check_batch_size(global_batch_size: int, mesh: Mesh) -> int:
    """Returns the per-host batch size, or raises if the batch does not divide evenly."""
    n_dev = mesh.devices.size
    if global_batch_size % n_dev:
        raise ValueError(
            f"train.batch_size={global_batch_size} is not divisible by the {n_dev} devices of "
            f"the mesh; choose a multiple of {n_dev} (e.g. --config.train.batch_size="
            f"{max(n_dev, global_batch_size // n_dev * n_dev)}).")
    return global_batch_size // jax.process_count()


def host_to_global(mesh: Mesh, host_tree: Any) -> Any:
    """Assembles each host's local slice (leading dim) into globally sharded arrays."""
    sharding = data_sharding(mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), host_tree)


def replicate(mesh: Mesh, tree: Any) -> Any:
    """Places a pytree, identical on every host, replicated over the mesh."""
    return jax.device_put(tree, replicated(mesh))


def initialize_distributed() -> bool:
    """Starts ``jax.distributed`` when the launch environment asks for a multi-process run.

    Three cases, checked in order; returns whether it initialised:
      * ``JAXGAN_COORDINATOR_ADDRESS``, ``JAXGAN_NUM_PROCESSES`` and ``JAXGAN_PROCESS_ID`` set
        explicitly (any cluster, and the 2-process CPU run of ``launch/local_multiprocess.sh``);
      * a SLURM job step with more than one task (``SLURM_NTASKS`` > 1): JAX reads SLURM's
        variables itself;
      * a multi-host Cloud TPU slice (``TPU_WORKER_HOSTNAMES`` lists several hosts): JAX reads
        the TPU metadata itself.
    A single-process run does nothing. Calling it twice is harmless.
    """
    import os

    if jax.distributed.is_initialized():
        return True
    env = os.environ
    if env.get("JAXGAN_COORDINATOR_ADDRESS"):
        try:
            num = int(env["JAXGAN_NUM_PROCESSES"])
            pid = int(env["JAXGAN_PROCESS_ID"])
        except (KeyError, ValueError):
            raise ValueError(
                "JAXGAN_COORDINATOR_ADDRESS is set, so JAXGAN_NUM_PROCESSES and JAXGAN_PROCESS_ID "
                "must be set to integers too (e.g. 2 and 0..1).") from None
        jax.distributed.initialize(coordinator_address=env["JAXGAN_COORDINATOR_ADDRESS"],
                                   num_processes=num, process_id=pid)
        return True
    if int(env.get("SLURM_NTASKS", "1")) > 1:
        jax.distributed.initialize()
        return True
    if len([h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1:
        jax.distributed.initialize()
        return True
    return False
