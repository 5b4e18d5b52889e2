"""Train a GAN: ``python -m jaxgan.train --config configs/lga_mnist.py [--workdir DIR]``.

Override any field with ``--config.section.field=value`` (e.g.
``--config.train.batch_size=128``). Running again with the same ``--workdir``
resumes from its latest checkpoint. Without ``--workdir`` the run goes to
``runs/<config name>``.

On several hosts the same command runs on every host (one process per host);
see docs/multihost.md and launch/. ``--coordinator_address``,
``--num_processes`` and ``--process_id`` start ``jax.distributed`` by hand;
SLURM, Cloud TPU pods and the ``JAXGAN_*`` variables of
:func:`jaxgan.parallel.initialize_distributed` need no flag. SIGTERM saves a
checkpoint and exits with status 0. A user mistake prints one line,
``jaxgan.train: error: ...``, and exits with status 1 (``--verbosity=1`` adds
the traceback).
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_FLAGS = {}


def define_flags() -> None:
    """Registers the command's flags; only when run as a command, so importing this
    module (doctests, ``jaxgan.sample`` in the same process) never clashes."""
    _FLAGS["config"] = config_flags.DEFINE_config_file(
        "config", None, "An experiment file in configs/ (defines get_config()).",
        lock_config=True)
    _FLAGS["workdir"] = flags.DEFINE_string(
        "workdir", None, "Where checkpoints, logs and samples go; default runs/<config name>.")
    _FLAGS["coordinator_address"] = flags.DEFINE_string(
        "coordinator_address", None, "Multi-process runs: HOST:PORT of process 0's coordinator.")
    _FLAGS["num_processes"] = flags.DEFINE_integer(
        "num_processes", None, "Multi-process runs: the number of processes (one per host).")
    _FLAGS["process_id"] = flags.DEFINE_integer(
        "process_id", None, "Multi-process runs: this process's index in [0, num_processes).")


def default_workdir(config_path: str) -> str:
    name = os.path.splitext(os.path.basename(config_path.split(":")[0]))[0]
    return os.path.join("runs", name)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # Orbax logs every file at INFO.
    from jaxgan import parallel  # Imported after flag parsing: keeps --help fast.
    from jaxgan.engine import trainer
    from jaxgan.engine.checkpoint import CheckpointError
    from jaxgan.config import ConfigError
    from jaxgan.data import MissingDependencyError

    workdir = _FLAGS["workdir"].value or default_workdir(flags.FLAGS["config"].config_filename)
    try:
        parallel.initialize_distributed(_FLAGS["coordinator_address"].value,
                                        _FLAGS["num_processes"].value, _FLAGS["process_id"].value)
        trainer.run(_FLAGS["config"].value, workdir)
    except (ConfigError, CheckpointError, trainer.TrainingError, parallel.DistributedError,
            MissingDependencyError, FileNotFoundError, ValueError) as e:
        # A user mistake or a stopped run: one clear line, no traceback.
        logging.debug("Traceback of the error below:", exc_info=True)
        # Reads abandoned by a failed checkpoint restore can still be finalised at exit,
        # each printing an "Exception ignored" traceback; the one line below says it all.
        sys.unraisablehook = lambda u: logging.debug("At exit: %s", u.exc_value)
        print(f"jaxgan.train: error: {' '.join(str(e).split())}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["config"])
    app.run(main)
