//! Reading and writing the fixed-width fields every message uses.

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

/// Reads an octet string of `n` bytes as a zero-copy slice of `frame`, cut at the first NUL
/// and with trailing spaces trimmed (real peers pad with NULs, with spaces, or not at all).
pub(crate) fn octets(
    frame: &Bytes,
    r: &mut Reader<'_>,
    field: &'static str,
    n: usize,
) -> Result<Bytes, FrameError> {
    let s = r.octets(field, n)?;
    Ok(if s.is_empty() {
        Bytes::new()
    } else {
        frame.slice_ref(s)
    })
}

/// Reads a status / result field of the version's width (1 or 4 bytes).
pub(crate) fn status(r: &mut Reader<'_>, field: &'static str, v3: bool) -> Result<u32, FrameError> {
    if v3 {
        r.u32(field)
    } else {
        r.u8(field).map(u32::from)
    }
}

/// Writes an octet string NUL-padded to `n` bytes; a longer value is refused.
pub(crate) fn put_octets(dst: &mut BytesMut, value: &[u8], n: usize) -> Result<(), EncodeError> {
    if value.len() > n {
        return Err(EncodeError::Invalid {
            rule: "an octet string is longer than its fixed-width field",
        });
    }
    dst.put_slice(value);
    dst.put_bytes(0, n - value.len());
    Ok(())
}

/// Writes a status / result field of the version's width; a value over 255 in a 1-byte
/// field is refused.
pub(crate) fn put_status(dst: &mut BytesMut, value: u32, v3: bool) -> Result<(), EncodeError> {
    if v3 {
        dst.put_u32(value);
    } else {
        let b = u8::try_from(value).map_err(|_| EncodeError::Invalid {
            rule: "a status over 255 does not fit the 1-byte CMPP 2.0 field",
        })?;
        dst.put_u8(b);
    }
    Ok(())
}
