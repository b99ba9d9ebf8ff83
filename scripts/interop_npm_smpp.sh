#!/usr/bin/env bash
# Interop check: `packwire smpp send` against an outside SMSC (npm `smpp` 0.5.1, node-smpp's
# server, scripts/interop/smpp_server.js): bind, an ASCII text, a UCS2 text in three UDH
# parts, the same in SAR parts and as one message_payload, receipts back (text form), the
# SMSC's enquire_link answered, unbind. Needs node, npm and the npm registry.
# Usage: scripts/interop_npm_smpp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/interop-node
mkdir -p "$dir"
[ -d "$dir/node_modules/smpp" ] || (cd "$dir" && npm install --silent --no-audit --no-fund smpp@0.5.1 >/dev/null)
cargo build --release -p packwire-cli >/dev/null 2>&1
port=17776
log=target/interop-npm-smsc.log
NODE_PATH="$dir/node_modules" node scripts/interop/smpp_server.js $port esme01 secret >"$log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q '"listening"' "$log" && break; sleep 0.1; done
send() {
  target/release/packwire smpp send --host 127.0.0.1 --port $port --system-id esme01 \
    --password secret --to 13800138000 --from 10086 --wait 5 "$@"
}
long=$(printf '你好，世界。%.0s' $(seq 25))
out=$(send --text "hello from packwire")
echo "$out"
grep -q 'part 1/1: message_id' <<<"$out"
grep -q 'receipt: message_id .*: DELIVRD' <<<"$out"
for mode in udh sar payload; do
  out=$(send --long $mode --text "$long")
  echo "$out"
  if [ $mode = payload ]; then want=1; else want=3; fi
  [ "$(grep -c '^part [0-9]/'$want': message_id' <<<"$out")" -eq $want ]
  [ "$(grep -c ': DELIVRD' <<<"$out")" -eq $want ]
done
kill $spid 2>/dev/null || true
wait $spid 2>/dev/null || true
cat "$log"
# what the SMSC saw: four binds, 1 + 3 + 3 + 1 submits, the parts as asked, its enquire_link
# answered, every receipt acknowledged, four unbinds
[ "$(grep -c '"bind_transceiver","system_id":"esme01","ok":true' "$log")" -eq 4 ]
[ "$(grep -c '"pdu":"submit_sm"' "$log")" -eq 8 ]
grep -q '"text":"hello from packwire"' "$log"
[ "$(grep '"pdu":"submit_sm"' "$log" | grep -c '"udh":\["0003')" -eq 3 ]
[ "$(grep '"pdu":"submit_sm"' "$log" | grep -c '"sar":\[[0-9]*,3,')" -eq 3 ]
[ "$(grep '"pdu":"submit_sm"' "$log" | grep -c '"payload":true')" -eq 1 ]
grep -q "\"payload_text\":\"$long\"" "$log"
# the SAR and UDH parts put back together are the text
for k in sar udh; do
  [ "$(grep '"pdu":"submit_sm"' "$log" | grep "\"$k\":\[" | sed 's/.*"text":"\([^"]*\)".*/\1/' | tr -d '\n')" = "$long" ]
done
[ "$(grep -c '"enquire_link_resp","status":0' "$log")" -eq 4 ]
[ "$(grep -c '"deliver_sm_resp","status":0' "$log")" -eq 8 ]
[ "$(grep -c '"pdu":"unbind"' "$log")" -eq 4 ]
echo "npm smpp interop: ok"
