#!/usr/bin/env bash
# Called by meson.build: builds the two plugins with cargo and copies them to meson's output dir.
# Arguments: cargo source-root target-dir profile out-dir ort-dir models-dir
set -euo pipefail
cargo=$1 src=$2 target=$3 profile=$4 out=$5
# Baked into the runtime: where the installed ONNX Runtime and bundled models live.
export GST_GENERATIVE_ORT_DIR=$6 GST_GENERATIVE_MODELS_DIR=$7
flags=(--manifest-path "$src/Cargo.toml" --target-dir "$target" -p gst-plugin-mirage -p gst-plugin-v2a)
[ "$profile" = release ] && flags+=(--release)
"$cargo" build "${flags[@]}"
cp "$target/$profile/libgstmirage.so" "$target/$profile/libgstv2a.so" "$out/"
