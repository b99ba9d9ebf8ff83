use bytes::{Buf, Bytes, BytesMut};
use packwire_codecs::LengthFieldCodec;
use packwire_codecs::length::{Builder, DEFAULT_RESERVE_AHEAD, Oversize};
use packwire_core::testkit::Kit;
use packwire_core::wire::Endian;
use packwire_core::{Checksum, FrameError, FrameErrorKind};
use tokio_util::codec::{Decoder, Encoder};

use crate::{b, payloads};

const HW: &[u8] = b"HELLO, WORLD";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Netty's seven `LengthFieldBasedFrameDecoder` javadoc layouts, as (builder, input, output).
fn netty_examples() -> Vec<(&'static str, Builder, Vec<u8>, Vec<u8>)> {
    // Netty strips nothing unless told (`initialBytesToStrip` 0)
    let b = || LengthFieldCodec::builder().strip(0);
    vec![
        (
            "2-byte length, nothing stripped",
            b().width(2).length_adjustment(0),
            cat(&[b"\x00\x0c", HW]),
            cat(&[b"\x00\x0c", HW]),
        ),
        (
            "2-byte length, header stripped",
            b().width(2).length_adjustment(0).strip(2),
            cat(&[b"\x00\x0c", HW]),
            HW.to_vec(),
        ),
        (
            "2-byte length counting the whole frame",
            b().width(2).length_adjustment(-2),
            cat(&[b"\x00\x0e", HW]),
            cat(&[b"\x00\x0e", HW]),
        ),
        (
            "3-byte length after a 2-byte header",
            b().offset(2).width(3).length_adjustment(0),
            cat(&[b"\xca\xfe\x00\x00\x0c", HW]),
            cat(&[b"\xca\xfe\x00\x00\x0c", HW]),
        ),
        (
            "3-byte length before a 2-byte header",
            b().width(3).length_adjustment(2),
            cat(&[b"\x00\x00\x0c\xca\xfe", HW]),
            cat(&[b"\x00\x00\x0c\xca\xfe", HW]),
        ),
        (
            "length between HDR1 and HDR2, strip 3",
            b().offset(1).width(2).length_adjustment(1).strip(3),
            cat(&[b"\xca\x00\x0c\xfe", HW]),
            cat(&[b"\xfe", HW]),
        ),
        (
            "whole-frame length between HDR1 and HDR2",
            b().offset(1).width(2).length_adjustment(-3).strip(3),
            cat(&[b"\xca\x00\x10\xfe", HW]),
            cat(&[b"\xfe", HW]),
        ),
    ]
}

#[test]
fn netty_javadoc_layouts_decode_in_every_chunking() {
    for (name, builder, input, output) in netty_examples() {
        let mut two = input.clone();
        two.extend_from_slice(&input);
        let kit = Kit::new(|| builder.clone().build().unwrap());
        if let Err(f) = kit.check_decodes(&two, &[b(&output), b(&output)]) {
            panic!("{name}: {f}");
        }
    }
}

#[test]
fn named_meanings_need_no_arithmetic() {
    // CMPP: 4-byte whole-PDU length, then command id and sequence id
    let pdu = b"\x00\x00\x00\x0c\x00\x00\x00\x08\x00\x00\x00\x01";
    let kit = Kit::new(|| {
        LengthFieldCodec::builder()
            .strip(0)
            .frame_length()
            .build()
            .unwrap()
    });
    kit.decodes(pdu, &[b(pdu)]);
    // the same layout with Netty's numbers
    let kit = Kit::new(|| {
        LengthFieldCodec::builder()
            .strip(0)
            .length_adjustment(-4)
            .build()
            .unwrap()
    });
    kit.decodes(pdu, &[b(pdu)]);
}

fn configs() -> Vec<(&'static str, Builder)> {
    let b = || LengthFieldCodec::builder().strip_header().max_frame(4096);
    vec![
        ("u8", b().width(1)),
        ("u16 le", b().width(2).little_endian()),
        ("u24", b().width(3)),
        ("u32", b()),
        ("u64 le", b().width(8).endian(Endian::Little)),
        ("varint", b().varint()),
        ("varint whole frame", b().varint().frame_length()),
        ("u32 whole frame", b().frame_length()),
        (
            "prefix + u16",
            b().offset(3).prefix(*b"\x01\x02\x03").width(2),
        ),
        (
            "magic + u16 + crc16",
            b().magic(*b"\xca\xfe")
                .offset(2)
                .width(2)
                .checksum(Checksum::Crc16Ccitt, 0),
        ),
        (
            "u32 + crc32c over payload",
            b().checksum(Checksum::Crc32c, 4),
        ),
        (
            "adjusted -2, crc32",
            b().width(2)
                .length_adjustment(-2)
                .checksum(Checksum::Crc32, 0),
        ),
    ]
}

#[test]
fn every_configuration_round_trips_under_random_chunking() {
    for (name, builder) in configs() {
        let kit = Kit::new(|| builder.clone().build().unwrap()).random_cases(32);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            kit.round_trip(payloads(200))
        }));
        assert!(r.is_ok(), "{name} failed its round trip");
    }
}

#[test]
fn every_configuration_decodes_a_sticky_stream_split_everywhere() {
    let frames = [b(b"hello"), b(b""), b(&[0x5a; 200]), b(b"\r\n\x00\xff")];
    for (name, builder) in configs() {
        let mut codec = builder.clone().build().unwrap();
        let mut wire = BytesMut::new();
        for f in &frames {
            codec.encode(f.clone(), &mut wire).unwrap();
            // the copying encoder and the zero-copy parts agree byte for byte
            let mut parts = codec.encode_parts(f.clone()).unwrap();
            let flat = parts.copy_to_bytes(parts.remaining());
            assert!(
                wire.ends_with(&flat),
                "{name}: encode and encode_parts differ"
            );
        }
        let kit = Kit::new(|| builder.clone().build().unwrap()).random_cases(16);
        if let Err(f) = kit.check_decodes(&wire, &frames) {
            panic!("{name}: {f}");
        }
    }
}

#[test]
fn an_accepted_large_claim_reserves_at_most_the_reserve_ahead() {
    // 48 MiB claimed and allowed: the decoder reserves the next 64 KiB, not the claim
    let kit = Kit::new(|| {
        LengthFieldCodec::builder()
            .strip(0)
            .max_frame(64 << 20)
            .build()
            .unwrap()
    });
    kit.bounded_memory(&[0x03, 0x00, 0x00, 0x00], DEFAULT_RESERVE_AHEAD + 4096);
    let kit = Kit::new(|| {
        LengthFieldCodec::builder()
            .strip(0)
            .max_frame(64 << 20)
            .reserve_ahead(0)
            .build()
            .unwrap()
    });
    kit.bounded_memory(&[0x03, 0x00, 0x00, 0x00], 4096);
}

#[test]
fn a_frame_up_to_the_reserve_ahead_lands_without_regrowing_the_buffer() {
    let payload = vec![0x5a; 60 * 1024];
    let mut wire = BytesMut::new();
    LengthFieldCodec::new()
        .encode(Bytes::from(payload.clone()), &mut wire)
        .unwrap();
    let mut codec = LengthFieldCodec::new();
    let mut buf = BytesMut::with_capacity(1500);
    let mut grew = 0;
    let mut frame = None;
    for chunk in wire.chunks(1500) {
        let cap = buf.capacity();
        buf.extend_from_slice(chunk);
        if buf.capacity() != cap {
            grew += 1;
        }
        if let Some(f) = codec.decode(&mut buf).unwrap() {
            frame = Some(f);
        }
    }
    assert_eq!(frame.as_deref(), Some(&payload[..]));
    // the header's chunk may grow the buffer once; the body never does
    assert_eq!(
        grew, 0,
        "the first decode reserved the frame; appends never regrew"
    );
}

#[test]
fn a_claimed_huge_frame_reserves_nothing() {
    let kit = Kit::new(|| {
        LengthFieldCodec::builder()
            .strip(0)
            .max_frame(64 << 20)
            .build()
            .unwrap()
    });
    kit.bounded_memory(&[0x03, 0xff, 0xff, 0xff], 4096);
    let kit = Kit::new(|| {
        LengthFieldCodec::builder()
            .strip(0)
            .varint()
            .max_frame(64 << 20)
            .build()
            .unwrap()
    });
    kit.bounded_memory(&[0xff, 0xff, 0xff, 0x1f], 4096);
}

#[test]
fn reject_a_frame_over_the_maximum_counting_the_header() {
    // max 10 on the wire: a 6-byte payload behind a 4-byte header fits, 7 does not
    let mk = || {
        LengthFieldCodec::builder()
            .strip(0)
            .max_frame(10)
            .build()
            .unwrap()
    };
    Kit::new(mk).decodes(b"\0\0\0\x06abcdef", &[b(b"\0\0\0\x06abcdef")]);
    let mut input = b"\0\0\0\x01z".to_vec();
    input.extend_from_slice(b"\0\0\0\x07abcdefg");
    Kit::new(mk).rejects(&input, &[b(b"\0\0\0\x01z")], "too_large");
    let err = mk()
        .decode(&mut BytesMut::from(&b"\0\0\0\x07"[..]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::TooLarge {
                declared: 11,
                max: 10
            }
        ),
        "{err}"
    );
}

#[test]
fn reject_a_whole_frame_length_below_the_header() {
    // a CMPP-style Total_Length of 0 is an error, not an endless run of empty frames
    let mk = || {
        LengthFieldCodec::builder()
            .strip(0)
            .frame_length()
            .min_frame(12)
            .build()
            .unwrap()
    };
    Kit::new(mk).rejects(b"\0\0\0\0\0\0\0\0", &[], "too_short");
    let err = mk()
        .decode(&mut BytesMut::from(&b"\0\0\0\x08"[..]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::TooShort {
                declared: 8,
                min: 12
            }
        ),
        "{err}"
    );
    // a negative frame length after adjustment is too short as well
    let mk = || {
        LengthFieldCodec::builder()
            .strip(0)
            .width(1)
            .length_adjustment(-9)
            .build()
            .unwrap()
    };
    Kit::new(mk).rejects(b"\x02xx", &[], "too_short");
}

#[test]
fn reject_a_strip_past_the_frame_instead_of_sticking() {
    // Netty's stale frameLengthInt hazard: strip 6 > a 4-byte frame; every chunking fails the same way
    let mk = || {
        LengthFieldCodec::builder()
            .width(2)
            .length_adjustment(-2)
            .strip(6)
            .build()
            .unwrap()
    };
    Kit::new(mk).rejects(b"\x00\x04ab\x00\x08abcdef", &[], "too_short");
}

#[test]
fn reject_a_bad_magic_and_a_bad_checksum() {
    let mk = || {
        LengthFieldCodec::builder()
            .magic(*b"PW")
            .offset(2)
            .width(1)
            .strip_header()
            .checksum(Checksum::Crc32, 0)
            .build()
            .unwrap()
    };
    let mut good = BytesMut::new();
    mk().encode(b(b"abc"), &mut good).unwrap();
    let mut input = good.to_vec();
    input.extend_from_slice(b"PX\x01z");
    Kit::new(mk).rejects(&input, &[b(b"abc")], "bad_magic");
    let mut corrupt = good.to_vec();
    corrupt[4] ^= 1;
    Kit::new(mk).rejects(&corrupt, &[], "checksum");
}

#[test]
fn oversized_frames_can_be_skipped_without_buffering_them() {
    let mk = || {
        LengthFieldCodec::builder()
            .width(2)
            .strip_header()
            .max_frame(8)
            .oversize(Oversize::Skip)
            .build()
            .unwrap()
    };
    let mut input = b"\x00\x02ok".to_vec();
    input.extend_from_slice(b"\x03\xe8");
    input.extend_from_slice(&[0x55; 1000]);
    input.extend_from_slice(b"\x00\x03yes");
    // an end inside a skipped frame is clean (the frame was reported), so no EOF check
    Kit::new(mk)
        .without_eof_check()
        .decodes(&input, &[b(b"ok"), b(b"yes")]);

    // the skipped frame is reported, and the buffer never held it
    let mut codec = mk();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in input.chunks(100) {
        buf.extend_from_slice(chunk);
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        assert!(buf.len() <= 100);
    }
    assert_eq!(out, vec![b(b"ok"), b(b"yes")]);
    let ev = codec.take_recovered().unwrap();
    assert_eq!(ev.skipped, 1002);
    assert_eq!(ev.error.kind(), FrameErrorKind::TooLarge);
    assert!(codec.take_recovered().is_none());
}

#[test]
fn resync_hunts_for_the_next_magic_and_reports_what_it_skipped() {
    let mk = || {
        LengthFieldCodec::builder()
            .magic(*b"\xa5\x5a")
            .offset(2)
            .width(1)
            .strip_header()
            .checksum(Checksum::Crc16Ccitt, 0)
            .resync(256)
            .build()
            .unwrap()
    };
    let mut enc = mk();
    let mut good = BytesMut::new();
    enc.encode(b(b"one"), &mut good).unwrap();
    let one = good.split().to_vec();
    enc.encode(b(b"two"), &mut good).unwrap();
    let two = good.split().to_vec();

    // garbage, a frame, a frame with a flipped bit, garbage with a partial magic, a frame
    let mut input = b"\x01\x02\xa5junk".to_vec();
    input.extend_from_slice(&one);
    let mut bad = two.clone();
    bad[4] ^= 0x20;
    input.extend_from_slice(&bad);
    input.extend_from_slice(b"\xa5\xa5");
    input.extend_from_slice(&two);
    Kit::new(mk)
        .without_eof_check()
        .decodes(&input, &[b(b"one"), b(b"two")]);

    let mut codec = mk();
    let mut buf = BytesMut::from(&input[..]);
    let mut out = Vec::new();
    while let Some(f) = codec.decode(&mut buf).unwrap() {
        out.push(f);
    }
    assert_eq!(out, vec![b(b"one"), b(b"two")]);
    let kinds: Vec<_> = std::iter::from_fn(|| codec.take_recovered())
        .map(|r| (r.error.kind(), r.skipped))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (FrameErrorKind::BadMagic, 7),
            (FrameErrorKind::Checksum, bad.len() as u64),
            (FrameErrorKind::BadMagic, 2)
        ]
    );
}

#[test]
fn resync_gives_up_after_its_scan_bound() {
    let mk = || {
        LengthFieldCodec::builder()
            .strip(0)
            .magic(*b"MG")
            .offset(2)
            .width(1)
            .resync(16)
            .build()
            .unwrap()
    };
    let mut input = vec![b'x'; 40];
    input.extend_from_slice(b"MG\x01a");
    Kit::new(mk).rejects(&input, &[], "bad_magic");
}

#[test]
fn the_encoder_writes_the_whole_header() {
    let mut codec = LengthFieldCodec::builder()
        .strip(0)
        .magic(*b"\xca")
        .offset(2)
        .prefix(*b"\x07")
        .width(2)
        .frame_length()
        .checksum(Checksum::Crc16Ccitt, 0)
        .build()
        .unwrap();
    let mut out = BytesMut::new();
    codec.encode(&b"hi"[..], &mut out).unwrap();
    let crc = Checksum::Crc16Ccitt.compute(b"\xca\x07\x00\x08hi") as u16;
    let mut expected = b"\xca\x07\x00\x08hi".to_vec();
    expected.extend_from_slice(&crc.to_be_bytes());
    assert_eq!(&out[..], &expected[..]);

    // the same bytes without copying the payload
    let parts = codec.encode_parts(b(b"hi")).unwrap();
    let mut flat = Vec::new();
    let mut parts = parts;
    while parts.has_remaining() {
        let c = parts.chunk().to_vec();
        parts.advance(c.len());
        flat.extend_from_slice(&c);
    }
    assert_eq!(flat, expected);
}

#[test]
fn the_encoder_refuses_what_the_field_or_the_maximum_cannot_hold() {
    let mut codec = LengthFieldCodec::builder()
        .strip(0)
        .width(1)
        .build()
        .unwrap();
    let err = codec
        .encode(Bytes::from(vec![0u8; 256]), &mut BytesMut::new())
        .unwrap_err();
    assert!(
        matches!(
            err,
            packwire_core::EncodeError::TooLarge { len: 256, max: 255 }
        ),
        "{err}"
    );
    let mut codec = LengthFieldCodec::builder()
        .strip(0)
        .max_frame(10)
        .build()
        .unwrap();
    let mut dst = BytesMut::new();
    assert!(codec.encode(Bytes::from(vec![0u8; 7]), &mut dst).is_err());
    assert!(dst.is_empty(), "nothing is written on error");
    let mut codec = LengthFieldCodec::builder()
        .strip(0)
        .length_adjustment(10)
        .build()
        .unwrap();
    assert!(codec.encode(b(b"abc"), &mut BytesMut::new()).is_err());
}

#[test]
fn the_builder_rejects_impossible_settings() {
    let b = LengthFieldCodec::builder;
    for (name, builder) in [
        ("width 5", b().width(5)),
        ("width 0", b().width(0)),
        ("offset inside magic", b().magic(*b"abc").offset(2)),
        ("prefix of the wrong length", b().offset(3).prefix(*b"ab")),
        ("max below the header", b().offset(2).max_frame(5)),
        ("min over max", b().min_frame(100).max_frame(50)),
        ("resync without magic", b().resync(10)),
        (
            "checksum range past the header",
            b().checksum(Checksum::Crc32, 9),
        ),
    ] {
        assert!(builder.build().is_err(), "{name} was accepted");
    }
    let err = b().width(5).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: length field width must be 1, 2, 3, 4 or 8 bytes, not 5"
    );
}

#[test]
fn tokio_defaults_decode_what_tokio_util_encodes() {
    use tokio_util::codec::LengthDelimitedCodec;
    let mut theirs = LengthDelimitedCodec::new();
    let mut wire = BytesMut::new();
    for p in [&b"a"[..], b"", &[9u8; 500]] {
        theirs.encode(Bytes::copy_from_slice(p), &mut wire).unwrap();
    }
    Kit::new(LengthFieldCodec::new).decodes(&wire, &[b(b"a"), b(b""), Bytes::from(vec![9u8; 500])]);
}

#[test]
fn a_varint_prefix_split_after_three_bytes_is_not_a_frame() {
    // Netty #17549: a 2 MiB payload whose prefix arrives in two reads
    let mk = || {
        LengthFieldCodec::builder()
            .varint()
            .strip_header()
            .max_frame(4 << 20)
            .build()
            .unwrap()
    };
    let mut wire = BytesMut::new();
    mk().encode(Bytes::from(vec![1u8; 2 << 20]), &mut wire)
        .unwrap();
    assert_eq!(&wire[..4], &[0x80, 0x80, 0x80, 0x01]);
    let mut codec = mk();
    let mut buf = BytesMut::from(&wire[..3]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(&wire[3..]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().len(), 2 << 20);
    assert!(buf.is_empty());
}
