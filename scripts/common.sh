# Shared by setup.sh, demo.sh and test.sh: pinned versions and small helpers.
# shellcheck shell=bash

ORT_VERSION=1.31.1
ORT_WHEEL="onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
ORT_WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
ONNX_VERSION=1.23.2
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
CACHE_HOME=${XDG_CACHE_HOME:-$HOME/.cache}
ORT_DIR="$DATA_HOME/gst-generative/onnxruntime"
# GStreamer scans this directory for plugins by default: no GST_PLUGIN_PATH needed.
USER_PLUGIN_DIR="$DATA_HOME/gstreamer-1.0/plugins"

say() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
