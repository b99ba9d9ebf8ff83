//! `packwire bench`: echo load over length framing or WebSocket (plain or compressed),
//! and connections per second with `--handshakes`.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use packwire_codecs::LengthFieldCodec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

use crate::net::{resolve, runtime, usage};

/// `packwire bench`: `conns` connections each keep `inflight` frames of `size` bytes in
/// flight against an echo server (4-byte length framing) for `seconds`; prints frames per
/// second and the p50/p99 round-trip latency as one JSON line.
pub(crate) fn bench(
    addr: &str,
    conns: usize,
    inflight: usize,
    size: usize,
    seconds: u64,
    tls: &crate::tls::ConnectTls,
    ws: BenchWire,
) -> io::Result<()> {
    let tls = tls.connector()?.map(Arc::new);
    if conns == 0 || inflight == 0 || seconds == 0 {
        return Err(usage(
            "--conns, --inflight and --seconds must be at least 1",
        ));
    }
    if size < 8 {
        // each frame carries its send time (8 bytes) to measure the round trip
        return Err(usage(format!(
            "--size {size}: at least 8 (the payload carries its send time)"
        )));
    }
    let addr = *resolve(addr)?
        .first()
        .expect("resolve gives at least one address");
    runtime()?.block_on(async move {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(seconds);
        let total = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let total = total.clone();
            let tls = tls.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(1 << 16);
                // a connection that fails keeps what it measured: the result is partial
                let load = Load {
                    wire: ws,
                    inflight,
                    size,
                    start,
                    deadline,
                    total: &total,
                };
                let r = bench_conn(addr, tls.as_deref(), &load, &mut lat).await;
                (lat, r.err())
            }));
        }
        let progress = tokio::spawn(progress(total.clone(), start, conns));
        let mut lat = Vec::new();
        // why connections failed, by error, so a short result is never a mystery
        let mut failures = std::collections::BTreeMap::<String, u64>::new();
        for t in tasks {
            let (l, err) = t.await.map_err(io::Error::other)?;
            lat.extend(l);
            if let Some(e) = err {
                *failures.entry(e.to_string()).or_default() += 1;
            }
        }
        progress.abort();
        let secs = start.elapsed().as_secs_f64();
        lat.sort_unstable();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        let frames = total.load(Ordering::Relaxed);
        let failed: u64 = failures.values().sum();
        println!(
            "{}",
            serde_json::json!({
                "conns": conns, "inflight": inflight, "size": size, "seconds": secs,
                "frames": frames, "frames_per_sec": frames as f64 / secs,
                "p50_us": pct(0.50) as f64 / 1000.0, "p99_us": pct(0.99) as f64 / 1000.0,
                "failed_connections": failed, "failures": failures,
            })
        );
        if failed > 0 {
            return Err(io::Error::other(format!(
                "{failed} of {conns} connections failed before the end (the result above is partial)"
            )));
        }
        Ok(())
    })
}

/// `packwire bench --handshakes`: `conns` loops, each opening a connection (and its TLS
/// handshake), echoing one frame of `size` bytes and closing it, until `seconds` are up;
/// prints connections per second as JSON.
pub(crate) fn bench_handshakes(
    addr: &str,
    conns: usize,
    size: usize,
    seconds: u64,
    tls: &crate::tls::ConnectTls,
) -> io::Result<()> {
    let tls = tls.connector()?.map(Arc::new);
    if conns == 0 || seconds == 0 || size < 8 {
        return Err(usage("--conns and --seconds at least 1, --size at least 8"));
    }
    let addr = *resolve(addr)?
        .first()
        .expect("resolve gives at least one address");
    runtime()?.block_on(async move {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let tls = tls.clone();
            tasks.push(tokio::spawn(async move {
                let (mut done, mut failures) = (0u64, std::collections::BTreeMap::new());
                while Instant::now() < deadline {
                    match one_echo(addr, tls.as_deref(), size).await {
                        Ok(()) => done += 1,
                        Err(e) => *failures.entry(e.to_string()).or_insert(0u64) += 1,
                    }
                }
                (done, failures)
            }));
        }
        let (mut done, mut failures) = (0u64, std::collections::BTreeMap::<String, u64>::new());
        for t in tasks {
            let (d, f) = t.await.map_err(io::Error::other)?;
            done += d;
            for (k, v) in f {
                *failures.entry(k).or_default() += v;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "conns": conns, "seconds": secs, "tls": tls.is_some(),
                "connections": done, "connections_per_sec": done as f64 / secs,
                "failures": failures,
            })
        );
        Ok(())
    })
}

/// Opens a connection (and its TLS handshake), echoes one frame, closes.
async fn one_echo(
    addr: std::net::SocketAddr,
    tls: Option<&packwire_net::tls::TlsConnector>,
    size: usize,
) -> io::Result<()> {
    async fn echo<S>(mut s: S, size: usize) -> io::Result<()>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut wire = BytesMut::new();
        LengthFieldCodec::new()
            .encode(Bytes::from(vec![0u8; size]), &mut wire)
            .map_err(io::Error::other)?;
        s.write_all(&wire).await?;
        let mut got = vec![0u8; wire.len()];
        s.read_exact(&mut got).await?;
        s.shutdown().await
    }
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    match tls {
        Some(t) => echo(t.connect(s, addr).await?.0, size).await,
        None => echo(s, size).await,
    }
}

/// A progress line on stderr each second while `packwire bench` runs.
async fn progress(total: Arc<AtomicU64>, start: Instant, conns: usize) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0;
    loop {
        tick.tick().await;
        let now = total.load(Ordering::Relaxed);
        eprintln!(
            "bench: {:>4.0} s  {now} frames  {}/s  ({conns} connections)",
            start.elapsed().as_secs_f64(),
            now - last
        );
        last = now;
    }
}

/// What every bench connection does: `inflight` frames of `size` bytes in flight over
/// `wire` until `deadline`, echoes counted into `total`, send times taken from `start`.
struct Load<'a> {
    wire: BenchWire,
    inflight: usize,
    size: usize,
    start: Instant,
    deadline: Instant,
    total: &'a AtomicU64,
}

/// One `packwire bench` connection until the load's deadline, the round trips of its
/// echoes pushed into `lat`.
async fn bench_conn(
    addr: std::net::SocketAddr,
    tls: Option<&packwire_net::tls::TlsConnector>,
    load: &Load<'_>,
    lat: &mut Vec<u64>,
) -> io::Result<()> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("connect to {addr}: {e}")))?;
    s.set_nodelay(true)?;
    match tls {
        Some(t) => {
            let (s, _) = t.connect(s, addr).await?;
            bench_stream(s, load, lat).await
        }
        None => bench_stream(s, load, lat).await,
    }
}

/// What `packwire bench` speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BenchWire {
    /// A 4-byte length before each frame.
    Length,
    /// WebSocket binary messages, with permessage-deflate when `deflate`.
    Ws { deflate: bool },
}

/// Appends `n` bytes of chat-like text to `p`: words drawn by a xorshift from `seed`, so
/// that compression has the work of a real message, neither zeros nor noise.
fn words(p: &mut BytesMut, n: usize, seed: &mut u64) {
    const WORDS: [&str; 16] = [
        "hello ",
        "world ",
        "room ",
        "lobby ",
        "user ",
        "message ",
        "the ",
        "a ",
        "is ",
        "online ",
        "typing ",
        "{\"id\":",
        "\"text\":",
        "42, ",
        "ok ",
        "today ",
    ];
    let end = p.len() + n;
    while p.len() < end {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let w = WORDS[(*seed % WORDS.len() as u64) as usize].as_bytes();
        p.put_slice(&w[..w.len().min(end - p.len())]);
    }
}

/// The bench's framing: a 4-byte length, or WebSocket binary messages after an opening
/// handshake.
enum Wire {
    Length(LengthFieldCodec),
    Ws(Box<packwire_codecs::websocket::ClientConnCodec>),
}

impl Wire {
    fn encode(&mut self, payload: Bytes, out: &mut BytesMut) -> io::Result<()> {
        use packwire_codecs::websocket::{ClientOutgoing, Message};
        match self {
            Wire::Length(c) => c.encode(payload, out).map_err(io::Error::other),
            Wire::Ws(c) => c
                .encode(ClientOutgoing::Message(Message::Binary(payload)), out)
                .map_err(io::Error::other),
        }
    }

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Bytes>> {
        use packwire_codecs::websocket::{ClientIncoming, Message};
        let bad = |e: packwire_core::FrameError| {
            io::Error::other(format!("the echo does not decode: {e}"))
        };
        match self {
            Wire::Length(c) => c.decode(buf).map_err(bad),
            Wire::Ws(c) => loop {
                match c.decode(buf).map_err(bad)? {
                    None => return Ok(None),
                    Some(ClientIncoming::Message(Message::Binary(b))) => return Ok(Some(b)),
                    Some(ClientIncoming::Upgraded(Err(e))) => {
                        return Err(io::Error::other(format!("handshake: {e}")));
                    }
                    Some(_) => {}
                }
            },
        }
    }
}

/// One bench connection's loop on an open stream (over WebSocket when `ws`: the opening
/// handshake first, then binary messages).
async fn bench_stream<S>(mut s: S, load: &Load<'_>, lat: &mut Vec<u64>) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let &Load {
        wire: ws,
        inflight,
        size,
        start,
        deadline,
        total,
    } = load;
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wire = if let BenchWire::Ws { deflate } = ws {
        use packwire_codecs::websocket::{ClientConnCodec, ClientIncoming, ClientOutgoing, Config};
        let mut c = ClientConnCodec::new("bench", "/", &[], deflate, Config::default());
        let mut out = BytesMut::new();
        c.encode(ClientOutgoing::Open, &mut out)
            .map_err(io::Error::other)?;
        s.write_all(&out).await?;
        loop {
            if s.read_buf(&mut rbuf).await? == 0 {
                return Err(io::Error::other("the server closed during the handshake"));
            }
            match c.decode(&mut rbuf).map_err(io::Error::other)? {
                Some(ClientIncoming::Upgraded(Ok(a))) if a.deflate.is_none() && deflate => {
                    return Err(io::Error::other(
                        "the server declined permessage-deflate (--deflate)",
                    ));
                }
                Some(ClientIncoming::Upgraded(Ok(_))) => break,
                Some(ClientIncoming::Upgraded(Err(e))) => {
                    return Err(io::Error::other(format!("handshake: {e}")));
                }
                _ => {}
            }
        }
        Wire::Ws(Box::new(c))
    } else {
        Wire::Length(LengthFieldCodec::new())
    };
    let mut out = BytesMut::new();
    let text = ws == BenchWire::Ws { deflate: true };
    let mut seed = 0x9e37_79b9_7f4a_7c15 ^ start.elapsed().as_nanos() as u64 | 1;
    let mut payload = |size: usize| {
        let mut p = BytesMut::with_capacity(size);
        p.put_u64(start.elapsed().as_nanos() as u64);
        if text {
            words(&mut p, size - 8, &mut seed);
        } else {
            p.put_bytes(0, size - 8);
        }
        p.freeze()
    };
    for _ in 0..inflight {
        wire.encode(payload(size), &mut out)?;
    }
    s.write_all(&out).await?;
    out.clear();
    while Instant::now() < deadline {
        let r = tokio::time::timeout_at(deadline.into(), s.read_buf(&mut rbuf)).await;
        match r {
            Err(_) => break,
            Ok(Ok(0)) => return Err(io::Error::other("the server closed the connection")),
            Ok(r) => r?,
        };
        let now = start.elapsed().as_nanos() as u64;
        let mut n = 0;
        while let Some(mut f) = wire.decode(&mut rbuf)? {
            let sent = f.get_u64();
            if lat.len() < 1 << 20 {
                lat.push(now.saturating_sub(sent));
            }
            n += 1;
            wire.encode(payload(size), &mut out)?;
        }
        total.fetch_add(n, Ordering::Relaxed);
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
    }
    Ok(())
}
