#!/usr/bin/env bash
# Accept burst (issue #13): `idle-client` (../shared/bench) opens N connections (default
# 5,000; batches of 1,000, 128 connects in flight) to a freshly started server and waits
# until the server holds them all. Every run uses its own block of source addresses
# (127.0.0.<base>.., 1,000 connections each), so TIME_WAIT ports of an earlier run never
# collide. Servers alternate, REPS runs each; prints accepted connections per second
# (N / wall time of the connect phase, from a nanosecond clock around the client with
# no settle and no ping) per run and the median ratio packwire / forward.
# Usage: scripts/accept_bench.sh [N] [REPS]
set -euo pipefail
n=${1:-5000}
reps=${2:-5}
source "$(dirname "$0")/bench_env.sh"
port=17700
per_src=1000
blocks=$(( (n + per_src - 1) / per_src ))
base=2
spid=
results=$(mktemp)
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null || true; rm -f "$results"' EXIT
for rep in $(seq "$reps"); do
  for server in packwire forward; do
    port=$((port + 1))
    if [ $((base + blocks)) -gt 254 ]; then base=2; fi
    start_server "$server" "$port"
    t0=$(date +%s%N)
    out=$("$bench/release/idle-client" --addr 127.0.0.1:$port --n "$n" --per-src $per_src \
      --src-base $base --settle 0 --server-pid "$spid" --label "$server" 2>&1)
    t1=$(date +%s%N)
    base=$((base + blocks))
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    spid=
    fds=$(grep -oP 'server fds \d+->\K\d+' <<<"$out" | head -1)
    echo "$server $(( (t1 - t0) / 1000 )) ${fds:-0}" >>"$results"
  done
done
python3 - "$results" "$n" <<'PY'
import sys, statistics as st
n = int(sys.argv[2])
runs = {"packwire": [], "forward": []}
for line in open(sys.argv[1]):
    s, us, fds = line.split()
    runs[s].append((n / (int(us) / 1e6), int(fds)))
print("| server | accepted/s per run | median accepted/s | server fds at end |")
print("|---|---|---|---|")
for s, r in runs.items():
    print(f"| {s} | {', '.join(f'{x[0]:,.0f}' for x in r)} | {st.median(x[0] for x in r):,.0f} | {', '.join(str(x[1]) for x in r)} |")
ratios = sorted(a[0] / b[0] for a, b in zip(runs["packwire"], runs["forward"]))
print(f"\nratio packwire / forward (median of per-run ratios): {st.median(ratios):.2f} (runs {ratios[0]:.2f}-{ratios[-1]:.2f})")
PY
