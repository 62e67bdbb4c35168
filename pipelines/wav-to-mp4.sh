#!/usr/bin/env bash
# A WAV file of speech to a talking-presenter MP4 with the audio muxed in:
#   pipelines/wav-to-mp4.sh speech.wav out.mp4
set -euo pipefail
source "$(dirname "$0")/common.sh"
in=${1:?usage: wav-to-mp4.sh speech.wav [out.mp4]}
out=${2:-presenter.mp4}
# The audio branch's queue is unbounded: the video branch holds back up to a chunk plus
# lookahead (miragegen) and the encoder's lookahead before mp4mux can interleave.
gst-launch-1.0 -e \
  filesrc location="$in" ! wavparse ! audioconvert ! audioresample ! tee name=speech \
  speech. ! queue ! miragegen "${MODEL_PROP[@]}" ! videoconvert ! video/x-raw,format=I420 ! x264enc ! queue ! mux. \
  speech. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! "${AAC[@]}" ! queue ! mux. \
  mp4mux name=mux ! filesink location="$out"
echo "wrote $out"
