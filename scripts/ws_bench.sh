#!/usr/bin/env bash
# WebSocket echo, messages per second: `packwire ws serve --echo` against tokio-tungstenite
# and fastwebsockets echo servers (cli/examples/ws_peer_echo.rs), each in its own process,
# run alternately REPS times per row and loaded by `packwire bench --ws` (binary messages,
# one in flight per connection, as fastwebsockets' own load test). Medians of the runs and
# of the per-run ratios. Prints a Markdown table.
# Usage: scripts/ws_bench.sh [SECONDS_PER_RUN] [REPS]
#   ROWS="100x20" scripts/ws_bench.sh ...   only those rows (conns x message size)
set -euo pipefail
secs=${1:-3}
reps=${2:-3}
cd "$(dirname "$0")/.."
cargo build --release -p packwire-cli >/dev/null 2>&1
cargo build --release -p packwire-cli --example ws_peer_echo >/dev/null 2>&1
bin=target/release/packwire
peer=target/release/examples/ws_peer_echo
results=$(mktemp)
port=18300
for row in ${ROWS:-100x20 200x16384}; do
  set -- ${row/x/ }
  conns=$1 size=$2
  for rep in $(seq "$reps"); do
    for server in packwire tungstenite fastwebsockets; do
      port=$((port + 1))
      if [ "$server" = packwire ]; then
        $bin ws serve --listen 127.0.0.1:$port --echo --seconds $((secs + 10)) >/dev/null 2>&1 &
      else
        $peer $server $port >/dev/null 2>&1 &
      fi
      spid=$!
      sleep 0.5
      out=$($bin bench --ws --connect 127.0.0.1:$port --conns "$conns" --inflight 1 --size "$size" --seconds "$secs" 2>/dev/null)
      kill $spid 2>/dev/null || true
      wait $spid 2>/dev/null || true
      echo "$conns $size $server $rep $out" >>"$results"
    done
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    conns, size, server, rep, out = line.split(" ", 4)
    rows.setdefault((int(conns), int(size)), {}).setdefault(server, {})[int(rep)] = json.loads(out)["frames_per_sec"]
print("| conns x size | packwire msgs/s | tokio-tungstenite | fastwebsockets | packwire / faster peer (median of runs, range) |")
print("|---|---|---|---|---|")
for (c, s), by in rows.items():
    med = {k: statistics.median(v.values()) for k, v in by.items()}
    ratios = [by["packwire"][r] / max(by["tungstenite"][r], by["fastwebsockets"][r]) for r in by["packwire"]]
    print(f"| {c} x {s} B | {med['packwire']:,.0f} | {med['tungstenite']:,.0f} | {med['fastwebsockets']:,.0f} | **{statistics.median(ratios):.3f}** ({min(ratios):.2f}-{max(ratios):.2f}) |")
PY
rm -f "$results"
