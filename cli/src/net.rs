//! `packwire serve` and `packwire connect`, and what the other subcommands share: the runtime,
//! usage errors, address resolution.

use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use packwire_net::{Client, ClientEvent, Conn, Server, StatsSnapshot, StatsTree};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
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
