#!/usr/bin/env bash
# Text to speech to a talking-presenter MP4, with the speech muxed in:
#   pipelines/tts-to-mp4.sh "Hello, I am your presenter." out.mp4
set -euo pipefail
source "$(dirname "$0")/common.sh"
text=${1:-"Hello there. This presenter is generated from the speech you hear."}
out=${2:-presenter.mp4}
# The audio branch's queue is unbounded: the video branch holds back up to a chunk plus
# lookahead (miragegen) and the encoder's lookahead before mp4mux can interleave.
gst-launch-1.0 -e \
  espeak text="$text" ! audioconvert ! audioresample ! tee name=speech \
  speech. ! queue ! miragegen "${MODEL_PROP[@]}" ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency ! queue ! mux. \
  speech. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! "${AAC[@]}" ! queue ! mux. \
  mp4mux name=mux ! filesink location="$out"
echo "wrote $out"
