//! What the framing benches share: payload sizes, chunkings and the decode harness.

pub(crate) mod http;

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use packwire_codecs::LengthFieldCodec;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

pub(crate) const SIZES: [usize; 4] = [16, 64, 1024, 64 * 1024];

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) fn chunks(len: usize, mode: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = len;
    let mut seed = 0x5eed;
    while left > 0 {
        let n = match mode {
            "sticky" => left,
            "bytes" => 1,
            _ => 1 + (splitmix(&mut seed) % 1500) as usize,
        }
        .min(left);
        out.push(n);
        left -= n;
    }
    out
}

/// Feeds `input` in `chunks` and decodes every frame; returns the frame count.
pub(crate) fn feed<D: Decoder>(mut dec: D, input: &[u8], chunks: &[usize]) -> usize
where
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut pos = 0;
    let mut frames = 0;
    for &c in chunks {
        buf.extend_from_slice(&input[pos..pos + c]);
        pos += c;
        while let Some(item) = dec.decode(&mut buf).expect("valid input") {
            black_box(item);
            frames += 1;
        }
    }
    frames
}

/// How many frames to put in one input: about 256 KiB (64 KiB one byte at a time is
/// already 64 Ki calls, so byte mode uses about 16 KiB, at least one frame).
pub(crate) fn frames_for(size: usize, mode: &str) -> usize {
    let total = if mode == "bytes" {
        16 * 1024
    } else {
        256 * 1024
    };
    (total / (size + 4)).max(1)
}

/// packwire's length codec with the benches' settings: a 4-byte big-endian length,
/// stripped, frames up to 16 MiB.
pub(crate) fn length_ours() -> LengthFieldCodec {
    LengthFieldCodec::builder()
        .strip_header()
        .max_frame(16 << 20)
        .build()
        .expect("valid layout")
}

/// tokio-util's, with the same settings.
pub(crate) fn length_theirs() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(16 << 20)
        .new_codec()
}

/// The length-framed input of one row: the wire, its chunk sizes and the frame count
/// (both decoders checked to find every frame).
pub(crate) fn length_input(size: usize, mode: &str) -> (BytesMut, Vec<usize>, usize) {
    let n = frames_for(size, mode);
    let mut wire = BytesMut::new();
    let mut enc = length_theirs();
    for _ in 0..n {
        enc.encode(Bytes::from(vec![0xa5; size]), &mut wire)
            .expect("encodes");
    }
    let cuts = chunks(wire.len(), mode);
    assert_eq!(feed(length_ours(), &wire, &cuts), n);
    assert_eq!(feed(length_theirs(), &wire, &cuts), n);
    (wire, cuts, n)
}
