#!/usr/bin/env bash
# WebSocket interop: an outside client (PyPI websockets) against `packwire ws serve --echo`:
# text, UTF-8, binary, fragments, ping/pong, a 1 MiB message, the closing handshake, plain
# and with permessage-deflate.
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
echo "websocket interop: ok"
