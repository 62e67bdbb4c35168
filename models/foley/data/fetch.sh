#!/usr/bin/env bash
# Fetches the Debian packages that carry the recorded sound effects (and, for the vocoder, the
# recorded speech) used to train the foley model, checks them against pinned sha256 sums and
# unpacks them (no root, nothing installed) into models/foley/.cache/root. Idempotent.
#   models/foley/data/fetch.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=$here/.cache
mkdir -p "$cache/debs" "$cache/root"
# package version sha256 (Debian 12 "bookworm" main)
pins=(
  "freedoom 0.12.1-2 c5b7cf1aa6dde8c980271981ce75b9b4a9e7b634b9db93d471f54bab7a8e1290"
  "sound-theme-freedesktop 0.8-2 135cc4893ba590d428577bc3bf42df756a165c05a2a43f84311ad7db779a70ea"
  "supertuxkart-data 1.4+dfsg-2 568d69cda50dc8ad1facb89514bd14953dfca736fdb83c49ae330b0aa7dd2364"
  # spoken letters and syllables in ~20 languages: speech for the vocoder (GPL-2+)
  "klettres-data 4:22.12.3-1 1186d257a19e84230856baea0b0b1ded8be9195080fcdb2588970b5cd937f5a8"
)
cd "$cache/debs"
for pin in "${pins[@]}"; do
  read -r pkg version sum <<<"$pin"
  deb="${pkg}_${version/:/%3a}_all.deb"  # apt writes an epoch's colon as %3a
  if [ ! -f "$deb" ] || ! echo "$sum  $deb" | sha256sum -c --quiet - 2>/dev/null; then
    echo "downloading $pkg $version"
    rm -f "$deb"
    # apt-get download fetches from the configured Debian mirror; the sum pins the content.
    apt-get download "$pkg=$version" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
  fi
  echo "$sum  $deb" | sha256sum -c --quiet - || { echo "$deb: sha256 mismatch" >&2; exit 1; }
  stamp="$cache/root/.$pkg-$version"
  if [ ! -f "$stamp" ]; then
    dpkg-deb -x "$deb" "$cache/root"
    touch "$stamp"
  fi
done
echo "sound packages unpacked in $cache/root"
