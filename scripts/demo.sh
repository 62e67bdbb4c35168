#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the main demo. Idempotent.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh

say "The elements, as GStreamer sees them (no environment variable needed)"
gst-inspect-1.0 mirage
gst-inspect-1.0 v2a

say "Loading the fixture model packages in the elements (ONNX Runtime, graph checks, Progress messages)"
for pair in "audiotestsrc num-buffers=1 ! miragegen model=models/fixtures/presenter" \
            "videotestsrc num-buffers=1 ! v2agen model=models/fixtures/foley"; do
  echo "gst-launch-1.0 -m $pair ! fakesink"
  # shellcheck disable=SC2086
  GST_DEBUG="miragegen:4,v2agen:4" GST_DEBUG_NO_COLOR=1 gst-launch-1.0 -m $pair ! fakesink 2>&1 \
    | grep -E "running on|ONNX Runtime|does not generate" | sed 's/^.*<\(miragegen0\|v2agen0\)> /  \1: /' || true
done

say "Benchmarking the runtime on the fixture packages"
cargo bench --locked -p diffusion-runtime --bench package -- models/fixtures/presenter 2>/dev/null | tail -8
cargo bench --locked -p diffusion-runtime --bench package -- models/fixtures/foley 2>/dev/null | tail -8

say "Not yet: miragegen and v2agen do not generate media yet."
echo "The runtime, the model-package contract and the setup are in place; speech-to-video (TTS -> miragegen"
echo "-> MP4) and video-to-soundtrack demos arrive with the element issues and the bundled models."
