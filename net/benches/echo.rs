//! The runtime's own cost per echoed frame, beside the tokio forward echo server, in the
//! same bench group.
//!
//! Both servers echo 64-byte frames behind a 4-byte length over in-memory pipes
//! (`tokio::io::duplex`) on a one-thread runtime, so what is measured is user-space work
//! per frame — decode, handler, queue, encode, statistics, timers, wakes — without the
//! kernel's loopback, which dominates (and blurs) the socket benchmarks of
//! `net/BENCHMARKS.md`. The peer is what `../shared/bench`'s `echo-server --mode forward`
//! runs: `FramedRead<_, LengthDelimitedCodec>` forwarded into `FramedWrite`. packwire's
//! side is a full `Server` with its defaults (idle, frame and write timeouts, byte-bounded queues, the memory
//! budget, per-IP counters), each pipe adopted as a connection, once answering by
//! returning each frame and once sending it with `conn.send`.
//!
//! Rows: connections x frames in flight per connection. A client task per connection
//! writes a batch of `in flight` frames and reads the batch's echo back, repeatedly.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::{BATCHES, ROWS, forward, run, setup};

fn echo(c: &mut Criterion) {
    let (rt, servers, peer) = setup();
    let mut g = c.benchmark_group("echo 64 B over pipes");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    for (conns, inflight) in ROWS {
        let row = format!("{conns} conns x {inflight} in flight");
        g.throughput(Throughput::Elements((conns * inflight * BATCHES) as u64));
        for (name, server) in [
            ("packwire Server, plain handler", &servers.plain),
            ("packwire Server, answer returned", &servers.reply),
            ("packwire Server, conn.send", &servers.send),
        ] {
            g.bench_function(BenchmarkId::new(name, &row), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut t = Duration::ZERO;
                        for _ in 0..iters {
                            t += run(conns, inflight, &|io| {
                                server.adopt(io, peer).expect("server runs");
                            })
                            .await;
                        }
                        t
                    })
                });
            });
        }
        g.bench_function(BenchmarkId::new("tokio-util forward", &row), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut t = Duration::ZERO;
                    for _ in 0..iters {
                        t += run(conns, inflight, &forward).await;
                    }
                    t
                })
            });
        });
    }
    g.finish();
}

criterion_group!(benches, echo);
criterion_main!(benches);
