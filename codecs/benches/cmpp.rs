//! CMPP: PDUs per second decoded from a sticky buffer and encoded, for SUBMIT and DELIVER
//! (an MO message and a status report), in the 3.0 layout.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use packwire_codecs::cmpp::{Body, CmppCodec, Deliver, MsgId, Pdu, Report, Submit, Version};
use tokio_util::codec::{Decoder, Encoder};

const N: usize = 1000;

fn submit() -> Body {
    Body::Submit(Box::new(Submit {
        pk_total: 1,
        pk_number: 1,
        registered_delivery: 1,
        service_id: Bytes::from_static(b"test"),
        fee_terminal_id: Bytes::from_static(b"13500002696"),
        msg_fmt: 8,
        msg_src: Bytes::from_static(b"900001"),
        fee_type: Bytes::from_static(b"02"),
        fee_code: Bytes::from_static(b"10"),
        src_id: Bytes::from_static(b"106900001"),
        dest_terminal_ids: vec![Bytes::from_static(b"13500002696")],
        msg_content: Bytes::from(vec![0x4e; 140]),
        ..Submit::default()
    }))
}

fn mo() -> Body {
    Body::Deliver(Box::new(Deliver {
        msg_id: MsgId(0xb4c5530000010000),
        dest_id: Bytes::from_static(b"106900001"),
        src_terminal_id: Bytes::from_static(b"13412340000"),
        msg_content: Bytes::from_static(b"This is a test MO."),
        ..Deliver::default()
    }))
}

fn report() -> Body {
    let r = Report {
        msg_id: MsgId(0xb4c5530000010000),
        stat: Bytes::from_static(b"DELIVRD"),
        submit_time: Bytes::from_static(b"1511120955"),
        done_time: Bytes::from_static(b"1511120957"),
        dest_terminal_id: Bytes::from_static(b"13412340000"),
        smsc_sequence: 7,
    };
    Body::Deliver(Box::new(Deliver {
        msg_id: MsgId(1),
        registered_delivery: 1,
        src_terminal_id: Bytes::from_static(b"13412340000"),
        msg_content: r.encode(Version::V30).unwrap(),
        ..Deliver::default()
    }))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cmpp3");
    g.throughput(Throughput::Elements(N as u64));
    for (name, body) in [
        ("submit", submit()),
        ("deliver_mo", mo()),
        ("deliver_report", report()),
    ] {
        let pdus: Vec<Pdu> = (0..N as u32).map(|i| Pdu::new(i, body.clone())).collect();
        let mut wire = BytesMut::new();
        let mut codec = CmppCodec::new(Version::V30);
        for p in &pdus {
            codec.encode(p, &mut wire).unwrap();
        }
        let wire = wire.freeze();
        g.bench_with_input(BenchmarkId::new("decode", name), &wire, |b, w| {
            b.iter(|| {
                let mut codec = CmppCodec::new(Version::V30);
                let mut buf = BytesMut::from(&w[..]);
                let mut n = 0;
                while let Some(p) = codec.decode(&mut buf).unwrap() {
                    if let Body::Deliver(d) = &p.body {
                        if let Some(r) = d.report() {
                            black_box(r.unwrap());
                        }
                    }
                    black_box(p);
                    n += 1;
                }
                assert_eq!(n, N);
            })
        });
        let mut out = BytesMut::with_capacity(wire.len());
        g.bench_with_input(BenchmarkId::new("encode", name), &pdus, |b, pdus| {
            b.iter(|| {
                out.clear();
                let mut codec = CmppCodec::new(Version::V30);
                for p in pdus {
                    codec.encode(p, &mut out).unwrap();
                }
                black_box(out.len())
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
    targets = bench
}
criterion_main!(benches);
