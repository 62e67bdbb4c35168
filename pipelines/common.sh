# Shared by the pipeline scripts: the model package to use (override with MODEL=...).
# shellcheck shell=bash
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The elements' model property: none (their bundled packages, models/presenter and models/foley)
# unless MODEL is set. An array, because an empty `model=` would swallow the next property on a
# gst-launch line.
MODEL_PROP=(${MODEL:+"model=$MODEL"})
# The MP4s' audio encoder. An AAC encoder puts 1024 samples of priming (more with lookahead)
# ahead of the sound, and neither these encoders nor mp4mux record it in an edit list, so every
# decoder plays the soundtrack that much late: 100 ms with voaacenc at a model's 16 kHz, 21 ms
# with avenc_aac at 48 kHz (within broadcast lip-sync tolerances; measured by decoding the MP4
# and cross-correlating with the element's own output).
AAC=(audioconvert ! audioresample ! "audio/x-raw,rate=48000" ! avenc_aac)
