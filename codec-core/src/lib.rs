//! What every packwire codec shares: errors, limits, checked wire reads, the frame/message
//! split, and the half-packet / sticky-packet test kit.
//!
//! # The decode contract
//!
//! Every packwire codec implements [`tokio_util::codec::Decoder`] and `Encoder` directly,
//! so it drops into any `Framed`, `FramedRead` or `FramedWrite`. Its `decode` keeps this
//! contract, which the [test kit](crate::testkit) checks on every call:
//!
//! - `Ok(None)` means *need more bytes*. It is never an error. The decoder may have moved
//!   bytes into its own state, but asked again with nothing new it returns `Ok(None)` again
//!   and takes nothing more.
//! - `Ok(Some(item))` removed exactly that item's bytes from the buffer, and at least one
//!   byte. Bytes after the item stay in the buffer for the next call (sticky packets).
//! - `Err(e)` means the stream is corrupt. The error names the rule broken
//!   ([`FrameError`]); the decoder then stays failed and never yields another item. Codecs
//!   that offer a recovery option (skip an oversized frame, hunt for the next magic) report
//!   what they recovered from as an event and keep returning `Ok`.
//! - `decode_eof` classifies what is left when the peer closes: nothing (a clean close,
//!   `Ok(None)`), part of a header, or part of a frame ([`FrameError::Truncated`] with the
//!   byte counts). Every complete item is handed out before a truncation is reported.
//! - A decoder never panics on peer bytes, never rescans what it already examined (feeding
//!   one byte at a time costs O(n) in total), and never reserves memory for a length the
//!   peer merely claims: its buffer grows with the bytes that arrive, up to its [`Limits`].
//!
//! # The frame / message split
//!
//! A framing (length field, lines, ...) cuts `Bytes` frames out of the stream without
//! copying. A [`MessageCodec`] turns one frame into a typed message and back. A
//! [`Protocol`] stacks the two, with optional [`FrameLayer`]s between them (checksums,
//! decryption, decompression), so a private protocol writes only its message half —
//! by hand, or from a nom parser with [`NomMessage`].
#![cfg_attr(docsrs, feature(doc_cfg))]

mod checksum;
mod error;
mod exchange;
mod limits;
mod message;
#[cfg(feature = "nom")]
mod parse;
pub mod wire;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use checksum::Checksum;
pub use error::{
    ConfigError, EncodeError, FrameError, FrameErrorKind, Phase, Recovered, RecoveryLog,
};
pub use exchange::{Exchange, Role};
pub use limits::Limits;
pub use message::{ChecksumLayer, FrameLayer, MessageCodec, Protocol};
#[cfg(feature = "nom")]
pub use parse::{NomMessage, ZeroCopy, nom_result};

/// What a `decode_eof` returns when its `decode` found no whole item: `Ok(None)` for a
/// clean close (nothing buffered), otherwise [`FrameError::Truncated`] with the byte counts.
///
/// `phase` and `need` describe the frame that was cut: whether its header was complete and,
/// if the header said so, how long the whole frame is.
///
/// # Errors
/// [`FrameError::Truncated`] when `buffered` is not zero.
///
/// ```
/// use packwire_core::{eof_leftover, FrameError, Phase};
/// assert!(eof_leftover::<()>(0, Phase::MidHeader, None).unwrap().is_none());
/// let err = eof_leftover::<()>(3, Phase::MidFrame, Some(10)).unwrap_err();
/// assert!(matches!(err, FrameError::Truncated { have: 3, need: Some(10), .. }));
/// ```
pub fn eof_leftover<T>(
    buffered: usize,
    phase: Phase,
    need: Option<usize>,
) -> Result<Option<T>, FrameError> {
    if buffered == 0 {
        Ok(None)
    } else {
        Err(FrameError::Truncated {
            phase,
            have: buffered,
            need,
        })
    }
}
