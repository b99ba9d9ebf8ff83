//! Protobuf-style varint length prefix: prost's `encode_length_delimiter` and Netty's
//! `ProtobufVarint32FrameDecoder` / `ProtobufVarint32LengthFieldPrepender`.
//!
//! ```text
//! INPUT                                  DECODED
//! +------+---------------------------+   +---------------------------+
//! | 0xAC | 0x02 | 300 payload bytes  |   |    300 payload bytes      |
//! +------+---------------------------+   +---------------------------+
//!  varint(300) = 0b1_0101100 0b0_0000010 (7 bits a byte, low group first)
//! ```
//!
//! The prefix may take up to 10 bytes (a `u64`); a longer prefix, or a tenth byte that
//! overflows 64 bits, is [`FrameError::BadLength`]. Non-minimal prefixes (`0x80 0x00` for 0)
//! are accepted, as prost accepts them. `max` bounds the **payload** length (the prefix is
//! not counted), the way prost and Netty count it; a prefix that claims more fails as soon
//! as it is read, and nothing is reserved for the claimed length. A prefix split across
//! reads is simply waited for: nothing is consumed until the whole prefix is there (the
//! bug of Netty #17549 cannot happen).
//!
//! # Examples
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use packwire_codecs::VarintCodec;
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = VarintCodec::new(1024);
//! let mut wire = BytesMut::new();
//! codec.encode(Bytes::from(vec![7u8; 300]), &mut wire)?;
//! assert_eq!(&wire[..3], &[0xac, 0x02, 7]);
//! assert_eq!(codec.decode(&mut wire)?.unwrap().len(), 300);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use packwire_core::{EncodeError, FrameError, Limits, Phase, eof_leftover};
use tokio_util::codec::{Decoder, Encoder};

/// The longest varint a `u64` takes.
pub(crate) const MAX_VARINT_LEN: usize = 10;

/// Reads a LEB128 varint at the start of `buf`: `Ok(None)` if it is not complete yet,
/// `Ok(Some((value, bytes used)))`, or an error for more than 10 bytes or a 64-bit overflow.
pub(crate) fn read_varint(buf: &[u8]) -> Result<Option<(u64, usize)>, FrameError> {
    let mut value = 0u64;
    for (i, &b) in buf.iter().take(MAX_VARINT_LEN).enumerate() {
        let group = u64::from(b & 0x7f);
        if i == MAX_VARINT_LEN - 1 && b & 0x80 != 0 {
            return Err(FrameError::BadLength {
                reason: "varint longer than 10 bytes",
            });
        }
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            return Err(FrameError::BadLength {
                reason: "varint overflows 64 bits",
            });
        }
        value |= group << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Ok(None)
}

/// How many bytes `v` takes as a varint.
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Writes `v` as a varint.
pub(crate) fn put_varint(mut v: u64, dst: &mut impl BufMut) {
    while v >= 0x80 {
        dst.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    dst.put_u8(v as u8);
}

/// A varint length-prefixed framing: each frame is a LEB128 payload length and the payload.
/// Decoded items are the payloads; the encoder writes the prefix.
#[derive(Debug, Clone)]
pub struct VarintCodec {
    max: usize,
    /// (payload length, prefix length) once a prefix has been read
    pending: Option<(usize, usize)>,
}

impl Default for VarintCodec {
    /// A codec with the default maximum payload, [`Limits::DEFAULT_MAX_FRAME`] (8 MiB).
    fn default() -> Self {
        VarintCodec::new(Limits::DEFAULT_MAX_FRAME)
    }
}

impl VarintCodec {
    /// A codec accepting payloads of at most `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        VarintCodec {
            max: max_payload,
            pending: None,
        }
    }

    /// The maximum payload length.
    pub fn max_payload(&self) -> usize {
        self.max
    }
}

impl Decoder for VarintCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let (len, prefix) = match self.pending {
            Some(p) => p,
            None => {
                let Some((v, n)) = read_varint(src)? else {
                    return Ok(None);
                };
                if v > self.max as u64 {
                    return Err(FrameError::TooLarge {
                        declared: v,
                        max: self.max as u64,
                    });
                }
                src.advance(n);
                self.pending = Some((v as usize, n));
                (v as usize, n)
            }
        };
        let _ = prefix;
        if src.len() < len {
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(src.split_to(len).freeze()))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        match self.pending {
            Some((len, prefix)) => {
                eof_leftover(prefix + src.len(), Phase::MidFrame, Some(prefix + len))
            }
            None => eof_leftover(src.len(), Phase::MidHeader, None),
        }
    }
}

impl Encoder<Bytes> for VarintCodec {
    type Error = EncodeError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode(&item[..], dst)
    }
}

impl Encoder<&[u8]> for VarintCodec {
    type Error = EncodeError;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
        if item.len() > self.max {
            return Err(EncodeError::TooLarge {
                len: item.len() as u64,
                max: self.max as u64,
            });
        }
        dst.reserve(varint_len(item.len() as u64) + item.len());
        put_varint(item.len() as u64, dst);
        dst.put_slice(item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut b = BytesMut::new();
            put_varint(v, &mut b);
            assert_eq!(b.len(), varint_len(v), "{v}");
            assert_eq!(read_varint(&b).unwrap(), Some((v, b.len())));
            // every strict prefix is incomplete, not an error
            for cut in 0..b.len() {
                assert_eq!(read_varint(&b[..cut]).unwrap(), None);
            }
        }
    }

    #[test]
    fn overlong_and_overflowing_varints_are_rejected() {
        assert!(matches!(
            read_varint(&[0x80; 11]),
            Err(FrameError::BadLength {
                reason: "varint longer than 10 bytes"
            })
        ));
        let mut over = [0xffu8; 10];
        over[9] = 0x02;
        assert!(matches!(
            read_varint(&over),
            Err(FrameError::BadLength {
                reason: "varint overflows 64 bits"
            })
        ));
        // non-minimal encodings are accepted
        assert_eq!(read_varint(&[0x80, 0x00]).unwrap(), Some((0, 2)));
    }
}
