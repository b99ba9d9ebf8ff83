#!/usr/bin/env bash
# Interop check: an outside CMPP client (PyPI pycmpp 2.0.2) against `packwire cmpp serve`:
# login, a short and a long SUBMIT, ACTIVE_TEST, TERMINATE. Needs python3 and PyPI.
# Usage: scripts/interop_pycmpp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-target/interop-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q pycmpp==2.0.2
cargo build --release -p packwire-cli >/dev/null 2>&1
port=17899
target/release/packwire cmpp serve --listen 127.0.0.1:$port --account 300250:300250 --seconds 10 >target/interop-ismg.log 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
sleep 0.5
"$venv/bin/python" scripts/interop/pycmpp_client.py 127.0.0.1 $port 300250 300250
kill $spid 2>/dev/null || true
wait $spid 2>/dev/null || true
grep -q '\[message\] 300250 -> 13800138000 (2 part(s))' target/interop-ismg.log
echo "pycmpp interop: ok"
