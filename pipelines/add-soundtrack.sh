#!/usr/bin/env bash
# A video file to an MP4 with a generated soundtrack (the original audio, if any, is dropped):
#   pipelines/add-soundtrack.sh in.mp4 out.mp4 "footsteps on gravel" ["music, speech"]
set -euo pipefail
source "$(dirname "$0")/common.sh"
in=${1:?usage: add-soundtrack.sh in.mp4 [out.mp4] [prompt] [negative prompt]}
out=${2:-with-soundtrack.mp4}
prompt=${3:-}
negative=${4:-}
# v2agen holds each video frame until the soundtrack reaches it, so both branches advance
# together and ordinary queues in front of the muxer suffice.
# Empty prompts are left out: an empty `name=` would swallow the next token of the line.
prompts=(${prompt:+"prompt=$prompt"} ${negative:+"negative-prompt=$negative"})
gst-launch-1.0 -e \
  filesrc location="$in" ! decodebin ! videoconvert \
    ! v2agen name=gen "${MODEL_PROP[@]}" "${prompts[@]}" \
  gen.src ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc ! queue ! mux. \
  gen.audio_src ! queue ! "${AAC[@]}" ! queue ! mux. \
  mp4mux name=mux ! filesink location="$out"
echo "wrote $out"
