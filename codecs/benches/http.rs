//! HTTP/1.1 request heads: packwire's ServerCodec beside httparse (with a minimal
//! Content-Length framing around it) in the same groups.
//!
//! Each side keeps one read buffer (and packwire one codec) across requests, as a server
//! does on a keep-alive connection; `new-conn` rows start from a fresh buffer and codec
//! for every request. `whole`: the request in one buffer. `chunks-1` / `chunks-16`: the
//! request arrives 1 or 16 bytes at a time, and httparse is driven two ways: `naive` re-parses the accumulated
//! buffer after every chunk; `gated` re-parses only once `\r\n\r\n` has been seen,
//! searching only the new bytes (how hyper drives it since 2024).

use std::time::Duration;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use packwire_codecs::http1::ServerCodec;

// each bench uses a part of what the benches share
#[allow(dead_code)]
mod common;
use common::http::{SMALL, browser, gated, naive, ours_chunked};

/// packwire's side of one connection: a codec and its read buffer, kept
/// across requests as a server keeps them on a keep-alive connection.
struct Conn {
    codec: ServerCodec,
    buf: BytesMut,
}

impl Conn {
    fn new() -> Self {
        Conn {
            codec: ServerCodec::new(),
            buf: BytesMut::with_capacity(1024),
        }
    }
}

/// packwire on a new connection: a fresh codec and buffer.
fn ours_new_conn(input: &[u8]) -> usize {
    ours(&mut Conn::new(), input, usize::MAX)
}

fn ours(conn: &mut Conn, input: &[u8], chunk: usize) -> usize {
    ours_chunked(&mut conn.codec, &mut conn.buf, input, chunk)
}

fn naive_new_conn(input: &[u8]) -> usize {
    naive(&mut BytesMut::with_capacity(1024), input, usize::MAX)
}

fn bench(c: &mut Criterion) {
    let browser = browser();
    let mut g = c.benchmark_group("http1_request");
    let mut conn = Conn::new();
    let mut buf = BytesMut::with_capacity(1024);
    for (name, input) in [("small", SMALL), ("browser", &browser[..])] {
        assert_eq!(ours(&mut conn, input, 1), naive(&mut buf, input, 1));
        assert_eq!(
            ours(&mut conn, input, usize::MAX),
            gated(&mut buf, input, 16)
        );
        g.throughput(Throughput::Bytes(input.len() as u64));
        let id = |mode: &str| format!("{name}/{mode}");
        g.bench_with_input(
            BenchmarkId::new("packwire", id("new-conn")),
            input,
            |b, i| b.iter(|| ours_new_conn(i)),
        );
        g.bench_with_input(
            BenchmarkId::new("httparse", id("new-conn")),
            input,
            |b, i| b.iter(|| naive_new_conn(i)),
        );
        g.bench_with_input(BenchmarkId::new("packwire", id("whole")), input, |b, i| {
            b.iter(|| ours(&mut conn, i, usize::MAX))
        });
        g.bench_with_input(BenchmarkId::new("httparse", id("whole")), input, |b, i| {
            b.iter(|| naive(&mut buf, i, usize::MAX))
        });
        for chunk in [1, 16] {
            let mode = format!("chunks-{chunk}");
            g.bench_with_input(BenchmarkId::new("packwire", id(&mode)), input, |b, i| {
                b.iter(|| ours(&mut conn, i, chunk))
            });
            g.bench_with_input(
                BenchmarkId::new("httparse naive", id(&mode)),
                input,
                |b, i| b.iter(|| naive(&mut buf, i, chunk)),
            );
            g.bench_with_input(
                BenchmarkId::new("httparse gated", id(&mode)),
                input,
                |b, i| b.iter(|| gated(&mut buf, i, chunk)),
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
