#!/usr/bin/env bash
# WebSocket interop with PyPI websockets, both ways: its client against `packwire ws serve
# --echo` (text, UTF-8, binary, fragments, ping/pong, a 1 MiB message, the closing
# handshake) and `packwire ws connect` against its server, each plain and with
# permessage-deflate.
# Usage: scripts/interop_ws.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-target/interop-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q websockets==13.1
cargo build --release -p packwire-cli >/dev/null 2>&1
port=18080
log=target/interop-ws.log
target/release/packwire ws serve --listen 127.0.0.1:$port --echo --seconds 20 >"$log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
"$venv/bin/python" scripts/interop/ws_client.py ws://127.0.0.1:$port/echo
# permessage-deflate, which websockets offers by default
port2=18081
log2=target/interop-ws-deflate.log
target/release/packwire ws serve --listen 127.0.0.1:$port2 --echo --deflate --seconds 20 >"$log2" 2>&1 &
spid2=$!
trap 'kill $spid $spid2 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$log2" && break; sleep 0.1; done
"$venv/bin/python" scripts/interop/ws_client.py ws://127.0.0.1:$port2/echo deflate
# packwire's client against the outside server, plain and compressed
for mode in "" deflate; do
  port3=$((18082 + ${#mode}))
  peer=target/interop-ws-peer$mode.log
  "$venv/bin/python" scripts/interop/ws_server.py $port3 $mode >"$peer" 2>&1 &
  ppid=$!
  for _ in $(seq 50); do grep -q ready "$peer" && break; sleep 0.1; done
  out=$(printf 'hello\nκόσμε 你好\n' | target/release/packwire ws connect ws://127.0.0.1:$port3/ ${mode:+--deflate})
  kill $ppid 2>/dev/null || true
  echo "$out"
  grep -q '< echo hello' <<<"$out"
  grep -q '< echo κόσμε 你好' <<<"$out"
  echo "packwire ws connect ${mode:-plain} against websockets: ok"
done
echo "websocket interop: ok"
