#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the whole test suite: the fixture generator's
# reproducibility, every cargo test (on the pinned ONNX Runtime, then on older releases), the
# plugins in gst-inspect-1.0 with ONNX Runtime absent, and a meson build + install whose
# installed plugins must load. Idempotent.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say "Checking that models/tools/make_fixtures.py regenerates the committed fixtures byte for byte"
"$DATA_HOME/gst-generative/venv/bin/python" models/tools/make_fixtures.py "$tmp/fixtures" >/dev/null
diff -r "$tmp/fixtures" models/fixtures
echo "fixtures match"

say "Running the Rust tests (cargo test --workspace)"
cargo test --workspace --locked

bash scripts/ort-matrix.sh

say "Running the full path (encoders -> sampler with guidance branches -> decoder) on both fixture packages"
for pkg in presenter foley; do
  cargo bench --locked -q -p diffusion-runtime --bench package -- "models/fixtures/$pkg" --iters 1 --provider cpu | tail -4
done

say "The real-size benchmark packages at CI width, through the runtime and the Python loop (scripts/bench-realsize.sh --tiny)"
bash scripts/bench-realsize.sh --tiny --iters 1 | tail -7

if ! command -v nvidia-smi >/dev/null 2>&1; then
  say "scripts/gpu-check.sh refuses at once without a GPU"
  rc=0
  timeout 10 bash scripts/gpu-check.sh 2>"$tmp/gpu-check.txt" || rc=$?
  [ "$rc" -eq 3 ] && grep -q "no NVIDIA GPU" "$tmp/gpu-check.txt" \
    || { echo "gpu-check.sh without a GPU: exit $rc, expected 3 with a message" >&2; cat "$tmp/gpu-check.txt" >&2; exit 1; }
  cat "$tmp/gpu-check.txt"
fi

say "Checking both elements in gst-inspect-1.0 with ONNX Runtime absent"
mkdir -p "$tmp/empty-data" "$tmp/plugins"
cp target/release/libgstmirage.so target/release/libgstv2a.so "$tmp/plugins/"
for element in miragegen v2agen; do
  # An empty XDG_DATA_HOME hides the setup-installed ONNX Runtime and the user plugin dir.
  env -u ORT_DYLIB_PATH XDG_DATA_HOME="$tmp/empty-data" GST_REGISTRY="$tmp/registry.bin" \
    GST_PLUGIN_PATH="$tmp/plugins" gst-inspect-1.0 "$element" > "$tmp/$element.txt"
  for want in "Filename *$tmp/plugins/" "Pad Templates:" "execution-provider" "ort-library" "engine-cache-dir" "inference-server" "batch-window-us" "Latency = " "Example: gst-launch-1.0"; do
    grep -q -- "$want" "$tmp/$element.txt" || { echo "gst-inspect-1.0 $element lacks '$want'" >&2; exit 1; }
  done
  echo "$element: inspected without ONNX Runtime"
done

say "Running the pipeline scripts as written (pipelines/)"
bash pipelines/tts-to-mp4.sh "Testing the presenter pipeline." "$tmp/tts.mp4" >/dev/null
gst-launch-1.0 -q audiotestsrc num-buffers=40 samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1 ! wavenc ! filesink location="$tmp/speech.wav"
bash pipelines/wav-to-mp4.sh "$tmp/speech.wav" "$tmp/wav.mp4" >/dev/null
for f in tts wav; do
  info=$(gst-discoverer-1.0 "$tmp/$f.mp4")
  grep -q "video #" <<<"$info" && grep -q "audio #" <<<"$info" || { echo "$f.mp4 lacks video or audio:" >&2; echo "$info" >&2; exit 1; }
  echo "$f.mp4: $(grep -m1 Duration <<<"$info" | xargs)"
done
SINK=fakesink BUFFERS=50 timeout 60 bash pipelines/live-presenter.sh >/dev/null
echo "live-presenter.sh: ran 2 s headless"
MODEL="$REPO_ROOT/models/fixtures/presenter" timeout 120 bash pipelines/presenters-on-triton.sh 2 2 >"$tmp/triton.txt"
grep -q "^| presenter2 | [1-9]" "$tmp/triton.txt" || { echo "presenters-on-triton.sh:" >&2; cat "$tmp/triton.txt" >&2; exit 1; }
echo "presenters-on-triton.sh: 2 live presenters on the local Triton for 2 s"
gst-launch-1.0 -q videotestsrc num-buffers=72 pattern=ball ! video/x-raw,width=320,height=240,framerate=24000/1001 \
  ! x264enc ! mp4mux ! filesink location="$tmp/clip.mp4"
bash pipelines/add-soundtrack.sh "$tmp/clip.mp4" "$tmp/soundtrack.mp4" "footsteps" "music" >/dev/null
bash pipelines/prompt-vs-negative.sh "$tmp/clip.mp4" "$tmp/pvn" "rain and thunder" "thunder" >/dev/null
bash pipelines/step-by-step-foley.sh "$tmp/clip.mp4" "$tmp/foley.mp4" "rain" "footsteps" >/dev/null
for f in soundtrack pvn/prompt pvn/prompt-and-negative foley; do
  info=$(gst-discoverer-1.0 "$tmp/$f.mp4")
  grep -q "video #" <<<"$info" && grep -q "audio #" <<<"$info" || { echo "$f.mp4 lacks video or audio:" >&2; echo "$info" >&2; exit 1; }
  echo "$f.mp4: $(grep -m1 Duration <<<"$info" | xargs)"
done
VSINK=fakesink ASINK=fakesink BUFFERS=50 timeout 60 bash pipelines/live-preview.sh "birds" >/dev/null
echo "live-preview.sh: ran 2 s headless"
MODEL="$REPO_ROOT/models/foley-windowed" VSINK=fakesink ASINK=fakesink BUFFERS=50 timeout 60 \
  bash pipelines/live-preview.sh "birds" >/dev/null
echo "live-preview.sh with the windowed package: ran 2 s headless"
# The MP4s' shared audio encoder (pipelines/common.sh) must not put the sound late: ticks
# through it and back, compared with the same ticks raw (AAC priming is recorded nowhere in an
# MP4; avenc_aac at 48 kHz measures 21 ms, voaacenc at 16 kHz 100 ms).
(
  source pipelines/common.sh
  ticks=(audiotestsrc wave=ticks num-buffers=48 samplesperbuffer=1000 ! audio/x-raw,rate=16000,channels=1)
  as_f32=(audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate=16000,channels=1)
  gst-launch-1.0 -q "${ticks[@]}" ! "${as_f32[@]}" ! filesink location="$tmp/ticks.raw"
  gst-launch-1.0 -q "${ticks[@]}" ! "${AAC[@]}" ! mp4mux ! filesink location="$tmp/ticks.mp4"
  gst-launch-1.0 -q filesrc location="$tmp/ticks.mp4" ! qtdemux name=d d.audio_0 ! decodebin \
    ! "${as_f32[@]}" ! filesink location="$tmp/ticks-mp4.raw"
)
"$DATA_HOME/gst-generative/venv/bin/python" - "$tmp/ticks.raw" "$tmp/ticks-mp4.raw" <<'PY'
import sys
import numpy as np
def first_tick(path):
    a = np.abs(np.fromfile(path, dtype="<f4"))
    return np.flatnonzero(a > 0.05 * a.max())[0] / 16.0
lag = first_tick(sys.argv[2]) - first_tick(sys.argv[1])
print(f"MP4 audio (pipelines/common.sh AAC) lags its source by {lag:.1f} ms; allowed -15..30")
sys.exit(0 if -15 <= lag <= 30 else 1)
PY

# Checks that an element with no model property loads its bundled package, and prints which.
#   loads_bundled ELEMENT SOURCE PACKAGE
loads_bundled() {
  local element=$1 source=$2 package=$3 log="$tmp/$1-load.txt"
  GST_DEBUG="$element:4" GST_DEBUG_NO_COLOR=1 gst-launch-1.0 "$source" num-buffers=1 ! "$element" ! fakesink > "$log" 2>&1 \
    || { cat "$log" >&2; exit 1; }
  grep -q "model package $package " "$log" || { echo "$element did not load the bundled $package package:" >&2; cat "$log" >&2; exit 1; }
  grep -m1 "model package $package " "$log" | sed "s/^.*<${element}0> /  /"
}

say "The bundled foley package: v2agen loads it by default, and its sync on the held-out scenes meets the bar"
loads_bundled v2agen videotestsrc foley
# The held-out recordings (Debian packages, sha256-pinned) render the scenes' true contact times.
bash models/foley/data/fetch.sh
"$DATA_HOME/gst-generative/venv/bin/python" models/foley/data/sounds.py >/dev/null
# Onset F1 at ±50 ms on the 96 evaluation drop scenes, through v2agen (streaming, 200 ms hops),
# against issue 16's bar of 0.85: the package of 2026-12-07 measures 0.887 there
# (models/foley/README.md). About four minutes.
"$DATA_HOME/gst-generative/venv/bin/python" models/foley/evaluate.py --quick > "$tmp/foley-eval.txt" \
  || { cat "$tmp/foley-eval.txt" >&2; exit 1; }
tail -1 "$tmp/foley-eval.txt" | sed 's/^/  /'

say "The bundled presenter package: miragegen loads it by default, and its lip sync on a held-out voice and on recorded speech meets the bar"
loads_bundled miragegen audiotestsrc presenter
# The face-landmark model reads the mouth opening off the output frames (models/presenter/README.md).
# (Its stderr is TensorFlow Lite's start-up chatter unless something fails.)
"$DATA_HOME/gst-generative/face-venv/bin/python" models/presenter/evaluate.py --quick --floor 0.6 \
  2> "$tmp/presenter-eval.txt" || { cat "$tmp/presenter-eval.txt" >&2; exit 1; }

bash scripts/meson-check.sh

say "All tests passed"
