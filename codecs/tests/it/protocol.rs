//! The frame/message split: a private protocol written as a nom parser, stacked on a
//! length framing with a checksum layer and a toy cipher layer.

use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_u16, u8};
use nom::{IResult, Parser, combinator::rest};
use packwire_codecs::LengthFieldCodec;
use packwire_core::testkit::Kit;
use packwire_core::{
    Checksum, ChecksumLayer, EncodeError, FrameError, FrameLayer, NomMessage, Protocol,
};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

#[derive(Debug, Clone, PartialEq)]
struct Msg {
    kind: u8,
    id: u16,
    body: Bytes,
}

/// The README's parser: zero-copy, `body` is a slice of the frame.
fn parse(frame: &Bytes) -> IResult<&[u8], Msg> {
    let (i, (kind, id, body)) = (u8, be_u16, rest).parse(&frame[..])?;
    Ok((
        i,
        Msg {
            kind,
            id,
            body: frame.slice_ref(body),
        },
    ))
}

fn write(m: Msg, dst: &mut BytesMut) -> Result<(), EncodeError> {
    dst.put_u8(m.kind);
    dst.put_u16(m.id);
    dst.put_slice(&m.body);
    Ok(())
}

/// A toy cipher: XOR with a key byte (stands in for decrypt/encrypt).
#[derive(Debug)]
struct Xor(u8);

impl FrameLayer for Xor {
    fn decode(&mut self, frame: Bytes) -> Result<Bytes, FrameError> {
        Ok(frame.iter().map(|b| b ^ self.0).collect())
    }
    fn encode(&mut self, frame: Bytes) -> Result<Bytes, EncodeError> {
        Ok(frame.iter().map(|b| b ^ self.0).collect())
    }
}

fn codec() -> impl Decoder<Item = Msg, Error = FrameError> + Encoder<Msg, Error = EncodeError> {
    let framing = LengthFieldCodec::builder()
        .width(2)
        .strip_header()
        .max_frame(1024)
        .build()
        .unwrap();
    let message = NomMessage::zero_copy(parse, write);
    // on the wire: length | xor(kind id body) | crc16 of the xored bytes
    Protocol::new(framing, message)
        .layer(ChecksumLayer::new(Checksum::Crc16Ccitt))
        .layer(Xor(0x5a))
}

#[test]
fn a_zero_copy_parser_hands_out_the_read_buffer_itself() {
    // the framing alone (no layers that rebuild the frame): the body is the bytes that
    // were read, not a copy of them
    let framing = LengthFieldCodec::builder()
        .width(2)
        .strip_header()
        .build()
        .unwrap();
    let mut codec = Protocol::new(framing, NomMessage::zero_copy(parse, write));
    let mut buf = BytesMut::new();
    buf.extend_from_slice(b"\x00\x08\x01\x00\x02hello");
    let body_at = buf[5..].as_ptr();
    let msg = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(msg.body, "hello");
    assert_eq!(msg.body.as_ptr(), body_at);
    // and a short frame is still a typed error
    buf.extend_from_slice(b"\x00\x02\x01\x00");
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::Malformed { .. })
    ));
}

fn msgs() -> impl Strategy<Value = Vec<Msg>> {
    let msg = (
        any::<u8>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..50),
    )
        .prop_map(|(kind, id, body)| Msg {
            kind,
            id,
            body: Bytes::from(body),
        });
    proptest::collection::vec(msg, 0..6)
}

#[test]
fn a_layered_private_protocol_round_trips_under_random_chunking() {
    Kit::new(codec).round_trip(msgs());
}

#[test]
fn layers_apply_in_order_on_the_wire() {
    let mut c = codec();
    let mut wire = BytesMut::new();
    c.encode(
        Msg {
            kind: 1,
            id: 2,
            body: Bytes::from_static(b"x"),
        },
        &mut wire,
    )
    .unwrap();
    // 4 xored body bytes + 2 checksum bytes behind a 2-byte length
    assert_eq!(&wire[..2], &[0, 6]);
    assert_eq!(&wire[2..6], &[1 ^ 0x5a, 0x5a, 2 ^ 0x5a, b'x' ^ 0x5a]);
    let crc = Checksum::Crc16Ccitt.compute(&wire[2..6]) as u16;
    assert_eq!(&wire[6..], &crc.to_be_bytes());
}

#[test]
fn a_corrupt_frame_fails_the_checksum_layer_and_a_short_one_the_parser() {
    let mut c = codec();
    let mut wire = BytesMut::new();
    c.encode(
        Msg {
            kind: 1,
            id: 2,
            body: Bytes::from_static(b"abc"),
        },
        &mut wire,
    )
    .unwrap();
    let mut corrupt = wire.clone();
    corrupt[4] ^= 0xff;
    Kit::new(codec).rejects(&corrupt, &[], "checksum");

    // a well-sealed frame too short for kind + id
    let mut short = BytesMut::new();
    let sealed = ChecksumLayer::new(Checksum::Crc16Ccitt)
        .encode(Bytes::from_static(&[0x5b]))
        .unwrap()
        .to_vec();
    short.put_u16(sealed.len() as u16);
    short.extend_from_slice(&sealed);
    Kit::new(codec).rejects(&short, &[], "malformed: frame ends before the message does");
    assert!(codec().decode(&mut short).is_err());
}

#[test]
fn the_codecs_crate_alone_names_everything_its_api_takes() {
    // only `packwire_codecs` paths: the layout, the checksum and the message half
    use packwire_codecs::{Checksum, ChecksumLayer, Endian, NomMessage, Protocol};
    let framing = packwire_codecs::LengthFieldCodec::builder()
        .width(2)
        .endian(Endian::Little)
        .strip_header()
        .build()
        .unwrap();
    let mut codec = Protocol::new(framing, NomMessage::zero_copy(parse, write))
        .layer(ChecksumLayer::new(Checksum::Crc16Ccitt));
    let msg = Msg {
        kind: 1,
        id: 2,
        body: Bytes::from_static(b"hi"),
    };
    let mut wire = BytesMut::new();
    codec.encode(msg.clone(), &mut wire).unwrap();
    assert_eq!(wire[0], 7, "little-endian length: kind, id, body, crc16");
    let back: Result<Option<Msg>, packwire_codecs::FrameError> = codec.decode(&mut wire);
    assert_eq!(back.unwrap(), Some(msg));
}
