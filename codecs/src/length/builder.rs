use packwire_core::wire::Endian;
use packwire_core::{Checksum, ConfigError, Limits};

use super::LengthFieldCodec;

/// How wide the length field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// A fixed-width unsigned integer of 1, 2, 3, 4 or 8 bytes.
    Fixed(usize),
    /// An unsigned LEB128 varint (protobuf style), 1 to 10 bytes, little-endian groups of
    /// 7 bits; `endian` does not apply.
    Varint,
}

/// What the value of the length field counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// The bytes after the length field, checksum excluded.
    Payload,
    /// The whole frame: magic, prefix, length field, payload and checksum.
    Frame,
    /// Netty's rule: frame length = field + adjustment + offset + field width (the checksum,
    /// if any, is inside that length).
    Adjusted(i64),
}

/// Which leading bytes of the frame a decoded item leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strip {
    /// Leave out this many bytes (0 keeps the whole frame, Netty's default).
    Bytes(usize),
    /// Leave out everything up to the end of the length field (tokio-util's default).
    Header,
}

/// What to do with a frame whose header claims more than `max_frame`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// Fail the stream with [`packwire_core::FrameError::TooLarge`] (the default).
    Fail,
    /// Skip exactly the declared frame as its bytes arrive, without buffering them, report
    /// it as a [`packwire_core::Recovered`] event and go on with the next frame (Netty's discard
    /// mode).
    Skip,
}

/// The default of [`Builder::reserve_ahead`]: 64 KiB.
pub const DEFAULT_RESERVE_AHEAD: usize = 64 * 1024;

/// Builds a [`LengthFieldCodec`]; [`Builder::build`] rejects impossible settings.
#[derive(Debug, Clone)]
pub struct Builder {
    pub(super) offset: usize,
    pub(super) width: Width,
    pub(super) endian: Endian,
    pub(super) meaning: Meaning,
    pub(super) strip: Strip,
    pub(super) max_frame: usize,
    pub(super) min_frame: usize,
    pub(super) reserve_ahead: usize,
    pub(super) magic: Vec<u8>,
    pub(super) prefix: Option<Vec<u8>>,
    pub(super) resync: Option<usize>,
    pub(super) checksum: Option<(Checksum, usize)>,
    pub(super) oversize: Oversize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            offset: 0,
            width: Width::Fixed(4),
            endian: Endian::Big,
            meaning: Meaning::Payload,
            strip: Strip::Header,
            max_frame: Limits::DEFAULT_MAX_FRAME,
            min_frame: 0,
            reserve_ahead: DEFAULT_RESERVE_AHEAD,
            magic: Vec::new(),
            prefix: None,
            resync: None,
            checksum: None,
            oversize: Oversize::Fail,
        }
    }
}

impl Builder {
    /// Where the length field starts, counted from the start of the frame (magic bytes
    /// included). Default 0.
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// A fixed-width field of 1, 2, 3, 4 or 8 bytes. Default 4.
    pub fn width(mut self, bytes: usize) -> Self {
        self.width = Width::Fixed(bytes);
        self
    }

    /// An unsigned LEB128 varint length field (protobuf style).
    pub fn varint(mut self) -> Self {
        self.width = Width::Varint;
        self
    }

    /// Byte order of a fixed-width field. Default big-endian.
    pub fn endian(mut self, endian: Endian) -> Self {
        self.endian = endian;
        self
    }

    /// Shorthand for `endian(Endian::Little)`.
    pub fn little_endian(self) -> Self {
        self.endian(Endian::Little)
    }

    /// The field counts the bytes after itself, checksum excluded (the default).
    pub fn payload_length(mut self) -> Self {
        self.meaning = Meaning::Payload;
        self
    }

    /// The field counts the whole frame, header and checksum included.
    pub fn frame_length(mut self) -> Self {
        self.meaning = Meaning::Frame;
        self
    }

    /// Netty's `lengthAdjustment`: frame length = field + `adjustment` + offset + width.
    pub fn length_adjustment(mut self, adjustment: i64) -> Self {
        self.meaning = Meaning::Adjusted(adjustment);
        self
    }

    /// Leaves the first `n` bytes of each frame out of the decoded item (Netty's
    /// `initialBytesToStrip`); `strip(0)` keeps the whole frame. Default: the header
    /// ([`Builder::strip_header`]), as tokio-util's `LengthDelimitedCodec` and
    /// [`LengthFieldCodec::new`](crate::LengthFieldCodec::new) do, so a default codec
    /// round-trips its own items.
    pub fn strip(mut self, n: usize) -> Self {
        self.strip = Strip::Bytes(n);
        self
    }

    /// Leaves everything up to the end of the length field out of the decoded item (the
    /// default).
    pub fn strip_header(mut self) -> Self {
        self.strip = Strip::Header;
        self
    }

    /// The largest frame on the wire, header and checksum included. Default 8 MiB.
    pub fn max_frame(mut self, n: usize) -> Self {
        self.max_frame = n;
        self
    }

    /// How much room the decoder reserves for a frame once its header has passed the
    /// `max_frame` check: the rest of the frame, up to this many bytes. Frames up to this
    /// size then land in one buffer without regrowing, and a header never makes the
    /// decoder reserve more than this however much it claims (tokio-util's codec reserves
    /// the whole claim). Default 64 KiB; 0 reserves nothing ahead.
    pub fn reserve_ahead(mut self, n: usize) -> Self {
        self.reserve_ahead = n;
        self
    }

    /// The smallest frame on the wire. Default: the header plus the checksum. A CMPP-style
    /// whole-PDU length of 0 is then an error, never an endless stream of empty frames.
    pub fn min_frame(mut self, n: usize) -> Self {
        self.min_frame = n;
        self
    }

    /// Every frame starts with these bytes; a frame that does not is
    /// [`packwire_core::FrameError::BadMagic`] (or, with [`Builder::resync`], skipped).
    /// The magic counts in the offset.
    pub fn magic(mut self, magic: impl Into<Vec<u8>>) -> Self {
        self.magic = magic.into();
        self
    }

    /// The bytes the encoder writes between the magic and the length field (a version
    /// byte, a type). Their length must be `offset - magic length`. Default: zeros.
    pub fn prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// After a bad magic, a bad checksum or an impossible length, hunt for the next magic
    /// instead of failing, scanning at most `max_scan` bytes before giving up with
    /// [`packwire_core::FrameError::BadMagic`]. What was skipped is reported as a
    /// [`packwire_core::Recovered`] event. Needs [`Builder::magic`].
    pub fn resync(mut self, max_scan: usize) -> Self {
        self.resync = Some(max_scan);
        self
    }

    /// A trailing checksum (big-endian) over the frame from byte `from` to the checksum,
    /// verified on decode and written on encode. `from` is at most the end of the length
    /// field: 0 covers the whole frame, `offset + width` only the payload.
    pub fn checksum(mut self, kind: Checksum, from: usize) -> Self {
        self.checksum = Some((kind, from));
        self
    }

    /// What to do with oversized frames. Default [`Oversize::Fail`].
    pub fn oversize(mut self, policy: Oversize) -> Self {
        self.oversize = policy;
        self
    }

    /// Builds the codec.
    ///
    /// # Errors
    /// A [`ConfigError`] for settings that cannot work: a width other than 1, 2, 3, 4 or 8,
    /// an offset inside the magic, a prefix of the wrong length, `min_frame > max_frame`, a
    /// maximum smaller than the header, a checksum range starting past the header, resync
    /// without a magic.
    pub fn build(self) -> Result<LengthFieldCodec, ConfigError> {
        if let Width::Fixed(w) = self.width {
            if !matches!(w, 1 | 2 | 3 | 4 | 8) {
                return Err(ConfigError::new(format!(
                    "length field width must be 1, 2, 3, 4 or 8 bytes, not {w}"
                )));
            }
        }
        if self.offset < self.magic.len() {
            return Err(ConfigError::new(format!(
                "the length field offset ({}) is inside the {}-byte magic",
                self.offset,
                self.magic.len()
            )));
        }
        if let Some(p) = &self.prefix {
            if p.len() != self.offset - self.magic.len() {
                return Err(ConfigError::new(format!(
                    "the prefix must be {} bytes (offset minus magic), not {}",
                    self.offset - self.magic.len(),
                    p.len()
                )));
            }
        }
        let min_header = self.offset
            + match self.width {
                Width::Fixed(w) => w,
                Width::Varint => 1,
            };
        let trailer = self.checksum.map_or(0, |(c, _)| c.width());
        if self.max_frame < min_header + trailer {
            return Err(ConfigError::new(format!(
                "max_frame ({}) is smaller than the header and checksum ({})",
                self.max_frame,
                min_header + trailer
            )));
        }
        if self.min_frame > self.max_frame {
            return Err(ConfigError::new(format!(
                "min_frame ({}) is larger than max_frame ({})",
                self.min_frame, self.max_frame
            )));
        }
        if let Some((_, from)) = self.checksum {
            if from > min_header {
                return Err(ConfigError::new(format!(
                    "the checksum range must start within the header (at or before byte {min_header})"
                )));
            }
        }
        if self.resync.is_some() && self.magic.is_empty() {
            return Err(ConfigError::new("resync needs a magic to hunt for"));
        }
        Ok(LengthFieldCodec::from_builder(std::sync::Arc::new(self)))
    }
}
