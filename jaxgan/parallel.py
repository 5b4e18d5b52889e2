"""The device mesh, data sharding and multi-host start-up.

Every program in jaxgan runs on a 1-D mesh with one axis, ``'data'``. Model
state is replicated over it and batches are split along it; the train step is
written per replica and mapped over the mesh with ``jax.shard_map`` inside
``jax.jit``. On several hosts every process runs the same program, reads its
own slice of the data and contributes it to one global ``jax.Array``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
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


class DistributedError(RuntimeError):
    """A multi-process start-up that cannot work; the message says what to set."""


def _int_setting(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DistributedError(f"{name}={value!r} must be an integer.") from None


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> bool:
    """Starts ``jax.distributed`` when the launch asks for a multi-process run.

    Checked in order; returns whether ``jax.distributed`` is running afterwards:

    * the arguments (the train command's ``--coordinator_address``,
      ``--num_processes``, ``--process_id``), or else the environment variables
      ``JAXGAN_COORDINATOR_ADDRESS``, ``JAXGAN_NUM_PROCESSES``, ``JAXGAN_PROCESS_ID``:
      any cluster, and the 2-process CPU run of ``launch/local_multiprocess.sh``;
    * ``JAXGAN_DISTRIBUTED=1``: ``jax.distributed.initialize()`` without arguments,
      which finds a Cloud TPU pod slice, a SLURM job step, Open MPI or Kubernetes
      itself (``launch/tpu_pod.sh`` sets it);
    * a SLURM job step of more than one task (``srun`` sets ``SLURM_NTASKS`` > 1 and
      ``SLURM_PROCID``): JAX reads SLURM's variables;
    * a multi-host TPU slice that lists its hosts in ``TPU_WORKER_HOSTNAMES`` (GKE).

    A single-process run does nothing. It must run before any JAX computation;
    calling it again is harmless.

    Raises:
      DistributedError: half of the explicit settings, or numbers out of range.
    """
    if jax.distributed.is_initialized():
        return True
    env = os.environ
    address = coordinator_address or env.get("JAXGAN_COORDINATOR_ADDRESS") or None
    num = num_processes if num_processes is not None else env.get("JAXGAN_NUM_PROCESSES")
    pid = process_id if process_id is not None else env.get("JAXGAN_PROCESS_ID")
    if address or num is not None or pid is not None:
        missing = [what for what, value in (
            ("the coordinator address (--coordinator_address or JAXGAN_COORDINATOR_ADDRESS)",
             address),
            ("the number of processes (--num_processes or JAXGAN_NUM_PROCESSES)", num),
            ("this process's id (--process_id or JAXGAN_PROCESS_ID)", pid)) if value is None]
        if missing:
            raise DistributedError(
                "A multi-process run needs the coordinator address, the number of processes "
                f"and this process's id; missing: {'; '.join(missing)}.")
        num = _int_setting(num, "num_processes")
        pid = _int_setting(pid, "process_id")
        if num < 1 or not 0 <= pid < num:
            raise DistributedError(f"process_id={pid} must be in [0, num_processes={num}).")
        if ":" not in address:
            raise DistributedError(f"coordinator address {address!r} must be HOST:PORT, the "
                                   "address of process 0 and a free port (e.g. 10.0.0.2:8476).")
        _start(address, num, pid)
        return True
    if env.get("JAXGAN_DISTRIBUTED", "").lower() in ("1", "true", "yes"):
        _start()
        return True
    if int(env.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_PROCID" in env:
        _start()
        return True
    if len([h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1:
        _start()
        return True
    return False


def _start(address: str | None = None, num: int | None = None, pid: int | None = None) -> None:
    try:
        jax.distributed.initialize(coordinator_address=address, num_processes=num,
                                   process_id=pid)
    except (RuntimeError, ValueError) as e:  # XlaRuntimeError is a RuntimeError.
        where = f"the coordinator at {address}" if address else "the cluster JAX detected"
        raise DistributedError(
            f"jax.distributed.initialize could not join {where} ({str(e).splitlines()[0]}). "
            "Start every process with the same coordinator address and process count, each "
            "with its own process id, and check that process 0's host and port are reachable."
        ) from e


def _as_uint32(x: jax.Array) -> jax.Array:
    """The bits of ``x`` as uint32 words (narrower types widened, keys as their data)."""
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if x.dtype == jnp.bool_:
        return x.astype(jnp.uint32)
    width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32}.get(x.dtype.itemsize)
    if width is None:  # 64-bit types (jax_enable_x64): two words each.
        return jax.lax.bitcast_convert_type(x, jnp.uint32)
    return jax.lax.bitcast_convert_type(x, width).astype(jnp.uint32)


@jax.jit
def _leaf_sums(leaves: list) -> jax.Array:
    # Sums of the bit patterns, plain and weighted by position, modulo 2**32: integer
    # addition is associative, so the result is the same whatever order the device
    # reduces in, and it is computed where the data lives (no copy to the host).
    rows = [jnp.zeros((2,), jnp.uint32)]
    for x in leaves:
        u = _as_uint32(x).reshape(-1)
        i = jnp.arange(1, u.size + 1, dtype=jnp.uint32)
        rows.append(jnp.stack([jnp.sum(u, dtype=jnp.uint32), jnp.sum(u * i, dtype=jnp.uint32)]))
    return jnp.stack(rows)


def tree_digest(tree: Any) -> str:
    """A fingerprint of a pytree's exact contents: leaf dtypes, shapes and bits, in tree order.

    Two trees that differ in one bit differ here with probability ~1 - 2**-32 (the
    bits are summed on the devices, weighted by position; only the sums move to the
    host). It detects corruption and drift, it is not cryptographic. The leaves may
    be fully replicated global arrays: every host reads its own copy.

    >>> import numpy as np
    >>> a = {"w": np.arange(6, dtype=np.float32)}
    >>> tree_digest(a) == tree_digest({"w": np.arange(6, dtype=np.float32)})
    True
    >>> tree_digest(a) == tree_digest({"w": np.arange(6, dtype=np.float32)[::-1].copy()})
    False
    """
    leaves = jax.tree.leaves(tree)
    sums = np.asarray(jax.device_get(_leaf_sums(leaves)), np.uint32)
    h = hashlib.sha256()
    for leaf in leaves:
        h.update(f"{leaf.dtype}{tuple(leaf.shape)};".encode())
    h.update(sums.tobytes())
    return h.hexdigest()


def check_same_on_all_hosts(tree: Any, what: str) -> str:
    """Returns :func:`tree_digest` of a replicated pytree after checking every host holds the same.

    Orbax writes a replicated array from one host only, so hosts that drifted apart
    (a host-dependent computation, different library versions) would otherwise
    go unnoticed.

    Raises:
      RuntimeError: naming the hosts whose copy differs from process 0's.
    """
    digest = tree_digest(tree)
    if jax.process_count() == 1:
        return digest
    mine = np.frombuffer(bytes.fromhex(digest), np.uint8)
    every = np.asarray(multihost_utils.process_allgather(mine))
    differ = [i for i in range(every.shape[0]) if not np.array_equal(every[i], every[0])]
    if differ:
        raise RuntimeError(
            f"The {what} differs between hosts: processes {differ} disagree with process 0. "
            "Every host must run the same code, library versions and config.")
    return digest
