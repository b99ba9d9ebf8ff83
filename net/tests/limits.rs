//! Back-pressure policies, admission control and the auth gate, on loopback.

mod common;
use common::{frame, wait_until};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use packwire_codecs::{DelimiterCodec, FixedLengthCodec, LengthFieldCodec, LineCodec, VarintCodec};
use packwire_net::{BlockList, CloseReason, Conn, QueuePolicy, SendError, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{Decoder, Encoder};

const WAIT: Duration = Duration::from_secs(10);

/// Reads until the server closes the connection; returns the bytes read.
async fn read_to_close(sock: &mut TcpStream) -> usize {
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match timeout(WAIT, sock.read(&mut buf))
            .await
            .expect("the server did not close")
        {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

/// A server that answers "flood" with up to 2000 frames of 64 KiB sent with `Conn::send`,
/// recording how the sends ended; a queue of 4 messages.
async fn flood(
    policy: QueuePolicy,
) -> (
    Arc<AtomicUsize>,
    Arc<std::sync::Mutex<Option<SendError>>>,
    packwire_net::ServerHandle<Bytes>,
) {
    flood_with(policy, 4, None).await
}

/// [`flood`] with another queue capacity and an optional bound in bytes.
async fn flood_with(
    policy: QueuePolicy,
    capacity: usize,
    max_bytes: Option<usize>,
) -> (
    Arc<AtomicUsize>,
    Arc<std::sync::Mutex<Option<SendError>>>,
    packwire_net::ServerHandle<Bytes>,
) {
    let sent = Arc::new(AtomicUsize::new(0));
    let failure = Arc::new(std::sync::Mutex::new(None));
    let (s, f) = (sent.clone(), failure.clone());
    let server = Server::builder(LengthFieldCodec::new, move |conn: Conn<Bytes>, _: Bytes| {
        let (s, f) = (s.clone(), f.clone());
        async move {
            let big = Bytes::from(vec![0x42u8; 64 * 1024]);
            for _ in 0..2000 {
                match conn.send(big.clone()).await {
                    Ok(()) => {
                        s.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        *f.lock().unwrap() = Some(e);
                        return;
                    }
                }
            }
        }
    })
    .queue_capacity(capacity)
    .queue_policy(policy);
    let server = match max_bytes {
        Some(n) => server.max_queued_bytes(n),
        None => server,
    }
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    (sent, failure, server)
}

#[tokio::test]
async fn a_full_queue_fails_the_send_under_the_fail_policy() {
    let (sent, failure, server) = flood(QueuePolicy::Fail).await;
    let mut slow = TcpStream::connect(server.local_addr()).await.unwrap();
    slow.write_all(&frame(b"flood")).await.unwrap();
    // the client never reads: the kernel buffers fill, then the queue, then a send fails
    wait_until(|| failure.lock().unwrap().is_some()).await;
    assert_eq!(*failure.lock().unwrap(), Some(SendError::Full));
    assert!(sent.load(Ordering::SeqCst) < 2000);
    assert!(server.stats().queue_full >= 1);
    assert_eq!(server.stats().current, 1, "the slow peer stays connected");
    server.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_slow_peer_is_closed_under_the_close_policy_and_others_carry_on() {
    let (_, failure, server) = flood(QueuePolicy::CloseSlowPeer).await;
    let mut slow = TcpStream::connect(server.local_addr()).await.unwrap();
    slow.write_all(&frame(b"flood")).await.unwrap();
    wait_until(|| failure.lock().unwrap().is_some()).await;
    assert_eq!(*failure.lock().unwrap(), Some(SendError::Closed));
    // the queued frames are written, then the connection closes
    let read = read_to_close(&mut slow).await;
    assert!(read > 0);
    wait_until(|| server.stats().closed_for("slow_consumer") == 1).await;
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_kicked_peer_that_never_reads_is_really_closed() {
    // the kernel buffers toward a peer that reads nothing fill up; when the application
    // then closes the connection, what is still queued cannot be flushed: the close must
    // not wait for that peer forever
    let (sent, _, server) = flood(QueuePolicy::Wait).await;
    let mut stuck = TcpStream::connect(server.local_addr()).await.unwrap();
    stuck.write_all(&frame(b"flood")).await.unwrap();
    // wait until the sends stall (the socket and the queue are full)
    let mut last = usize::MAX;
    timeout(WAIT, async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = sent.load(Ordering::SeqCst);
            if now == last && now > 0 {
                break;
            }
            last = now;
        }
    })
    .await
    .expect("the sends never stalled");
    let conn = server.registry().all().pop().expect("connected");
    conn.close(CloseReason::Kicked);
    wait_until(|| server.stats().current == 0).await;
    assert_eq!(server.stats().closed_for("kicked"), 1);
    drop(stuck);
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn waiting_on_a_slow_peer_does_not_stall_other_connections() {
    let (sent, _, server) = flood(QueuePolicy::Wait).await;
    let mut slow = TcpStream::connect(server.local_addr()).await.unwrap();
    slow.write_all(&frame(b"flood")).await.unwrap();
    // the slow connection's handler is now blocked in send; another connection still works
    wait_until(|| sent.load(Ordering::SeqCst) >= 4).await;
    let before = sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        sent.load(Ordering::SeqCst) < 2000,
        "the sender is held back"
    );
    let mut other = TcpStream::connect(server.local_addr()).await.unwrap();
    other.write_all(&frame(b"flood")).await.unwrap();
    let mut buf = vec![0u8; 70_000];
    let n = timeout(WAIT, other.read(&mut buf)).await.unwrap().unwrap();
    assert!(n > 0, "the other connection is served");
    assert!(sent.load(Ordering::SeqCst) > before);
    // now the slow peer reads everything and its handler finishes
    drop(other);
    let total = read_to_close_after_shutdown(slow, server).await;
    assert!(total >= 64 * 1024);
}

async fn read_to_close_after_shutdown(
    mut slow: TcpStream,
    server: packwire_net::ServerHandle<Bytes>,
) -> usize {
    let reader = tokio::spawn(async move { read_to_close(&mut slow).await });
    server.shutdown(WAIT).await;
    reader.await.unwrap()
}

#[tokio::test]
async fn per_ip_limits_and_the_block_list_refuse_before_reading() {
    let blocked = BlockList::default();
    let server = Server::builder(
        LengthFieldCodec::new,
        |c: Conn<Bytes>, f: Bytes| async move {
            let _ = c.send(f).await;
        },
    )
    .max_connections_per_ip(2)
    .block_list(blocked.clone())
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let addr = server.local_addr();
    let _a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    let mut c = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        read_to_close(&mut c).await,
        0,
        "a third connection from 127.0.0.1 is refused"
    );
    wait_until(|| server.stats().closed_for("per_ip_limit") == 1).await;
    drop(_a);
    wait_until(|| server.stats().current == 1).await;
    let mut d = TcpStream::connect(addr).await.unwrap();
    d.write_all(&frame(b"ok")).await.unwrap();
    let mut buf = [0u8; 6];
    timeout(WAIT, d.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[4..], b"ok", "room again after one closed");

    server.block_list().block_cidr("127.0.0.0/8").unwrap();
    let mut e = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_to_close(&mut e).await, 0);
    wait_until(|| server.stats().closed_for("blocked_ip") == 1).await;
    blocked.unblock("127.0.0.0".parse().unwrap());
    blocked.block_for("127.0.0.1".parse().unwrap(), Duration::from_millis(200));
    let mut f = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_to_close(&mut f).await, 0);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        !blocked.is_blocked("127.0.0.1".parse().unwrap()),
        "the rule expired"
    );
    server.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_auth_gate_closes_silent_and_unauthenticated_connections() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = Server::builder(LineCodec::new, move |c: Conn<Bytes>, line: Bytes| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(line.clone());
            if line == "login secret" {
                c.authenticate();
            }
            let _ = c.send(line).await;
        }
    })
    .auth_gate(Duration::from_millis(300))
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let addr = server.local_addr();
    // silent: closed at the deadline
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, 0);
    // a wrong first message: closed, and its second line never reaches the handler
    let mut wrong = TcpStream::connect(addr).await.unwrap();
    wrong.write_all(b"login wrong\nsecond\n").await.unwrap();
    read_to_close(&mut wrong).await;
    // the right one: served
    let mut good = TcpStream::connect(addr).await.unwrap();
    good.write_all(b"login secret\nhello\n").await.unwrap();
    let mut codec = LineCodec::new();
    let mut buf = BytesMut::new();
    let mut lines = Vec::new();
    while lines.len() < 2 {
        timeout(WAIT, good.read_buf(&mut buf))
            .await
            .unwrap()
            .unwrap();
        while let Some(l) = codec.decode(&mut buf).unwrap() {
            lines.push(l);
        }
    }
    assert_eq!(lines, vec!["login secret", "hello"]);
    wait_until(|| server.stats().closed_for("auth_timeout") == 2).await;
    assert!(!seen.lock().unwrap().iter().any(|l| l == "second"));
    server.shutdown(WAIT).await;
}

/// Behind an auth gate a broadcast (`send_to_all`, `send_to_ip`) reaches only the
/// authenticated: a peer still logging in (or a WebSocket peer mid-handshake, whose
/// 101 answer a frame written first would break) gets nothing; shutdown still closes
/// it.
#[tokio::test]
async fn broadcasts_behind_an_auth_gate_skip_connections_still_logging_in() {
    let server = Server::builder(LineCodec::new, |c: Conn<Bytes>, line: Bytes| async move {
        if line == "login" {
            c.authenticate();
        }
    })
    .auth_gate(Duration::from_secs(30))
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let addr = server.local_addr();
    let mut lurker = TcpStream::connect(addr).await.unwrap();
    let mut member = TcpStream::connect(addr).await.unwrap();
    member.write_all(b"login\n").await.unwrap();
    let reg = server.registry().clone();
    wait_until(|| reg.len() == 2 && reg.all().len() == 1).await;
    assert_eq!(reg.send_to_all(Bytes::from_static(b"news")), 1);
    let ip = "127.0.0.1".parse().unwrap();
    assert_eq!(reg.send_to_ip(ip, Bytes::from_static(b"local news")), 1);
    let mut buf = BytesMut::new();
    let mut codec = LineCodec::new();
    let mut lines = Vec::new();
    while lines.len() < 2 {
        timeout(WAIT, member.read_buf(&mut buf))
            .await
            .unwrap()
            .unwrap();
        while let Some(l) = codec.decode(&mut buf).unwrap() {
            lines.push(l);
        }
    }
    assert_eq!(lines, vec!["news", "local news"]);
    server.shutdown(WAIT).await;
    // the lurker got nothing, then the shutdown's close
    assert_eq!(read_to_close(&mut lurker).await, 0);
}

/// Echoes one stream through a server with the given codec and checks the frames.
async fn echo_with<C, F>(make: F, wire: Vec<u8>, expected: Vec<Bytes>)
where
    F: Fn() -> C + Send + Sync + 'static,
    C: Decoder<Item = Bytes> + Encoder<Bytes> + Send + 'static,
    <C as Decoder>::Error: std::error::Error + Send + Sync + 'static,
    <C as Encoder<Bytes>>::Error: std::fmt::Display,
{
    let make = Arc::new(make);
    let m2 = make.clone();
    let server = Server::builder(
        move || m2(),
        |c: Conn<Bytes>, f: Bytes| async move {
            let _ = c.send(f).await;
        },
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let mut sock = TcpStream::connect(server.local_addr()).await.unwrap();
    sock.set_nodelay(true).unwrap();
    // half packets and sticky packets: odd-sized writes
    for chunk in wire.chunks(3) {
        sock.write_all(chunk).await.unwrap();
    }
    let mut codec = make();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        timeout(WAIT, sock.read_buf(&mut buf))
            .await
            .unwrap()
            .unwrap();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            got.push(f);
        }
    }
    assert_eq!(got, expected);
    server.shutdown(WAIT).await;
}

fn wire_of<C: Encoder<Bytes>>(mut codec: C, frames: &[Bytes]) -> Vec<u8>
where
    C::Error: std::fmt::Debug,
{
    let mut w = BytesMut::new();
    for f in frames {
        codec.encode(f.clone(), &mut w).unwrap();
    }
    w.to_vec()
}

#[tokio::test]
async fn echo_over_every_framing_codec() {
    let frames: Vec<Bytes> = ["alpha", "", "gamma delta"]
        .iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    let wire = wire_of(LengthFieldCodec::new(), &frames);
    echo_with(LengthFieldCodec::new, wire, frames.clone()).await;
    let wire = wire_of(LineCodec::new(), &frames);
    echo_with(LineCodec::new, wire, frames.clone()).await;
    let wire = wire_of(DelimiterCodec::new(["||"]).unwrap(), &frames);
    echo_with(
        || DelimiterCodec::new(["||"]).unwrap(),
        wire,
        frames.clone(),
    )
    .await;
    let wire = wire_of(VarintCodec::default(), &frames);
    echo_with(VarintCodec::default, wire, frames.clone()).await;
    let fixed: Vec<Bytes> = ["abcd", "efgh"]
        .iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    echo_with(
        || FixedLengthCodec::new(4).unwrap(),
        b"abcdefgh".to_vec(),
        fixed,
    )
    .await;
}

#[tokio::test]
async fn the_queue_is_bounded_in_bytes_when_asked() {
    // 10 000 messages fit the queue by count; 256 KiB by bytes stops a 64 KiB flood early
    let (sent, failure, server) = flood_with(QueuePolicy::Fail, 10_000, Some(256 * 1024)).await;
    let mut slow = TcpStream::connect(server.local_addr()).await.unwrap();
    slow.write_all(&frame(b"flood")).await.unwrap();
    wait_until(|| failure.lock().unwrap().is_some()).await;
    assert_eq!(*failure.lock().unwrap(), Some(SendError::Full));
    assert!(sent.load(Ordering::SeqCst) < 2000);
    // the frames that were accepted all arrive intact once the client reads
    let accepted = sent.load(Ordering::SeqCst);
    let reader = tokio::spawn(async move { read_to_close(&mut slow).await });
    server.shutdown(WAIT).await;
    let total = reader.await.unwrap();
    assert_eq!(total, accepted * (64 * 1024 + 4));
}
