#!/usr/bin/env bash
# The test command (README's, and what .ci/run runs): every test of the workspace, with
# every feature. The cluster's tests start real brokers, Debian's redis-server and
# nats-server (JetStream); they are installed first when this machine lacks them.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} for the cluster tests (apt-get)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

exec cargo test --workspace --all-features "$@"
