//! What the echo benches share: the pipes, the clients, and the two servers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use packwire_codecs::LengthFieldCodec;
use packwire_net::{Conn, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

pub(crate) const PAYLOAD: usize = 64;
#[allow(dead_code)] // not every bench walks the rows
pub(crate) const ROWS: [(usize, usize); 4] = [(1, 1), (1, 32), (16, 1), (16, 32)];
/// batches per connection in one timed run
pub(crate) const BATCHES: usize = 1000;

pub(crate) fn batch(frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * (4 + PAYLOAD));
    for i in 0..frames {
        out.extend_from_slice(&(PAYLOAD as u32).to_be_bytes());
        out.extend(std::iter::repeat_n(i as u8, PAYLOAD));
    }
    out
}

/// One client: `BATCHES` times, writes the batch and reads its echo back.
async fn client(mut io: DuplexStream, batch: Vec<u8>) {
    let mut back = vec![0; batch.len()];
    for _ in 0..BATCHES {
        io.write_all(&batch).await.expect("write");
        io.read_exact(&mut back).await.expect("read the echo");
    }
    assert_eq!(back, batch, "the echo is what was sent");
}

/// Runs `conns` clients against pipes that `serve` hands to a server; returns the time.
pub(crate) async fn run(conns: usize, inflight: usize, serve: &dyn Fn(DuplexStream)) -> Duration {
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (a, b) = tokio::io::duplex(64 * 1024);
        serve(b);
        clients.push(a);
    }
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|io| tokio::spawn(client(io, batch(inflight))))
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    start.elapsed()
}

pub(crate) fn forward(io: DuplexStream) {
    tokio::spawn(async move {
        let (sink, stream) = Framed::new(io, LengthDelimitedCodec::new()).split();
        let _ = stream.map_ok(|b| b.freeze()).forward(sink).await;
    });
}

/// packwire's echo as a handler answers: it returns the frame, which the connection's
/// task encodes straight into its write buffer.
pub(crate) async fn packwire_server() -> ServerHandle<Bytes> {
    Server::builder(
        LengthFieldCodec::new,
        |_conn: Conn<Bytes>, frame: Bytes| async move { Some(frame) },
    )
    .bind("127.0.0.1:0")
    .await
    .expect("bind")
}

/// packwire's echo as a plain handler (`Server::builder_sync`): no future, no clone of
/// the connection handle; the returned frame goes straight into the write buffer.
pub(crate) async fn packwire_plain_server() -> ServerHandle<Bytes> {
    Server::builder_sync(
        LengthFieldCodec::new,
        |_conn: &Conn<Bytes>, frame: Bytes| Some(frame),
    )
    .bind("127.0.0.1:0")
    .await
    .expect("bind")
}

/// packwire's echo through the connection's queue (`conn.send`), as a handler that
/// sends to other connections too would write it.
pub(crate) async fn packwire_send_server() -> ServerHandle<Bytes> {
    Server::builder(
        LengthFieldCodec::new,
        |conn: Conn<Bytes>, frame: Bytes| async move {
            let _ = conn.send(frame).await;
        },
    )
    .bind("127.0.0.1:0")
    .await
    .expect("bind")
}

/// The servers under test.
pub(crate) struct Servers {
    /// answers returned by a plain handler
    pub(crate) plain: ServerHandle<Bytes>,
    /// answers returned by an async handler
    pub(crate) reply: ServerHandle<Bytes>,
    /// answers sent with `conn.send`
    pub(crate) send: ServerHandle<Bytes>,
}

/// A one-thread runtime, packwire's servers on it, and the peer address adopted pipes
/// claim (one address: the per-IP counters are on, as for a real peer).
pub(crate) fn setup() -> (tokio::runtime::Runtime, Servers, SocketAddr) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let servers = rt.block_on(async {
        Servers {
            plain: packwire_plain_server().await,
            reply: packwire_server().await,
            send: packwire_send_server().await,
        }
    });
    (rt, servers, "127.0.0.1:40000".parse().expect("addr"))
}
