#!/usr/bin/env bash
# The CMPP session benchmark of net/BENCHMARKS.md: `packwire cmpp serve` (the ISMG) in one
# process, `packwire cmpp bench` (SP clients, window 16) in another, on loopback. Reports
# submits per second (each answered by a SUBMIT_RESP) and the ISMG's CPU time per submit
# (user + system, from /proc), median of REPS runs per row.
# Usage: scripts/cmpp_bench.sh [SECONDS_PER_RUN] [REPS]
set -euo pipefail
secs=${1:-3}
reps=${2:-3}
cd "$(dirname "$0")/.."
cargo build --release -p packwire-cli >/dev/null 2>&1
bin=target/release/packwire
tck=$(getconf CLK_TCK)
port=17950
results=$(mktemp)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for version in 2 3; do
  for conns in 1 4; do
    for rep in $(seq "$reps"); do
      port=$((port + 1))
      $bin cmpp serve --listen 127.0.0.1:$port --account 901234:s3cret --seconds $((secs + 8)) >/dev/null 2>&1 &
      spid=$!
      sleep 0.5
      before=$(cpu $spid)
      out=$($bin cmpp bench --port $port --account 901234 --secret s3cret --version $version \
        --conns "$conns" --window 16 --seconds "$secs")
      after=$(cpu $spid)
      kill $spid 2>/dev/null || true
      wait $spid 2>/dev/null || true
      echo "$version $conns $((after - before)) $out" >>"$results"
    done
  done
done
python3 - "$results" "$tck" <<'PY'
import json, statistics, sys
rows = {}
tck = int(sys.argv[2])
for line in open(sys.argv[1]):
    v, c, ticks, out = line.split(" ", 3)
    r = json.loads(out)
    cpu_us = int(ticks) / tck * 1e6 / max(r["submits"], 1)
    rows.setdefault((v, int(c)), []).append((r["submits_per_sec"], cpu_us, r["failed"]))
print("| version | SP connections | window | submits/s (median) | ISMG CPU per submit (µs, median) | failed |")
print("|---|---|---|---|---|---|")
for (v, c), runs in sorted(rows.items()):
    sps = statistics.median(x[0] for x in runs)
    cpu = statistics.median(x[1] for x in runs)
    print(f"| {v}.0 | {c} | 16 | {sps:.0f} | {cpu:.1f} | {sum(x[2] for x in runs)} |")
PY
rm -f "$results"
