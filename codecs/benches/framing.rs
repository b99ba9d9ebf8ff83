//! Framing throughput: packwire's codecs beside tokio-util's with identical settings, in the
//! same bench group, so each ratio comes from one run.
//!
//! Rows: payload size (16 B, 64 B, 1 KiB, 64 KiB) x feeding (`sticky`: one buffer of many
//! frames; `bytes`: one byte at a time; `random`: chunks of 1..=1500 bytes from a fixed
//! seed), plus encode. The harness is the same for both sides: append each chunk to a
//! `BytesMut` (what a socket read does) and call `decode` until it returns `None`.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use packwire_codecs::LineCodec;
use tokio_util::codec::{AnyDelimiterCodec, Encoder, LinesCodec};

// each bench uses a part of what the benches share
#[allow(dead_code)]
mod common;
use common::{SIZES, chunks, feed, frames_for, length_input, length_ours, length_theirs};

fn length_field(c: &mut Criterion) {
    let (ours, theirs) = (length_ours, length_theirs);
    let mut g = c.benchmark_group("length_field_decode");
    for mode in ["sticky", "bytes", "random"] {
        for size in SIZES {
            let (wire, cuts, _) = length_input(size, mode);
            g.throughput(Throughput::Bytes(wire.len() as u64));
            let id = format!("{mode}/{size}");
            g.bench_with_input(BenchmarkId::new("packwire", &id), &wire, |b, w| {
                b.iter(|| feed(ours(), w, &cuts))
            });
            g.bench_with_input(BenchmarkId::new("tokio-util", &id), &wire, |b, w| {
                b.iter(|| feed(theirs(), w, &cuts))
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("length_field_encode");
    for size in SIZES {
        let n = frames_for(size, "sticky");
        let payload = Bytes::from(vec![0x5a; size]);
        g.throughput(Throughput::Bytes(((size + 4) * n) as u64));
        let mut dst = BytesMut::with_capacity((size + 4) * n);
        g.bench_function(BenchmarkId::new("packwire", size), |b| {
            let mut codec = ours();
            b.iter(|| {
                dst.clear();
                for _ in 0..n {
                    codec.encode(payload.clone(), &mut dst).unwrap();
                }
                black_box(dst.len())
            })
        });
        g.bench_function(BenchmarkId::new("tokio-util", size), |b| {
            let mut codec = theirs();
            b.iter(|| {
                dst.clear();
                for _ in 0..n {
                    codec.encode(payload.clone(), &mut dst).unwrap();
                }
                black_box(dst.len())
            })
        });
    }
    g.finish();
}

fn lines(c: &mut Criterion) {
    let ours = || LineCodec::new().max_length(1 << 20);
    // the same settings in tokio-util: bytes out, '\n' delimiter, a maximum length
    let any = || AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), 1 << 20);
    // tokio-util's line codec (also strips '\r', but validates UTF-8 into a String)
    let lines = || LinesCodec::new_with_max_length(1 << 20);
    let mut g = c.benchmark_group("lines_decode");
    for mode in ["sticky", "bytes", "random"] {
        for size in SIZES {
            let n = frames_for(size, mode);
            let mut wire = Vec::new();
            for i in 0..n {
                wire.extend((0..size).map(|j| b'a' + ((i + j) % 26) as u8));
                wire.push(b'\n');
            }
            let cuts = chunks(wire.len(), mode);
            assert_eq!(feed(ours(), &wire, &cuts), n);
            assert_eq!(feed(any(), &wire, &cuts), n);
            assert_eq!(feed(lines(), &wire, &cuts), n);
            g.throughput(Throughput::Bytes(wire.len() as u64));
            let id = format!("{mode}/{size}");
            g.bench_with_input(BenchmarkId::new("packwire", &id), &wire, |b, w| {
                b.iter(|| feed(ours(), w, &cuts))
            });
            g.bench_with_input(
                BenchmarkId::new("tokio-util AnyDelimiter", &id),
                &wire,
                |b, w| b.iter(|| feed(any(), w, &cuts)),
            );
            g.bench_with_input(BenchmarkId::new("tokio-util Lines", &id), &wire, |b, w| {
                b.iter(|| feed(lines(), w, &cuts))
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("lines_encode");
    for size in SIZES {
        let n = frames_for(size, "sticky");
        let line: String = (0..size).map(|j| (b'a' + (j % 26) as u8) as char).collect();
        g.throughput(Throughput::Bytes(((size + 1) * n) as u64));
        let mut dst = BytesMut::with_capacity((size + 1) * n);
        g.bench_function(BenchmarkId::new("packwire", size), |b| {
            let mut codec = ours();
            b.iter(|| {
                dst.clear();
                for _ in 0..n {
                    codec.encode(line.as_str(), &mut dst).unwrap();
                }
                black_box(dst.len())
            })
        });
        g.bench_function(BenchmarkId::new("packwire unchecked", size), |b| {
            let mut codec = ours();
            b.iter(|| {
                dst.clear();
                for _ in 0..n {
                    codec.encode_unchecked(line.as_bytes(), &mut dst);
                }
                black_box(dst.len())
            })
        });
        g.bench_function(BenchmarkId::new("tokio-util AnyDelimiter", size), |b| {
            let mut codec = any();
            b.iter(|| {
                dst.clear();
                for _ in 0..n {
                    codec.encode(line.as_str(), &mut dst).unwrap();
                }
                black_box(dst.len())
            })
        });
        g.bench_function(BenchmarkId::new("tokio-util Lines", size), |b| {
            let mut codec = lines();
            b.iter(|| {
                dst.clear();
                for _ in 0..n {
                    codec.encode(line.as_str(), &mut dst).unwrap();
                }
                black_box(dst.len())
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = length_field, lines
}
criterion_main!(benches);
