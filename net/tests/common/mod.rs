//! Helpers the loopback tests share.

use std::time::Duration;

/// Polls `f` every 5 ms until it holds; fails the test after 10 s.
pub(crate) async fn wait_until(mut f: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition not reached in time");
}
