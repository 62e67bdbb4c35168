#!/usr/bin/env bash
# The runtime at the scale of real exports: per denoiser step and per window/chunk/hop for the
# real-size benchmark packages (models/tools/make_realsize.py: MMAudio-S-shaped and
# LMDM-shaped denoisers, random weights), both bundled packages (the streaming foley one per
# hop) and the windowed foley package, the runtime's overhead outside Session::run, and the same
# work driven by a plain Python onnxruntime loop (models/tools/bench_python_loop.py) in the same
# run, as a ratio. Prints one table.
#
#   bash scripts/bench-realsize.sh [--provider cpu|cuda|tensorrt] [--iters N] [--rounds R] [--tiny] [--only NAME]
#
# --tiny writes the real-size graphs at CI width (seconds, not minutes): a check that this
# script, the generator and both loops work, not a measurement. Run scripts/setup.sh first.
# Each package's two loops run one after the other, never at the same time, in R alternating
# rounds (a shared machine's speed drifts by 20-30% within minutes: alternating puts both loops
# under the same drift); each round's figure is the median of --iters runs after one warm-up,
# and the table gives the median over the rounds, the ratio the median of the rounds' ratios. ORT_DYLIB_PATH selects another ONNX Runtime build (the
# GPU one, for scripts/gpu-check.sh); the Python loop then needs that build's Python package.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

provider=cpu iters=3 rounds=3 tiny="" only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --provider) provider=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --tiny) tiny=1; shift ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: $0 [--provider cpu|cuda|tensorrt] [--iters N] [--rounds R] [--tiny] [--only NAME]" >&2; exit 2 ;;
  esac
done

PY=${BENCH_PYTHON:-$DATA_HOME/gst-generative/venv/bin/python}
[ -x "$PY" ] || { echo "no Python environment at $PY: run scripts/setup.sh first" >&2; exit 1; }
if ! "$PY" -c "import onnxruntime" 2>/dev/null; then
  say "Installing ONNX Runtime's Python package $ORT_VERSION for the Python loop (pinned wheels, sha256-checked)"
  "$PY" -m pip install -q --no-deps --only-binary=:all: --require-hashes -r scripts/python-ort-requirements.txt
fi

if [ -n "$tiny" ]; then out=target/realsize-tiny; else out=target/realsize; fi
# Regenerate when the generator changed since the packages were written.
if [ ! -f "$out/mmaudio-s-16k/model.toml" ] || [ models/tools/make_realsize.py -nt "$out/mmaudio-s-16k/model.toml" ]; then
  say "Writing the real-size benchmark packages into $out (random weights)"
  "$PY" models/tools/make_realsize.py "$out" ${tiny:+--tiny}
fi

say "Building the runtime benchmark"
cargo bench --locked -q -p diffusion-runtime --bench package --no-run 2>&1 | grep -v "^\s*Executable" || true

rows=()
for pkg in "$out/mmaudio-s-16k" "$out/ditto-lmdm" models/foley models/foley-windowed models/presenter; do
  name=$(basename "$pkg")
  [ -z "$only" ] || [ "$only" = "$name" ] || continue
  [ -f "$pkg/model.toml" ] || { echo "skipping $pkg: no model.toml" >&2; continue; }
  r_steps=() p_steps=() r_wins=() p_wins=() rtfs=() ovhs=() ratios=()
  for round in $(seq "$rounds"); do
    say "$name, round $round of $rounds: runtime (Rust) then the Python loop, $iters runs each after one warm-up"
    rust=$(mktemp) py=$(mktemp)
    cargo bench --locked -q -p diffusion-runtime --bench package -- "$pkg" --iters "$iters" --warmup 1 \
      --provider "$provider" | tee "$rust"
    "$PY" models/tools/bench_python_loop.py "$pkg" --iters "$iters" --warmup 1 --provider "$provider" | tee "$py"
    steps=$(awk '/^steps /{ print $2 "x" $4; exit }' "$rust")
    unit=$(awk '/^end-to-end /{ print $2; exit }' "$rust")  # window, chunk or hop
    r_steps+=("$(field "denoiser per step" "$rust")") p_steps+=("$(field "denoiser per step" "$py")")
    r_wins+=("$(field "end-to-end $unit" "$rust")") p_wins+=("$(field "end-to-end $unit" "$py")")
    rtfs+=("$(field "real-time factor" "$rust")") ovhs+=("$(field "runtime overhead" "$rust" | tr -d %)")
    ratios+=("$(awk -v a="${r_wins[-1]}" -v b="${p_wins[-1]}" 'BEGIN { printf "%.3f", a / b }')")
    rm -f "$rust" "$py"
  done
  params=$(grep -m1 -o '[0-9]* parameters' "$pkg/model.toml" | awk '{ printf "%.1f M", $1 / 1e6 }' || true)
  rows+=("$(printf '| %s | %s | %s | %s | %s | %.3f | %.1f | %.2f | %.3f | %.1f | %.4f | %.2f%% | %.3f (%s) |' \
    "$name" "${params:-bundled}" "$provider" "$steps" "$unit" "$(median "${r_steps[@]}")" \
    "$(median "${r_wins[@]}")" "$(awk -v r="$(median "${rtfs[@]}")" 'BEGIN { print r * 8 }')" "$(median "${p_steps[@]}")" "$(median "${p_wins[@]}")" "$(median "${rtfs[@]}")" \
    "$(median "${ovhs[@]}")" "$(median "${ratios[@]}")" "$(IFS=' '; echo "${ratios[*]}")")")
done

say "Results ($(nproc) cores, $provider; medians of $rounds rounds of $iters runs)"
echo "| package | denoiser params | provider | steps x branches | unit | runtime ms/step | runtime ms/unit | runtime s per 8 s of media | Python ms/step | Python ms/unit | real-time factor (runtime) | runtime overhead outside Session::run | runtime / Python per unit (each round) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
