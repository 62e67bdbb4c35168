#!/usr/bin/env bash
# How many live presenters one process sustains on this machine: N miragegen (bundled
# presenter, live audio, sinks synced to the clock) in one pipeline, with the denoiser steps
# run alone (in-process, the default), batched across the streams (batch-window-us), and on the
# local Triton (CPU, python backend, dynamic batching; its CPU time is counted too). Prints one
# table: per N and mode, medians over RUNS runs of the worst stream's chunk real-time factor and
# first-frame latency, the share of frames later than the element's reported latency, the share
# of steps batched with another stream's, and the CPU cores used.
#   bash scripts/bench-streams.sh [--max-streams 4] [--seconds 20] [--runs 3] [--window-us 2000]
#       [--modes "alone batched triton"] [PACKAGE]
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/triton-local.sh"
cd "$REPO_ROOT"
max=4 seconds=20 runs=3 window=2000 modes="alone batched triton" package=models/presenter
while [ $# -gt 0 ]; do
  case "$1" in
    --max-streams) max=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --window-us) window=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    -*) echo "usage: $0 [--max-streams N] [--seconds S] [--runs R] [--window-us W] [--modes M] [PACKAGE]" >&2; exit 2 ;;
    *) package=$1; shift ;;
  esac
done
tmp=$(mktemp -d)
trap 'triton_stop; rm -rf "$tmp"' EXIT
cargo bench --locked -q -p gst-generative-tests --bench streams --no-run 2>/dev/null
bench() { cargo bench --locked -q -p gst-generative-tests --bench streams -- "$package" --seconds "$seconds" --runs "$runs" "$@"; }
if [[ " $modes " == *" triton "* ]]; then
  "$DATA_HOME/gst-generative/venv/bin/python" models/tools/triton_repo.py "$package" "$tmp/repo" --backend python >/dev/null
  triton_start "$tmp/repo" "$tmp/server.log"
  echo "local tritonserver on $TRITON_URL (pid $TRITON_PID)"
fi
echo "$(nproc) cores; $package; $seconds s of live audio per stream; median of $runs runs"
echo
echo "| mode | streams | real-time factor (worst stream) | first frame ms (worst stream) | frames late | steps batched | CPU cores used |"
echo "|---|---|---|---|---|---|---|"
for n in $(seq "$max"); do
  for mode in $modes; do
    case "$mode" in
      alone) bench --streams "$n" ;;
      batched) bench --streams "$n" --batch-window-us "$window" ;;
      triton) bench --streams "$n" --inference-server "$TRITON_URL" --server-pid "$TRITON_PID" ;;
      *) echo "unknown mode $mode (alone, batched, triton)" >&2; exit 2 ;;
    esac
  done
done
