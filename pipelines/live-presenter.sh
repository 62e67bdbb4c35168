#!/usr/bin/env bash
# Live virtual presenter: a live audio source -> miragegen -> compositor over a background with
# a lower third -> preview window (or, with SINK=fakesink, headless at real-time pace).
#   pipelines/live-presenter.sh                                                  # live test tone
#   SOURCE=espeak pipelines/live-presenter.sh "Good evening, here is the news."   # Ctrl-C to stop
#   SINK=fakesink BUFFERS=100 pipelines/live-presenter.sh                        # headless, 4 s
set -euo pipefail
source "$(dirname "$0")/common.sh"
sink=${SINK:-autovideosink}
if [ "${SOURCE:-tone}" = espeak ]; then
  # espeak is not a live source; identity sync=true paces it like one.
  voice=(espeak "text=${1:-Good evening. Here is the news.}" ! identity sync=true)
  background=()
else
  # 40 ms buffers: BUFFERS=500 is 20 s, after which the background ends too.
  voice=(audiotestsrc is-live=true wave=sine freq=220 volume=0.3 samplesperbuffer=640
         "num-buffers=${BUFFERS:-500}" ! audio/x-raw,rate=16000)
  background=("num-buffers=${BUFFERS:-500}")
fi
# compositor waits up to 1 s for late inputs: more than miragegen's latency (0.48 s with the
# bundled presenter), so the presenter is composited in sync even when its branch is not live.
gst-launch-1.0 -e \
  compositor name=mix background=black latency=1000000000 sink_1::xpos=128 sink_1::ypos=48 \
    ! videoconvert ! textoverlay "text=Virtual presenter" valignment=bottom halignment=left "font-desc=Sans 14" \
    ! videoconvert ! "$sink" sync=true \
  videotestsrc is-live=true pattern=smpte75 "${background[@]}" ! video/x-raw,width=640,height=360,framerate=25/1 ! mix.sink_0 \
  "${voice[@]}" ! audioconvert ! audioresample \
    ! miragegen "${MODEL_PROP[@]}" adaptive-steps=true ! videoconvert ! videoscale \
    ! video/x-raw,width=256,height=256 ! mix.sink_1
