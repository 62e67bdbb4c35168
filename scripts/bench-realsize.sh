#!/usr/bin/env bash
# The runtime at the scale of real exports: per denoiser step and per window/chunk for the
# real-size benchmark packages (models/tools/make_realsize.py: MMAudio-S-shaped and
# LMDM-shaped denoisers, random weights) and both bundled packages, the runtime's overhead
# outside Session::run, and the same work driven by a plain Python onnxruntime loop
# (models/tools/bench_python_loop.py) in the same run, as a ratio. Prints one table.
#
#   bash scripts/bench-realsize.sh [--provider cpu|cuda|tensorrt] [--iters N] [--tiny] [--only NAME]
#
# --tiny writes the real-size graphs at CI width (seconds, not minutes): a check that this
# script, the generator and both loops work, not a measurement. Run scripts/setup.sh first.
# Results are medians of --iters runs after one warm-up; each package's two loops run one after
# the other, never at the same time. ORT_DYLIB_PATH selects another ONNX Runtime build (the
# GPU one, for scripts/gpu-check.sh); the Python loop then needs that build's Python package.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

provider=cpu iters=3 tiny="" only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --provider) provider=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --tiny) tiny=1; shift ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: $0 [--provider cpu|cuda|tensorrt] [--iters N] [--tiny] [--only NAME]" >&2; exit 2 ;;
  esac
done

PY=${BENCH_PYTHON:-$DATA_HOME/gst-generative/venv/bin/python}
[ -x "$PY" ] || { echo "no Python environment at $PY: run scripts/setup.sh first" >&2; exit 1; }
if ! "$PY" -c "import onnxruntime" 2>/dev/null; then
  say "Installing ONNX Runtime's Python package $ORT_VERSION for the Python loop (pinned wheels, sha256-checked)"
  "$PY" -m pip install -q --no-deps --only-binary=:all: --require-hashes -r models/tools/bench-requirements.txt
fi

if [ -n "$tiny" ]; then out=target/realsize-tiny; else out=target/realsize; fi
# Regenerate when the generator changed since the packages were written.
if [ ! -f "$out/mmaudio-s-16k/model.toml" ] || [ models/tools/make_realsize.py -nt "$out/mmaudio-s-16k/model.toml" ]; then
  say "Writing the real-size benchmark packages into $out (random weights)"
  "$PY" models/tools/make_realsize.py "$out" ${tiny:+--tiny}
fi

say "Building the runtime benchmark"
cargo bench --locked -q -p diffusion-runtime --bench package --no-run 2>&1 | grep -v "^\s*Executable" || true

field() { # field NAME FILE: the first number after NAME
  awk -v k="$1" 'index($0, k) == 1 { sub("^" k " *", ""); print $1; exit }' "$2"
}

rows=()
for pkg in "$out/mmaudio-s-16k" "$out/ditto-lmdm" models/foley models/presenter; do
  name=$(basename "$pkg")
  [ -z "$only" ] || [ "$only" = "$name" ] || continue
  [ -f "$pkg/model.toml" ] || { echo "skipping $pkg: no model.toml" >&2; continue; }
  say "$name: runtime (Rust) then the Python loop, $iters runs each after one warm-up"
  rust=$(mktemp) py=$(mktemp)
  cargo bench --locked -q -p diffusion-runtime --bench package -- "$pkg" --iters "$iters" --warmup 1 \
    --provider "$provider" | tee "$rust"
  "$PY" models/tools/bench_python_loop.py "$pkg" --iters "$iters" --warmup 1 --provider "$provider" | tee "$py"
  params=$(grep -m1 -o '[0-9]* parameters' "$pkg/model.toml" | awk '{ printf "%.1f M", $1 / 1e6 }' || true)
  steps=$(awk '/^steps /{ print $2 "x" $4; exit }' "$rust")
  unit=$(grep -q "end-to-end window" "$rust" && echo window || echo chunk)
  r_step=$(field "denoiser per step" "$rust") p_step=$(field "denoiser per step" "$py")
  r_win=$(field "end-to-end $unit" "$rust") p_win=$(field "end-to-end $unit" "$py")
  rtf=$(field "real-time factor" "$rust") ovh=$(field "runtime overhead" "$rust")
  ratio=$(awk -v a="$r_win" -v b="$p_win" 'BEGIN { printf "%.3f", a / b }')
  rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %s |' \
    "$name" "${params:-bundled}" "$provider" "$steps" "$unit" "$r_step" "$r_win" "$p_win" "$rtf" "$ovh" "$ratio")")
  rm -f "$rust" "$py"
done

say "Results ($(nproc) cores, $provider, median of $iters)"
echo "| package | denoiser params | provider | steps x branches | unit | runtime ms/step | runtime ms/unit | Python loop ms/unit | real-time factor | overhead outside Session::run | runtime / Python |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
