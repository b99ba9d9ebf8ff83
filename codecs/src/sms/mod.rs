//! What the SMS gateway protocols share (CMPP, SMPP; later SGIP, SMGP): the GSM 7-bit
//! alphabet, the user data header's concatenation element, and the reassembly of long
//! messages from their parts.

pub mod gsm7;
mod reassemble;
mod udh;

pub use reassemble::Parts;
pub use udh::{Concat, UdhRef, concat_info, strip_udh};

/// ISO 8859-1 text (every byte one character).
pub fn decode_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Text as ISO 8859-1; `None` when a character is above U+00FF.
pub fn encode_latin1(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// UCS2 / UTF-16BE text; an odd last byte or a lone surrogate reads as U+FFFD.
pub fn decode_ucs2(bytes: &[u8]) -> String {
    let units = bytes.chunks(2).map(|c| match c {
        [a, b] => u16::from_be_bytes([*a, *b]),
        _ => 0xfffd,
    });
    char::decode_utf16(units)
        .map(|r| r.unwrap_or('\u{fffd}'))
        .collect()
}

/// Text as UTF-16BE (characters past the BMP as surrogate pairs).
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Fills in the 4-byte big-endian length at `start` of a PDU encoded into `dst` from
/// `start` on, or takes the PDU back out when it is longer than `max` (CMPP's
/// Total_Length and SMPP's command_length are both the whole PDU's length).
pub(crate) fn finish_pdu(
    dst: &mut bytes::BytesMut,
    start: usize,
    max: usize,
) -> Result<(), packwire_core::EncodeError> {
    let len = dst.len() - start;
    if len > max {
        dst.truncate(start);
        return Err(packwire_core::EncodeError::TooLarge {
            len: len as u64,
            max: max as u64,
        });
    }
    dst[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Packs encoded characters (`units`, each kept whole) into parts of at most `room`
/// bytes, for a long message; at most 255 parts.
pub(crate) fn pack_parts(
    units: &[Vec<u8>],
    room: usize,
) -> Result<Vec<Vec<u8>>, packwire_core::EncodeError> {
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    for u in units {
        if u.len() > room {
            return Err(packwire_core::EncodeError::Invalid {
                rule: "the signature leaves no room for the text",
            });
        }
        if parts.last().is_some_and(|c| c.len() + u.len() > room) {
            parts.push(Vec::new());
        }
        if let Some(c) = parts.last_mut() {
            c.extend_from_slice(u);
        }
    }
    if parts.len() > 255 {
        return Err(packwire_core::EncodeError::Invalid {
            rule: "the text needs more than 255 parts",
        });
    }
    Ok(parts)
}
