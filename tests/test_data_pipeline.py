"""The pipeline: values, sharding over 4 fake devices, (seed, step) determinism, resume,
multi-host slices, flips, prefetch thread errors and shutdown."""

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import jax
import numpy as np
import pytest

from jaxgan import parallel
from jaxgan.data import ArraySource, Pipeline
from jaxgan.data.pipeline import host_rows

N, B = 50, 8  # 6 steps an epoch, 2 examples dropped each epoch.


def make_source(n=N, labels=True):
    """Image i holds i in channel 0 everywhere, so every row names its example."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 4, 6, 3), dtype=np.uint8)
    images[..., 0] = np.arange(n, dtype=np.uint8)[:, None, None]
    return ArraySource(images, (np.arange(n) % 7).astype(np.int32) if labels else None,
                       7 if labels else 0, "toy")


@pytest.fixture(scope="module")
def mesh():
    assert jax.device_count() == 4, "conftest.py gives pytest 4 fake CPU devices"
    return parallel.make_mesh()


def example_ids(batch_images):
    """Example index of each row of a float batch (channel 0 is constant i/127.5 - 1)."""
    return np.rint((np.asarray(batch_images)[:, 0, 0, 0] + 1.0) * 127.5).astype(int)


def test_values_shapes_dtypes_and_sharding(mesh):
    src = make_source()
    with Pipeline(src, global_batch_size=B, mesh=mesh, seed=3) as p:
        batch = next(p)
        assert p.step == 1
    image, label = batch["image"], batch["label"]
    assert image.shape == (B, 4, 6, 3) and image.dtype == np.float32
    assert label.shape == (B,) and label.dtype == np.int32
    for x in (image, label):
        assert x.sharding.is_equivalent_to(parallel.data_sharding(mesh), x.ndim)
        assert len(x.addressable_shards) == 4
        assert {s.data.shape[0] for s in x.addressable_shards} == {B // 4}
    idx = Pipeline(src, global_batch_size=B, mesh=mesh, seed=3).global_indices(0)
    want = src.images[idx].astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    np.testing.assert_array_equal(np.asarray(image), want)
    np.testing.assert_array_equal(np.asarray(label), src.labels[idx])
    assert -1.0 <= float(image.min()) and float(image.max()) <= 1.0
    # Each device holds its consecutive block of rows.
    for s in image.addressable_shards:
        np.testing.assert_array_equal(np.asarray(s.data), want[s.index])


def test_extremes_map_to_minus_one_and_one(mesh):
    images = np.zeros((8, 2, 2, 1), np.uint8)
    images[4:] = 255
    with Pipeline(ArraySource(images, None, 0, "x"), global_batch_size=8, mesh=mesh,
                  seed=0) as p:
        batch = next(p)
    assert sorted(np.unique(np.asarray(batch["image"])).tolist()) == [-1.0, 1.0]
    assert not np.asarray(batch["label"]).any()  # No labels: zeros.


def test_epochs_are_permutations_and_seed_fixes_the_order(mesh):
    src = make_source()
    p = Pipeline(src, global_batch_size=B, mesh=mesh, seed=11)
    assert p.steps_per_epoch == N // B
    for epoch in range(3):
        seen = np.concatenate([p.global_indices(epoch * 6 + i) for i in range(6)])
        assert len(set(seen.tolist())) == 6 * B  # No repeats within an epoch.
    first = np.concatenate([p.global_indices(i) for i in range(6)])
    second = np.concatenate([p.global_indices(6 + i) for i in range(6)])
    assert not np.array_equal(first, second)
    same = Pipeline(src, global_batch_size=B, mesh=mesh, seed=11)
    other = Pipeline(src, global_batch_size=B, mesh=mesh, seed=12)
    assert all(np.array_equal(p.global_indices(s), same.global_indices(s)) for s in range(20))
    assert not all(np.array_equal(p.global_indices(s), other.global_indices(s)) for s in range(6))
    # Independent reference: numpy's PCG64 permutation from (seed, stream 0, epoch).
    ref = np.random.default_rng([11, 0, 2]).permutation(N)
    np.testing.assert_array_equal(p.global_indices(12), ref[:B])


@pytest.mark.parametrize("prefetch", [0, 2])
def test_resume_gives_the_uninterrupted_batches(mesh, prefetch):
    src = make_source()
    with Pipeline(src, global_batch_size=B, mesh=mesh, seed=5, random_flip=True,
                  prefetch=prefetch) as full:
        straight = [np.asarray(next(full)["image"]) for _ in range(15)]
        state = full.state()
    assert state["step"] == 15
    with Pipeline(src, global_batch_size=B, mesh=mesh, seed=5, random_flip=True,
                  start_step=9, prefetch=prefetch) as resumed:
        for s in range(9, 15):
            np.testing.assert_array_equal(np.asarray(next(resumed)["image"]), straight[s])
    with Pipeline.restore(src, {**state, "step": 12}, mesh=mesh, random_flip=True) as restored:
        assert restored.step == 12
        np.testing.assert_array_equal(np.asarray(next(restored)["image"]), straight[12])


def test_restore_refuses_other_data(mesh):
    state = Pipeline(make_source(), global_batch_size=B, mesh=mesh, seed=0).state()
    with pytest.raises(ValueError, match="num_examples"):
        Pipeline.restore(make_source(n=40), state, mesh=mesh)


def test_two_simulated_hosts_read_disjoint_halves(mesh):
    src = make_source()
    whole = Pipeline(src, global_batch_size=B, mesh=mesh, seed=2, random_flip=True)
    hosts = [Pipeline(src, global_batch_size=B, mesh=mesh, seed=2, random_flip=True,
                      process_index=i, process_count=2) for i in range(2)]
    assert hosts[0].rows.tolist() == [0, 1, 2, 3] and hosts[1].rows.tolist() == [4, 5, 6, 7]
    for step in (0, 5, 6, 23):
        parts = [h.host_batch(step) for h in hosts]
        ids = [set(np.unique(p["image"][:, 0, 0, 0]).tolist()) for p in parts]
        assert not ids[0] & ids[1] and len(ids[0]) == len(ids[1]) == B // 2
        full = whole.host_batch(step)
        for key in ("image", "label", "flip"):
            np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), full[key])
    with pytest.raises(RuntimeError, match="simulates host 1 of 2"):
        next(hosts[1])


def test_host_rows_follow_the_devices_of_each_process():
    owner = np.array([0, 1, 0, 1])  # Interleaved devices: rows come in blocks of B/4.
    assert host_rows(owner, 8, 0).tolist() == [0, 1, 4, 5]
    assert host_rows(owner, 8, 1).tolist() == [2, 3, 6, 7]


def test_flips_are_horizontal_and_a_function_of_seed_and_step(mesh):
    src = make_source()
    p = Pipeline(src, global_batch_size=B, mesh=mesh, seed=9, random_flip=True)
    flips = np.concatenate([p.global_flips(s) for s in range(200)])
    assert 0.45 < flips.mean() < 0.55  # 1600 fair coins: 5 sigma is 0.0625.
    step = next(s for s in range(50) if 0 < p.global_flips(s).sum() < B)
    idx, f = p.global_indices(step), p.global_flips(step)
    np.testing.assert_array_equal(p.host_batch(step)["flip"], f)
    got = np.rint((np.asarray(p.device_batch(step)["image"]) + 1) * 127.5).astype(np.uint8)
    np.testing.assert_array_equal(got[f], src.images[idx[f]][:, :, ::-1])
    np.testing.assert_array_equal(got[~f], src.images[idx[~f]])
    again = Pipeline(src, global_batch_size=B, mesh=mesh, seed=9, random_flip=True)
    np.testing.assert_array_equal(again.global_flips(step), f)
    assert not Pipeline(src, global_batch_size=B, mesh=mesh, seed=9).global_flips(step).any()


def test_thread_errors_reach_the_consumer(mesh):
    src = make_source()
    p = Pipeline(src, global_batch_size=B, mesh=mesh, seed=0, prefetch=2)
    real = p.host_batch

    def failing(step):
        if step == 3:
            raise OSError("disk went away")
        return real(step)

    p.host_batch = failing
    got = [example_ids(next(p)["image"]) for _ in range(3)]
    assert [g.tolist() for g in got] == [p.global_indices(s).tolist() for s in range(3)]
    with pytest.raises(OSError, match="disk went away"):
        next(p)
    with pytest.raises(RuntimeError, match="closed"):
        next(p)


def test_close_stops_a_blocked_producer(mesh):
    p = Pipeline(make_source(), global_batch_size=B, mesh=mesh, seed=0, prefetch=1)
    next(p)
    time.sleep(0.2)  # The producer fills the queue and blocks on put.
    t0 = time.time()
    p.close()
    assert time.time() - t0 < 2.0
    assert not [t for t in threading.enumerate() if t.name == "jaxgan-data"]
    p.close()  # Idempotent.


def test_bad_arguments(mesh):
    src = make_source()
    with pytest.raises(ValueError, match="not divisible by the 4 devices"):
        Pipeline(src, global_batch_size=6, mesh=mesh, seed=0)
    with pytest.raises(ValueError, match="has 50 examples"):
        Pipeline(src, global_batch_size=52, mesh=mesh, seed=0)
    with pytest.raises(ValueError, match=">= 0"):
        Pipeline(src, global_batch_size=8, mesh=mesh, seed=-1)
    with pytest.raises(ValueError, match="process_index"):
        Pipeline(src, global_batch_size=8, mesh=mesh, seed=0, process_index=2, process_count=2)


_WORKER = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax, numpy as np
    jax.distributed.initialize(coordinator_address="127.0.0.1:" + sys.argv[2], num_processes=2,
                               process_id=int(sys.argv[1]))
    from jaxgan import parallel
    from jaxgan.data import ArraySource, Pipeline
    images = np.random.default_rng(0).integers(0, 256, (40, 4, 4, 1), dtype=np.uint8)
    src = ArraySource(images, np.arange(40, dtype=np.int32) % 5, 5, "toy")
    mesh = parallel.make_mesh()
    assert sorted(d.process_index for d in mesh.devices.flat) == [0, 0, 1, 1]
    with Pipeline(src, global_batch_size=8, mesh=mesh, seed=4, random_flip=True) as p:
        for step in range(3):
            batch = next(p)
            idx, flips = p.global_indices(step), p.global_flips(step)
            want = images[idx].copy()
            want[flips] = want[flips][:, :, ::-1]
            want = want.astype(np.float32) / np.float32(127.5) - np.float32(1)
            assert batch["image"].shape == (8, 4, 4, 1)
            for s in batch["image"].addressable_shards:
                np.testing.assert_array_equal(np.asarray(s.data), want[s.index])
            for s in batch["label"].addressable_shards:
                np.testing.assert_array_equal(np.asarray(s.data), src.labels[idx][s.index])
    print("host", sys.argv[1], "ok")
""")


def test_two_real_processes_assemble_the_global_batch():
    """Two jax processes on localhost, 2 CPU devices each: every shard holds its rows."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(i), port], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    try:
        outs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:  # Only a process still running (a hang) is killed.
            proc.kill()
    for i, (proc, out) in enumerate(zip(procs, outs)):
        assert proc.returncode == 0 and f"host {i} ok" in out, out[-3000:]


# ---- two unpaired domains (image-to-image translation) ------------------------------------

def make_two_domains(n_b=20):
    a = make_source()
    b_images = np.full((n_b, 4, 6, 3), 200, np.uint8)
    b_images[..., 0] = np.arange(n_b, dtype=np.uint8)[:, None, None]
    b = ArraySource(b_images, None, 0, "toy_b")
    return ArraySource(a.images, a.labels, a.num_classes, "pair", domain_b=b)


def test_second_domain_has_its_own_order_epochs_and_flips(mesh):
    src = make_two_domains()  # domain b: 20 examples, 2 steps an epoch; domain a: 6
    with Pipeline(src, global_batch_size=B, mesh=mesh, seed=4, random_flip=True) as p:
        batches = [next(p) for _ in range(6)]
    a_ids = [example_ids(b["image"]) for b in batches]
    b_ids = [example_ids(b["image_b"]) for b in batches]
    assert all(np.asarray(b["label_b"]).tolist() == [0] * B for b in batches)  # unlabelled
    for epoch in range(3):  # each of domain b's epochs: distinct examples, 2 steps
        seen = np.concatenate(b_ids[2 * epoch:2 * epoch + 2])
        assert len(set(seen.tolist())) == 2 * B and seen.max() < 20
    # The two domains are not walked in one order: their pairs change from epoch to epoch.
    assert not all(np.array_equal(a_ids[s] % 20, b_ids[s]) for s in range(6))
    pairs = {(a, b) for s in range(2) for a, b in zip(a_ids[s], b_ids[s])}
    assert not pairs <= {(a, b) for s in range(2, 4) for a, b in zip(a_ids[s], b_ids[s])}
    # Domain b's flips are drawn apart from domain a's.
    flips = [p.global_flips(s) for s in range(6)]
    flips_b = [p.global_flips(s, domain_b=True) for s in range(6)]
    assert not all(np.array_equal(f, g) for f, g in zip(flips, flips_b))
    first = np.asarray(batches[0]["image_b"])
    raw = src.domain_b.images[b_ids[0]].astype(np.float32) / 127.5 - 1.0
    raw = np.where(flips_b[0][:, None, None, None], raw[:, :, ::-1], raw)
    np.testing.assert_allclose(first, raw, atol=1e-6)


def test_second_domain_resumes_and_is_checked_on_restore(mesh):
    src = make_two_domains()
    with Pipeline(src, global_batch_size=B, mesh=mesh, seed=1, prefetch=0) as p:
        straight = [np.asarray(next(p)["image_b"]) for _ in range(5)]
        state = p.state()
    assert state["num_examples_b"] == 20 and state["source_b"] == "toy_b"
    with Pipeline.restore(src, {**state, "step": 3}, mesh=mesh, prefetch=0) as resumed:
        np.testing.assert_array_equal(np.asarray(next(resumed)["image_b"]), straight[3])
    with pytest.raises(ValueError, match="num_examples_b"):
        Pipeline.restore(make_two_domains(n_b=24), state, mesh=mesh)
    a_alone = ArraySource(src.images, src.labels, src.num_classes, "pair")
    with pytest.raises(ValueError, match="num_examples_b"):
        Pipeline.restore(a_alone, state, mesh=mesh)
    with pytest.raises(ValueError, match="in its smaller domain"):
        Pipeline(make_two_domains(n_b=6), global_batch_size=B, mesh=mesh, seed=0)
    with pytest.raises(ValueError, match="one shape"):
        ArraySource(src.images, None, 0, "x", domain_b=ArraySource(src.images[:, :2], None, 0, "y"))


def test_unpaired_source_reads_two_named_domains(tmp_path):
    from jaxgan.data import load_dataset
    from jaxgan.data.source import UnknownDatasetError
    from PIL import Image
    from fake_data import write_mnist_cache

    root = write_mnist_cache(tmp_path / "data")
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((10, 10, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    cfg = {"name": "unpaired", "a": "mnist", "b": str(folder), "data_dir": root,
           "image_size": 28, "channels": 3, "num_classes": 0, "split": "train"}
    src = load_dataset(cfg)
    assert src.images.shape[1:] == (28, 28, 3) and src.labels is not None
    assert len(src.domain_b) == 3 and src.domain_b.images.shape[1:] == (28, 28, 3)
    with pytest.raises(ValueError, match="set --config.data.b"):
        load_dataset({**cfg, "b": ""})
    with pytest.raises(UnknownDatasetError, match="data.a='nope'"):
        load_dataset({**cfg, "a": "nope"})
