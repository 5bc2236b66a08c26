#!/usr/bin/env bash
# The loopback load benchmark (examples/load.rs) in release: every server
# variant measured in one run, then the one-million-request soak with a stuck
# shadow. Extra flags go to the example, e.g. `benches/load.sh --quick` (a
# smoke run of about 20 s) or `--check` (exit 1 when a target fails).
# Too slow for .ci/test; the figures are in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --release --example load
exec "${CARGO_TARGET_DIR:-target}/release/examples/load" "$@"
