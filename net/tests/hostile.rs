//! Hostile peers against a server with its default settings (issue #14.2, #14.3): peers
//! that never read, never finish a frame, never speak, or each hold most of a large
//! frame. Each peer is one end of an in-memory pipe adopted by the server, and the clock
//! is paused, so every time-out is exact and nothing depends on the machine's speed.

mod common;
use common::frame;

/// Waits on the paused clock for up to ten minutes of it (the time-outs under test are
/// up to two minutes long).
async fn wait_until(f: impl FnMut() -> bool) {
    common::wait_until_within(Duration::from_secs(600), f).await;
}

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use packwire_codecs::LengthFieldCodec;
use packwire_net::{AsyncHandler, Conn, Server, ServerBuilder, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

fn peer(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 40_000))
}

type Echo = ServerBuilder<
    fn() -> LengthFieldCodec,
    AsyncHandler<fn(Conn<Bytes>, Bytes) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
    Bytes,
>;

/// An echo server with every default: its handler waits for room to send each frame
/// back, and counts the echoes it queued in the connection's counter (see `connect`).
fn echo_server() -> Echo {
    fn handler(c: Conn<Bytes>, f: Bytes) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            if c.send(f).await.is_ok() {
                if let Some(n) = c.attr::<Arc<AtomicUsize>>() {
                    n.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    }
    Server::builder(LengthFieldCodec::new as fn() -> LengthFieldCodec, handler)
}

/// Adopts one end of a pipe with `capacity` bytes of buffer each way; the test keeps
/// the other end.
async fn connect(
    server: &ServerHandle<Bytes>,
    n: u8,
    capacity: usize,
    echoes: &Arc<AtomicUsize>,
) -> DuplexStream {
    let before = server.registry().len();
    let (ours, theirs) = tokio::io::duplex(capacity);
    assert!(server.adopt(theirs, peer(n)).is_ok());
    wait_until(|| server.registry().len() == before + 1).await;
    for c in server.registry().all() {
        if c.peer_addr() == peer(n) {
            c.set_attr(echoes.clone());
        }
    }
    ours
}

/// A normal client on its own pipe: one small frame echoed.
async fn normal_client_is_served(server: &ServerHandle<Bytes>, n: u8, echoes: &Arc<AtomicUsize>) {
    let mut ok = connect(server, n, 64 * 1024, echoes).await;
    ok.write_all(&frame(b"hello")).await.unwrap();
    let mut back = [0u8; 9];
    tokio::time::timeout(WAIT, ok.read_exact(&mut back))
        .await
        .expect("a normal client is served meanwhile")
        .unwrap();
    assert_eq!(&back[4..], b"hello");
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_is_back_pressured_then_closed_as_a_slow_consumer() {
    let builder = echo_server();
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let echoes = Arc::new(AtomicUsize::new(0));
    let mut hostile = connect(&server, 1, 64 * 1024, &echoes).await;
    // 1 MiB frames, written as fast as the server takes them, never a byte read back
    let written = Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    let big = frame(&vec![7u8; 1024 * 1024]);
    let writer = tokio::spawn(async move {
        for _ in 0..500 {
            if hostile.write_all(&big).await.is_err() {
                break;
            }
            w.fetch_add(1, Ordering::SeqCst);
        }
        hostile
    });
    let start = Instant::now();
    // back-pressure: the echoes queued stop at the byte bound (4 MiB queued + the 4 MiB
    // batch being written + the pipe), and so does reading
    wait_until(|| echoes.load(Ordering::SeqCst) >= 4).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let queued = echoes.load(Ordering::SeqCst);
    assert!(
        queued <= 10,
        "{queued} MiB of echoes held for a peer that reads nothing"
    );
    let read = written.load(Ordering::SeqCst);
    assert!(read < 40, "the server kept reading: {read} MiB taken in");
    normal_client_is_served(&server, 2, &echoes).await;
    // no byte taken for the write timeout (30 s, checked every 7.5 s): closed
    wait_until(|| server.stats().closed_for("slow_consumer") == 1).await;
    let after = start.elapsed();
    assert!(
        after >= Duration::from_secs(30) && after <= Duration::from_secs(40),
        "closed after {after:?}"
    );
    let _ = writer.await.unwrap();
    wait_until(|| server.budget_in_use() == 0).await;
    server.shutdown(WAIT).await;
}

#[tokio::test(start_paused = true)]
async fn a_slowloris_is_closed_at_the_frame_timeout_which_follows_a_short_idle_timeout() {
    let builder = echo_server();
    let server = builder
        .idle_timeout(Duration::from_secs(3))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let echoes = Arc::new(AtomicUsize::new(0));
    let mut loris = connect(&server, 1, 64 * 1024, &echoes).await;
    let start = Instant::now();
    // a header claiming 100 bytes, then one byte a second: never idle, never done
    loris.write_all(&100u32.to_be_bytes()).await.unwrap();
    let mut gone = None;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if loris.write_all(b"x").await.is_err() || server.stats().current == 0 {
            gone = Some(start.elapsed());
            break;
        }
    }
    let gone = gone.expect("the slowloris was never closed");
    assert_eq!(server.stats().closed_for("frame_timeout"), 1);
    assert!(
        gone >= Duration::from_secs(3) && gone <= Duration::from_secs(5),
        "gone after {gone:?}"
    );
    server.shutdown(WAIT).await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_closed_by_the_default_idle_timeout() {
    let builder = echo_server();
    let server = builder.bind("127.0.0.1:0").await.unwrap();
    let echoes = Arc::new(AtomicUsize::new(0));
    let mut silent = connect(&server, 1, 1024, &echoes).await;
    let start = Instant::now();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(600), silent.read_to_end(&mut rest))
        .await
        .expect("closed")
        .unwrap();
    assert_eq!(n, 0);
    let after = start.elapsed();
    assert_eq!(server.stats().closed_for("idle_timeout"), 1);
    // 120 s, noticed within a quarter more
    assert!(
        after >= Duration::from_secs(119) && after <= Duration::from_secs(150),
        "closed after {after:?}"
    );
    server.shutdown(WAIT).await;
}

#[tokio::test(start_paused = true)]
async fn many_peers_holding_most_of_a_large_frame_cannot_pass_the_memory_budget() {
    let builder = echo_server();
    let server = builder
        .memory_budget(800 * 1024)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let echoes = Arc::new(AtomicUsize::new(0));
    // each claims a 4 MiB frame and sends 400 KiB of it, which its read buffer holds in
    // 576 KiB (the buffer doubles as it grows; the budget counts what is allocated): the
    // first fits in the 800 KiB budget beyond its free 64 KiB, the second does not
    let mut held = Vec::new();
    for n in 1..=3u8 {
        let mut p = connect(&server, n, 1024 * 1024, &echoes).await;
        p.write_all(&(4u32 * 1024 * 1024).to_be_bytes())
            .await
            .unwrap();
        p.write_all(&vec![1u8; 400 * 1024]).await.unwrap();
        // the server reads what the pipe holds (virtual time: exact, not a race)
        tokio::time::sleep(Duration::from_millis(100)).await;
        held.push(p);
    }
    wait_until(|| server.stats().closed_for("over_budget") == 2).await;
    let used = server.budget_in_use();
    assert!(used > 400 * 1024 && used <= 800 * 1024, "{used}");
    assert_eq!(
        server.stats().current,
        1,
        "the first holder is still connected"
    );
    normal_client_is_served(&server, 9, &echoes).await;
    held.clear(); // the peers go away: everything they held is given back
    wait_until(|| server.stats().current == 0).await;
    assert_eq!(server.budget_in_use(), 0);
    server.shutdown(WAIT).await;
}

#[test]
fn the_default_connection_limit_follows_the_open_files_limit() {
    let (soft, _) = rlimit_soft();
    assert_eq!(
        packwire_net::default_max_connections() as u64,
        soft - packwire_net::FD_RESERVE as u64
    );
}

/// The soft open-files limit, read from /proc (independently of the crate's own way).
fn rlimit_soft() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}
