//! The error types every packwire codec shares.

use std::fmt;
use std::io;

/// Where a stream stopped when it ended before a whole frame arrived.
///
/// Reported inside [`FrameError::Truncated`] by `decode_eof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// The stream ended inside a frame header (a length field, a request line, a PDU head).
    MidHeader,
    /// The header was complete; the stream ended inside the frame body.
    MidFrame,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::MidHeader => "mid-header",
            Phase::MidFrame => "mid-frame",
        })
    }
}

/// Why a decoder gave up on a stream: the peer sent bytes that break a rule.
///
/// Every variant says which rule was broken and carries what a caller needs to act on it.
/// After a decoder returns a `FrameError` the stream is corrupt: the decoder stays failed
/// (it never yields an item after an error) unless a codec documents a recovery option, in
/// which case recovered errors are reported as events and never through `Err`.
///
/// Peer errors live here; misuse of an encoder is an [`EncodeError`] and a builder given
/// impossible settings returns a [`ConfigError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A header declared a frame longer than the configured maximum.
    ///
    /// Happens as soon as the header is read, before any of the frame body is buffered.
    /// `declared` is the whole frame length on the wire as the codec measures it (see the
    /// codec's docs). The caller closes the connection, or configures the codec to skip
    /// oversized frames.
    #[error("frame too large: {declared} bytes declared, the maximum is {max}")]
    TooLarge {
        /// The frame length the peer claimed.
        declared: u64,
        /// The configured maximum it was compared to.
        max: u64,
    },
    /// A header declared a frame shorter than the protocol allows (for example a CMPP
    /// Total_Length below the 12-byte header). The stream cannot be resynchronised; close it.
    #[error("frame too short: {declared} bytes declared, the minimum is {min}")]
    TooShort {
        /// The frame length the peer claimed.
        declared: u64,
        /// The smallest legal value.
        min: u64,
    },
    /// A length field could not be read as a number: a varint longer than its width, a
    /// negative length after adjustment, an overflow. Close the stream.
    #[error("bad length encoding: {reason}")]
    BadLength {
        /// Which encoding rule was broken.
        reason: &'static str,
    },
    /// The bytes where a frame must start do not match the configured magic / preamble.
    /// A codec configured to hunt for the next magic reports the skipped bytes instead.
    #[error("bad magic: found {}", Hex(found))]
    BadMagic {
        /// The bytes found where the magic was expected.
        found: Vec<u8>,
    },
    /// A frame's checksum does not match its contents. The frame boundary is known, so the
    /// frame can be dropped and the stream can go on where the protocol allows it.
    #[error("checksum mismatch: the frame carries {expected:#x}, its contents give {actual:#x}")]
    Checksum {
        /// The checksum carried by the frame.
        expected: u64,
        /// The checksum computed over the received bytes.
        actual: u64,
    },
    /// The bytes break a rule of the protocol's grammar. `rule` names the rule (quote it in
    /// logs); `offset` is the byte offset at which it was detected, counted from the start
    /// of the frame or, where the codec documents so, of the stream.
    #[error("malformed input at offset {offset}: {rule}")]
    Malformed {
        /// The rule that was broken, in a few words.
        rule: &'static str,
        /// Where the offending byte is.
        offset: u64,
    },
    /// A fixed-width field runs past the end of its frame: the body is shorter than the
    /// message needs.
    #[error("field `{field}` at offset {offset} needs {need} bytes, {have} left in the frame")]
    Short {
        /// The field's name as the protocol spec writes it.
        field: &'static str,
        /// Offset of the field in the frame.
        offset: u64,
        /// Bytes the field needs.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// The stream ended (`decode_eof`) with part of a frame buffered. A clean close between
    /// frames is not an error (`decode_eof` returns `Ok(None)`).
    #[error("stream ended {phase}: {have} bytes buffered{}", Need(*need))]
    Truncated {
        /// Inside the header or inside the body.
        phase: Phase,
        /// Bytes that were buffered.
        have: usize,
        /// Bytes the frame needed in all, where the header said so.
        need: Option<usize>,
    },
    /// The transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

/// Something a decoder recovered from instead of failing the stream, where it was
/// configured to: an oversized frame skipped, an over-long line discarded, corrupt bytes
/// passed over while hunting for the next magic. Codecs that recover keep a bounded queue
/// of these for the caller to read (and count them all).
#[derive(Debug)]
#[non_exhaustive]
pub struct Recovered {
    /// What was wrong.
    pub error: FrameError,
    /// How many bytes were skipped because of it.
    pub skipped: u64,
}

impl Recovered {
    /// An event for `error` that skipped `skipped` bytes.
    pub fn new(error: FrameError, skipped: u64) -> Self {
        Recovered { error, skipped }
    }
}

/// A bounded queue of [`Recovered`] events plus a count of them all, for codecs with a
/// recovery option. Holds the newest 64 events; older ones are dropped but still counted.
#[derive(Debug, Default)]
pub struct RecoveryLog {
    events: std::collections::VecDeque<Recovered>,
    total: u64,
}

impl RecoveryLog {
    /// How many events the log keeps.
    pub const CAPACITY: usize = 64;

    /// Records an event.
    pub fn record(&mut self, error: FrameError, skipped: u64) {
        self.total += 1;
        if self.events.len() == Self::CAPACITY {
            self.events.pop_front();
        }
        self.events.push_back(Recovered::new(error, skipped));
    }

    /// The oldest event not taken yet.
    pub fn take(&mut self) -> Option<Recovered> {
        self.events.pop_front()
    }

    /// How many events were recorded since the log was made.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// What kind of [`FrameError`] this is, without its fields: for metrics labels and for
/// comparing errors across different chunkings of the same stream.
///
/// Three kinds sound alike and are not: [`TooShort`](Self::TooShort) is a *header* that
/// claims a frame shorter than the protocol allows (the claim is wrong); [`Short`](Self::Short)
/// is a *frame* that arrived whole but is shorter than a field inside it needs (the
/// message is wrong); [`Truncated`](Self::Truncated) is a *stream* that ended in the middle
/// of a frame (nothing is wrong with the bytes, there are just not enough of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameErrorKind {
    /// [`FrameError::TooLarge`]: a header claimed more than the configured maximum.
    TooLarge,
    /// [`FrameError::TooShort`]: a header claimed less than the protocol's minimum frame
    /// (a CMPP Total_Length below its 12-byte header).
    TooShort,
    /// [`FrameError::BadLength`]: a length field that is not a valid number (an overlong
    /// varint, a negative length after adjustment, an overflow).
    BadLength,
    /// [`FrameError::BadMagic`]: the bytes where a frame starts are not the magic.
    BadMagic,
    /// [`FrameError::Checksum`]: a frame's checksum does not match its bytes.
    Checksum,
    /// [`FrameError::Malformed`]: a grammar rule broken (the rule is named).
    Malformed,
    /// [`FrameError::Short`]: a whole frame too short for a fixed-width field in it.
    Short,
    /// [`FrameError::Truncated`]: the stream ended inside a frame (`decode_eof`).
    Truncated,
    /// [`FrameError::Io`]: the transport failed while decoding.
    Io,
}

impl FrameErrorKind {
    /// A short snake_case label (`too_large`, `malformed`, ...), stable for metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FrameErrorKind::TooLarge => "too_large",
            FrameErrorKind::TooShort => "too_short",
            FrameErrorKind::BadLength => "bad_length",
            FrameErrorKind::BadMagic => "bad_magic",
            FrameErrorKind::Checksum => "checksum",
            FrameErrorKind::Malformed => "malformed",
            FrameErrorKind::Short => "short",
            FrameErrorKind::Truncated => "truncated",
            FrameErrorKind::Io => "io",
        }
    }
}

impl fmt::Display for FrameErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FrameError {
    /// The kind of error, without its fields.
    pub fn kind(&self) -> FrameErrorKind {
        match self {
            FrameError::TooLarge { .. } => FrameErrorKind::TooLarge,
            FrameError::TooShort { .. } => FrameErrorKind::TooShort,
            FrameError::BadLength { .. } => FrameErrorKind::BadLength,
            FrameError::BadMagic { .. } => FrameErrorKind::BadMagic,
            FrameError::Checksum { .. } => FrameErrorKind::Checksum,
            FrameError::Malformed { .. } => FrameErrorKind::Malformed,
            FrameError::Short { .. } => FrameErrorKind::Short,
            FrameError::Truncated { .. } => FrameErrorKind::Truncated,
            FrameError::Io(_) => FrameErrorKind::Io,
        }
    }

    /// Whether the frame boundary is still known, so a codec (or its caller) could drop the
    /// offending frame and go on with the next one: an oversized frame (its declared length
    /// can be skipped), a bad checksum, a bad magic (the next magic can be hunted for).
    /// Everything else leaves the stream position unknown.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            FrameError::TooLarge { .. } | FrameError::Checksum { .. } | FrameError::BadMagic { .. }
        )
    }

    /// The rule a [`FrameError::Malformed`] names, or the field a [`FrameError::Short`]
    /// names; `None` for other kinds.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            FrameError::Malformed { rule, .. } => Some(rule),
            FrameError::Short { field, .. } => Some(field),
            FrameError::BadLength { reason } => Some(reason),
            _ => None,
        }
    }

    /// Shorthand for [`FrameError::Malformed`].
    pub fn malformed(rule: &'static str, offset: u64) -> Self {
        FrameError::Malformed { rule, offset }
    }
}

impl From<FrameError> for io::Error {
    /// `Truncated` becomes `UnexpectedEof`, `Io` gives back the inner error, everything else
    /// is `InvalidData` with the `FrameError` as its inner error (recover it with
    /// `io::Error::downcast`).
    fn from(err: FrameError) -> io::Error {
        match err {
            FrameError::Io(e) => e,
            e @ FrameError::Truncated { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            e => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// The caller asked an encoder for something the wire format cannot carry.
///
/// These are user errors, not peer errors: nothing was written to the destination buffer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The item does not fit the frame: its encoded length is over the maximum, or over what
    /// the length field can express.
    #[error("item too large to encode: {len} bytes, the maximum is {max}")]
    TooLarge {
        /// The encoded length.
        len: u64,
        /// The largest length allowed.
        max: u64,
    },
    /// The item breaks a rule of the wire format (it contains the delimiter, a header value
    /// contains CR or LF, a field is longer than its fixed width).
    #[error("cannot encode: {rule}")]
    Invalid {
        /// The rule the item breaks.
        rule: &'static str,
    },
    /// The transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

impl From<EncodeError> for io::Error {
    fn from(err: EncodeError) -> io::Error {
        match err {
            EncodeError::Io(e) => e,
            e => io::Error::new(io::ErrorKind::InvalidInput, e),
        }
    }
}

/// A builder was given settings that cannot work together (a length field too narrow for
/// the maximum, a strip count past the header, an empty delimiter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {reason}")]
pub struct ConfigError {
    reason: String,
}

impl ConfigError {
    /// A configuration error with the given reason.
    pub fn new(reason: impl Into<String>) -> Self {
        ConfigError {
            reason: reason.into(),
        }
    }

    /// Why the configuration was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

struct Need(Option<usize>);

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, " of the {n} the frame needs"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_maps_to_unexpected_eof_and_keeps_the_frame_error() {
        let e: io::Error = FrameError::Truncated {
            phase: Phase::MidFrame,
            have: 3,
            need: Some(10),
        }
        .into();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            e.to_string(),
            "stream ended mid-frame: 3 bytes buffered of the 10 the frame needs"
        );
        let inner = e.downcast::<FrameError>().unwrap();
        assert_eq!(inner.kind(), FrameErrorKind::Truncated);
    }

    #[test]
    fn rule_errors_map_to_invalid_data() {
        let e: io::Error = FrameError::TooLarge {
            declared: 9,
            max: 8,
        }
        .into();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            e.to_string(),
            "frame too large: 9 bytes declared, the maximum is 8"
        );
    }

    #[test]
    fn io_errors_pass_through_unchanged() {
        let e: io::Error = FrameError::from(io::Error::new(io::ErrorKind::BrokenPipe, "x")).into();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn recoverable_kinds_are_the_ones_with_a_known_boundary() {
        assert!(
            FrameError::TooLarge {
                declared: 1,
                max: 0
            }
            .is_recoverable()
        );
        assert!(
            FrameError::Checksum {
                expected: 1,
                actual: 2
            }
            .is_recoverable()
        );
        assert!(FrameError::BadMagic { found: vec![0xab] }.is_recoverable());
        assert!(
            !FrameError::TooShort {
                declared: 0,
                min: 12
            }
            .is_recoverable()
        );
        assert!(!FrameError::malformed("x", 0).is_recoverable());
        assert_eq!(
            FrameError::BadMagic {
                found: vec![0xab, 0x01]
            }
            .to_string(),
            "bad magic: found ab01"
        );
    }
}
