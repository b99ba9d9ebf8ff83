//! Checked reads of fixed-width fields: never a panic on short input.
//!
//! [`Reader`] walks a frame field by field and names the field that ran short; the free
//! functions read one integer of any width at an offset.
//!
//! ```
//! use packwire_core::wire::Reader;
//!
//! let frame = b"\x00\x00\x00\x10\x80\x00\x00\x01abc\0\0\0";
//! let mut r = Reader::new(frame);
//! assert_eq!(r.u32("Total_Length")?, 16);
//! assert_eq!(r.u32("Command_Id")?, 0x8000_0001);
//! assert_eq!(r.octets("Source_Addr", 6)?, b"abc");
//! assert!(r.u32("Sequence_Id").is_err()); // only 1 byte left: an error, not a panic
//! # Ok::<(), packwire_core::FrameError>(())
//! ```

use crate::FrameError;

/// Byte order of a multi-byte integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endian {
    /// Most significant byte first (network order).
    #[default]
    Big,
    /// Least significant byte first.
    Little,
}

/// Reads an unsigned integer of `width` bytes (1 to 8) at the start of `buf`.
///
/// Returns `None` when `buf` is shorter than `width` or `width` is not in 1..=8.
///
/// ```
/// use packwire_core::wire::{read_uint, Endian};
/// assert_eq!(read_uint(&[0x01, 0x02, 0x03], 3, Endian::Big), Some(0x010203));
/// assert_eq!(read_uint(&[0x01, 0x02, 0x03], 3, Endian::Little), Some(0x030201));
/// assert_eq!(read_uint(&[0x01], 2, Endian::Big), None);
/// ```
pub fn read_uint(buf: &[u8], width: usize, endian: Endian) -> Option<u64> {
    if !(1..=8).contains(&width) {
        return None;
    }
    let bytes = buf.get(..width)?;
    let mut v = 0u64;
    match endian {
        Endian::Big => {
            for &b in bytes {
                v = (v << 8) | u64::from(b);
            }
        }
        Endian::Little => {
            for &b in bytes.iter().rev() {
                v = (v << 8) | u64::from(b);
            }
        }
    }
    Some(v)
}

/// Writes the low `width` bytes (1 to 8) of `value` into `out[..width]`.
///
/// Returns `false` (and writes nothing) if `value` does not fit in `width` bytes, `width`
/// is not in 1..=8, or `out` is shorter than `width`.
pub fn write_uint(out: &mut [u8], value: u64, width: usize, endian: Endian) -> bool {
    if !(1..=8).contains(&width) || out.len() < width {
        return false;
    }
    if width < 8 && value >> (width * 8) != 0 {
        return false;
    }
    let be = value.to_be_bytes();
    let src = &be[8 - width..];
    match endian {
        Endian::Big => out[..width].copy_from_slice(src),
        Endian::Little => {
            for (o, b) in out[..width].iter_mut().zip(src.iter().rev()) {
                *o = *b;
            }
        }
    }
    true
}

/// Cuts a fixed-width octet string at its first NUL and trims trailing spaces: the forms
/// real peers send (NUL-padded, space-padded, or filled to the last byte) all read the same.
///
/// ```
/// use packwire_core::wire::trim_octets;
/// assert_eq!(trim_octets(b"901234\0\0\0"), b"901234");
/// assert_eq!(trim_octets(b"901234   "), b"901234");
/// assert_eq!(trim_octets(b"901234567"), b"901234567");
/// ```
pub fn trim_octets(raw: &[u8]) -> &[u8] {
    let cut = memchr_nul(raw);
    let mut s = &raw[..cut];
    while let [rest @ .., b' '] = s {
        s = rest;
    }
    s
}

fn memchr_nul(raw: &[u8]) -> usize {
    raw.iter().position(|&b| b == 0).unwrap_or(raw.len())
}

/// A cursor over one frame that reads named fields and reports, instead of panicking, the
/// field that runs past the end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
}

macro_rules! int_reader {
    ($(#[$m:meta])* $name:ident, $t:ty, $from:ident) => {
        $(#[$m])*
        pub fn $name(&mut self, field: &'static str) -> Result<$t, FrameError> {
            Ok(<$t>::$from(self.array(field)?))
        }
    };
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader whose reported offsets start at `base` (the frame's offset in a larger
    /// buffer, or the length of a header already read).
    pub fn with_base(buf: &'a [u8], base: u64) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The offset of the next byte as reported in errors.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not read yet, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Reads `n` raw bytes.
    pub fn bytes(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], FrameError> {
        match self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
        {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(FrameError::Short {
                field,
                offset: self.offset(),
                need: n,
                have: self.remaining(),
            }),
        }
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], FrameError> {
        let s = self.bytes(field, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Reads a fixed-width octet string of `n` bytes and returns it cut at the first NUL
    /// with trailing spaces trimmed (see [`trim_octets`]).
    pub fn octets(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], FrameError> {
        Ok(trim_octets(self.bytes(field, n)?))
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, field: &'static str, n: usize) -> Result<(), FrameError> {
        self.bytes(field, n).map(drop)
    }

    /// Fails with [`FrameError::Malformed`] naming `rule` unless every byte was read.
    pub fn finish(&self, rule: &'static str) -> Result<(), FrameError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(FrameError::malformed(rule, self.offset()))
        }
    }

    /// Reads one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, FrameError> {
        Ok(self.array::<1>(field)?[0])
    }

    int_reader!(
        /// Reads a big-endian `u16`.
        u16, u16, from_be_bytes
    );
    int_reader!(
        /// Reads a big-endian `u32`.
        u32, u32, from_be_bytes
    );
    int_reader!(
        /// Reads a big-endian `u64`.
        u64, u64, from_be_bytes
    );
    int_reader!(
        /// Reads a little-endian `u16`.
        u16_le, u16, from_le_bytes
    );
    int_reader!(
        /// Reads a little-endian `u32`.
        u32_le, u32, from_le_bytes
    );
    int_reader!(
        /// Reads a little-endian `u64`.
        u64_le, u64, from_le_bytes
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_field_names_itself() {
        let mut r = Reader::with_base(&[1, 2, 3], 12);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        let err = r.u32("Sequence_Id").unwrap_err();
        match err {
            FrameError::Short {
                field,
                offset,
                need,
                have,
            } => {
                assert_eq!((field, offset, need, have), ("Sequence_Id", 14, 4, 1));
            }
            other => panic!("unexpected {other:?}"),
        }
        // a failed read consumes nothing
        assert_eq!(r.u8("b").unwrap(), 3);
        assert!(r.finish("trailing").is_ok());
    }

    #[test]
    fn huge_length_requests_do_not_overflow() {
        let mut r = Reader::new(&[0; 4]);
        r.skip("x", 2).unwrap();
        assert!(r.bytes("y", usize::MAX).is_err());
        assert_eq!(r.remaining(), 2);
    }

    #[test]
    fn write_uint_rejects_values_that_do_not_fit() {
        let mut out = [0u8; 3];
        assert!(!write_uint(&mut out, 1 << 24, 3, Endian::Big));
        assert!(write_uint(&mut out, 0xabcdef, 3, Endian::Little));
        assert_eq!(out, [0xef, 0xcd, 0xab]);
        assert!(!write_uint(&mut out, 1, 9, Endian::Big));
    }

    proptest! {
        #[test]
        fn uint_round_trips(v: u64, width in 1usize..=8, little: bool) {
            let endian = if little { Endian::Little } else { Endian::Big };
            let v = if width == 8 { v } else { v & ((1u64 << (width * 8)) - 1) };
            let mut out = [0u8; 8];
            prop_assert!(write_uint(&mut out, v, width, endian));
            prop_assert_eq!(read_uint(&out, width, endian), Some(v));
        }

        #[test]
        fn reader_never_panics(data: Vec<u8>, ops in proptest::collection::vec(0usize..12, 0..20)) {
            let mut r = Reader::new(&data);
            for op in ops {
                let _ = match op {
                    0 => r.u8("f").map(drop),
                    1 => r.u16("f").map(drop),
                    2 => r.u32("f").map(drop),
                    3 => r.u64("f").map(drop),
                    4 => r.u16_le("f").map(drop),
                    5 => r.u32_le("f").map(drop),
                    6 => r.u64_le("f").map(drop),
                    7 => r.octets("f", 5).map(drop),
                    8 => r.array::<3>("f").map(drop),
                    9 => r.skip("f", 7),
                    10 => r.bytes("f", op * 1000).map(drop),
                    _ => r.finish("r"),
                };
                prop_assert!(r.position() <= data.len());
            }
        }
    }
}
