# Shared by setup.sh, demo.sh and test.sh: pinned versions and small helpers.
# shellcheck shell=bash

ORT_VERSION=1.31.1
ORT_WHEEL="onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
ORT_WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
ONNX_VERSION=1.23.2
# The real tritonserver (2.51, CPU, python backend only) that this wheel carries: for the
# inference-server tests. Unpacked, not pip-installed.
PYTRITON_VERSION=0.7.0
PYTRITON_WHEEL="nvidia_pytriton-${PYTRITON_VERSION}-py3-none-manylinux_2_35_x86_64.whl"
PYTRITON_WHEEL_SHA256=21f063ff93bb426d0c06b7a55e7eb9efcfe62c0dddd9a908e9877e18710128df
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
CACHE_HOME=${XDG_CACHE_HOME:-$HOME/.cache}
ORT_DIR="$DATA_HOME/gst-generative/onnxruntime"
TRITON_DIR="$DATA_HOME/gst-generative/triton"
# GStreamer scans this directory for plugins by default: no GST_PLUGIN_PATH needed.
USER_PLUGIN_DIR="$DATA_HOME/gstreamer-1.0/plugins"

say() { printf '\n==> %s\n' "$*"; }

# For the benchmark scripts: the first number after NAME at the start of a line of FILE.
field() { awk -v k="$1" 'index($0, k) == 1 { sub("^" k " *", ""); print $1; exit }' "$2"; }
# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
