//! `packwire serve`, `packwire connect` and `packwire bench` (the echo load client).

use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use packwire_codecs::LengthFieldCodec;
use packwire_net::{Client, ClientEvent, Conn, Server, StatsSnapshot, StatsTree};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, Encoder};

use crate::spec::{Framing, framing, hex};

pub(crate) fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// A bad SPEC or option found at run time: reported as a usage error (exit 2).
pub(crate) fn usage(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// `e` with the address it concerns in front (`127.0.0.1:7000: Address already in use`).
pub(crate) fn at(addr: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{addr}: {e}"))
}

fn framing_factory(spec: &str) -> io::Result<impl Fn() -> Framing + Send + Sync + 'static> {
    let proto = framing(spec)
        .map_err(|e| usage(format!("--codec {spec}: {e}")))?
        .ok_or_else(|| {
            usage(format!(
                "{spec}: serve and connect take a framing (length, lines, delimiter, fixed, varint)"
            ))
        })?;
    // a clone has the parsed options and a fresh state (a length codec's layout is
    // shared, not copied): parsed once per server, not once per connection
    Ok(move || proto.clone())
}

/// What `packwire serve` was asked.
#[derive(Debug)]
pub(crate) struct ServeArgs<'a> {
    pub(crate) spec: &'a str,
    pub(crate) listen: &'a str,
    pub(crate) echo: bool,
    pub(crate) baseline: bool,
    pub(crate) seconds: Option<u64>,
    /// where to serve `/metrics`, if anywhere
    pub(crate) metrics: Option<&'a str>,
    /// the final statistics as JSON
    pub(crate) stats_json: bool,
    pub(crate) limits: packwire_net::Limits,
    pub(crate) tls: crate::tls::ServeTls,
}

/// Serves `/metrics` for `server` on `addr` (named `endpoint`), announcing where.
pub(crate) async fn serve_metrics<M: Send + 'static>(
    addr: &str,
    endpoint: &str,
    server: &packwire_net::ServerHandle<M>,
) -> io::Result<
    packwire_net::ServerHandle<packwire_codecs::http1::Event<packwire_codecs::http1::ResponseHead>>,
> {
    let metrics = packwire_net::metrics::Metrics::new();
    metrics.add_server(endpoint, server);
    let admin = metrics
        .serve(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("--metrics {addr}: {e}")))?;
    println!("metrics at http://{}/metrics", admin.local_addr());
    Ok(admin)
}

/// `packwire serve`: the packwire server (or, with `baseline`, a minimal hand-written tokio
/// echo server, for the benchmark) on `listen`, for `seconds` or until killed.
pub(crate) fn serve(a: ServeArgs<'_>) -> io::Result<()> {
    let ServeArgs {
        spec,
        listen,
        echo,
        baseline,
        seconds,
        metrics,
        stats_json,
        limits,
        tls,
    } = a;
    if baseline && metrics.is_some() {
        return Err(io::Error::other(
            "--metrics needs the packwire server, not --baseline",
        ));
    }
    let tls = tls.acceptor()?;
    let make = framing_factory(spec)?;
    runtime()?.block_on(async move {
        let stop = crate::stop::Stop::install(seconds);
        if baseline {
            let l = TcpListener::bind(listen).await.map_err(|e| at(listen, e))?;
            println!("baseline echo server listening on {}", l.local_addr()?);
            let make = Arc::new(make);
            // with TLS: the hand-written tokio-rustls echo, the TLS bench's baseline
            let tls = tls
                .as_ref()
                .map(|t| packwire_net::tls::tokio_rustls::TlsAcceptor::from(t.rustls_config()));
            let run = async {
                loop {
                    let (s, _) = l.accept().await?;
                    let _ = s.set_nodelay(true);
                    let codec = make();
                    match &tls {
                        Some(acceptor) => {
                            let accept = acceptor.accept(s);
                            tokio::spawn(async move { baseline_echo(accept.await?, codec).await });
                        }
                        None => {
                            tokio::spawn(baseline_echo(s, codec));
                        }
                    }
                }
            };
            return tokio::select! {
                r = run => r,
                () = stop.requested() => Ok(()),
            };
        }
        let server = match make() {
            // the length framing (what the benchmarks run) as its own codec type, so
            // its decode and encode are called directly, not through the enum
            Framing::Length(c) => {
                serve_with(move || c.clone(), echo, &limits, tls.clone(), listen).await?
            }
            _ => serve_with(make, echo, &limits, tls.clone(), listen).await?,
        };
        let scheme = if tls.is_some() { " (TLS)" } else { "" };
        println!(
            "packwire server listening on {}{scheme}",
            server.local_addr()
        );
        let admin = match metrics {
            Some(addr) => Some(serve_metrics(addr, "serve", &server).await?),
            None => None,
        };
        stop.requested().await;
        if let Some(admin) = admin {
            admin.shutdown(Duration::from_secs(1)).await;
        }
        // stop accepting, write every queue, close with FIN; then the final figures
        let tree = server.stats_tree(TOP_N);
        print_stats(
            tree,
            server.shutdown(Duration::from_secs(5)).await,
            stats_json,
        );
        if let Some(t) = &tls {
            let s = t.stats().snapshot();
            println!(
                "tls: {} handshakes, {} failed, {} timed out",
                s.ok, s.failed, s.timed_out
            );
        }
        Ok(())
    })
}

/// How many groups, IP addresses and connections the final statistics name (the rest
/// are added up).
pub(crate) const TOP_N: usize = 10;

/// A server's final statistics as a tree: `tree`, taken while its connections were still
/// open, with the counters `shutdown` returned; or (`json`) the tree as one JSON object
/// `{"server": …, "groups": …, "ips": …, "connections": …}`.
pub(crate) fn print_stats(mut tree: StatsTree, last: StatsSnapshot, json: bool) {
    tree.server = last;
    if json {
        println!("{}", serde_json::json!(tree));
    } else {
        println!("{tree}");
    }
}

/// Binds the packwire server on `listen` with codecs from `make`: echoing each frame or
/// printing it.
async fn serve_with<C, F>(
    make: F,
    echo: bool,
    limits: &packwire_net::Limits,
    tls: Option<packwire_net::tls::TlsAcceptor>,
    listen: &str,
) -> io::Result<packwire_net::ServerHandle<Bytes>>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: tokio_util::codec::Decoder<Item = Bytes, Error = packwire_core::FrameError>
        + tokio_util::codec::Encoder<Bytes>
        + Send
        + 'static,
    <C as tokio_util::codec::Encoder<Bytes>>::Error: std::fmt::Display,
{
    let b = Server::builder_sync(make, move |conn: &Conn<Bytes>, frame: Bytes| {
        if echo {
            return Some(frame); // the answer, written by the connection's own task
        }
        crate::stop::say(&format!(
            "{} {}: {}",
            conn.id(),
            conn.peer_addr(),
            hex(&frame)
        ));
        None
    })
    .limits(limits);
    let b = match tls {
        Some(t) => b.tls(t),
        None => b,
    };
    b.bind(listen).await.map_err(|e| at(listen, e))
}

/// The hand-written baseline: read what is there, decode every frame, encode every echo
/// into one buffer, one write per read (flushes batched per read, not per frame).
async fn baseline_echo<S>(mut s: S, mut codec: Framing) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut rbuf = BytesMut::with_capacity(8 * 1024);
    let mut wbuf = BytesMut::with_capacity(8 * 1024);
    loop {
        if s.read_buf(&mut rbuf).await? == 0 {
            return Ok(());
        }
        while let Some(f) = codec.decode(&mut rbuf).map_err(io::Error::other)? {
            codec.encode(f, &mut wbuf).map_err(io::Error::other)?;
        }
        if !wbuf.is_empty() {
            s.write_all(&wbuf).await?;
            wbuf.clear();
        }
    }
}

/// The addresses `addr` (`host:port` or `ip:port`) names.
pub(crate) fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    let found: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("{addr}: {e} (write host:port)")))?
        .collect();
    if found.is_empty() {
        return Err(io::Error::other(format!("{addr}: no address found")));
    }
    Ok(found)
}

/// `packwire connect`: sends each stdin line (its bytes as they are, UTF-8 or not) as a
/// frame, prints what comes back.
pub(crate) fn connect(spec: &str, addr: &str, tls: &crate::tls::ConnectTls) -> io::Result<()> {
    let make = framing_factory(spec)?;
    let nodes = resolve(addr)?;
    let tls = tls.connector()?;
    runtime()?.block_on(async move {
        let mut builder = Client::builder(make, |_: Conn<Bytes>, frame: Bytes| async move {
            let line = match std::str::from_utf8(&frame) {
                Ok(t) => format!("< {t}"),
                Err(_) => format!("< hex {}", hex(&frame)),
            };
            crate::stop::say(&line);
        });
        for n in &nodes {
            builder = builder.node(*n);
        }
        if let Some(t) = tls {
            builder = builder.tls(t);
        }
        let mut client = builder.start();
        // one attempt per address: a refused connection is an error, not a retry loop
        let mut failures = Vec::new();
        loop {
            match client.next_event().await {
                Some(ClientEvent::Connected { .. }) => break,
                Some(e @ ClientEvent::ConnectFailed { .. }) => {
                    failures.push(e.to_string());
                    if failures.len() == nodes.len() {
                        client.shutdown().await;
                        return Err(io::Error::other(failures.join("; ")));
                    }
                }
                Some(e) => return Err(io::Error::other(e.to_string())),
                None => return Err(io::Error::other(format!("could not connect to {addr}"))),
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(16);
        std::thread::spawn(move || {
            for line in io::stdin().lock().split(b'\n') {
                let line = line.map(|mut l| {
                    if l.last() == Some(&b'\r') {
                        l.pop();
                    }
                    l
                });
                let failed = line.is_err();
                if tx.blocking_send(line).is_err() || failed {
                    break;
                }
            }
        });
        let mut result = Ok(());
        while let Some(line) = rx.recv().await {
            match line {
                Ok(line) => {
                    if let Err(e) = client.send(Bytes::from(line)) {
                        eprintln!("packwire connect: {e}");
                    }
                }
                Err(e) => {
                    result = Err(io::Error::new(e.kind(), format!("reading stdin: {e}")));
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.shutdown().await;
        result
    })
}

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
                let r = bench_conn(
                    addr,
                    tls.as_deref(),
                    ws,
                    inflight,
                    size,
                    start,
                    deadline,
                    &total,
                    &mut lat,
                )
                .await;
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

/// One `packwire bench` connection until `deadline`: keeps `inflight` frames in flight,
/// counts echoes into `total` as they arrive and their round trips into `lat`.
#[allow(clippy::too_many_arguments)]
async fn bench_conn(
    addr: std::net::SocketAddr,
    tls: Option<&packwire_net::tls::TlsConnector>,
    ws: BenchWire,
    inflight: usize,
    size: usize,
    start: Instant,
    deadline: Instant,
    total: &AtomicU64,
    lat: &mut Vec<u64>,
) -> io::Result<()> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("connect to {addr}: {e}")))?;
    s.set_nodelay(true)?;
    match tls {
        Some(t) => {
            let (s, _) = t.connect(s, addr).await?;
            bench_stream(s, ws, inflight, size, start, deadline, total, lat).await
        }
        None => bench_stream(s, ws, inflight, size, start, deadline, total, lat).await,
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
#[allow(clippy::too_many_arguments)]
async fn bench_stream<S>(
    mut s: S,
    ws: BenchWire,
    inflight: usize,
    size: usize,
    start: Instant,
    deadline: Instant,
    total: &AtomicU64,
    lat: &mut Vec<u64>,
) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
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
