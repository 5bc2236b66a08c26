#!/usr/bin/env bash
# The hot-path profile: instructions per request added by each part of the
# stack, counted by callgrind (repeatable whatever else the machine does).
# Each variant of examples/hotpath.rs runs at two request counts; the
# difference divided by the extra requests is the cost of one request, free
# of start-up. Figures are in docs/benchmarks.md ("Hot paths").
#   benches/hotpath.sh [REQUESTS]     (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y valgrind; }
n="${1:-2000}"
cargo build --quiet --release --example hotpath
bin="${CARGO_TARGET_DIR:-target}/release/examples/hotpath"
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-10s %-7s %12s %10s\n' variant path instr/req vs-bare
for path in /hello /json /echo; do
  bare=0
  for variant in bare full-0 full-1 full-100 fail-100; do
    one=$(count "$variant" "$n" "$path")
    two=$(count "$variant" "$((2 * n))" "$path")
    per=$(((two - one) / n))
    [ "$variant" = bare ] && bare=$per
    printf '%-10s %-7s %12d %10s\n' "$variant" "$path" "$per" \
      "$(awk -v a="$per" -v b="$bare" 'BEGIN { printf "%.3f", a / b }')"
  done
done
