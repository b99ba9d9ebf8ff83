//! One row of the in-memory echo, one server, for a profiler: no timing of its own, just
//! the work, so `perf record` or `valgrind --tool=callgrind` sees packwire's server
//! answering by returning each frame from an async handler (`WHICH=plain`: from a plain
//! handler; `WHICH=send`: sending it with `conn.send`;
//! `WHICH=fwd`: the forward echo) and the clients and nothing else.
//!
//! ```text
//! cargo bench -p packwire-net --bench echo_one --no-run     # prints the binary's path
//! CONNS=1 INFLIGHT=1 RUNS=100 valgrind --tool=callgrind target/release/deps/echo_one-…
//! ```
//!
//! `CONNS` x `INFLIGHT` as in `echo_paired`, `RUNS` timed runs of `common::BATCHES`
//! batches per connection (default: about two million frames).

mod common;
use common::{forward, run, setup};

fn var(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn main() {
    let (rt, servers, peer) = setup();
    let which = std::env::var("WHICH").unwrap_or_default();
    let fwd = which == "fwd";
    let server = match which.as_str() {
        "send" => &servers.send,
        "plain" => &servers.plain,
        _ => &servers.reply,
    };
    let conns = var("CONNS").unwrap_or(1);
    let inflight = var("INFLIGHT").unwrap_or(1);
    let runs = var("RUNS").unwrap_or(2000 / (conns * inflight).max(1) + 10);
    let adopt = |io| server.adopt(io, peer).expect("server runs");
    rt.block_on(async {
        for _ in 0..runs {
            if fwd {
                run(conns, inflight, &forward).await;
            } else {
                run(conns, inflight, &adopt).await;
            }
        }
    });
}
