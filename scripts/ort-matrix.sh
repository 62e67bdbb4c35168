#!/usr/bin/env bash
# Runs the runtime and element tests against other ONNX Runtime releases than the pinned one:
# 1.20.1 (oldest supported, a CUDA 12-era release) and 1.22.1 must pass; 1.19.2 must be refused
# with a clear version error. Wheels come from the Python package index, sha256-checked.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
dl="$CACHE_HOME/gst-generative/wheels"
mkdir -p "$dl"

# version sha256-of-wheel
MATRIX=(
  "1.19.2 a36511dc07c5c964b916697e42e366fa43c48cdb3d3503578d78cef30417cb84"
  "1.20.1 5eec64c0269dcdb8d9a9a53dc4d64f87b9e0c19801d9321246a53b7eb5a7d1bc"
  "1.22.1 f6effa1299ac549a05c784d50292e3378dbbf010346ded67400193b09ddc2f04"
)

lib_for() {  # version sha -> prints the extracted library path
  local v=$1 sha=$2 whl="$dl/onnxruntime-$1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
  local out="$dl/onnxruntime-$v"
  if [ ! -f "$out/libonnxruntime.so.$v" ]; then
    [ -f "$whl" ] || "$DATA_HOME/gst-generative/venv/bin/pip" download -q --no-deps --only-binary=:all: \
      --python-version 3.11 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      "onnxruntime==$v" -d "$dl"
    echo "$sha  $whl" | sha256sum -c - >&2 || { rm -f "$whl"; echo "bad sha256: removed $whl" >&2; exit 1; }
    mkdir -p "$out"
    unzip -q -o -j "$whl" "onnxruntime/capi/libonnxruntime.so.$v" -d "$out"
  fi
  echo "$out/libonnxruntime.so.$v"
}

for entry in "${MATRIX[@]}"; do
  read -r v sha <<<"$entry"
  lib=$(lib_for "$v" "$sha")
  if [ "$v" = 1.19.2 ]; then
    say "ONNX Runtime $v must be refused"
    GST_GENERATIVE_OLD_ORT="$lib" cargo test --locked -q -p diffusion-runtime --test ort_missing -- --ignored
  else
    say "Runtime and element tests on ONNX Runtime $v"
    ORT_DYLIB_PATH="$lib" cargo test --locked -q -p diffusion-runtime -p gst-generative-tests
  fi
done
