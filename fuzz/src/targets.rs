//! What every fuzz target does, in one place: build a codec, run the test kit's oracles on
//! the fuzzer's bytes, panic with the kit's reproducer on any finding.
//!
//! This file is compiled twice: into the `packwire-fuzz` crate for cargo-fuzz, and into
//! `packwire-codecs`' test suite (`tests/replay.rs`), which replays every committed corpus
//! and regression input through the same oracles on the stable toolchain.

use std::fmt::Debug;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use packwire_codecs::cmpp::{CmppCodec, Version};
use packwire_codecs::length::Oversize;
use packwire_codecs::{DelimiterCodec, FixedLengthCodec, LengthFieldCodec, LineCodec, VarintCodec};
use packwire_core::testkit::{ErrorClass, Kit};
use packwire_core::wire::Endian;
use packwire_core::{Checksum, FrameError};
use tokio_util::codec::{Decoder, Encoder};

/// The largest input the targets look at (the fuzzer's `-max_len`).
pub const MAX_INPUT: usize = 4096;

/// The targets, by name: decoders first, then the encoder round trips.
pub const TARGETS: &[&str] = &[
    "length",
    "line",
    "delimiter",
    "fixed",
    "varint",
    "cmpp2",
    "cmpp3",
    "encode_length",
    "encode_line",
    "encode_varint",
];

/// Runs the target `name` on `data`; panics with a reproducer on a finding.
///
/// # Panics
/// On any oracle failure, or for an unknown target name.
pub fn run(name: &str, data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    match name {
        "length" => length(data),
        "line" => line(data),
        "delimiter" => delimiter(data),
        "fixed" => fixed(data),
        "varint" => decode_target(|| VarintCodec::new(1024), data, true),
        "cmpp2" => decode_target(|| CmppCodec::new(Version::V20), data, true),
        "cmpp3" => decode_target(|| CmppCodec::new(Version::V30), data, true),
        "encode_length" => encode_length(data),
        "encode_line" => encode_target(LineCodec::new, data),
        "encode_varint" => encode_target(|| VarintCodec::new(300), data),
        other => panic!("unknown fuzz target {other:?}"),
    }
}

/// Cut points for `input`, drawn from `seed` (a splitmix64 stream): the fuzzer controls
/// the seed byte, so it explores chunkings as well as contents.
fn cuts(seed: u8, len: usize) -> Vec<usize> {
    let mut s = u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let n = usize::from(seed % 8);
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as usize % (len + 1)
        })
        .collect()
}

/// Decodes `data[1..]` whole, cut where `data[0]` says and byte at a time (the same items
/// and the same end, no contract violation), then re-encodes every item that the encoder
/// accepts and checks it decodes back to itself.
fn decode_target<D, F>(make: F, data: &[u8], reencode: bool)
where
    F: Fn() -> D,
    D: Decoder + Encoder<<D as Decoder>::Item>,
    <D as Decoder>::Item: PartialEq + Debug + Clone,
    <D as Decoder>::Error: ErrorClass,
    <D as Encoder<<D as Decoder>::Item>>::Error: std::fmt::Display,
{
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let kit = Kit::new(make).random_cases(0);
    let run = kit
        .check_chunking_equivalence(input, &cuts(seed, input.len()))
        .unwrap_or_else(|f| panic!("{f}"));
    if reencode {
        if let Err(f) = kit.check_reencode(&run.items) {
            panic!("{f}");
        }
    }
}

/// A length codec configured by the first input bytes.
fn length(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let width = [1, 2, 3, 4, 8, 0][usize::from(cfg % 6)];
    let mut b = LengthFieldCodec::builder().max_frame(2048);
    b = if width == 0 {
        b.varint()
    } else {
        b.width(width)
    };
    if cfg & 0x08 != 0 {
        b = b.endian(Endian::Little);
    }
    b = match (cfg >> 4) % 4 {
        0 => b.payload_length(),
        1 => b.frame_length(),
        2 => b.length_adjustment(-2),
        _ => b.length_adjustment(3),
    };
    let strip_header = cfg & 0x40 == 0;
    if strip_header {
        b = b.strip_header();
    } else {
        b = b.strip(usize::from(cfg % 5));
    }
    if cfg & 0x80 != 0 {
        b = b
            .magic(*b"\xa5")
            .offset(1)
            .checksum(Checksum::Crc16Ccitt, 0);
        if cfg & 0x01 != 0 {
            b = b.resync(64);
        }
    } else if cfg & 0x01 != 0 {
        b = b.oversize(Oversize::Skip);
    }
    if b.clone().build().is_err() {
        return;
    }
    let make = || b.clone().build().expect("built once already");
    decode_target(make, rest, strip_header);
}

fn line(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let make = || {
        LineCodec::new()
            .max_length(usize::from(cfg % 64) + 1)
            .keep_delimiter(cfg & 0x40 != 0)
            .discard_overlong(cfg & 0x80 != 0)
    };
    decode_target(make, rest, cfg & 0x40 == 0);
}

fn delimiter(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let sets: [&[&[u8]]; 4] = [
        &[b"\r\n"],
        &[b"||", b"\n"],
        &[b"\r\n\r\n", b"\r", b"ab"],
        &[b"\0"],
    ];
    let set = sets[usize::from(cfg % 4)];
    let make = || {
        DelimiterCodec::new(set)
            .expect("non-empty delimiters")
            .max_length(usize::from(cfg >> 2 & 0x1f) + 1)
            .discard_overlong(cfg & 0x80 != 0)
    };
    decode_target(make, rest, true);
}

fn fixed(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(cfg % 16) + 1;
    decode_target(|| FixedLengthCodec::new(n).expect("n >= 1"), rest, true);
}

/// Frames generated from the input, encoded, cut where the input says, decoded back.
fn encode_target<D, F>(make: F, data: &[u8])
where
    F: Fn() -> D,
    D: Decoder<Item = Bytes, Error = FrameError> + Encoder<Bytes>,
    <D as Encoder<Bytes>>::Error: std::fmt::Display,
{
    let mut u = Unstructured::new(data);
    let Ok((frames, cuts)) = <(Vec<Vec<u8>>, Vec<u16>)>::arbitrary(&mut u) else {
        return;
    };
    // frames the encoder refuses (a delimiter inside, too long) are left out: refusing
    // them is the encoder's job
    let frames: Vec<Bytes> = frames
        .into_iter()
        .map(Bytes::from)
        .filter(|f| {
            make()
                .encode(f.clone(), &mut bytes::BytesMut::new())
                .is_ok()
        })
        .collect();
    let cuts: Vec<usize> = cuts.into_iter().map(usize::from).collect();
    if let Err(f) = Kit::new(make).check_round_trip_once(&frames, &cuts) {
        panic!("{f}");
    }
}

fn encode_length(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let width = [1, 2, 3, 4, 8, 0][usize::from(cfg % 6)];
    let make = || {
        let b = LengthFieldCodec::builder().max_frame(512).strip_header();
        let b = if width == 0 {
            b.varint()
        } else {
            b.width(width)
        };
        let b = if cfg & 0x80 != 0 { b.frame_length() } else { b };
        b.build().expect("a valid configuration")
    };
    encode_target(make, rest);
}
