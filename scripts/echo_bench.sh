#!/usr/bin/env bash
# The echo benchmark of net/BENCHMARKS.md: packwire's server and the hand-written tokio
# baseline, each in its own process, loaded by `packwire bench` in another, on loopback.
# Each row runs the two servers alternately REPS times (so drift on a noisy machine hits
# both alike) and reports medians. Prints a Markdown table (frames per second, p50/p99
# latency, server peak RSS).
# Usage: scripts/echo_bench.sh [SECONDS_PER_RUN] [REPS]
#   ROWS="256x32 16x32" scripts/echo_bench.sh ...   runs only those rows (conns x in flight)
#   TLS=1 scripts/echo_bench.sh ...   over TLS: packwire's TLS server against the hand-written
#   tokio-rustls echo (`serve --baseline` with a certificate), loaded by `bench --tls`
set -euo pipefail
secs=${1:-3}
reps=${2:-3}
cd "$(dirname "$0")/.."
cargo build --release -p packwire-cli >/dev/null 2>&1
bin=target/release/packwire
port=17311
serve_tls=()
bench_tls=()
if [ "${TLS:-0}" = 1 ]; then
  certs=target/bench-tls
  $bin cert new --out "$certs" >/dev/null
  serve_tls=(--tls-cert "$certs/server.pem" --tls-key "$certs/server.key")
  bench_tls=(--tls --tls-ca "$certs/ca.pem" --tls-name localhost)
fi
results=$(mktemp)
rows=${ROWS:-1x1 1x32 16x1 16x32 256x1 256x32}
for row in $rows; do
  conns=${row%x*}
  inflight=${row#*x}
  {
    for rep in $(seq "$reps"); do
      for server in packwire baseline; do
        port=$((port + 1))
        extra=""
        [ "$server" = baseline ] && extra="--baseline"
        $bin serve --codec length:strip=4 --listen 127.0.0.1:$port --echo $extra "${serve_tls[@]}" --seconds $((secs + 5)) >/dev/null 2>&1 &
        spid=$!
        sleep 0.5
        cpu0=$(awk '{print $14 + $15}' /proc/$spid/stat)
        out=$($bin bench --connect 127.0.0.1:$port --conns "$conns" --inflight "$inflight" --seconds "$secs" "${bench_tls[@]}")
        cpu1=$(awk '{print $14 + $15}' /proc/$spid/stat)
        rss=$(awk '/VmHWM/ {print $2}' /proc/$spid/status)
        kill $spid 2>/dev/null || true
        wait $spid 2>/dev/null || true
        echo "$conns $inflight $server $rep $rss $((cpu1 - cpu0)) $out" >>"$results"
      done
    done
  }
done
python3 - "$results" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    conns, inflight, server, rep, rss, ticks, out = line.split(" ", 6)
    r = json.loads(out)
    r["cpu_ns"] = int(ticks) / int(sys.argv[2]) * 1e9 / max(r["frames"], 1)
    rows.setdefault((int(conns), int(inflight)), {}).setdefault(server, []).append((r, int(rss)))
med = lambda xs: statistics.median(xs)
print("| conns | in flight | packwire frames/s | baseline frames/s | ratio (median of per-run ratios, range) | server CPU per frame, packwire / baseline (ns) | packwire p50 / p99 (µs) | baseline p50 / p99 (µs) | packwire / baseline peak RSS (KiB) |")
print("|---|---|---|---|---|---|---|---|---|")
for (c, i), s in sorted(rows.items()):
    p, b = s["packwire"], s["baseline"]
    fps = lambda xs: med([r["frames_per_sec"] for r, _ in xs])
    lat = lambda xs, k: med([r[k] for r, _ in xs])
    rss = lambda xs: med([m for _, m in xs])
    ratios = [pr["frames_per_sec"] / br["frames_per_sec"] for (pr, _), (br, _) in zip(p, b)]
    print(f"| {c} | {i} | {fps(p):.0f} | {fps(b):.0f} | {med(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) "
          f"| {lat(p,'cpu_ns'):.0f} / {lat(b,'cpu_ns'):.0f} "
          f"| {lat(p,'p50_us'):.0f} / {lat(p,'p99_us'):.0f} | {lat(b,'p50_us'):.0f} / {lat(b,'p99_us'):.0f} | {rss(p)} / {rss(b)} |")
PY
rm -f "$results"
