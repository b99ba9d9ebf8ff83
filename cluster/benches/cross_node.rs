//! Cross-node delivery through each broker, beside single-node delivery, in one run:
//! messages per second and end-to-end latency (p50/p99) of 64-byte messages, each to
//! one user picked in turn among 1 or 1,000 users connected to the receiving node, and
//! each to a group of those 1,000 users (a message with 1,000 targets).
//!
//! Node A sends, node B's users receive over loopback TCP, read by this process. The
//! brokers are real (`redis-server`, `nats-server -js`, started here). Throughput keeps
//! at most `WINDOW` messages in flight (sent, not yet read by a client): past that a
//! broker or a connection queue would drop (at most once), and a dropped message is not
//! a delivered one. Latency is one message in flight at a time.
//!
//! `cargo bench -p packwire-cluster --bench cross_node` (RUNS, MESSAGES, SAMPLES in the
//! environment); a table on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use packwire_cluster::testing::{Kind, TestBroker};
use packwire_cluster::{Cluster, ClusterConfig, Remote};
use packwire_codecs::LineCodec;
use packwire_net::{Conn, Registry, Server, ServerHandle};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

const WINDOW: u64 = 1000;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn server() -> ServerHandle<Bytes> {
    Server::builder(LineCodec::new, |_: Conn<Bytes>, _: Bytes| async {})
        .queue_capacity(4096)
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// What the reading clients saw: lines read, and the latency of the last one.
struct Seen {
    lines: AtomicU64,
    last_nanos: AtomicU64,
    wake: Notify,
    base: Instant,
}

/// Connects `n` users to `server`, binds them, and reads their lines.
async fn users(server: &ServerHandle<Bytes>, n: usize, seen: Arc<Seen>) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
    for _ in 0..n {
        let s = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                // the line starts with the send time, in nanoseconds since `base`
                let sent: u64 = l
                    .split(' ')
                    .next()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let now = seen.base.elapsed().as_nanos() as u64;
                seen.last_nanos
                    .store(now.saturating_sub(sent), Ordering::Relaxed);
                seen.lines.fetch_add(1, Ordering::Release);
                seen.wake.notify_one();
            }
        });
    }
    while server.registry().len() < n {
        tokio::task::yield_now().await;
    }
    let mut conns = server.registry().all();
    conns.sort_by_key(Conn::id);
    for (c, name) in conns.iter().zip(&names) {
        server.registry().bind_user(c, name);
        server.registry().join_group(c, GROUP);
    }
    names
}

/// How a message leaves the sending node.
#[derive(Clone)]
enum Path {
    Local(Registry<Bytes>),
    Cluster(Cluster<Bytes>),
}

/// Whom each message is for: one user in turn, or the group of them all.
#[derive(Clone, Copy, PartialEq)]
enum Aim {
    OneUser,
    Group,
}

const GROUP: &str = "everyone";

impl Path {
    fn send(&self, aim: Aim, user: &str, line: Bytes) -> bool {
        match (self, aim) {
            (Path::Local(r), Aim::OneUser) => r.send_to_user(user, line) == 1,
            (Path::Local(r), Aim::Group) => r.send_to_group(GROUP, line) > 0,
            (Path::Cluster(c), Aim::OneUser) => {
                c.send_to_user(user, line).unwrap().remote == Remote::Queued
            }
            (Path::Cluster(c), Aim::Group) => {
                c.send_to_group(GROUP, line).unwrap().remote == Remote::Queued
            }
        }
    }
}

fn line(seen: &Seen) -> Bytes {
    let t = seen.base.elapsed().as_nanos() as u64;
    // 64 bytes on the wire with the newline
    let mut s = format!("{t:020} ");
    s.push_str(&"x".repeat(63 - s.len()));
    Bytes::from(s)
}

/// Messages per second over `messages`, at most WINDOW lines (or four group messages)
/// in flight; `per` lines are read for each message.
async fn throughput(path: &Path, aim: Aim, names: &[String], seen: &Seen, messages: u64) -> f64 {
    let per = if aim == Aim::Group {
        names.len() as u64
    } else {
        1
    };
    let window = WINDOW.max(4 * per);
    let start_lines = seen.lines.load(Ordering::Acquire);
    let t0 = Instant::now();
    let mut sent = 0u64;
    while sent < messages {
        let got = seen.lines.load(Ordering::Acquire) - start_lines;
        if sent * per - got >= window {
            let _ = tokio::time::timeout(Duration::from_millis(50), seen.wake.notified()).await;
            continue;
        }
        if path.send(aim, &names[sent as usize % names.len()], line(seen)) {
            sent += 1;
        } else {
            tokio::task::yield_now().await;
        }
    }
    let until = Instant::now() + Duration::from_secs(30);
    while seen.lines.load(Ordering::Acquire) - start_lines < messages * per {
        assert!(
            Instant::now() < until,
            "messages lost: not all delivered in 30 s"
        );
        let _ = tokio::time::timeout(Duration::from_millis(50), seen.wake.notified()).await;
    }
    messages as f64 / t0.elapsed().as_secs_f64()
}

/// p50 and p99 of one message in flight, send to its last delivery, in microseconds.
async fn latency(
    path: &Path,
    aim: Aim,
    names: &[String],
    seen: &Seen,
    samples: usize,
) -> (f64, f64) {
    let per = if aim == Aim::Group {
        names.len() as u64
    } else {
        1
    };
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let before = seen.lines.load(Ordering::Acquire);
        assert!(path.send(aim, &names[i % names.len()], line(seen)));
        let until = Instant::now() + Duration::from_secs(10);
        while seen.lines.load(Ordering::Acquire) < before + per {
            assert!(Instant::now() < until, "a message was lost");
            let _ = tokio::time::timeout(Duration::from_millis(50), seen.wake.notified()).await;
        }
        lat.push(seen.last_nanos.load(Ordering::Relaxed) as f64 / 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    (lat[samples / 2], lat[samples * 99 / 100])
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; nothing else is read from the command line
    let runs = env("RUNS", 3);
    let messages = env("MESSAGES", 100_000) as u64;
    let samples = env("SAMPLES", 2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        println!("| path | targets per message (of users) | msgs/s (median of {runs}) | range | p50 µs | p99 µs |");
        println!("|---|---|---|---|---|---|");
        for (n, aim) in [(1usize, Aim::OneUser), (1000, Aim::OneUser), (1000, Aim::Group)] {
            let what = match aim {
                Aim::OneUser => format!("1 (of {n})"),
                Aim::Group => format!("{n} (a group)"),
            };
            let messages = if aim == Aim::Group { messages / 100 } else { messages };
            for which in ["single node", "redis", "nats"] {
                let broker = match which {
                    "redis" => Some(TestBroker::start(Kind::Redis)),
                    "nats" => Some(TestBroker::start(Kind::Nats)),
                    _ => None,
                };
                let (a, b) = (server().await, server().await);
                let seen = Arc::new(Seen {
                    lines: AtomicU64::new(0),
                    last_nanos: AtomicU64::new(0),
                    wake: Notify::new(),
                    base: Instant::now(),
                });
                let mut clusters = Vec::new();
                let path = match &broker {
                    None => {
                        // the users are on the sending node itself
                        Path::Local(b.registry().clone())
                    }
                    Some(br) => {
                        for (node, s) in [("a", &a), ("b", &b)] {
                            let bk = packwire_cluster::connect(&br.url(), "bench").await.unwrap();
                            let cfg = ClusterConfig::new(node).queue(65536);
                            clusters
                                .push(Cluster::join(s.registry().clone(), bk, cfg).await.unwrap());
                        }
                        Path::Cluster(clusters[0].clone())
                    }
                };
                let names = users(&b, n, seen.clone()).await;
                // warm up
                throughput(&path, aim, &names, &seen, messages / 10).await;
                let mut rates = Vec::new();
                for _ in 0..runs {
                    rates.push(throughput(&path, aim, &names, &seen, messages).await);
                }
                let samples = if aim == Aim::Group { samples / 10 } else { samples };
                let (p50, p99) = latency(&path, aim, &names, &seen, samples).await;
                let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = rates.iter().copied().fold(0.0, f64::max);
                println!(
                    "| {which} | {what} | {:.0} | {lo:.0}-{hi:.0} | {p50:.0} | {p99:.0} |",
                    median(rates)
                );
                drop(clusters);
                a.shutdown(Duration::from_secs(1)).await;
                b.shutdown(Duration::from_secs(1)).await;
            }
        }
    });
}
