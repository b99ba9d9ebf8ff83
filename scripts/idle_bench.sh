#!/usr/bin/env bash
# Idle memory per connection (net/BENCHMARKS.md): `packwire serve --codec length:strip=4
# --echo` next to the independent tokio forward echo server of ../shared/bench, each
# started fresh for every count, held by `idle-client --ping` (each exchanges one
# 64-byte frame, then goes quiet) in its own process. Every run connects from its own
# block of source addresses (1,000 connections per 127.0.0.x), so the TIME_WAIT ports
# earlier runs leave never crowd its binds (9,000 connects from one address after
# earlier runs had taken 40 s). Prints the server's RSS growth per connection, idle and after the echo.
# Usage: scripts/idle_bench.sh [COUNTS...]   (default 1000 5000 9000)
#   TLS=1 scripts/idle_bench.sh [COUNTS...]   the same over TLS next to plain TCP
#   (scripts/idle_tls_bench.py: the idle holder of ../shared/bench speaks plain TCP only)
set -euo pipefail
if [ "${TLS:-0}" = 1 ]; then
  cd "$(dirname "$0")/.."
  cargo build --release -p packwire-cli >/dev/null 2>&1
  exec python3 scripts/idle_tls_bench.py "$@"
fi
counts=${*:-1000 5000 9000}
source "$(dirname "$0")/bench_env.sh"
port=17400
per_src=1000
base=2
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
echo "| connections | server | idle B/conn | after one echo B/conn | connect s |"
echo "|---|---|---|---|---|"
slopes=$(mktemp)
for n in $counts; do
  for server in packwire forward; do
    port=$((port + 1))
    # up to 1,000 connections per source address: lift the per-IP limit for this measurement
    start_server "$server" "$port" --max-per-ip 20000
    pids+=("$spid")
    blocks=$(( (n + per_src - 1) / per_src ))
    if [ $((base + blocks)) -gt 254 ]; then base=2; fi
    out=$("$bench/release/idle-client" --addr 127.0.0.1:$port --n "$n" --ping --per-src $per_src \
      --src-base $base --server-pid "$spid" --label "$server" 2>&1)
    base=$((base + blocks))
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    idle=$(grep -oP 'N=\d+: connect .*?= \K\d+(?= B/conn)' <<<"$out" | head -1)
    echo1=$(grep -oP 'after one 64B echo.*?= \K\d+(?= B/conn)' <<<"$out" | head -1)
    conn_s=$(grep -oP 'connect \K[0-9.]+(?=s)' <<<"$out" | head -1)
    rss=$(grep -oP 'after one 64B echo.*?server RSS \d+->\K\d+' <<<"$out" | head -1)
    echo "$server $n ${rss:-0}" >>"$slopes"
    echo "| $n | $server | ${idle:-?} | ${echo1:-?} | ${conn_s:-?} |"
    sleep 1
  done
done
echo
echo "RSS slope between counts (after one echo; fixed costs cancel out):"
for server in packwire forward; do
  awk -v s="$server" '$1 == s { if (pn) printf "  %s %d -> %d: %.0f B/conn\n", s, pn, $2, ($3 - pr) * 1024 / ($2 - pn); pn = $2; pr = $3 }' "$slopes"
done
rm -f "$slopes"
