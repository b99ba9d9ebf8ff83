//! HTTP/1.1 request heads: packwire's ServerCodec beside httparse (with a minimal
//! Content-Length framing around it) in the same groups.
//!
//! Each side keeps one read buffer (and packwire one codec) across requests, as a server
//! does on a keep-alive connection; `new-conn` rows start from a fresh buffer and codec
//! for every request. `whole`: the request in one buffer. `chunks-1` / `chunks-16`: the
//! request arrives 1 or 16 bytes at a time, and httparse is driven two ways: `naive` re-parses the accumulated
//! buffer after every chunk; `gated` re-parses only once `\r\n\r\n` has been seen,
//! searching only the new bytes (how hyper drives it since 2024).

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use packwire_codecs::http1::{Event, ServerCodec};
use tokio_util::codec::Decoder;

const SMALL: &[u8] = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";

fn browser() -> Vec<u8> {
    let r = b"GET /static/app/main.3f9a2c.js?v=20261124 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/dashboard\r\n\
Connection: keep-alive\r\n\
Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Priority: u=0, i\r\n\r\n";
    r.to_vec()
}

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

/// packwire: feed the chunks, decode until the message's End.
fn ours(conn: &mut Conn, input: &[u8], chunk: usize) -> usize {
    let Conn { codec, buf } = conn;
    buf.clear();
    let mut headers = 0;
    for c in input.chunks(chunk) {
        buf.extend_from_slice(c);
        while let Some(ev) = codec.decode(buf).expect("valid request") {
            match ev {
                Event::Head(h) => headers = h.headers().len(),
                Event::End => return headers,
                _ => {}
            }
        }
    }
    unreachable!("the request is complete")
}

/// httparse on the accumulated buffer, then the Content-Length framing.
fn httparse_once(buf: &[u8]) -> Option<usize> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(buf).expect("valid request") {
        httparse::Status::Complete(n) => {
            let len = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(0);
            black_box(n + len);
            Some(req.headers.len())
        }
        httparse::Status::Partial => None,
    }
}

fn naive_new_conn(input: &[u8]) -> usize {
    naive(&mut BytesMut::with_capacity(1024), input, usize::MAX)
}

fn naive(buf: &mut BytesMut, input: &[u8], chunk: usize) -> usize {
    buf.clear();
    for c in input.chunks(chunk) {
        buf.extend_from_slice(c);
        if let Some(n) = httparse_once(buf) {
            return n;
        }
    }
    unreachable!()
}

fn gated(buf: &mut BytesMut, input: &[u8], chunk: usize) -> usize {
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    buf.clear();
    for c in input.chunks(chunk) {
        let searched = buf.len().saturating_sub(3);
        buf.extend_from_slice(c);
        if finder.find(&buf[searched..]).is_some() {
            return httparse_once(buf).expect("a whole head");
        }
    }
    unreachable!()
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
