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

# The installed build finds the ONNX Runtime and the model packages installed next to it, with no
# environment variable.
#   installed_loads ELEMENT SOURCE PACKAGE   (the log stays in $tmp/ELEMENT.txt)
installed_loads() {
  local element=$1 source=$2 package=$3 log="$tmp/$1.txt"
  as_fresh_user GST_DEBUG="$element:4" GST_DEBUG_NO_COLOR=1 gst-launch-1.0 "$source" num-buffers=1 ! "$element" \
    execution-provider=cpu ! fakesink > "$log" 2>&1 || true
  grep -q "model package $package .* from $tmp/prefix/share/gst-generative/models/$package" "$log" \
    || { echo "installed $element did not load the installed $package package:" >&2; cat "$log" >&2; exit 1; }
  echo "installed $element loads the installed $package package by default"
}
installed_loads miragegen audiotestsrc presenter
grep -q "ONNX Runtime $ORT_VERSION from $tmp/prefix/lib/gst-generative/libonnxruntime.so" "$tmp/miragegen.txt" \
  || { echo "installed miragegen did not load the installed ONNX Runtime:" >&2; cat "$tmp/miragegen.txt" >&2; exit 1; }
echo "installed miragegen loads the installed ONNX Runtime"
installed_loads v2agen videotestsrc foley
