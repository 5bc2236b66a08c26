#!/usr/bin/env bash
# The hot-path profile: instructions per request added by each part of the
# stack, counted by valgrind (repeatable whatever else the machine does),
# and the simulated L1 instruction-cache misses per request (cachegrind):
# on a real server, how much code a request runs matters as well as how
# many instructions. Each variant of examples/hotpath.rs runs at two
# request counts; the difference divided by the extra requests is the cost
# of one request, free of start-up. Figures are in docs/benchmarks.md
# ("Hot paths").
#   benches/hotpath.sh [REQUESTS]     (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y valgrind; }
n="${1:-2000}"
cargo build --quiet --release --example hotpath
bin="${CARGO_TARGET_DIR:-target}/release/examples/hotpath"
# Prints "instructions I1-misses" for one run.
count() {
  valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file=/dev/null "$bin" "$@" 2>&1 |
    awk '/ I +refs:/ { gsub(",", "", $4); i = $4 } / I1 +misses:/ { gsub(",", "", $4); m = $4 } END { print i, m }'
}
printf '%-12s %-7s %10s %8s %12s\n' variant path instr/req vs-bare I1-miss/req
for path in /hello /json /echo; do
  bare=0
  for variant in bare full-0 full-1 full-100 fail-100 unwrapped-0 unwrapped-1; do
    read -r i1 m1 < <(count "$variant" "$n" "$path")
    read -r i2 m2 < <(count "$variant" "$((2 * n))" "$path")
    per=$(((i2 - i1) / n))
    [ "$variant" = bare ] && bare=$per
    printf '%-12s %-7s %10d %8s %12s\n' "$variant" "$path" "$per" \
      "$(awk -v a="$per" -v b="$bare" 'BEGIN { printf "%.3f", a / b }')" \
      "$(awk -v a="$m1" -v b="$m2" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')"
  done
done
