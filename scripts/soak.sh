#!/usr/bin/env bash
# Soaks both elements live (not part of CI): each runs in a live pipeline with clock-synced
# sinks for the given time while RSS and the sinks' positions are sampled; prints the samples,
# the RSS slope and the real-time pace. Both run at once (they are paced by the clock, not by
# the CPU). Usage: scripts/soak.sh [seconds per element, default 3600] [output dir]
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
seconds=${1:-3600}
out=${2:-soak-results}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The bench binary runs from a copy, so that cargo is free (and the binary unchanged) meanwhile.
bin=$(cargo bench --locked -q -p gst-generative-tests --bench soak --no-run --message-format=json \
  | sed -n 's/.*"executable":"\([^"]*soak[^"]*\)".*/\1/p' | tail -1)
cp "$bin" "$out/soak-bin"
for element in miragegen v2agen; do
  say "Soaking $element for $seconds s (log: $out/$element.txt)"
  "$out/soak-bin" "$element" --seconds "$seconds" > "$out/$element.txt" 2>&1 &
done
status=0
wait -n || status=1
wait -n || status=1
for element in miragegen v2agen; do tail -1 "$out/$element.txt"; done
exit $status
