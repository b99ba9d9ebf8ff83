//! Fixed-length framing.

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::{ConfigError, EncodeError, FrameError, Phase, eof_leftover};
use tokio_util::codec::{Decoder, Encoder};

/// Frames of exactly `n` bytes (Netty's `FixedLengthFrameDecoder`), with an encoder that
/// refuses items of any other length.
///
/// ```text
/// INPUT (n = 3)      DECODED
/// "abcdefgh"    ->   "abc", "def"   ("gh" waits for one more byte)
/// ```
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use packwire_codecs::FixedLengthCodec;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = FixedLengthCodec::new(3)?;
/// let mut buf = BytesMut::from("abcdefgh");
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "abc");
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "def");
/// assert_eq!(codec.decode(&mut buf)?, None);
/// assert!(codec.decode_eof(&mut buf).is_err()); // "gh" is a truncated frame
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FixedLengthCodec {
    len: usize,
}

impl FixedLengthCodec {
    /// Frames of `len` bytes.
    ///
    /// # Errors
    /// A [`ConfigError`] if `len` is 0.
    pub fn new(len: usize) -> Result<Self, ConfigError> {
        if len == 0 {
            return Err(ConfigError::new("a fixed frame length must be at least 1"));
        }
        Ok(FixedLengthCodec { len })
    }

    /// The frame length.
    pub fn frame_len(&self) -> usize {
        self.len
    }
}

impl Decoder for FixedLengthCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if src.len() < self.len {
            return Ok(None);
        }
        Ok(Some(src.split_to(self.len).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode(src)? {
            Some(f) => Ok(Some(f)),
            None => eof_leftover(src.len(), Phase::MidFrame, Some(self.len)),
        }
    }
}

impl Encoder<Bytes> for FixedLengthCodec {
    type Error = EncodeError;
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode(&item[..], dst)
    }
}

impl Encoder<&[u8]> for FixedLengthCodec {
    type Error = EncodeError;
    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
        if item.len() != self.len {
            return Err(EncodeError::Invalid {
                rule: "the item is not exactly the fixed frame length",
            });
        }
        dst.put_slice(item);
        Ok(())
    }
}
