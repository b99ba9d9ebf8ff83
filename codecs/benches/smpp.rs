//! SMPP 3.4: submit_sm and deliver_sm (a receipt) decoded from a sticky buffer of 1000
//! PDUs and encoded into one, packwire beside rusmpp's tokio-util codec in the same group
//! (the same bytes: rusmpp decodes what packwire encoded, and each encodes its own
//! decoded PDUs).

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use packwire_codecs::smpp::{Address, Body, ESM_DELIVERY_RECEIPT, Pdu, Sm, SmppCodec, Tag};
use tokio_util::codec::{Decoder, Encoder};

const N: usize = 1000;

fn submit() -> Body {
    let mut s = Sm::new(
        Address {
            ton: 5,
            npi: 0,
            addr: Bytes::from_static(b"packwire"),
        },
        Address::international(Bytes::from_static(b"8613800138000")),
        8,
        Bytes::from(vec![0x4e; 140]),
    );
    s.registered_delivery = 1;
    Body::SubmitSm(s)
}

fn receipt() -> Body {
    let mut s = Sm::new(
        Address::international(Bytes::from_static(b"8613800138000")),
        Address { ton: 5, npi: 0, addr: Bytes::from_static(b"packwire") },
        0,
        &b"id:0a1b2c3d sub:001 dlvrd:001 submit date:2612031200 done date:2612031201 stat:DELIVRD err:000 text:hello"[..],
    );
    s.esm_class = ESM_DELIVERY_RECEIPT;
    s.tlvs.push(Tag::RECEIPTED_MESSAGE_ID, &b"0a1b2c3d\0"[..]);
    s.tlvs.push(Tag::MESSAGE_STATE, vec![2]);
    Body::DeliverSm(s)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("smpp");
    g.throughput(Throughput::Elements(N as u64));
    for (name, body) in [("submit_sm", submit()), ("deliver_sm_receipt", receipt())] {
        let pdus: Vec<Pdu> = (1..=N as u32).map(|i| Pdu::new(i, body.clone())).collect();
        let mut wire = BytesMut::new();
        for p in &pdus {
            SmppCodec::new().encode(p, &mut wire).unwrap();
        }
        let wire = wire.freeze();
        let theirs: Vec<rusmpp::Command> = {
            let mut codec = rusmpp::tokio_codec::CommandCodec::new();
            let mut buf = BytesMut::from(&wire[..]);
            std::iter::from_fn(|| codec.decode(&mut buf).unwrap()).collect()
        };
        assert_eq!(theirs.len(), N, "rusmpp reads every PDU packwire wrote");
        g.bench_with_input(BenchmarkId::new("decode/packwire", name), &wire, |b, w| {
            b.iter(|| {
                let mut codec = SmppCodec::new();
                let mut buf = BytesMut::from(&w[..]);
                let mut n = 0;
                while let Some(p) = codec.decode(&mut buf).unwrap() {
                    black_box(&p);
                    n += 1;
                }
                assert_eq!(n, N);
            })
        });
        g.bench_with_input(BenchmarkId::new("decode/rusmpp", name), &wire, |b, w| {
            b.iter(|| {
                let mut codec = rusmpp::tokio_codec::CommandCodec::new();
                let mut buf = BytesMut::from(&w[..]);
                let mut n = 0;
                while let Some(p) = codec.decode(&mut buf).unwrap() {
                    black_box(&p);
                    n += 1;
                }
                assert_eq!(n, N);
            })
        });
        g.bench_with_input(
            BenchmarkId::new("encode/packwire", name),
            &pdus,
            |b, pdus| {
                let mut out = BytesMut::with_capacity(wire.len());
                b.iter(|| {
                    out.clear();
                    let mut codec = SmppCodec::new();
                    for p in pdus {
                        codec.encode(p, &mut out).unwrap();
                    }
                    black_box(out.len())
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("encode/rusmpp", name),
            &theirs,
            |b, cmds| {
                let mut out = BytesMut::with_capacity(wire.len());
                b.iter(|| {
                    out.clear();
                    let mut codec = rusmpp::tokio_codec::CommandCodec::new();
                    for c in cmds {
                        codec.encode(c, &mut out).unwrap();
                    }
                    black_box(out.len())
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
