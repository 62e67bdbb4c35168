#!/usr/bin/env bash
# The GPU path, checked and measured in one command, on any Linux x86-64 machine with an NVIDIA
# GPU and driver 580 or newer (CUDA 13):
#
#   bash scripts/gpu-check.sh [--wheels DIR] [--cuda-libs DIR] [--iters N] [--quick]
#   bash scripts/gpu-check.sh --fetch DIR      # no GPU needed: download the pinned wheels only
#
# 1. Stops at once, with a message, where there is no GPU (nvidia-smi finds none) or the driver
#    is too old for CUDA 13.
# 2. Sets the project up if needed (scripts/setup.sh), then installs ONNX Runtime's GPU build and
#    the CUDA 13 libraries its CUDA provider loads from pinned, sha256-checked wheels
#    (scripts/gpu-requirements.txt: onnxruntime-gpu 1.31.1, cuBLAS 13.0, cudart 13.0, nvrtc 13.0,
#    nvJitLink 13.0, cuRAND 10.4, cuFFT 12.0, cuDNN 9.13) into
#    $XDG_DATA_HOME/gst-generative/onnxruntime-gpu/. --wheels DIR installs them from a folder
#    made by --fetch (machines without the package index); --cuda-libs DIR uses an existing
#    CUDA 13 + cuDNN 9 install instead of the nvidia-* wheels.
# 3. Runs the runtime's and the elements' test suites that run graphs with
#    GST_GENERATIVE_TEST_PROVIDER=cuda, then =tensorrt where TensorRT 10 is found: its
#    libnvinfer.so.10 and libnvonnxparser.so.10 are on no registry this project can reach, so
#    provide them yourself
#    (NVIDIA's TensorRT 10 tar package or `pip install tensorrt-cu13-libs==10.*` from
#    pypi.nvidia.com) and point TENSORRT_LIB_DIR at the folder holding them.
# 4. Checks TensorRT's engine cache: a second start with the same engine-cache-dir builds
#    nothing (timing and cache files), a changed input shape (another guidance-branch count)
#    builds once and is reported.
# 5. Runs the benchmarks (scripts/bench-realsize.sh on CPU, CUDA and TensorRT; both elements'
#    benches on the GPU) and prints one table, also written to target/gpu-check/report.md.
#
# --quick: one iteration per figure and the fixture packages' tests only (a smoke run).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

wheels="" cuda_libs="" iters=3 quick="" fetch=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fetch) fetch=$2; shift 2 ;;
    --wheels) wheels=$2; shift 2 ;;
    --cuda-libs) cuda_libs=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --quick) quick=1 iters=1; shift ;;
    *) sed -n '2,9p' "$0" >&2; exit 2 ;;
  esac
done
REQS=scripts/gpu-requirements.txt

if [ -n "$fetch" ]; then
  say "Downloading the pinned GPU wheels into $fetch (checked against their sha256)"
  mkdir -p "$fetch"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_12_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux2010_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --require-hashes -r "$REQS" -d "$fetch"
  ls -l "$fetch"
  exit 0
fi

# --- 1. a GPU, or stop now ---------------------------------------------------------------
if ! command -v nvidia-smi >/dev/null 2>&1 || ! gpus=$(nvidia-smi -L 2>/dev/null) || ! grep -q "^GPU" <<<"$gpus"; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi is missing or lists no GPU): nothing to check." >&2
  echo "Run this on a machine with an NVIDIA GPU and driver 580 or newer; CPU figures: scripts/bench-realsize.sh" >&2
  exit 3
fi
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1 | tr -d ' ')
gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)
if [ "${driver%%.*}" -lt 580 ]; then
  echo "gpu-check: driver $driver supports CUDA 12 at most; onnxruntime-gpu 1.31.1 needs CUDA 13 (driver 580 or newer)." >&2
  exit 3
fi
echo "GPU: $gpu, driver $driver"

out=target/gpu-check
mkdir -p "$out"
report="$out/report.md"
: >"$report"
row() { printf '%s\n' "$*" | tee -a "$report"; }

# --- 2. the project, ONNX Runtime's GPU build, CUDA libraries ------------------------------
if [ ! -x "$DATA_HOME/gst-generative/venv/bin/python" ] || [ ! -f "$ORT_DIR/libonnxruntime.so.$ORT_VERSION" ]; then
  bash scripts/setup.sh
fi
PY="$DATA_HOME/gst-generative/venv/bin/python"
gpu_home="$DATA_HOME/gst-generative/onnxruntime-gpu"
site="$gpu_home/site"
reqs="$REQS"
if [ -n "$cuda_libs" ]; then
  reqs="$out/requirements-no-cuda.txt"
  grep -v '^nvidia-' "$REQS" >"$reqs"
fi
stamp=$(sha256sum "$reqs" | cut -c1-16)
if [ "$(cat "$gpu_home/stamp" 2>/dev/null)" != "$stamp" ]; then
  say "Installing onnxruntime-gpu and the CUDA libraries (pinned wheels, sha256-checked) into $site"
  rm -rf "$site"
  "$PY" -m pip install -q --no-deps --only-binary=:all: --require-hashes --target "$site" \
    ${wheels:+--no-index --find-links "$wheels"} -r "$reqs"
  echo "$stamp" >"$gpu_home/stamp"
fi
export ORT_DYLIB_PATH="$site/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
libdirs=$( (find "$site/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null || true) | sort -u | paste -sd: -)
trt_dir=""
for d in "${TENSORRT_LIB_DIR:-}" /usr/lib/x86_64-linux-gnu /usr/local/tensorrt/lib; do
  if [ -n "$d" ] && [ -e "$d/libnvinfer.so.10" ] && [ -e "$d/libnvonnxparser.so.10" ]; then trt_dir=$d; break; fi
done
export LD_LIBRARY_PATH="${libdirs}${cuda_libs:+:$cuda_libs}${trt_dir:+:$trt_dir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"

say "Which providers this ONNX Runtime offers, and a graph on each"
"$PY" - <<'EOF' | tee "$out/providers.txt"
import onnxruntime as ort
print("onnxruntime", ort.__version__, "providers:", ort.get_available_providers())
for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
    try:
        s = ort.InferenceSession("models/fixtures/analytic/flow_velocity.onnx", providers=[p])
        print(p, "->", s.get_providers()[0])
    except Exception as e:  # report and go on: the table says what ran
        print(p, "-> failed:", str(e).splitlines()[0])
EOF
providers=(cuda)
if [ -n "$trt_dir" ]; then providers+=(tensorrt); else
  echo "TensorRT: libnvinfer.so.10 and libnvonnxparser.so.10 not found (set TENSORRT_LIB_DIR): the TensorRT checks are skipped"
fi

# --- 3. the test suites on each GPU provider ---------------------------------------------
runtime_tests=(--test samplers --test packages --test v2a --test text --test session_cache)
element_tests=(--test elements --test miragegen --test v2agen)
[ -n "$quick" ] || element_tests+=(--test reliability)
declare -A verdict
for p in "${providers[@]}"; do
  say "Test suites with GST_GENERATIVE_TEST_PROVIDER=$p"
  log="$out/tests-$p.log"
  # Both suites run whatever the first gives: every failure shows in one pass.
  rc=0
  GST_GENERATIVE_TEST_PROVIDER=$p cargo test --locked --no-fail-fast -p diffusion-runtime "${runtime_tests[@]}" \
    >"$log" 2>&1 || rc=1
  GST_GENERATIVE_TEST_PROVIDER=$p cargo test --locked --no-fail-fast -p gst-generative-tests "${element_tests[@]}" \
    >>"$log" 2>&1 || rc=1
  if [ "$rc" -eq 0 ]; then verdict[$p]="passed"; else verdict[$p]="FAILED (see $log)"; fi
  passed=$(grep -o '[0-9]* passed' "$log" | awk '{ s += $1 } END { print s + 0 }')
  failed=$(grep -o '[0-9]* failed' "$log" | awk '{ s += $1 } END { print s + 0 }')
  verdict[$p]="${verdict[$p]}: $passed passed, $failed failed"
  grep -E "^test .* FAILED|panicked" "$log" | head -20 || true
  echo "$p: ${verdict[$p]}"
done

cargo bench --locked -q -p diffusion-runtime --bench package --no-run >/dev/null 2>&1 || true
bench() { cargo bench --locked -q -p diffusion-runtime --bench package -- "$@"; }

# --- 4. TensorRT engine cache -------------------------------------------------------------
engine_rows=()
if [ -n "$trt_dir" ]; then
  say "TensorRT engine cache: build, reuse, rebuild for a new shape"
  cache=$(mktemp -d)
  for pkg in models/foley-windowed "target/realsize/mmaudio-s-16k"; do
    [ -f "$pkg/model.toml" ] || "$PY" models/tools/make_realsize.py target/realsize >/dev/null
    for run in "first start" "second start" "3 branches" "3 branches again"; do
      args=(--provider tensorrt --engine-cache-dir "$cache" --iters 1 --warmup 0)
      case "$run" in 3*) args+=(--branches 3) ;; *) args+=(--branches 2) ;; esac
      start=$(date +%s.%N)
      log="$out/engine-$(basename "$pkg")-${run// /-}.log"
      bench "$pkg" "${args[@]}" >"$log" 2>&1 || echo "engine-cache run failed: $log"
      secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
      builds=$(grep -c "built for" "$log" || true)
      files=$(find "$cache" -name 'gstgen_*' | wc -l)
      engine_rows+=("| $(basename "$pkg") | $run | $secs s | $builds engine build(s) reported | $files cache files |")
    done
  done
  rm -rf "$cache"
fi

# --- 5. benchmarks ------------------------------------------------------------------------
say "Benchmarks"
bench_rows=()
for p in cpu "${providers[@]}"; do
  bash scripts/bench-realsize.sh --provider "$p" --iters "$iters" --rounds $((quick ? 1 : 3)) ${quick:+--tiny} \
    2>&1 | tee "$out/bench-$p.log" || echo "bench-realsize.sh --provider $p failed: $out/bench-$p.log"
  while IFS= read -r line; do bench_rows+=("$line"); done < <(grep '^| [a-z]' "$out/bench-$p.log" | grep -v '^| package')
done
figure() { # figure TEXT FILE: the bench's line for TEXT, or why there is none
  local line
  line=$(grep -m1 "$1" "$2" 2>/dev/null | sed 's/  */ /g') || true
  echo "${line:-failed (see $2)}"
}
element_rows=()
for p in "${providers[@]}"; do
  m="$out/miragegen-$p.log"
  cargo bench --locked -q -p gst-generative-tests --bench miragegen -- models/presenter --provider "$p" \
    --seconds $((quick ? 5 : 20)) >"$m" 2>&1 || echo "miragegen bench failed: $m"
  element_rows+=("| miragegen (models/presenter) | $p | $(figure 'first-frame latency' "$m") | $(figure 'file real-time factor' "$m") |")
  # The bundled streaming package (per 200 ms hop) and the windowed one (per 4 s window).
  for pkg in models/foley models/foley-windowed; do
    v="$out/v2agen-$(basename "$pkg")-$p.log"
    cargo bench --locked -q -p gst-generative-tests --bench v2agen -- "$pkg" --provider "$p" \
      --seconds $((quick ? 10 : 30)) >"$v" 2>&1 || echo "v2agen bench failed: $v"
    element_rows+=("| v2agen ($pkg) | $p | — | $(figure 'per-window real-time factor' "$v") |")
  done
done

say "Report ($gpu, driver $driver; also in $report)"
row "GPU: $gpu, driver $driver, onnxruntime-gpu $ORT_VERSION; $(date -u +%Y-%m-%d)"
row ""
row "| provider | test suites |"
row "|---|---|"
for p in "${providers[@]}"; do row "| $p | ${verdict[$p]} |"; done
[ -n "$trt_dir" ] || row "| tensorrt | not run: no libnvinfer.so.10 / libnvonnxparser.so.10 (TENSORRT_LIB_DIR) |"
row ""
row "| package | denoiser params | provider | steps x branches | unit | runtime ms/step | runtime ms/unit | runtime s per 8 s of media | Python ms/step | Python ms/unit | real-time factor (runtime) | runtime overhead outside Session::run | runtime / Python per unit (each round) |"
row "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${bench_rows[@]}"; do row "$r"; done
row ""
row "| element | provider | first frame (live) | real-time factor |"
row "|---|---|---|---|"
for r in "${element_rows[@]}"; do row "$r"; done
if [ ${#engine_rows[@]} -gt 0 ]; then
  row ""
  row "| package | TensorRT start | wall time | builds | cache |"
  row "|---|---|---|---|---|"
  for r in "${engine_rows[@]}"; do row "$r"; done
fi
