#!/usr/bin/env bash
# Builds and installs the plugins with meson (plugins into a per-user GStreamer plugin directory
# of a scratch home, ONNX Runtime into a scratch prefix), then checks that GStreamer finds the
# installed plugins with no GST_PLUGIN_PATH and that they find the installed ONNX Runtime.
# Reuses the workspace's cargo target directory.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
home="$tmp/home"   # a fresh user: nothing installed by setup.sh is visible from here
plugindir="$home/.local/share/gstreamer-1.0/plugins"

say "meson setup / compile / install (prefix $tmp/prefix, plugins in $plugindir)"
meson setup "$tmp/build" --prefix="$tmp/prefix" --libdir=lib -Dplugindir="$plugindir" \
  -Dcargo-target-dir="$REPO_ROOT/target" -Donnxruntime="$ORT_DIR/libonnxruntime.so.$ORT_VERSION" >/dev/null
meson compile -C "$tmp/build"
meson install -C "$tmp/build" >/dev/null
ls "$plugindir" "$tmp/prefix/lib/gst-generative"

as_fresh_user() {
  env -u XDG_DATA_HOME -u GST_PLUGIN_PATH -u GST_PLUGIN_SYSTEM_PATH -u ORT_DYLIB_PATH \
    HOME="$home" GST_REGISTRY="$tmp/registry.bin" "$@"
}
for element in miragegen v2agen; do
  out=$(as_fresh_user gst-inspect-1.0 "$element")
  grep -q "Filename *$plugindir/" <<<"$out" || { echo "$element not found in the meson install" >&2; exit 1; }
  echo "$element: found by GStreamer in the meson install"
done

# The installed build finds the ONNX Runtime and the model package installed next to it, with no
# environment variable.
as_fresh_user GST_DEBUG=miragegen:4 GST_DEBUG_NO_COLOR=1 gst-launch-1.0 audiotestsrc num-buffers=1 ! miragegen \
  execution-provider=cpu ! fakesink > "$tmp/launch.txt" 2>&1 || true
grep -q "ONNX Runtime $ORT_VERSION from $tmp/prefix/lib/gst-generative/libonnxruntime.so" "$tmp/launch.txt" \
  || { echo "installed miragegen did not load the installed ONNX Runtime:" >&2; cat "$tmp/launch.txt" >&2; exit 1; }
echo "installed miragegen loads the installed ONNX Runtime"
grep -q "model package presenter .* from $tmp/prefix/share/gst-generative/models/presenter" "$tmp/launch.txt" \
  || { echo "installed miragegen did not load the installed presenter package:" >&2; cat "$tmp/launch.txt" >&2; exit 1; }
echo "installed miragegen loads the installed presenter package by default"

as_fresh_user GST_DEBUG=v2agen:4 GST_DEBUG_NO_COLOR=1 gst-launch-1.0 videotestsrc num-buffers=1 ! v2agen \
  execution-provider=cpu ! fakesink > "$tmp/launch-v2a.txt" 2>&1 || true
grep -q "model package foley .* from $tmp/prefix/share/gst-generative/models/foley" "$tmp/launch-v2a.txt" \
  || { echo "installed v2agen did not load the installed foley package:" >&2; cat "$tmp/launch-v2a.txt" >&2; exit 1; }
echo "installed v2agen loads the installed foley package by default"
