//! Helpers the loopback tests share.
#![allow(dead_code)] // each test binary uses its own share of them

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use packwire_codecs::LengthFieldCodec;
use tokio_util::codec::Encoder;

/// Polls `f` every 5 ms until it holds; fails the test after 10 s.
pub(crate) async fn wait_until(f: impl FnMut() -> bool) {
    wait_until_within(Duration::from_secs(10), f).await;
}

/// Polls `f` every 5 ms until it holds; fails the test after `limit` (of the paused
/// clock, in the tests that pause it).
pub(crate) async fn wait_until_within(limit: Duration, mut f: impl FnMut() -> bool) {
    tokio::time::timeout(limit, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition not reached in time");
}

/// `payload` in the default length framing (a 4-byte big-endian length).
pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    LengthFieldCodec::new()
        .encode(Bytes::copy_from_slice(payload), &mut out)
        .unwrap();
    out.to_vec()
}
