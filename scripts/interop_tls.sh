#!/usr/bin/env bash
# TLS interop with an outside implementation (Python's ssl module, OpenSSL underneath):
# a Python TLS client talks to `packwire serve --tls-cert ...`, and `packwire connect
# --tls` talks to a Python TLS server. Certificates from `packwire cert new`.
# Usage: scripts/interop_tls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p packwire-cli >/dev/null 2>&1
bin=target/release/packwire
dir=target/interop-tls
rm -rf "$dir"
$bin cert new --out "$dir" >/dev/null
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# 1. an outside client against packwire's TLS server
port=17443
$bin serve --codec lines --echo --listen 127.0.0.1:$port \
    --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" --seconds 10 >"$dir/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$dir/serve.log" && break; sleep 0.1; done
python3 scripts/interop/tls_peer.py client 127.0.0.1 $port "$dir/ca.pem"

# 2. packwire's TLS client against an outside server
port2=17444
python3 scripts/interop/tls_peer.py server $port2 "$dir/server.pem" "$dir/server.key" >"$dir/peer.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$dir/peer.log" && break; sleep 0.1; done
out=$(printf 'one\ntwo\n' | $bin connect --codec lines 127.0.0.1:$port2 \
    --tls --tls-ca "$dir/ca.pem" --tls-name localhost)
echo "$out"
grep -q '< echo one' <<<"$out"
grep -q '< echo two' <<<"$out"
echo "tls interop: ok"
