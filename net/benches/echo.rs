//! The runtime's own cost per echoed frame, beside the tokio forward echo server, in the
//! same bench group.
//!
//! Both servers echo 64-byte frames behind a 4-byte length over in-memory pipes
//! (`tokio::io::duplex`) on a one-thread runtime, so what is measured is user-space work
//! per frame — decode, handler, queue, encode, statistics, timers, wakes — without the
//! kernel's loopback, which dominates (and blurs) the socket benchmarks of
//! `net/BENCHMARKS.md`. The peer is what `../shared/bench`'s `echo-server --mode forward`
//! runs: `FramedRead<_, LengthDelimitedCodec>` forwarded into `FramedWrite`. packwire's
//! side is a full `Server` with its defaults (idle, frame and write timeouts, byte-bounded
//! queues, the memory budget, per-IP counters), each pipe adopted as a connection.
//!
//! Rows: connections x frames in flight per connection. A client task per connection
//! writes a batch of `in flight` frames and reads the batch's echo back, repeatedly.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::{StreamExt, TryStreamExt};
use packwire_codecs::LengthFieldCodec;
use packwire_net::{Conn, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

const PAYLOAD: usize = 64;
const ROWS: [(usize, usize); 4] = [(1, 1), (1, 32), (16, 1), (16, 32)];
/// batches per connection in one timed run
const BATCHES: usize = 1000;

fn batch(frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * (4 + PAYLOAD));
    for i in 0..frames {
        out.extend_from_slice(&(PAYLOAD as u32).to_be_bytes());
        out.extend(std::iter::repeat_n(i as u8, PAYLOAD));
    }
    out
}

/// One client: `BATCHES` times, writes the batch and reads its echo back.
async fn client(mut io: DuplexStream, batch: Vec<u8>) {
    let mut back = vec![0; batch.len()];
    for _ in 0..BATCHES {
        io.write_all(&batch).await.expect("write");
        io.read_exact(&mut back).await.expect("read the echo");
    }
    assert_eq!(back, batch, "the echo is what was sent");
}

/// Runs `conns` clients against pipes that `serve` hands to a server; returns the time.
async fn run(conns: usize, inflight: usize, serve: &dyn Fn(DuplexStream)) -> Duration {
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (a, b) = tokio::io::duplex(64 * 1024);
        serve(b);
        clients.push(a);
    }
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|io| tokio::spawn(client(io, batch(inflight))))
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    start.elapsed()
}

fn forward(io: DuplexStream) {
    tokio::spawn(async move {
        let (sink, stream) = Framed::new(io, LengthDelimitedCodec::new()).split();
        let _ = stream.map_ok(|b| b.freeze()).forward(sink).await;
    });
}

async fn packwire_server() -> ServerHandle<Bytes> {
    Server::builder(
        LengthFieldCodec::new,
        |conn: Conn<Bytes>, frame: Bytes| async move {
            let _ = conn.send(frame).await;
        },
    )
    .bind("127.0.0.1:0")
    .await
    .expect("bind")
}

fn echo(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(packwire_server());
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let mut g = c.benchmark_group("echo 64 B over pipes");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    for (conns, inflight) in ROWS {
        let row = format!("{conns} conns x {inflight} in flight");
        g.throughput(Throughput::Elements((conns * inflight * BATCHES) as u64));
        g.bench_function(BenchmarkId::new("packwire Server", &row), |b| {
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
