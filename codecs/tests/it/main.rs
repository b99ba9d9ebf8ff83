//! Integration tests of every codec through its public API and the test kit.

mod cmpp;
mod delimiter;
mod fixed;
mod http1;
mod length;
mod protocol;
mod varint;

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
