#!/usr/bin/env bash
# Echo throughput against the independent tokio forward echo server of ../shared/bench
# (FramedRead<_, LengthDelimitedCodec> forwarded into FramedWrite), loaded by its
# closed-loop load-client in another process (64-byte frames, 4-byte length framing).
# Each row alternates the two servers REPS times and reports the medians of frames/s
# and server CPU per frame, and the ratio packwire / forward.
# Usage: scripts/echo_forward_bench.sh [SECONDS_PER_RUN] [REPS]
#   ROWS="256x32 16x32" scripts/echo_forward_bench.sh ...   only those rows
set -euo pipefail
secs=${1:-3}
reps=${2:-3}
source "$(dirname "$0")/bench_env.sh"
port=17500
results=$(mktemp)
spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null || true; rm -f "$results"' EXIT
rows=${ROWS:-1x1 1x32 16x1 16x32 256x1 256x32}
for row in $rows; do
  conns=${row%x*}
  window=${row#*x}
  for rep in $(seq "$reps"); do
    for server in packwire forward; do
      port=$((port + 1))
      start_server "$server" "$port"
      out=$("$bench/release/load-client" --addr 127.0.0.1:$port --conns "$conns" --window "$window" \
        --payload 64 --duration "$secs" --warmup 1 --server-pid "$spid" 2>&1 | tail -1)
      kill "$spid" 2>/dev/null || true
      wait "$spid" 2>/dev/null || true
      spid=
      fps=$(grep -oP '\d+(?= frames/s)' <<<"$out")
      cpu=$(grep -oP '\(\K[0-9.]+(?= us/frame)' <<<"$out")
      echo "$conns $window $server $fps $cpu" >>"$results"
    done
  done
done
echo "| conns x in flight | packwire frames/s | forward frames/s | ratio | packwire us/frame | forward us/frame |"
echo "|---|---|---|---|---|---|"
python3 - "$results" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    c, w, s, fps, cpu = line.split()
    rows.setdefault((int(c), int(w)), {}).setdefault(s, []).append((float(fps), float(cpu)))
for (c, w), d in rows.items():
    p = [x[0] for x in d["packwire"]]; f = [x[0] for x in d["forward"]]
    pc = [x[1] for x in d["packwire"]]; fc = [x[1] for x in d["forward"]]
    ratios = sorted(a / b for a, b in zip(p, f))
    print(f"| {c} x {w} | {st.median(p):,.0f} | {st.median(f):,.0f} | {st.median(p)/st.median(f):.2f} "
          f"(runs {ratios[0]:.2f}-{ratios[-1]:.2f}) | {st.median(pc):.2f} | {st.median(fc):.2f} |")
PY
