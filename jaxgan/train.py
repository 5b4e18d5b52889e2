"""Train a GAN: ``python -m jaxgan.train --config configs/lga_mnist.py [--workdir DIR]``.

Override any field with ``--config.section.field=value`` (e.g.
``--config.train.batch_size=128``). Running again with the same ``--workdir``
resumes from its latest checkpoint. Without ``--workdir`` the run goes to
``runs/<config name>``.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "An experiment file in configs/ (defines get_config()).", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints, logs and samples go; default runs/<config name>.")


def default_workdir(config_path: str) -> str:
    name = os.path.splitext(os.path.basename(config_path.split(":")[0]))[0]
    return os.path.join("runs", name)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from jaxgan import trainer  # Imported after flag parsing: keeps --help fast.
    from jaxgan.checkpoint import CheckpointError
    from jaxgan.config import ConfigError

    workdir = _WORKDIR.value or default_workdir(flags.FLAGS["config"].config_filename)
    config = _CONFIG.value
    run = trainer.run
    if "sgan" in config:  # A Stacked GAN experiment: its own stack-by-stack schedule.
        from jaxgan.sgan import trainer as sgan_trainer

        run = sgan_trainer.run
    try:
        run(config, workdir)
    except (ConfigError, CheckpointError, trainer.TrainingError, FileNotFoundError,
            ValueError) as e:
        # A user mistake or a stopped run: one clear line, no traceback.
        print(f"jaxgan.train: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config"])
    app.run(main)
