#!/usr/bin/env bash
# WebSocket echo, messages per second: `packwire ws serve --echo` against tokio-tungstenite,
# fastwebsockets and yawc echo servers (cli/examples/ws_peer_echo.rs), each in its own process,
# run alternately REPS times per row and loaded by `packwire bench --ws` (binary messages,
# one in flight per connection, as fastwebsockets' own load test). Medians of the runs and
# of the per-run ratios against the peer with the higher median, and each server's CPU
# time per message (utime + stime over the run). Prints a Markdown table.
# Usage: scripts/ws_bench.sh [SECONDS_PER_RUN] [REPS]
#   ROWS="100x20" scripts/ws_bench.sh ...   only those rows (conns x message size)
#   DEFLATE=1 scripts/ws_bench.sh ...        permessage-deflate on (`ws serve --deflate`,
#       `bench --ws --deflate`: chat-like text): against yawc, the one peer that compresses
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
if [ -n "${DEFLATE:-}" ]; then
  servers="packwire yawc" sflag=--deflate bflag=--deflate
else
  servers="packwire tungstenite fastwebsockets yawc" sflag= bflag=
fi
for row in ${ROWS:-100x20 200x16384}; do
  set -- ${row/x/ }
  conns=$1 size=$2
  for rep in $(seq "$reps"); do
    # each rep starts with the next server: none always runs first (this machine moves
    # between a fast and a slow phase over some seconds, which every server sees)
    read -ra all <<<"$servers"
    k=$(( (rep - 1) % ${#all[@]} ))
    for server in "${all[@]:k}" "${all[@]:0:k}"; do
      port=$((port + 1))
      if [ "$server" = packwire ]; then
        $bin ws serve --listen 127.0.0.1:$port --echo $sflag --seconds $((secs + 10)) >/dev/null 2>&1 &
      else
        $peer $server $port >/dev/null 2>&1 &
      fi
      spid=$!
      sleep 0.5
      t0=$(awk '{print $14 + $15}' /proc/$spid/stat)
      out=$($bin bench --ws $bflag --connect 127.0.0.1:$port --conns "$conns" --inflight 1 --size "$size" --seconds "$secs" 2>/dev/null)
      # the server's CPU time over the run, in clock ticks
      cpu=$(($(awk '{print $14 + $15}' /proc/$spid/stat) - t0))
      kill $spid 2>/dev/null || true
      wait $spid 2>/dev/null || true
      echo "$conns $size $server $rep $cpu $out" >>"$results"
    done
  done
done
python3 - "$results" <<'PY'
import json, os, statistics, sys
rows, cpu = {}, {}
tick = os.sysconf("SC_CLK_TCK")
for line in open(sys.argv[1]):
    conns, size, server, rep, ticks, out = line.split(" ", 5)
    out = json.loads(out)
    key = (int(conns), int(size))
    rows.setdefault(key, {}).setdefault(server, {})[int(rep)] = out["frames_per_sec"]
    # server CPU per echoed message, in microseconds
    cpu.setdefault(key, {}).setdefault(server, []).append(int(ticks) / tick * 1e6 / max(out["frames"], 1))
peers = [p for p in ("tungstenite", "fastwebsockets", "yawc") if any(p in by for by in rows.values())]
names = {"tungstenite": "tokio-tungstenite", "fastwebsockets": "fastwebsockets", "yawc": "yawc"}
print("| conns x size | packwire msgs/s | " + " | ".join(names[p] for p in peers) + " | packwire / the faster peer (the higher median; median of per-run ratios, range) | server CPU per message, µs: packwire / " + " / ".join(names[p] for p in peers) + " |")
print("|---|---|" + "---|" * len(peers) + "---|---|")
for (c, s), by in rows.items():
    med = {k: statistics.median(v.values()) for k, v in by.items()}
    # the faster peer is the one with the higher median: a per-run maximum over two
    # peers at par would pick each run's luckier one and bias the ratio down
    best = max(peers, key=lambda p: med[p])
    ratios = [by["packwire"][r] / by[best][r] for r in by["packwire"]]
    cells = " | ".join(f"{med[p]:,.0f}" for p in peers)
    us = " / ".join(f"{statistics.median(cpu[(c, s)][p]):.1f}" for p in ["packwire"] + peers)
    print(f"| {c} x {s} B | {med['packwire']:,.0f} | {cells} | **{statistics.median(ratios):.3f}** ({min(ratios):.2f}-{max(ratios):.2f}) | {us} |")
PY
rm -f "$results"
