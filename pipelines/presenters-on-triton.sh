#!/usr/bin/env bash
# Several live virtual presenters in one process, all running their graphs on one inference
# server: N branches of `audiotestsrc is-live=true ! miragegen inference-server=... ! fakesink
# sync=true`, for SECONDS each, then a per-stream summary from the elements' chunk messages.
#   pipelines/presenters-on-triton.sh [N=2] [SECONDS=10]
#   SERVER=grpc://triton.example:8001 pipelines/presenters-on-triton.sh 8 60   # your server
# Without SERVER it starts the local test server that scripts/setup.sh unpacks (tritonserver,
# CPU, python backend) on free loopback ports, with a repository for the package
# (models/tools/triton_repo.py), and stops it at the end. MODEL picks the package (default: the
# bundled presenter).
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$REPO_ROOT/scripts/common.sh"
n=${1:-2} seconds=${2:-10}
model=${MODEL:-$REPO_ROOT/models/presenter}
source "$REPO_ROOT/scripts/triton-local.sh"
tmp=$(mktemp -d)
trap 'triton_stop; rm -rf "$tmp"' EXIT

if [ -z "${SERVER:-}" ]; then
  "$DATA_HOME/gst-generative/venv/bin/python" "$REPO_ROOT/models/tools/triton_repo.py" "$model" "$tmp/repo" \
    --backend python >/dev/null
  triton_start "$tmp/repo" "$tmp/server.log"
  SERVER=$TRITON_URL
  echo "local tritonserver on $SERVER"
fi

branches=()
for i in $(seq "$n"); do
  branches+=(audiotestsrc is-live=true wave=sine "freq=$((180 + 20 * i))" samplesperbuffer=640
             "num-buffers=$((seconds * 25))" ! audio/x-raw,rate=16000
             ! miragegen "name=presenter$i" "model=$model" "inference-server=$SERVER" "seed=$i"
             ! fakesink sync=true)
done
start=$(date +%s.%N)
gst-launch-1.0 -m -e "${branches[@]}" >"$tmp/launch.log" 2>&1 || { tail -20 "$tmp/launch.log" >&2; exit 1; }
wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

echo "$n presenters, $seconds s of live audio each, on $SERVER: wall time $wall s"
echo "| stream | chunks | mean real-time factor | worst |"
echo "|---|---|---|---|"
for i in $(seq "$n"); do
  grep "presenter$i.*miragegen/chunk" "$tmp/launch.log" \
    | sed -n 's/.*real-time-factor=(double)\([0-9.e+-]*\).*/\1/p' \
    | awk -v s="presenter$i" '{ t += $1; if ($1 > w) w = $1; c++ }
        END { if (c) printf "| %s | %d | %.3f | %.3f |\n", s, c, t / c, w; else printf "| %s | 0 | - | - |\n", s }'
done
