#!/usr/bin/env bash
# Fuzzes the model-package manifest parser and validator (fuzz/fuzz_targets/manifest.rs) with
# libFuzzer for a bounded time; new interesting inputs are added to fuzz/corpus/manifest, which
# `cargo test` replays on every build (diffusion-runtime/tests/mutated_packages.rs). Not part of
# CI: the sanitizer build of the runtime's dependencies takes several minutes on two cores.
#   scripts/fuzz.sh [seconds, default 300]
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT/fuzz"
seconds=${1:-300}
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  say "Installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
# New inputs go to a local corpus (not committed); the committed one seeds it. To fold new
# coverage into the committed corpus: RUSTC_BOOTSTRAP=1 cargo fuzz cmin manifest corpus-local
# and copy what is small and new. A crash leaves its input in fuzz/artifacts/manifest/: add it to
# corpus/manifest once fixed, so that `cargo test` replays it from then on.
mkdir -p corpus-local
say "Fuzzing the manifest parser for $seconds s"
RUSTC_BOOTSTRAP=1 cargo fuzz run manifest corpus-local corpus/manifest -- \
  -max_total_time="$seconds" -max_len=16384 -timeout=5 -rss_limit_mb=2048
