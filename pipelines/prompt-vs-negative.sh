#!/usr/bin/env bash
# The same clip and seed rendered twice: with a prompt only, and with a negative prompt that
# steers a sound away. Writes <outdir>/prompt.mp4 and <outdir>/prompt-and-negative.mp4.
#   pipelines/prompt-vs-negative.sh in.mp4 outdir "rain and thunder" "thunder"
set -euo pipefail
here=$(dirname "$0")
in=${1:?usage: prompt-vs-negative.sh in.mp4 [outdir] [prompt] [negative prompt]}
outdir=${2:-prompt-vs-negative}
prompt=${3:-"rain and thunder"}
negative=${4:-"thunder"}
mkdir -p "$outdir"
bash "$here/add-soundtrack.sh" "$in" "$outdir/prompt.mp4" "$prompt" ""
bash "$here/add-soundtrack.sh" "$in" "$outdir/prompt-and-negative.mp4" "$prompt" "$negative"
