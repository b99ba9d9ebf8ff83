# Sourced by the benchmark scripts: builds the release binary and the independent tools of
# ../shared/bench, raises the open-files limit, and names them ($pw, $bench).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench=${PW_BENCH_DIR:-/tmp/pw-bench}
shared=${PW_SHARED:-../shared}
cargo build --release -p packwire-cli >/dev/null 2>&1
cargo build --release --manifest-path "$shared/bench/Cargo.toml" --target-dir "$bench" >/dev/null 2>&1
ulimit -n "$(ulimit -Hn)"
pw=target/release/packwire

# start_server packwire|forward PORT [extra packwire flags...]: starts one of the two
# servers under test on 127.0.0.1:PORT in the background; its PID is in $spid.
start_server() {
  local server=$1 port=$2
  shift 2
  if [ "$server" = packwire ]; then
    $pw serve --codec length:strip=4 --listen 127.0.0.1:"$port" --echo "$@" >/dev/null 2>&1 &
  else
    "$bench/release/echo-server" --addr 127.0.0.1:"$port" --mode forward --threads 2 >/dev/null 2>&1 &
  fi
  spid=$!
  sleep 0.5
}
