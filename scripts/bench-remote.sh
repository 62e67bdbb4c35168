#!/usr/bin/env bash
# The cost of running graphs on an inference server instead of in-process: both bundled packages
# through the runtime benchmark, in-process and against the local Triton (loopback gRPC, CPU,
# python backend running the same onnxruntime), alternating, per denoiser step and per
# window/chunk. Prints one table.
#   bash scripts/bench-remote.sh [--iters 5] [--rounds 3] [PACKAGE ...]
# The python backend adds a Python hop per request that Triton's onnxruntime backend (what
# models/tools/triton_repo.py writes by default, for production) does not have: these figures
# are an upper bound of the protocol's cost on loopback.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/triton-local.sh"
cd "$REPO_ROOT"
iters=5 rounds=3 packages=()
while [ $# -gt 0 ]; do
  case "$1" in
    --iters) iters=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -*) echo "usage: $0 [--iters N] [--rounds R] [PACKAGE ...]" >&2; exit 2 ;;
    *) packages+=("$1"); shift ;;
  esac
done
[ ${#packages[@]} -gt 0 ] || packages=(models/foley models/presenter)
tmp=$(mktemp -d)
trap 'triton_stop; rm -rf "$tmp"' EXIT
for p in "${packages[@]}"; do
  "$DATA_HOME/gst-generative/venv/bin/python" models/tools/triton_repo.py "$p" "$tmp/repo" --backend python >/dev/null
done
triton_start "$tmp/repo" "$tmp/server.log"
echo "local tritonserver on $TRITON_URL"
cargo bench --locked -q -p diffusion-runtime --bench package --no-run 2>/dev/null || true
rows=()
for p in "${packages[@]}"; do
  ls=() rs=() lu=() ru=()
  for round in $(seq "$rounds"); do
    for where in local remote; do
      extra=()
      [ "$where" = remote ] && extra=(--inference-server "$TRITON_URL")
      cargo bench --locked -q -p diffusion-runtime --bench package -- "$p" --iters "$iters" --warmup 1 \
        --provider cpu "${extra[@]}" >"$tmp/$where.txt"
      unit=$(awk '/^end-to-end /{ print $2; exit }' "$tmp/$where.txt")  # window, chunk or hop
      if [ "$where" = local ]; then
        ls+=("$(field "denoiser per step" "$tmp/local.txt")") lu+=("$(field "end-to-end $unit" "$tmp/local.txt")")
      else
        rs+=("$(field "denoiser per step" "$tmp/remote.txt")") ru+=("$(field "end-to-end $unit" "$tmp/remote.txt")")
      fi
    done
    echo "$p round $round: in-process ${ls[-1]} ms/step, ${lu[-1]} ms/$unit; on the server ${rs[-1]} ms/step, ${ru[-1]} ms/$unit"
  done
  steps=$(awk '/^steps /{ print $2 "x" $4; exit }' "$tmp/local.txt")
  l=$(median "${ls[@]}") r=$(median "${rs[@]}") lw=$(median "${lu[@]}") rw=$(median "${ru[@]}")
  rows+=("$(printf '| %s | %s | %.3f | %.3f | %+.3f | %.1f | %.1f | %.2f |' "$p" "$steps" "$l" "$r" \
    "$(awk -v a="$r" -v b="$l" 'BEGIN { print a - b }')" "$lw" "$rw" "$(awk -v a="$rw" -v b="$lw" 'BEGIN { print a / b }')")")
done
echo
echo "| package | steps x branches | in-process ms/step | on Triton ms/step | added per step (ms) | in-process ms/unit | on Triton ms/unit | ratio |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
