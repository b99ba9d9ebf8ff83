//! Handlers that return their answer (`Some(message)`) instead of sending it: in order
//! with what they sent first, back-pressured like a send, on the server and the client.
//! Plain handlers (`builder_sync`) and handler types of their own answer the same way.
//! Pipes adopted by the server and a paused clock: nothing depends on the machine's speed.

mod common;
use common::frame;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use packwire_codecs::LengthFieldCodec;
use packwire_net::{
    Client, ClientEvent, ClientHandle, CloseReason, Conn, Handled, Handler, Server, ServerHandle,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::{Instant, timeout};
use tokio_util::codec::Decoder;

const WAIT: Duration = Duration::from_secs(10);

fn peer() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 40_000))
}

async fn adopt(server: &ServerHandle<Bytes>, capacity: usize) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(capacity);
    assert!(server.adopt(theirs, peer()).is_ok());
    ours
}

/// Reads `n` frames' payloads.
async fn read_frames(io: &mut DuplexStream, n: usize) -> Vec<Bytes> {
    let (mut codec, mut buf, mut out) = (LengthFieldCodec::new(), BytesMut::new(), Vec::new());
    while out.len() < n {
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        if out.len() < n {
            let r = timeout(WAIT, io.read_buf(&mut buf)).await.expect("frames");
            assert!(r.unwrap() > 0, "closed early");
        }
    }
    out
}

/// Writes `frames` to a new connection of `server` in one write (sticky) and reads `n`
/// frames back.
async fn exchange(
    server: &ServerHandle<Bytes>,
    frames: &[&[u8]],
    n: usize,
) -> (DuplexStream, Vec<Bytes>) {
    let mut io = adopt(server, 64 * 1024).await;
    let bytes: Vec<u8> = frames.iter().flat_map(|p| frame(p)).collect();
    io.write_all(&bytes).await.unwrap();
    let got = read_frames(&mut io, n).await;
    (io, got)
}

#[tokio::test(start_paused = true)]
async fn a_returned_answer_follows_what_the_handler_sent_before_returning() {
    let server = Server::builder(
        LengthFieldCodec::new,
        |conn: Conn<Bytes>, f: Bytes| async move {
            if f.as_ref() == b"plain" {
                return Some(f); // nothing sent first: straight into the write buffer
            }
            let mut note = b"note:".to_vec();
            note.extend_from_slice(&f);
            conn.send(Bytes::from(note)).await.unwrap();
            Some(f)
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let mut io = adopt(&server, 64 * 1024).await;
    // sticky: four requests in one write
    let mut bytes = Vec::new();
    for p in [&b"a"[..], b"plain", b"b", b"plain"] {
        bytes.extend(frame(p));
    }
    io.write_all(&bytes).await.unwrap();
    let got = read_frames(&mut io, 6).await;
    let want: [&[u8]; 6] = [b"note:a", b"a", b"plain", b"note:b", b"b", b"plain"];
    assert_eq!(got, want.map(Bytes::from_static));
    let s = server.stats();
    assert_eq!((s.messages_in, s.messages_out), (4, 6));
    server.shutdown(WAIT).await;
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_its_answers_stops_being_read_then_is_closed() {
    let answered = Arc::new(AtomicUsize::new(0));
    let a = answered.clone();
    let server = Server::builder(LengthFieldCodec::new, move |_c: Conn<Bytes>, f: Bytes| {
        a.fetch_add(1, Ordering::SeqCst);
        async move { Some(f) }
    })
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let mut hostile = adopt(&server, 64 * 1024).await;
    let written = Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    // 256 KiB requests answered with themselves, never a byte read back
    let big = frame(&vec![7u8; 256 * 1024]);
    let writer = tokio::spawn(async move {
        for _ in 0..400 {
            if hostile.write_all(&big).await.is_err() {
                break;
            }
            w.fetch_add(1, Ordering::SeqCst);
        }
        hostile
    });
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    // one answer in the write buffer past the bound, one in the pipe: then the server
    // reads no more, so the writer stalls too
    let n = answered.load(Ordering::SeqCst);
    assert!(
        n <= 3,
        "{n} requests answered for a peer that reads nothing"
    );
    let taken = written.load(Ordering::SeqCst);
    assert!(
        taken <= 6,
        "the server kept reading: {taken} requests taken in"
    );
    // no byte taken for the write timeout (30 s, checked every 7.5 s): closed
    common::wait_until_within(Duration::from_secs(120), || {
        server.stats().closed_for("slow_consumer") == 1
    })
    .await;
    let after = start.elapsed();
    assert!(
        after >= Duration::from_secs(30) && after <= Duration::from_secs(40),
        "closed after {after:?}"
    );
    let _ = writer.await.unwrap();
    server.shutdown(WAIT).await;
}

/// A server that asks once the client speaks (`ready`), and keeps the answer.
async fn asking_server() -> ServerHandle<Bytes> {
    Server::builder(
        LengthFieldCodec::new,
        |c: Conn<Bytes>, f: Bytes| async move {
            if f.as_ref() == b"ready" {
                c.send(Bytes::from_static(b"olleh")).await.unwrap();
            } else {
                c.set_attr(f);
            }
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap()
}

/// Once `client` is connected to `server`, it says `ready`; its handler must answer the
/// question reversed, by returning it.
async fn answers_reversed(server: ServerHandle<Bytes>, mut client: ClientHandle<Bytes>) {
    let first = timeout(WAIT, client.next_event()).await.expect("an event");
    assert!(
        matches!(first, Some(ClientEvent::Connected { .. })),
        "{first:?}"
    );
    client.send(Bytes::from_static(b"ready")).unwrap();
    common::wait_until(|| {
        server
            .registry()
            .all()
            .iter()
            .any(|c| c.attr::<Bytes>().is_some_and(|b| b.as_ref() == b"hello"))
    })
    .await;
    assert_eq!(client.stats().messages_out, 2, "ready, then the answer");
    client.shutdown().await;
    server.shutdown(WAIT).await;
}

fn reversed(f: &Bytes) -> Bytes {
    f.iter().rev().copied().collect::<Vec<u8>>().into()
}

#[tokio::test]
async fn a_client_handler_answers_by_returning_too_async_or_plain() {
    // over loopback TCP, on the real clock
    let server = asking_server().await;
    let client = Client::builder(
        LengthFieldCodec::new,
        |_c: Conn<Bytes>, f: Bytes| async move { Some(reversed(&f)) },
    )
    .node(server.local_addr())
    .start();
    answers_reversed(server, client).await;
    let server = asking_server().await;
    let client = Client::builder_sync(LengthFieldCodec::new, |_c: &Conn<Bytes>, f: Bytes| {
        Some(reversed(&f))
    })
    .node(server.local_addr())
    .start();
    answers_reversed(server, client).await;
}

#[tokio::test(start_paused = true)]
async fn a_plain_handler_answers_in_order_with_what_it_sent_and_can_close_its_connection() {
    let server = Server::builder_sync(
        LengthFieldCodec::new,
        |conn: &Conn<Bytes>, f: Bytes| match f.as_ref() {
            b"bye" => {
                conn.close(CloseReason::Kicked);
                None
            }
            b"plain" => Some(f),
            _ => {
                let mut note = b"note:".to_vec();
                note.extend_from_slice(&f);
                conn.try_send(Bytes::from(note)).unwrap();
                Some(f)
            }
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    // sticky: the close comes in the same write as what it follows and what follows it
    let sent = [&b"a"[..], b"plain", b"b", b"bye", b"never handled"];
    let (mut io, got) = exchange(&server, &sent, 5).await;
    let want: [&[u8]; 5] = [b"note:a", b"a", b"plain", b"note:b", b"b"];
    assert_eq!(got, want.map(Bytes::from_static));
    // then the end: what was answered before the close is written, nothing after it
    let mut rest = Vec::new();
    let n = timeout(WAIT, io.read_to_end(&mut rest))
        .await
        .expect("closed");
    assert!(n.is_ok() && rest.is_empty(), "{rest:?}");
    common::wait_until(|| server.stats().closed_for("kicked") == 1).await;
    assert_eq!(
        server.stats().messages_in,
        4,
        "the frame after bye was not handled"
    );
    server.shutdown(WAIT).await;
}

/// A handler of its own type: answers at once, or later (after a timer) when asked to
/// wait, counting in its own state.
struct Mixed(AtomicUsize);

impl Handler<Bytes, Bytes> for Mixed {
    type Reply = Option<Bytes>;
    type Future = std::pin::Pin<Box<dyn Future<Output = Option<Bytes>> + Send>>;
    fn call(&self, _conn: &Conn<Bytes>, f: Bytes) -> Handled<Self::Reply, Self::Future> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        let answer = Bytes::from(format!("{n}:{}", String::from_utf8_lossy(&f)));
        if f.as_ref() == b"wait" {
            return Handled::Later(Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some(answer)
            }));
        }
        Handled::Done(Some(answer))
    }
}

#[tokio::test(start_paused = true)]
async fn a_handler_type_of_its_own_may_finish_at_once_or_later_in_order() {
    let server = Server::builder_with(LengthFieldCodec::new, Mixed(AtomicUsize::new(0)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let sent = [&b"a"[..], b"wait", b"b", b"wait", b"c"];
    let (_io, got) = exchange(&server, &sent, 5).await;
    let want: [&[u8]; 5] = [b"0:a", b"1:wait", b"2:b", b"3:wait", b"4:c"];
    assert_eq!(got, want.map(Bytes::from_static));
    server.shutdown(WAIT).await;
}
