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
