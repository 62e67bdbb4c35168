#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the main demo. Idempotent.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh

say "The elements, as GStreamer sees them (no environment variable needed)"
gst-inspect-1.0 mirage
gst-inspect-1.0 v2a

say "Main demo: text-to-speech -> miragegen -> MP4 with the speech muxed in"
out="$REPO_ROOT/demo-presenter.mp4"
echo "model: ${MODEL:-the bundled presenter package (models/presenter), avatar: astronaut}"
bash pipelines/tts-to-mp4.sh "Hello. I am a presenter generated from this speech, frame by frame, in a GStreamer pipeline." "$out" \
  | grep -v -E "^(Setting|Pipeline|Redistribute|New clock|Got EOS|Execution|Freeing|Prerolling|Pipeline is)" || true
gst-discoverer-1.0 "$out" | grep -E "Duration|video|audio|Width|Height|Frame rate" | sed 's/^/  /' || true

say "Foley demo: a rendered scene (a ball dropping and bouncing) -> v2agen (bundled foley model) -> MP4"
scene=$(mktemp -d)
"$DATA_HOME/gst-generative/venv/bin/python" models/foley/data/scenes.py --count 1 --kind drop --seconds 8 \
  --seed 3 --no-sounds --preview --out "$scene" | sed 's/^/  /'
foley_out="$REPO_ROOT/demo-foley.mp4"
bash pipelines/add-soundtrack.sh "$scene/clip0000.mp4" "$foley_out" "a rubber ball bouncing on the ground" \
  | grep -v -E "^(Setting|Pipeline|Redistribute|New clock|Got EOS|Execution|Freeing|Prerolling|Pipeline is)" || true
gst-discoverer-1.0 "$foley_out" | grep -E "Duration|video|audio" | sed 's/^/  /' || true
rm -rf "$scene"

say "Benchmarking miragegen with the bundled presenter (first frame live, real-time factor)"
cargo bench --locked -p gst-generative-tests --bench miragegen -- "$REPO_ROOT/models/presenter" --seconds 10 2>/dev/null | tail -6

say "Done: $out, $foley_out"
