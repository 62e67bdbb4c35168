#!/usr/bin/env bash
# Step-by-step Foley: a first v2agen generates one track; a second one receives that track on
# its audio_sink and, with negative audio guidance, generates a second track that avoids the
# sounds already there; audiomixer mixes both into the MP4's soundtrack.
#   pipelines/step-by-step-foley.sh in.mp4 out.mp4 "rain" "footsteps"
set -euo pipefail
source "$(dirname "$0")/common.sh"
in=${1:?usage: step-by-step-foley.sh in.mp4 [out.mp4] [first prompt] [second prompt]}
out=${2:-foley.mp4}
first=${3:-rain}
second=${4:-footsteps}
# The first track reaches audiomixer directly and through the second v2agen, which delays it
# by its latency (0.8 s with the bundled package, 7.5 s with a windowed one): the direct
# branch's queue must hold that much, so it is unbounded. (With mix-existing=true on the second
# instance, its audio_src alone carries the mix and audiomixer is not needed.)
gst-launch-1.0 -e \
  filesrc location="$in" ! decodebin ! videoconvert \
    ! v2agen name=first "${MODEL_PROP[@]}" prompt="$first" \
    ! v2agen name=second "${MODEL_PROP[@]}" prompt="$second" \
    ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc ! queue ! mux. \
  first.audio_src ! tee name=t \
    t. ! queue ! second.audio_sink \
    t. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! mix.sink_0 \
  second.audio_src ! queue ! mix.sink_1 \
  audiomixer name=mix ! "${AAC[@]}" ! queue ! mux. \
  mp4mux name=mux ! filesink location="$out"
echo "wrote $out"
