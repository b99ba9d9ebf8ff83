//! Every event logged while a connection runs — the runtime's and the handler's own —
//! carries the connection's span: its side, id and peer (a subscriber records them here;
//! the tests run on one thread, where `set_default` holds).

mod common;
use common::{frame, wait_until};

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::LengthFieldCodec;
use packwire_net::{Conn, Server};
use tokio::io::AsyncWriteExt;

/// What the subscriber wrote.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_handlers_events_and_the_close_line_carry_the_connections_span() {
    let log = Log::default();
    let w = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = Server::builder_sync(LengthFieldCodec::new, |_: &Conn<Bytes>, f: Bytes| {
        tracing::info!(len = f.len(), "a frame from the handler");
    })
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let (mut ours, theirs) = tokio::io::duplex(4096);
    let peer = SocketAddr::from(([10, 0, 0, 9], 40_000));
    assert!(server.adopt(theirs, peer).is_ok());
    ours.write_all(&frame(b"hi")).await.unwrap();
    wait_until(|| server.stats().messages_in == 1).await;
    drop(ours);
    wait_until(|| server.stats().current == 0).await;
    server.shutdown(Duration::from_secs(5)).await;
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {text}"))
            .to_string()
    };
    for l in [line("a frame from the handler"), line("closed")] {
        assert!(
            l.contains("conn{")
                && l.contains("side=\"server\"")
                && l.contains("peer=10.0.0.9:40000")
                && l.contains("protocol=LengthFieldCodec"),
            "{l}"
        );
    }
}
