//! Integration tests of every codec through its public API and the test kit.

#[cfg(feature = "cmpp")]
mod cmpp;
mod delimiter;
mod fixed;
#[cfg(feature = "http1")]
mod http1;
mod length;
#[cfg(feature = "nom")]
mod protocol;
#[cfg(feature = "smpp")]
mod smpp;
mod varint;
mod websocket;

use bytes::Bytes;
use proptest::prelude::*;

/// Frames of 0..max bytes.
pub fn payloads(max: usize) -> impl Strategy<Value = Vec<Bytes>> {
    proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from),
        0..8,
    )
}

/// Bytes from a slice.
pub fn b(s: &[u8]) -> Bytes {
    Bytes::copy_from_slice(s)
}

/// Bytes from hex digits (whitespace ignored).
///
/// # Panics
/// On a character that is not a hex digit, or an odd count of digits.
pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
