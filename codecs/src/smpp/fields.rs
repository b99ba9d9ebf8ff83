//! C-Octet Strings and addresses: what every PDU body is made of.

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

/// Reads a C-Octet String of at most `max` bytes, its NUL included; the value without
/// the NUL, as a slice of `frame`. `rule` names the field in the error (a string with no
/// NUL within its maximum).
pub(crate) fn read_cstr(
    frame: &Bytes,
    r: &mut Reader<'_>,
    field: &'static str,
    max: usize,
    rule: &'static str,
) -> Result<Bytes, FrameError> {
    let rest = r.rest();
    let window = &rest[..rest.len().min(max)];
    let Some(n) = window.iter().position(|&b| b == 0) else {
        return Err(if rest.len() < max {
            FrameError::Short {
                field,
                offset: r.offset(),
                need: rest.len() + 1,
                have: rest.len(),
            }
        } else {
            FrameError::malformed(rule, r.offset())
        });
    };
    let s = r.bytes(field, n + 1)?;
    Ok(if n == 0 {
        Bytes::new()
    } else {
        frame.slice_ref(&s[..n])
    })
}

/// Writes `value` as a C-Octet String of at most `max` bytes (the NUL included); `rule`
/// says which field broke the limit or carried a NUL.
pub(crate) fn write_cstr(
    dst: &mut BytesMut,
    value: &[u8],
    max: usize,
    rule: &'static str,
) -> Result<(), EncodeError> {
    if value.len() >= max || value.contains(&0) {
        return Err(EncodeError::Invalid { rule });
    }
    dst.put_slice(value);
    dst.put_u8(0);
    Ok(())
}

/// A time field (schedule_delivery_time, validity_period, final_date): NULL, or the 16
/// characters of an absolute or relative time (`YYMMDDhhmmsstnnp`).
pub(crate) fn write_time(
    dst: &mut BytesMut,
    value: &[u8],
    rule: &'static str,
) -> Result<(), EncodeError> {
    if !(value.is_empty() || value.len() == 16) {
        return Err(EncodeError::Invalid { rule });
    }
    write_cstr(dst, value, 17, rule)
}

/// An address: type of number, numbering plan indicator and the digits (or name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// TON (0 unknown, 1 international, 2 national, 5 alphanumeric, ...).
    pub ton: u8,
    /// NPI (0 unknown, 1 ISDN E.163/E.164, ...).
    pub npi: u8,
    /// The address itself, without its NUL.
    pub addr: Bytes,
}

impl Address {
    /// An address with TON and NPI 0 (the SMSC's defaults apply).
    pub fn new(addr: impl Into<Bytes>) -> Self {
        Address {
            ton: 0,
            npi: 0,
            addr: addr.into(),
        }
    }

    /// An international E.164 number (TON 1, NPI 1).
    pub fn international(addr: impl Into<Bytes>) -> Self {
        Address {
            ton: 1,
            npi: 1,
            addr: addr.into(),
        }
    }

    /// TON, NPI and a C-Octet String of at most `max` bytes.
    pub(crate) fn load(
        frame: &Bytes,
        r: &mut Reader<'_>,
        field: &'static str,
        max: usize,
        rule: &'static str,
    ) -> Result<Self, FrameError> {
        Ok(Address {
            ton: r.u8(field)?,
            npi: r.u8(field)?,
            addr: read_cstr(frame, r, field, max, rule)?,
        })
    }

    pub(crate) fn encode(
        &self,
        dst: &mut BytesMut,
        max: usize,
        rule: &'static str,
    ) -> Result<(), EncodeError> {
        dst.put_u8(self.ton);
        dst.put_u8(self.npi);
        write_cstr(dst, &self.addr, max, rule)
    }
}

/// Reads a C-Octet String field: `cstr!(frame, r, "system_id", 16)` names the field and
/// its limit in the error.
macro_rules! cstr {
    ($frame:expr, $r:expr, $field:literal, $max:literal) => {
        $crate::smpp::fields::read_cstr(
            $frame,
            $r,
            $field,
            $max,
            concat!($field, " has no NUL within its ", $max, " bytes"),
        )
    };
}

/// Writes a C-Octet String field, naming it and its limit in the error.
macro_rules! put_cstr {
    ($dst:expr, $value:expr, $field:literal, $max:literal) => {
        $crate::smpp::fields::write_cstr(
            $dst,
            &$value,
            $max,
            concat!(
                $field,
                " must be shorter than ",
                $max,
                " bytes and hold no NUL"
            ),
        )
    };
}

/// Reads an address whose string is at most `max` bytes.
macro_rules! address {
    ($frame:expr, $r:expr, $field:literal, $max:literal) => {
        $crate::smpp::fields::Address::load(
            $frame,
            $r,
            $field,
            $max,
            concat!($field, " has no NUL within its ", $max, " bytes"),
        )
    };
}

/// Writes an address whose string is at most `max` bytes.
macro_rules! put_address {
    ($dst:expr, $a:expr, $field:literal, $max:literal) => {
        $a.encode(
            $dst,
            $max,
            concat!(
                $field,
                " must be shorter than ",
                $max,
                " bytes and hold no NUL"
            ),
        )
    };
}

/// Writes a time field (NULL or 16 characters).
macro_rules! put_time {
    ($dst:expr, $value:expr, $field:literal) => {
        $crate::smpp::fields::write_time(
            $dst,
            &$value,
            concat!($field, " must be empty or 16 characters"),
        )
    };
}

pub(crate) use {address, cstr, put_address, put_cstr, put_time};
