"""From an ArraySource to globally sharded batches, one per step.

The batch at step ``s`` is a pure function of ``(seed, s)``: steps run in
epochs of ``N // B`` batches (the remainder is dropped), epoch ``e`` visits the
examples in the order ``permutation(N)`` drawn from ``(seed, e)``, and the
horizontal flips of step ``s`` are drawn from ``(seed, s)``. So a run resumed at
step ``k`` sees exactly what an uninterrupted run sees there, whatever the
number of hosts or devices. Both draws use numpy's PCG64 seeded by a
SeedSequence, identical on every host (all hosts must run the same numpy).

Each host gathers only the rows of the global batch that land on its own
devices and hands them to :func:`jaxgan.parallel.host_to_global`; a background
thread keeps ``prefetch`` batches on the devices ahead of the consumer.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxgan import parallel
from jaxgan.data.source import ArraySource

# Separate SeedSequence streams for order and flips, and for a second domain's (unpaired) ones.
_ORDER_STREAM, _FLIP_STREAM, _ORDER_STREAM_B, _FLIP_STREAM_B = 0, 1, 2, 3


# x / 127.5 - 1 for every uint8 value, rounded once by numpy. Looking it up on
# the devices keeps the link carrying uint8 (a quarter of the bytes) and gives
# the same bits on every backend: XLA rewrites a division by a constant as a
# multiplication by its reciprocal, which is off by an ulp for some values.
_UINT8_TO_FLOAT = np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


@jax.jit
def _to_float(images):
    return jnp.asarray(_UINT8_TO_FLOAT)[images.astype(jnp.int32)]


@jax.jit
def _flip_to_float(images, flips):
    # Flipping on the devices: numpy's reversed-stride copy of 3-byte pixels
    # cost ~2 ms a 64x64x3 batch of 64 on the host thread, XLA's a fraction.
    images = jnp.where(flips[:, None, None, None], images[:, :, ::-1], images)
    return _to_float(images)


def host_rows(device_owner: np.ndarray, global_batch_size: int, process_index: int) -> np.ndarray:
    """The rows of a global batch that land on ``process_index``'s devices, ascending.

    Row block ``k`` (``global_batch_size / D`` rows) goes to the ``k``-th device
    of the mesh, ``device_owner[k]`` its process. This is the layout that
    ``jax.make_array_from_process_local_data`` expects the host's local rows in.
    """
    per_device = global_batch_size // len(device_owner)
    blocks = np.flatnonzero(np.asarray(device_owner) == process_index)
    return (blocks[:, None] * per_device + np.arange(per_device)).reshape(-1)


class Pipeline:
    """An endless iterator of ``{"image", "label"}`` global batches.

    ``image`` is float32 ``[B, H, W, C]`` in [-1, 1] (``x / 127.5 - 1`` of the
    uint8 pixels) and ``label`` int32 ``[B]`` (zeros when the source has no
    labels), both ``jax.Array`` sharded over the mesh's ``'data'`` axis. A
    source with a second domain (``source.domain_b``) adds ``image_b`` and
    ``label_b``: that domain's rows, in epochs and an order of its own (so the
    two domains are never paired), flipped by draws of their own.

    Args:
      source: the decoded data.
      global_batch_size: B, the batch over every device of every host.
      mesh: a 1-D ``('data',)`` mesh (:func:`jaxgan.parallel.make_mesh`).
      seed: the run's seed (>= 0); with the step it fixes every batch.
      start_step: the first step to yield (resume).
      random_flip: flip each image horizontally with probability 1/2.
      prefetch: batches placed on the devices ahead of the consumer by a
        background thread; 0 builds each batch on demand in the caller.
      process_index, process_count: this host's place among the hosts;
        default ``jax.process_index()`` / ``jax.process_count()``. Other values
        simulate one host of a multi-host run: such a pipeline only answers
        :meth:`host_batch` (its rows cannot form a global array here).

    Example::

      with Pipeline(source, global_batch_size=64, mesh=mesh, seed=0) as batches:
          batch = next(batches)  # batches.step is now 1
    """

    def __init__(self, source: ArraySource, *, global_batch_size: int, mesh: Mesh, seed: int,
                 start_step: int = 0, random_flip: bool = False, prefetch: int = 2,
                 process_index: int | None = None, process_count: int | None = None):
        n = len(source)
        parallel.check_batch_size(global_batch_size, mesh)
        smallest = min(n, len(source.domain_b)) if source.domain_b is not None else n
        if global_batch_size <= 0 or global_batch_size > smallest:
            raise ValueError(f"train.batch_size={global_batch_size} must be in [1, {smallest}]: "
                             f"{source.name} has {smallest} examples"
                             f"{' in its smaller domain' if smallest != n else ''}.")
        if int(seed) < 0 or int(start_step) < 0 or int(prefetch) < 0:
            raise ValueError(f"seed={seed}, start_step={start_step} and prefetch={prefetch} "
                             "must all be >= 0.")
        real = (jax.process_index(), jax.process_count())
        pc = real[1] if process_count is None else int(process_count)
        pi = real[0] if process_index is None else int(process_index)
        if not 0 <= pi < pc:
            raise ValueError(f"process_index={pi} must be in [0, process_count={pc}).")
        self.simulated = (pi, pc) != real
        devices = list(mesh.devices.flat)
        if self.simulated:
            if len(devices) % pc:
                raise ValueError(f"cannot split {len(devices)} devices evenly over {pc} "
                                 "simulated hosts.")
            owner = np.repeat(np.arange(pc), len(devices) // pc)
        else:
            owner = np.array([d.process_index for d in devices])
        self.source = source
        self.mesh = mesh
        self.seed = int(seed)
        self.global_batch_size = int(global_batch_size)
        self.steps_per_epoch = n // self.global_batch_size
        self._b = source.domain_b
        self.steps_per_epoch_b = (len(self._b) // self.global_batch_size
                                  if self._b is not None else 0)
        self.random_flip = bool(random_flip)
        self.prefetch = int(prefetch)
        self.process_index, self.process_count = pi, pc
        self.rows = host_rows(owner, self.global_batch_size, pi)
        self.step = int(start_step)  # The step of the next batch __next__ returns.
        self._labels = (source.labels if source.labels is not None
                        else np.zeros((n,), np.int32))
        self._labels_b = (None if self._b is None else self._b.labels if self._b.labels is not None
                          else np.zeros((len(self._b),), np.int32))
        self._order_lock = threading.Lock()
        self._order_cache: dict[int, tuple[int, np.ndarray]] = {}
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False

    # ---- the pure part: (seed, step) -> indices, flips, host rows ---------

    def epoch_order(self, epoch: int, *, domain_b: bool = False) -> np.ndarray:
        """The permutation of all N examples (of domain b: its own) that epoch ``epoch`` walks."""
        stream = _ORDER_STREAM_B if domain_b else _ORDER_STREAM
        n = len(self._b) if domain_b else len(self.source)
        with self._order_lock:
            cached = self._order_cache.get(stream)
            if cached is None or cached[0] != epoch:
                rng = np.random.default_rng([self.seed, stream, epoch])
                self._order_cache[stream] = cached = (epoch, rng.permutation(n))
            return cached[1]

    def global_indices(self, step: int, *, domain_b: bool = False) -> np.ndarray:
        """Example indices of the whole global batch at ``step``, in row order."""
        per_epoch = self.steps_per_epoch_b if domain_b else self.steps_per_epoch
        epoch, i = divmod(int(step), per_epoch)
        b = self.global_batch_size
        return self.epoch_order(epoch, domain_b=domain_b)[i * b:(i + 1) * b]

    def global_flips(self, step: int, *, domain_b: bool = False) -> np.ndarray:
        """bool ``[B]``: which rows of the global batch at ``step`` are flipped."""
        if not self.random_flip:
            return np.zeros((self.global_batch_size,), bool)
        stream = _FLIP_STREAM_B if domain_b else _FLIP_STREAM
        rng = np.random.default_rng([self.seed, stream, int(step)])
        return rng.random(self.global_batch_size) < 0.5

    def host_batch(self, step: int) -> dict[str, np.ndarray]:
        """This host's rows of the batch at ``step``, on the host.

        Returns ``{"image": uint8 [b, H, W, C], "label": int32 [b], "flip":
        bool [b]}``: the images as stored; :meth:`device_batch` flips the
        ``flip`` rows horizontally once they are on the devices.
        """
        idx = self.global_indices(step)[self.rows]
        out = {"image": self.source.images[idx], "label": self._labels[idx],
               "flip": self.global_flips(step)[self.rows]}
        if self._b is not None:
            idx = self.global_indices(step, domain_b=True)[self.rows]
            out.update(image_b=self._b.images[idx], label_b=self._labels_b[idx],
                       flip_b=self.global_flips(step, domain_b=True)[self.rows])
        return out

    def device_batch(self, step: int) -> dict[str, jax.Array]:
        """The global batch at ``step`` on the mesh, float32 in [-1, 1]."""
        if self.simulated:
            raise RuntimeError(
                f"this pipeline simulates host {self.process_index} of {self.process_count}; "
                "only host_batch() is available. Drop process_index/process_count to train.")
        local = self.host_batch(step)
        if not self.random_flip:
            local = {k: v for k, v in local.items() if not k.startswith("flip")}
        batch = parallel.host_to_global(self.mesh, local)
        out = {}
        for suffix in ("", "_b") if self._b is not None else ("",):
            images = batch["image" + suffix]
            out["image" + suffix] = (_flip_to_float(images, batch["flip" + suffix])
                                     if self.random_flip else _to_float(images))
            out["label" + suffix] = batch["label" + suffix]
        return out

    # ---- resume -----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What a checkpoint stores to resume the data where it stopped."""
        state = {"step": self.step, "seed": self.seed, "global_batch_size": self.global_batch_size,
                 "num_examples": len(self.source), "source": self.source.name}
        if self._b is not None:
            state.update(num_examples_b=len(self._b), source_b=self._b.name)
        return state

    @classmethod
    def restore(cls, source: ArraySource, state: dict[str, Any], *, mesh: Mesh,
                **kwargs) -> "Pipeline":
        """A pipeline that continues from :meth:`state`'s output, checked against ``source``."""
        b = source.domain_b
        for key, now in (("num_examples", len(source)), ("source", source.name),
                         ("num_examples_b", len(b) if b is not None else None),
                         ("source_b", b.name if b is not None else None)):
            if state.get(key, now) != now:
                raise ValueError(
                    f"the saved data position is for {key}={state[key]!r} but the data now has "
                    f"{key}={now!r}; resuming would see different batches. Point data.* back "
                    "at the original data or start a fresh workdir.")
        return cls(source, global_batch_size=int(state["global_batch_size"]), mesh=mesh,
                   seed=int(state["seed"]), start_step=int(state["step"]), **kwargs)

    # ---- iteration and the prefetch thread --------------------------------

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, jax.Array]:
        if self._closed:
            raise RuntimeError("the pipeline was closed.")
        if self.prefetch == 0:
            batch = self.device_batch(self.step)
            self.step += 1
            return batch
        if self._thread is None:
            if self.simulated:
                self.device_batch(self.step)  # Raises the clear error in the caller's thread.
            self._queue = queue.Queue(maxsize=self.prefetch)
            self._thread = threading.Thread(target=self._produce, args=(self.step,),
                                            name="jaxgan-data", daemon=True)
            self._thread.start()
        while True:
            try:
                kind, step, payload = self._queue.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._thread.is_alive():
                    raise RuntimeError("the data thread stopped without a batch or an error.")
        if kind == "error":
            self.close()
            raise payload
        assert step == self.step, (step, self.step)
        self.step += 1
        return payload

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, step: int) -> None:
        try:
            while not self._stop.is_set():
                if not self._put(("batch", step, self.device_batch(step))):
                    return
                step += 1
        except BaseException as e:  # Re-raised in the consumer by __next__.
            self._put(("error", step, e))

    def close(self) -> None:
        """Stops the thread and drops the batches it prefetched. Safe to call twice."""
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    while True:
                        self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.1)
            self._thread = None

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
