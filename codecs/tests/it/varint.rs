use bytes::{Bytes, BytesMut};
use packwire_codecs::VarintCodec;
use packwire_core::testkit::Kit;
use tokio_util::codec::Encoder;

use crate::{b, payloads};

#[test]
fn varint_frames_round_trip_under_random_chunking() {
    Kit::new(|| VarintCodec::new(1000)).round_trip(payloads(400));
}

#[test]
fn a_sticky_stream_decodes_split_everywhere() {
    let frames = [b(b""), Bytes::from(vec![3u8; 200]), b(b"x")];
    let mut wire = BytesMut::new();
    for f in &frames {
        VarintCodec::default().encode(f.clone(), &mut wire).unwrap();
    }
    Kit::new(VarintCodec::default).decodes(&wire, &frames);
}

#[test]
fn prost_style_prefixes_decode() {
    // 300 = 0xac 0x02, a non-minimal 2-byte zero, and a 1-byte 5
    let mut input = vec![0xac, 0x02];
    input.extend_from_slice(&[7u8; 300]);
    input.extend_from_slice(&[0x80, 0x00, 0x05]);
    input.extend_from_slice(b"hello");
    Kit::new(VarintCodec::default)
        .decodes(&input, &[Bytes::from(vec![7u8; 300]), b(b""), b(b"hello")]);
}

#[test]
fn reject_payloads_over_the_maximum_and_overlong_prefixes() {
    Kit::new(|| VarintCodec::new(100)).rejects(&[0x65, 0], &[], "too_large");
    Kit::new(VarintCodec::default).rejects(
        &[0xff; 12],
        &[],
        "bad_length: varint longer than 10 bytes",
    );
    let mut over = vec![0xff; 9];
    over.push(0x7f);
    Kit::new(VarintCodec::default).rejects(&over, &[], "bad_length: varint overflows 64 bits");
    assert!(
        VarintCodec::new(3)
            .encode(b(b"abcd"), &mut BytesMut::new())
            .is_err()
    );
}

#[test]
fn a_claimed_huge_payload_reserves_nothing() {
    Kit::new(|| VarintCodec::new(usize::MAX)).bounded_memory(&[0xff, 0xff, 0xff, 0xff, 0x0f], 4096);
}
