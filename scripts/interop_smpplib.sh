#!/usr/bin/env bash
# Interop check: an outside SMPP client (PyPI smpplib 2.2.4) against `packwire smpp serve`:
# bind, ASCII / UCS2 / three-part UDH submits with receipts, enquire_link, unbind. Needs
# python3 and PyPI. Usage: scripts/interop_smpplib.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-target/interop-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q smpplib==2.2.4
cargo build --release -p packwire-cli >/dev/null 2>&1
port=17775
target/release/packwire smpp serve --listen 127.0.0.1:$port --account esme01:secret --reports --trace --seconds 15 >target/interop-smsc.log 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q 'listening on' target/interop-smsc.log && break; sleep 0.1; done
"$venv/bin/python" scripts/interop/smpplib_client.py 127.0.0.1 $port esme01 secret
kill $spid 2>/dev/null || true
wait $spid 2>/dev/null || true
grep -q '\[bind\] esme01' target/interop-smsc.log
grep -q '\[unbind\]' target/interop-smsc.log
[ "$(grep -c '\[submit\]' target/interop-smsc.log)" -eq 5 ]
echo "smpplib interop: ok"
