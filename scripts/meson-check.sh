#!/usr/bin/env bash
# Builds and installs the plugins with meson into a temporary prefix, then checks that GStreamer
# loads the installed plugins from there. Reuses the workspace's cargo target directory.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say "meson setup / compile / install into $tmp/prefix"
meson setup "$tmp/build" --prefix="$tmp/prefix" --libdir=lib -Dcargo-target-dir="$REPO_ROOT/target" \
  -Donnxruntime="$ORT_DIR/libonnxruntime.so.$ORT_VERSION" >/dev/null
meson compile -C "$tmp/build"
meson install -C "$tmp/build" >/dev/null
ls "$tmp/prefix/lib/gstreamer-1.0" "$tmp/prefix/lib/gst-generative"

for element in miragegen v2agen; do
  out=$(XDG_DATA_HOME="$tmp/empty" GST_REGISTRY="$tmp/registry.bin" \
    GST_PLUGIN_PATH="$tmp/prefix/lib/gstreamer-1.0" gst-inspect-1.0 "$element")
  grep -q "Filename *$tmp/prefix/lib/gstreamer-1.0/" <<<"$out" || { echo "$element not loaded from the meson install" >&2; exit 1; }
  echo "$element: loaded from the meson install"
done

# The installed build finds the ONNX Runtime installed next to it, with no environment variable.
XDG_DATA_HOME="$tmp/empty" GST_REGISTRY="$tmp/registry.bin" GST_PLUGIN_PATH="$tmp/prefix/lib/gstreamer-1.0" \
  GST_DEBUG=miragegen:4 gst-launch-1.0 audiotestsrc num-buffers=1 ! miragegen execution-provider=cpu \
  model="$REPO_ROOT/models/fixtures/presenter" ! fakesink > "$tmp/launch.txt" 2>&1 || true
grep -q "ONNX Runtime $ORT_VERSION from $tmp/prefix/lib/gst-generative/libonnxruntime.so" "$tmp/launch.txt" \
  || { echo "installed miragegen did not load the installed ONNX Runtime:" >&2; cat "$tmp/launch.txt" >&2; exit 1; }
echo "installed miragegen loads the installed ONNX Runtime"
