#!/usr/bin/env bash
# The echo benchmark of net/BENCHMARKS.md: packwire's server and the hand-written tokio
# baseline, each in its own process, loaded by `packwire bench` in another, on loopback.
# Prints a Markdown table (frames per second, p50/p99 latency, server peak RSS).
# Usage: scripts/echo_bench.sh [SECONDS_PER_ROW]
set -euo pipefail
secs=${1:-3}
cd "$(dirname "$0")/.."
cargo build --release -p packwire >/dev/null 2>&1
bin=target/release/packwire
port=17311
declare -A fps p50 p99 rss
for server in packwire baseline; do
  for conns in 1 16 256; do
    for inflight in 1 32; do
      port=$((port + 1))
      extra=""
      [ "$server" = baseline ] && extra="--baseline"
      $bin serve --codec length:strip=4 --listen 127.0.0.1:$port --echo $extra --seconds $((secs + 5)) >/dev/null 2>&1 &
      spid=$!
      sleep 0.5
      out=$($bin bench --connect 127.0.0.1:$port --conns $conns --inflight $inflight --seconds "$secs")
      key="$conns/$inflight/$server"
      fps[$key]=$(echo "$out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["frames_per_sec"]))')
      p50[$key]=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_us"])')
      p99[$key]=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["p99_us"])')
      rss[$key]=$(awk '/VmHWM/ {print $2}' /proc/$spid/status)
      kill $spid 2>/dev/null || true
      wait $spid 2>/dev/null || true
    done
  done
done
echo "| conns | in flight | packwire frames/s | baseline frames/s | ratio | packwire p50 / p99 (µs) | baseline p50 / p99 (µs) | packwire / baseline peak RSS (KiB) |"
echo "|---|---|---|---|---|---|---|---|"
for conns in 1 16 256; do
  for inflight in 1 32; do
    a="$conns/$inflight/packwire"; b="$conns/$inflight/baseline"
    ratio=$(python3 -c "print(f'{${fps[$a]}/${fps[$b]}:.2f}')")
    echo "| $conns | $inflight | ${fps[$a]} | ${fps[$b]} | $ratio | ${p50[$a]} / ${p99[$a]} | ${p50[$b]} / ${p99[$b]} | ${rss[$a]} / ${rss[$b]} |"
  done
done
