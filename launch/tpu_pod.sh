#!/usr/bin/env bash
# Train on every host of a Cloud TPU VM pod slice: one jaxgan.train process per
# host, the same command everywhere (see docs/multihost.md).
#
# Usage:
#   launch/tpu_pod.sh TPU_NAME ZONE -- TRAIN_ARGS...
# e.g.
#   launch/tpu_pod.sh my-v4-32 us-central2-b -- \
#       --config configs/lga_celeba.py --workdir /mnt/shared/runs/celeba
#
# Steps (each with gcloud compute tpus tpu-vm ... --worker=all):
#   1. copy this checkout's committed files (git archive HEAD) to ~/jaxgan on every host;
#   2. setup: python3 -m pip install "jax[tpu]" and pip install -e . there;
#   3. run  JAXGAN_DISTRIBUTED=1 python3 -m jaxgan.train TRAIN_ARGS  on every host:
#      jax.distributed.initialize() finds the slice's hosts itself.
# The workdir must be one shared filesystem mounted at the same path on every
# host (Filestore/NFS): Orbax writes each checkpoint collectively into it.
#
# Environment: PROJECT (gcloud --project), REMOTE_DIR (default jaxgan, under the
# remote home), SETUP=0 to skip steps 1-2, DETACH=1 to start training under
# nohup (output in ~/jaxgan-train.log on each host) and return at once.
# SIGTERM on a host (a preemption notice) saves a checkpoint on every host at
# the same step and exits 0; run the same command again to resume.
set -euo pipefail

if [[ $# -lt 2 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
NAME="$1"
ZONE="$2"
shift 2
if [[ "${1:-}" == "--" ]]; then shift; fi
if [[ $# -eq 0 ]]; then
  echo "tpu_pod.sh: give the train arguments after --, e.g. -- --config configs/lga_celeba.py" >&2
  exit 2
fi
REMOTE_DIR="${REMOTE_DIR:-jaxgan}"
GCLOUD=(gcloud compute tpus tpu-vm)
WHERE=(--zone "$ZONE" --worker=all)
if [[ -n "${PROJECT:-}" ]]; then WHERE+=(--project "$PROJECT"); fi

on_all_hosts() { "${GCLOUD[@]}" ssh "$NAME" "${WHERE[@]}" --command "$1"; }

if [[ "${SETUP:-1}" == 1 ]]; then
  here="$(cd "$(dirname "$0")/.." && pwd)"
  archive="$(mktemp -t jaxgan-src.XXXXXX).tar.gz"
  trap 'rm -f "$archive"' EXIT
  git -C "$here" archive --format=tar.gz -o "$archive" HEAD
  "${GCLOUD[@]}" scp "$archive" "$NAME:jaxgan-src.tar.gz" "${WHERE[@]}"
  on_all_hosts "set -e; mkdir -p ~/$REMOTE_DIR && tar xzf ~/jaxgan-src.tar.gz -C ~/$REMOTE_DIR && \
    cd ~/$REMOTE_DIR && python3 -m pip install -q -U 'jax[tpu]' && python3 -m pip install -q -e ."
fi

train="cd ~/$REMOTE_DIR && JAXGAN_DISTRIBUTED=1 python3 -m jaxgan.train $(printf '%q ' "$@")"
if [[ "${DETACH:-0}" == 1 ]]; then
  on_all_hosts "nohup bash -c $(printf '%q' "$train") > ~/jaxgan-train.log 2>&1 < /dev/null &"
else
  on_all_hosts "$train"
fi
