//! The kit proves itself: a correct codec passes, and three classic bugs are each caught.

use bytes::{Buf, Bytes, BytesMut};
use packwire_core::testkit::{Kit, Violation};
use packwire_core::{EncodeError, FrameError, Phase, eof_leftover};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

/// Frames are a big-endian u16 payload length and the payload. `bug` injects one of the
/// classic bugs.
#[derive(Debug, Default)]
struct U16Frames {
    bug: Option<Bug>,
    /// the length once the header has been read (the "stateful" form of the decoder)
    pending: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    /// reads the length from the first byte of each read only when both header bytes are
    /// in one read; if the header is split it takes the lone byte as the whole length
    SplitHeader,
    /// returns an empty item for an empty frame without consuming its header
    NoConsume,
    /// silently drops a partial frame at EOF
    DropAtEof,
}

impl U16Frames {
    fn with(bug: Bug) -> Self {
        U16Frames {
            bug: Some(bug),
            pending: None,
        }
    }
}

impl Decoder for U16Frames {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let n = match self.pending {
            Some(n) => n,
            None => {
                if self.bug == Some(Bug::SplitHeader) && src.len() == 1 {
                    // the bug: a lone header byte is taken as a one-byte length
                    let n = usize::from(src[0]);
                    src.advance(1);
                    self.pending = Some(n);
                    return self.decode(src);
                }
                if src.len() < 2 {
                    return Ok(None);
                }
                let n = usize::from(u16::from_be_bytes([src[0], src[1]]));
                if n > 1000 {
                    return Err(FrameError::TooLarge {
                        declared: n as u64 + 2,
                        max: 1002,
                    });
                }
                if n == 0 && self.bug == Some(Bug::NoConsume) {
                    return Ok(Some(Bytes::new()));
                }
                src.advance(2);
                self.pending = Some(n);
                n
            }
        };
        if src.len() < n {
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(src.split_to(n).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        if self.bug == Some(Bug::DropAtEof) {
            src.clear();
            self.pending = None;
            return Ok(None);
        }
        match self.pending {
            Some(n) => {
                let have = src.len() + 2;
                src.clear();
                eof_leftover(have, Phase::MidFrame, Some(n + 2))
            }
            None => eof_leftover(src.len(), Phase::MidHeader, None),
        }
    }
}

impl Encoder<Bytes> for U16Frames {
    type Error = EncodeError;
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let n = u16::try_from(item.len()).map_err(|_| EncodeError::TooLarge {
            len: item.len() as u64,
            max: u64::from(u16::MAX),
        })?;
        dst.extend_from_slice(&n.to_be_bytes());
        dst.extend_from_slice(&item);
        Ok(())
    }
}

fn wire() -> (Vec<u8>, Vec<Bytes>) {
    let frames: Vec<Bytes> = [&b"hello"[..], b"", b"\x00\x01\x02", &[0x41u8; 300][..]]
        .iter()
        .map(|f| Bytes::copy_from_slice(f))
        .collect();
    let mut w = BytesMut::new();
    for f in &frames {
        U16Frames::default().encode(f.clone(), &mut w).unwrap();
    }
    (w.to_vec(), frames)
}

#[test]
fn a_correct_codec_passes_every_chunking() {
    let (w, frames) = wire();
    Kit::new(U16Frames::default).decodes(&w, &frames);
}

#[test]
fn a_correct_codec_round_trips_generated_frames() {
    let frame = proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
    Kit::new(U16Frames::default).round_trip(proptest::collection::vec(frame, 0..8));
}

#[test]
fn an_oversized_header_is_rejected_the_same_way_in_every_chunking() {
    let (mut w, frames) = wire();
    w.extend_from_slice(&[0xff, 0xff, 1, 2, 3]);
    Kit::new(U16Frames::default).rejects(&w, &frames, "too_large");
}

#[test]
fn a_wrong_expectation_is_reported_with_a_reproducer() {
    let (w, mut frames) = wire();
    frames.pop();
    let f = Kit::new(U16Frames::default)
        .check_decodes(&w, &frames)
        .unwrap_err();
    assert!(matches!(f.violation, Violation::Mismatch { .. }));
    let text = f.to_string();
    assert!(text.contains("reproduce: cut the input at"), "{text}");
    assert!(text.contains("input (316 bytes): 000568656c6c6f"), "{text}");
}

#[test]
fn the_kit_catches_a_length_header_split_across_reads() {
    let (w, frames) = wire();
    let f = Kit::new(|| U16Frames::with(Bug::SplitHeader))
        .check_decodes(&w, &frames)
        .unwrap_err();
    assert!(matches!(f.violation, Violation::Mismatch { .. }), "{f}");
    // the whole-buffer feeding passes; a split inside the first header finds the bug
    assert_eq!(f.strategy, "split at 1", "{f}");
    assert_eq!(f.cuts, vec![1]);
}

#[test]
fn the_kit_catches_an_item_returned_without_consuming() {
    let (w, frames) = wire();
    let f = Kit::new(|| U16Frames::with(Bug::NoConsume))
        .check_decodes(&w, &frames)
        .unwrap_err();
    assert_eq!(f.violation, Violation::NoProgress { item: 1 }, "{f}");
}

#[test]
fn the_kit_catches_a_partial_frame_dropped_at_eof() {
    let (w, frames) = wire();
    let f = Kit::new(|| U16Frames::with(Bug::DropAtEof))
        .check_decodes(&w, &frames)
        .unwrap_err();
    // cutting the stream one byte into the first header must be reported, not swallowed
    assert_eq!(f.violation, Violation::SilentTruncation { at: 1 }, "{f}");
}

/// A decoder that reserves the whole declared length as soon as it reads a header.
#[derive(Debug, Default)]
struct Reserving;

impl Decoder for Reserving {
    type Item = Bytes;
    type Error = FrameError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let n = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if src.len() < 4 + n {
            src.reserve(4 + n - src.len());
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(n).freeze()))
    }
}

#[test]
fn the_kit_catches_a_reserve_on_a_claimed_length() {
    let f = Kit::new(|| Reserving)
        .check_bounded_memory(&[0x00, 0x80, 0x00, 0x00], 4096)
        .unwrap_err();
    assert!(
        matches!(f.violation, Violation::Memory { capacity, .. } if capacity >= 0x80_0000),
        "{f}"
    );
    // the correct codec grows only with bytes received
    Kit::new(U16Frames::default).bounded_memory(&[0x03, 0xe8], 4096);
}

/// A decoder that panics on a header it does not like.
#[derive(Debug, Default)]
struct Panicky;

impl Decoder for Panicky {
    type Item = Bytes;
    type Error = FrameError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let Some(&n) = src.first() else {
            return Ok(None);
        };
        let want = [1usize, 2, 3][usize::from(n)]; // panics on n > 2
        if src.len() < 1 + want {
            return Ok(None);
        }
        src.advance(1);
        Ok(Some(src.split_to(want).freeze()))
    }
}

#[test]
fn a_panic_becomes_a_violation_with_the_input() {
    let f = Kit::new(|| Panicky)
        .check_chunking_equivalence(&[0, 9, 7], &[1])
        .unwrap_err();
    assert!(matches!(f.violation, Violation::Panicked { .. }), "{f}");
    assert_eq!(f.input, vec![0, 9, 7]);
}

#[test]
fn an_error_must_look_the_same_in_every_chunking() {
    // a decoder whose error depends on the chunking: a header split across reads is
    // "too short", a whole one "too large"
    #[derive(Debug, Default)]
    struct Flaky {
        calls: usize,
    }
    impl Decoder for Flaky {
        type Item = Bytes;
        type Error = FrameError;
        fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
            self.calls += 1;
            if src.len() < 2 {
                return Ok(None);
            }
            if self.calls > 2 {
                Err(FrameError::TooShort {
                    declared: 0,
                    min: 1,
                })
            } else {
                Err(FrameError::TooLarge {
                    declared: 9,
                    max: 1,
                })
            }
        }
    }
    let f = Kit::new(Flaky::default)
        .check_rejects(&[9, 9, 9], &[], "too_large")
        .unwrap_err();
    assert!(matches!(f.violation, Violation::Mismatch { .. }), "{f}");
}
