#!/usr/bin/env bash
# Live preview: a live video source -> v2agen -> video and generated sound played in sync.
# v2agen reports its latency (2 x hop + lookahead for a streaming package: 0.8 s with the
# bundled foley, 0.48 s with models/fixtures/foley-stream; window + hop for a windowed one:
# 7.5 s with models/foley-windowed), so the sinks play both that late, together.
#   MODEL=models/foley-windowed pipelines/live-preview.sh     # the windowed package (7.5 s)
#   pipelines/live-preview.sh "birds singing"                    # test pattern, Ctrl-C to stop
#   SOURCE="v4l2src device=/dev/video0" pipelines/live-preview.sh "keyboard typing"
#   VSINK=fakesink ASINK=fakesink BUFFERS=150 pipelines/live-preview.sh   # headless, 6 s
set -euo pipefail
source "$(dirname "$0")/common.sh"
prompt=${1:-}
vsink=${VSINK:-autovideosink}
asink=${ASINK:-autoaudiosink}
read -r -a source <<< "${SOURCE:-videotestsrc is-live=true pattern=ball num-buffers=${BUFFERS:-1500}}"
# videoconvert ! videoscale before v2agen copy frames out of a camera's own pool (it has only a
# few buffers, and v2agen holds a window of them).
gst-launch-1.0 -e \
  "${source[@]}" ! videoconvert ! videoscale ! video/x-raw,width=320,height=240 \
    ! v2agen name=gen "${MODEL_PROP[@]}" prompt="$prompt" \
  gen.src ! queue ! videoconvert ! "$vsink" sync=true \
  gen.audio_src ! queue ! audioconvert ! audioresample ! "$asink" sync=true
