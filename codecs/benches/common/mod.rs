//! What the framing benches share: payload sizes, chunkings and the decode harness.

use std::hint::black_box;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

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
