#!/usr/bin/env bash
# N jaxgan.train processes on this machine, on CPU, joined by jax.distributed:
# the multi-host code path (collectives, per-host data slices, collective
# checkpoints, process-0-only logs) without a cluster.
#
# Usage:
#   launch/local_multiprocess.sh [-n NUM_PROCESSES] [-p PORT] [-l LOG_DIR] -- TRAIN_ARGS...
# e.g.
#   launch/local_multiprocess.sh -n 2 -- --config configs/lga_mnist.py --workdir runs/mp
#
# Every process gets one CPU device (XLA_FLAGS is cleared; set LOCAL_XLA_FLAGS
# to give each more, e.g. --xla_force_host_platform_device_count=2), so the
# global batch is split over NUM devices. PORT defaults to a free one. With
# LOG_DIR each process writes LOG_DIR/process_<i>.log, otherwise its lines go
# to stdout prefixed with [i]. SIGTERM or SIGINT to this script is passed to
# every process (a preemption of the whole job). Exits with the first non-zero
# status of a process, after stopping the others (they cannot go on alone).
set -euo pipefail

NUM=2
PORT=""
LOG_DIR=""
PYTHON="${PYTHON:-python}"
while getopts "n:p:l:h" opt; do
  case "$opt" in
    n) NUM="$OPTARG" ;;
    p) PORT="$OPTARG" ;;
    l) LOG_DIR="$OPTARG" ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ "${1:-}" == "--" ]]; then shift; fi
if [[ $# -eq 0 ]]; then
  echo "local_multiprocess.sh: give the train arguments after --, e.g. -- --config configs/lga_mnist.py" >&2
  exit 2
fi
if [[ -z "$PORT" ]]; then
  PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
if [[ -n "$LOG_DIR" ]]; then mkdir -p "$LOG_DIR"; fi

export JAX_PLATFORMS=cpu
export XLA_FLAGS="${LOCAL_XLA_FLAGS:-}"
export JAXGAN_COORDINATOR_ADDRESS="127.0.0.1:$PORT"
export JAXGAN_NUM_PROCESSES="$NUM"

pids=()
for ((i = 0; i < NUM; i++)); do
  if [[ -n "$LOG_DIR" ]]; then
    JAXGAN_PROCESS_ID=$i "$PYTHON" -m jaxgan.train "$@" >"$LOG_DIR/process_$i.log" 2>&1 &
  else
    JAXGAN_PROCESS_ID=$i "$PYTHON" -m jaxgan.train "$@" > >(sed -u "s/^/[$i] /") 2>&1 &
  fi
  pids+=($!)
  echo "local_multiprocess: process $i of $NUM is pid ${pids[$i]} (coordinator 127.0.0.1:$PORT)" >&2
done

forward() { kill -s "$1" "${pids[@]}" 2>/dev/null || true; }
trap 'forward TERM' TERM
trap 'forward TERM' INT

status=0
declare -A alive=()
for p in "${pids[@]}"; do alive[$p]=1; done
while ((${#alive[@]} > 0)); do
  finished=""
  set +e
  wait -n -p finished "${!alive[@]}"
  rc=$?
  set -e
  if [[ -z "$finished" ]]; then continue; fi  # A trapped signal woke wait (already forwarded).
  unset "alive[$finished]"
  if ((rc != 0 && status == 0)); then
    status=$rc
    if ((${#alive[@]} > 0)); then
      echo "local_multiprocess: pid $finished exited with status $rc; stopping the others." >&2
      kill -KILL "${!alive[@]}" 2>/dev/null || true
    fi
  fi
done
exit "$status"
