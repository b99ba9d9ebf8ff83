# Sourced by the benchmark scripts: builds the release binary and the independent tools of
# ../shared/bench, raises the open-files limit, and names them ($pw, $bench).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench=${PW_BENCH_DIR:-/tmp/pw-bench}
shared=${PW_SHARED:-../shared}
cargo build --release -p packwire-cli >/dev/null 2>&1
cargo build --release --manifest-path "$shared/bench/Cargo.toml" --target-dir "$bench" >/dev/null 2>&1
ulimit -n "$(ulimit -Hn)"
pw=target/release/packwire
