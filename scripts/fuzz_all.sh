#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 20), JOBS at a time (default 1),
# with the memory limits the codecs' limits allow. Fails on any finding.
# Usage: scripts/fuzz_all.sh [SECONDS] [JOBS] [LOGDIR]
set -euo pipefail
secs=${1:-20}
jobs=${2:-1}
logs=${3:-$(mktemp -d)}
cd "$(dirname "$0")/../fuzz"
mkdir -p "$logs"
targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build -O >/dev/null
run() {
  local t=$1
  # new inputs go to a scratch corpus; the committed seeds are only read
  mkdir -p "$logs/corpus/$t"
  if cargo +nightly fuzz run -O "$t" "$logs/corpus/$t" "corpus/$t" -- -max_len=4096 -max_total_time="$secs" \
      -rss_limit_mb=512 -malloc_limit_mb=64 -print_final_stats=1 >"$logs/$t.log" 2>&1; then
    echo "fuzz $t: ok, $(grep -m1 '^Done' "$logs/$t.log")"
  else
    echo "fuzz $t: FINDING (log: $logs/$t.log)"
    grep -A12 -m1 'panicked\|ERROR: libFuzzer' "$logs/$t.log" | cut -c1-400
    return 1
  fi
}
export -f run
export secs logs
echo "$targets" | xargs -P "$jobs" -I{} bash -c 'run {}'
