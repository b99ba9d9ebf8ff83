//! Loopback tests: every one binds 127.0.0.1:0, bounds its waits with timeouts, and shuts
//! its server down.

mod common;
use common::{frame, wait_until};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use packwire_codecs::{LengthFieldCodec, LineCodec};
use packwire_net::{CloseReason, Conn, ConnId, Listener, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::Decoder;

const WAIT: Duration = Duration::from_secs(5);

async fn echo_server() -> ServerHandle<Bytes> {
    Server::builder(
        LengthFieldCodec::new,
        |conn: Conn<Bytes>, frame: Bytes| async move {
            let _ = conn.send(frame).await;
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap()
}

/// Reads frames from a raw socket until `n` arrived.
async fn read_frames(sock: &mut TcpStream, n: usize) -> Vec<Bytes> {
    let mut codec = LengthFieldCodec::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    while out.len() < n {
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        if out.len() >= n {
            break;
        }
        let r = timeout(WAIT, sock.read_buf(&mut buf))
            .await
            .expect("timed out waiting for frames")
            .unwrap();
        assert!(r > 0, "server closed early");
    }
    out
}

#[tokio::test]
async fn echo_half_packets_and_sticky_packets_through_real_sockets() {
    let server = echo_server().await;
    let mut sock = TcpStream::connect(server.local_addr()).await.unwrap();
    sock.set_nodelay(true).unwrap();
    // byte by byte
    for b in frame(b"hello") {
        sock.write_all(&[b]).await.unwrap();
    }
    // three frames in one write
    let mut burst = frame(b"a");
    burst.extend(frame(b""));
    burst.extend(frame(&[7u8; 3000]));
    sock.write_all(&burst).await.unwrap();
    let got = read_frames(&mut sock, 4).await;
    assert_eq!(
        got,
        vec![
            Bytes::from_static(b"hello"),
            Bytes::from_static(b"a"),
            Bytes::new(),
            Bytes::from(vec![7u8; 3000])
        ]
    );
    let s = server.stats();
    assert_eq!((s.accepted, s.current, s.messages_in), (1, 1, 4));
    let ip = server.ip_stats("127.0.0.1".parse().unwrap());
    assert_eq!(
        (ip.connections, ip.messages_in),
        (1, 4),
        "per-IP counters over the last minute"
    );
    assert_eq!(ip.bytes_in, s.bytes_in);
    drop(sock);
    wait_until(|| server.stats().current == 0).await;
    assert_eq!(server.stats().closed_for("peer_closed"), 1);
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_malformed_frame_closes_only_its_connection() {
    let server = Server::builder(
        || {
            LengthFieldCodec::builder()
                .strip_header()
                .max_frame(64)
                .build()
                .unwrap()
        },
        |conn: Conn<Bytes>, frame: Bytes| async move {
            let _ = conn.send(frame).await;
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let mut good = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut bad = TcpStream::connect(server.local_addr()).await.unwrap();
    bad.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let n = timeout(WAIT, bad.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "the bad connection is closed without a reply");
    good.write_all(&frame(b"still here")).await.unwrap();
    assert_eq!(
        read_frames(&mut good, 1).await,
        vec![Bytes::from_static(b"still here")]
    );
    wait_until(|| server.stats().decode_errors == 1).await;
    assert_eq!(server.stats().current, 1);
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn bind_users_and_groups_and_send_to_them() {
    // the first line a client sends is "user group"; later lines are ignored
    let server = Server::builder(
        LineCodec::new,
        |conn: Conn<Bytes>, line: Bytes| async move {
            let _ = (conn, line);
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let reg = server.registry().clone();
    let mut socks = Vec::new();
    for _ in 0..3 {
        socks.push(TcpStream::connect(server.local_addr()).await.unwrap());
    }
    wait_until(|| reg.len() == 3).await;
    let mut conns = reg.all();
    conns.sort_by_key(Conn::id);
    // alice has two devices (conns 0 and 1); bob one; 0 and 2 are in "ops"
    assert!(reg.bind_user(&conns[0], "alice"));
    assert!(reg.bind_user(&conns[1], "alice"));
    assert!(reg.bind_user(&conns[2], "bob"));
    assert!(reg.join_group(&conns[0], "ops"));
    assert!(reg.join_group(&conns[2], "ops"));
    assert!(reg.bind_token(&conns[2], "tok-2"));
    assert_eq!(
        reg.send_to_user("alice", Bytes::from_static(b"to alice")),
        2
    );
    assert_eq!(reg.send_to_group("ops", Bytes::from_static(b"to ops")), 2);
    assert_eq!(reg.send_to_all(Bytes::from_static(b"to all")), 3);
    assert_eq!(reg.send_to(conns[1].id(), Bytes::from_static(b"to one")), 1);
    assert_eq!(reg.by_token("tok-2").map(|c| c.id()), Some(conns[2].id()));
    assert_eq!(
        reg.send_to_ip("127.0.0.1".parse().unwrap(), Bytes::from_static(b"to ip")),
        3
    );

    let got0 = lines(&mut socks[0], 4).await;
    assert_eq!(got0, vec!["to alice", "to ops", "to all", "to ip"]);
    let got1 = lines(&mut socks[1], 4).await;
    assert_eq!(got1, vec!["to alice", "to all", "to one", "to ip"]);
    let got2 = lines(&mut socks[2], 3).await;
    assert_eq!(got2, vec!["to ops", "to all", "to ip"]);

    // closing unbinds automatically, and a closed connection cannot be bound again
    let gone = conns[0].clone();
    drop(socks.remove(0));
    wait_until(|| reg.len() == 2).await;
    assert_eq!(reg.user("alice").len(), 1);
    assert_eq!(reg.group("ops").len(), 1);
    assert!(!reg.bind_user(&gone, "alice"));
    assert_eq!(reg.user("alice").len(), 1);
    assert_eq!(reg.close_user("bob", CloseReason::Kicked), 1);
    wait_until(|| reg.len() == 1).await;
    assert_eq!(server.stats().closed_for("kicked"), 1);
    server.shutdown(WAIT).await;
}

/// Every target as a value, bytes encoded once and queued as they are, and the change
/// signal a cluster's presence follows (user and group changes move it; a close of a
/// bound connection too).
#[tokio::test]
async fn targets_encoded_bytes_and_the_change_signal() {
    use packwire_net::Target;
    let server = Server::builder(LineCodec::new, |_: Conn<Bytes>, _: Bytes| async {})
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let reg = server.registry().clone();
    let mut socks = Vec::new();
    for _ in 0..2 {
        socks.push(TcpStream::connect(server.local_addr()).await.unwrap());
    }
    wait_until(|| reg.len() == 2).await;
    let mut conns = reg.all();
    conns.sort_by_key(Conn::id);
    let v0 = reg.version();
    let changed = tokio::spawn({
        let reg = reg.clone();
        async move { reg.changed().await }
    });
    assert!(reg.bind_user(&conns[0], "alice"));
    timeout(WAIT, changed).await.unwrap().unwrap();
    assert!(reg.join_group(&conns[1], "ops"));
    assert!(reg.bind_bsid(&conns[1], "order-1"));
    assert!(reg.version() > v0);
    assert_eq!(reg.users(), vec![("alice".to_string(), 1)]);

    // encoded once, by the connections' codec; queued without re-encoding
    let bytes = reg.encode(Bytes::from_static(b"hello")).unwrap();
    assert_eq!(&bytes[..], b"hello\n");
    assert_eq!(reg.send_encoded(Target::User("alice"), bytes.clone()), 1);
    assert_eq!(reg.send_encoded(Target::Group("ops"), bytes.clone()), 1);
    assert_eq!(reg.send_encoded(Target::Bsid("order-1"), bytes.clone()), 1);
    assert_eq!(
        reg.send_encoded(Target::Conn(conns[0].id()), bytes.clone()),
        1
    );
    assert_eq!(reg.send_encoded(Target::Token("none"), bytes.clone()), 0);
    assert_eq!(reg.send_encoded(Target::User("nobody"), bytes.clone()), 0);
    let ip = "127.0.0.1".parse().unwrap();
    assert_eq!(reg.send_encoded(Target::Ip(ip), bytes.clone()), 2);
    assert_eq!(
        reg.send_to_target(Target::All, Bytes::from_static(b"all")),
        2
    );
    assert_eq!(
        lines(&mut socks[0], 4).await,
        vec!["hello", "hello", "hello", "all"]
    );
    assert_eq!(
        lines(&mut socks[1], 4).await,
        vec!["hello", "hello", "hello", "all"]
    );

    // a bound connection closing is a change too
    let v1 = reg.version();
    drop(socks.remove(0));
    wait_until(|| reg.len() == 1).await;
    assert!(reg.version() > v1);
    assert!(reg.users().is_empty());
    server.shutdown(WAIT).await;
}

/// Reads `n` lines from a raw socket.
async fn lines(s: &mut TcpStream, n: usize) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut codec = LineCodec::new();
    let mut b = BytesMut::new();
    while out.len() < n {
        while let Some(l) = codec.decode(&mut b).unwrap() {
            out.push(l);
        }
        if out.len() < n {
            timeout(WAIT, s.read_buf(&mut b)).await.unwrap().unwrap();
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_evicted_after_the_idle_timeout() {
    let server = Server::builder(LengthFieldCodec::new, |_: Conn<Bytes>, _: Bytes| async {})
        .idle_timeout(Duration::from_secs(30))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.local_addr()).await.unwrap();
    let start = tokio::time::Instant::now();
    // a frame at 20 s keeps it alive; then 30 s of silence closes it
    tokio::time::sleep(Duration::from_secs(20)).await;
    sock.write_all(&frame(b"ping")).await.unwrap();
    let mut rest = Vec::new();
    let n = timeout(Duration::from_secs(120), sock.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(50), "closed after {waited:?}");
    wait_until(|| server.stats().closed_for("idle_timeout") == 1).await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn graceful_shutdown_delivers_every_queued_message() {
    let server = Server::builder(LengthFieldCodec::new, |_: Conn<Bytes>, _: Bytes| async {})
        .queue_capacity(10_000)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut sock = TcpStream::connect(server.local_addr()).await.unwrap();
    wait_until(|| server.registry().len() == 1).await;
    let conn = server.registry().all().pop().unwrap();
    for i in 0..2000u32 {
        conn.try_send(Bytes::from(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    let reader = tokio::spawn(async move {
        let frames = read_frames(&mut sock, 2000).await;
        let mut rest = Vec::new();
        let end = timeout(WAIT, sock.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        (frames, end)
    });
    server.shutdown(WAIT).await;
    let (frames, end) = reader.await.unwrap();
    assert_eq!(frames.len(), 2000);
    assert_eq!(frames[1999], Bytes::from(1999u32.to_be_bytes().to_vec()));
    assert_eq!(end, 0, "closed after the queue was flushed");
    assert!(
        conn.try_send(Bytes::new()).is_err(),
        "a closed connection refuses sends"
    );
}

#[derive(Default)]
struct Counting {
    connected: AtomicUsize,
    messages: AtomicUsize,
    decode_errors: AtomicUsize,
    closed: std::sync::Mutex<Vec<(ConnId, String)>>,
}

struct Hooks(Arc<Counting>);

impl Listener<Bytes> for Hooks {
    fn on_connected(&self, _: &Conn<Bytes>, is_reconnect: bool) {
        assert!(!is_reconnect);
        self.0.connected.fetch_add(1, Ordering::SeqCst);
    }
    fn on_message(&self, _: &Conn<Bytes>, bytes: usize) {
        assert!(bytes >= 4);
        self.0.messages.fetch_add(1, Ordering::SeqCst);
    }
    fn on_decode_error(&self, _: &Conn<Bytes>, e: &packwire_net::FrameError) {
        assert_eq!(e.kind(), packwire_core::FrameErrorKind::TooLarge, "{e}");
        self.0.decode_errors.fetch_add(1, Ordering::SeqCst);
    }
    fn on_after_close(&self, id: ConnId, reason: &CloseReason) {
        self.0
            .closed
            .lock()
            .unwrap()
            .push((id, reason.name().to_string()));
    }
}

#[tokio::test]
async fn the_listener_sees_the_lifecycle_and_limits_hold() {
    let counts = Arc::new(Counting::default());
    let server = Server::builder(
        LengthFieldCodec::new,
        |conn: Conn<Bytes>, f: Bytes| async move {
            let _ = conn.send(f).await;
        },
    )
    .listener(Hooks(counts.clone()))
    .max_connections(1)
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let mut a = TcpStream::connect(server.local_addr()).await.unwrap();
    a.write_all(&frame(b"x")).await.unwrap();
    read_frames(&mut a, 1).await;
    // a second connection is over the limit: closed at once
    let mut b = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        timeout(WAIT, b.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap(),
        0
    );
    assert_eq!(server.stats().closed_for("limit_exceeded"), 1);
    drop(a);
    wait_until(|| counts.closed.lock().unwrap().len() == 1).await;
    assert_eq!(counts.connected.load(Ordering::SeqCst), 1);
    assert_eq!(counts.messages.load(Ordering::SeqCst), 1);
    assert_eq!(counts.closed.lock().unwrap()[0].1, "peer_closed");
    let tree = server.stats().to_string();
    assert!(tree.contains("├── accepted: 2"), "{tree}");
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_handler_can_send_more_than_its_own_queue_holds() {
    // the connection's one task writes while the handler waits for room in the queue
    let server = Server::builder(
        LengthFieldCodec::new,
        |conn: Conn<Bytes>, frame: Bytes| async move {
            for i in 0..3000u32 {
                let mut reply = frame.to_vec();
                reply.extend_from_slice(&i.to_be_bytes());
                conn.send(Bytes::from(reply)).await.unwrap();
            }
        },
    )
    .queue_capacity(2)
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let mut sock = TcpStream::connect(server.local_addr()).await.unwrap();
    sock.write_all(&frame(b"many")).await.unwrap();
    let got = read_frames(&mut sock, 3000).await;
    for (i, f) in got.iter().enumerate() {
        assert_eq!(&f[..4], b"many");
        assert_eq!(u32::from_be_bytes(f[4..].try_into().unwrap()), i as u32);
    }
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_handler_binds_its_user_through_conn_registry() {
    let server = Server::builder(
        LineCodec::new,
        |conn: Conn<Bytes>, line: Bytes| async move {
            if let Some(user) = line.strip_prefix(b"LOGIN ") {
                let registry = conn.registry().expect("a server connection is registered");
                assert!(registry.bind_user(&conn, &String::from_utf8_lossy(user)));
                let _ = conn.send(Bytes::from_static(b"OK")).await;
            }
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(b"LOGIN alice\n").await.unwrap();
    assert_eq!(lines(&mut s, 1).await, [Bytes::from_static(b"OK")]);
    assert_eq!(
        server
            .registry()
            .send_to_user("alice", Bytes::from_static(b"hi alice")),
        1
    );
    assert_eq!(lines(&mut s, 1).await, [Bytes::from_static(b"hi alice")]);
    drop(s);
    server.shutdown(WAIT).await;
}

#[derive(Default, Clone)]
struct IdleLog(Arc<std::sync::Mutex<Vec<String>>>);

impl Listener<Bytes> for IdleLog {
    fn on_idle(&self, _: &Conn<Bytes>, kind: packwire_net::IdleKind) {
        self.0.lock().unwrap().push(format!("idle {kind:?}"));
    }
    fn on_after_close(&self, _: ConnId, reason: &CloseReason) {
        self.0
            .lock()
            .unwrap()
            .push(format!("closed {}", reason.name()));
    }
}

#[tokio::test]
async fn idle_events_reach_the_listener_and_the_idle_close_comes_after_them() {
    let log = IdleLog::default();
    let server = Server::builder(LengthFieldCodec::new, |_: Conn<Bytes>, _: Bytes| async {})
        .idle_events(None, Some(Duration::from_millis(40)), None)
        .idle_timeout(Duration::from_millis(300))
        .listener(log.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    // the server closes the silent peer: EOF within the wait
    let mut buf = [0u8; 16];
    let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(n, 0);
    drop(s);
    wait_until(|| {
        log.0
            .lock()
            .unwrap()
            .last()
            .is_some_and(|l| l.starts_with("closed"))
    })
    .await;
    let log = log.0.lock().unwrap().clone();
    let writes = log.iter().filter(|l| *l == "idle Write").count();
    assert!(writes >= 2, "write-idle events repeat: {log:?}");
    let n = log.len();
    assert_eq!(
        log[n - 2..],
        ["idle Read", "closed idle_timeout"],
        "{log:?}"
    );
    server.shutdown(WAIT).await;
}
