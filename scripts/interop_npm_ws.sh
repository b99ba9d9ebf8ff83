#!/usr/bin/env bash
# WebSocket interop with npm `ws` 8, both ways: its client against `packwire ws serve --echo`
# (a fragmented message, ping/pong, text, UTF-8, binary, 1 MiB, close 1000) and `packwire
# ws connect` against its server, each plain and with permessage-deflate. Needs node, npm
# and the npm registry.
# Usage: scripts/interop_npm_ws.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/interop-node
mkdir -p "$dir"
[ -d "$dir/node_modules/ws" ] || (cd "$dir" && npm install --silent --no-audit --no-fund ws@8.18.0 >/dev/null)
cargo build --release -p packwire-cli >/dev/null 2>&1
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
port=18100
for mode in "" deflate; do
  port=$((port + 1))
  log=target/interop-npm-ws-server$mode.log
  target/release/packwire ws serve --listen 127.0.0.1:$port --echo ${mode:+--deflate} --seconds 20 >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
  NODE_PATH="$dir/node_modules" node scripts/interop/ws_node.js client ws://127.0.0.1:$port/ $mode
  port=$((port + 1))
  peer=target/interop-npm-ws-peer$mode.log
  NODE_PATH="$dir/node_modules" node scripts/interop/ws_node.js server $port $mode >"$peer" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do grep -q ready "$peer" && break; sleep 0.1; done
  out=$(printf 'hello\nκόσμε 你好\n' | target/release/packwire ws connect ws://127.0.0.1:$port/ ${mode:+--deflate})
  echo "$out"
  grep -q '< echo hello' <<<"$out"
  grep -q '< echo κόσμε 你好' <<<"$out"
  echo "packwire ws connect ${mode:-plain} against ws: ok"
done
echo "npm ws interop: ok"
