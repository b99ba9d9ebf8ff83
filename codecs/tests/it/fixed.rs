use bytes::{Bytes, BytesMut};
use packwire_codecs::FixedLengthCodec;
use packwire_core::testkit::Kit;
use proptest::prelude::*;
use tokio_util::codec::Encoder;

use crate::b;

#[test]
fn fixed_frames_decode_in_every_chunking() {
    Kit::new(|| FixedLengthCodec::new(3).unwrap())
        .decodes(b"abcdefghi", &[b(b"abc"), b(b"def"), b(b"ghi")]);
}

#[test]
fn fixed_frames_round_trip() {
    let frames = proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 5).prop_map(Bytes::from),
        0..10,
    );
    Kit::new(|| FixedLengthCodec::new(5).unwrap()).round_trip(frames);
}

#[test]
fn reject_a_zero_length_and_items_of_the_wrong_size() {
    assert!(FixedLengthCodec::new(0).is_err());
    let mut c = FixedLengthCodec::new(2).unwrap();
    assert!(c.encode(b(b"abc"), &mut BytesMut::new()).is_err());
    assert!(c.encode(&b"ab"[..], &mut BytesMut::new()).is_ok());
}
