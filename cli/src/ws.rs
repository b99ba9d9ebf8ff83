//! `packwire ws serve`: a WebSocket server on the runtime (the opening handshake, pongs,
//! the closing handshake; text and binary messages echoed or printed).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use packwire_codecs::websocket::{
    ClientConnCodec, ClientIncoming, ClientOutgoing, CloseCode, Config, DeflateConfig, Incoming,
    Message, Outgoing, ServerConnCodec, ServerHandshake,
};
use packwire_net::{CloseReason, Conn, Server};

use crate::net::{TOP_N, at, print_stats, runtime};

/// What `packwire ws serve` was asked.
pub(crate) struct Serve {
    pub(crate) listen: String,
    pub(crate) echo: bool,
    pub(crate) deflate: bool,
    pub(crate) seconds: Option<u64>,
    pub(crate) stats_json: bool,
    pub(crate) tls: crate::tls::ServeTls,
    /// seconds of write silence before a ping (0: no heartbeat)
    pub(crate) ping: u64,
}

/// How long a graceful stop waits for each peer's close frame after sending its own
/// (RFC 6455 7.1.1: the server closes the TCP connection once the closing handshake is
/// done), before closing the rest anyway.
const CLOSE_DEADLINE: Duration = Duration::from_secs(2);

/// One connection's answer to what it received.
fn handle(echo: bool, conn: &Conn<Outgoing>, inc: Incoming) -> Option<Outgoing> {
    match inc {
        Incoming::Upgrade { answer, .. } => match *answer {
            // authenticated, and its agreement kept for broadcasts
            Ok(a) => Some(packwire_net::websocket::upgraded(conn, a)),
            Err(r) => {
                crate::stop::say(&format!("{} refused: {}", conn.peer_addr(), r.reason));
                let _ = conn.try_send(Outgoing::Refuse(Box::new(r)));
                conn.close(CloseReason::Kicked);
                None
            }
        },
        Incoming::Message(m) => {
            if let Some(reply) = m.reply() {
                if matches!(m, Message::Close(_)) {
                    // the closing handshake: answer, then close once it is written
                    let _ = conn.try_send(Outgoing::Message(reply));
                    conn.close(CloseReason::PeerClosed);
                    return None;
                }
                return Some(Outgoing::Message(reply));
            }
            match m {
                Message::Text(_) | Message::Binary(_) if echo => Some(Outgoing::Message(m)),
                Message::Text(t) => {
                    crate::stop::say(&format!(
                        "{} {}: {}",
                        conn.id(),
                        conn.peer_addr(),
                        String::from_utf8_lossy(&t)
                    ));
                    None
                }
                Message::Binary(b) => {
                    crate::stop::say(&format!(
                        "{} {}: {} bytes",
                        conn.id(),
                        conn.peer_addr(),
                        b.len()
                    ));
                    None
                }
                _ => None,
            }
        }
    }
}

pub(crate) fn serve(a: Serve) -> io::Result<()> {
    let tls = a.tls.acceptor()?;
    runtime()?.block_on(async move {
        let stop = crate::stop::Stop::install(a.seconds);
        let hs = Arc::new(ServerHandshake {
            deflate: a.deflate.then(DeflateConfig::default),
            ..ServerHandshake::default()
        });
        let echo = a.echo;
        let make = move || ServerConnCodec::with_handshake(hs.clone(), Config::default());
        // the opening request must come within 10 s, and before the first ping could
        // be written to a connection still speaking HTTP
        let ping = Duration::from_secs(a.ping);
        let gate = if a.ping == 0 {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(10).min(ping.mul_f64(0.9))
        };
        let mut b = Server::builder_sync(make, move |conn: &Conn<Outgoing>, inc| {
            handle(echo, conn, inc)
        })
        .auth_gate(gate);
        if a.ping > 0 {
            // the heartbeat: a ping after `ping` of write silence; a peer silent (no pong,
            // no message) for three of them is closed
            b = b.heartbeat(ping, ping * 3, || {
                Outgoing::Message(Message::Ping(bytes::Bytes::new()))
            });
        }
        let b = match tls.clone() {
            Some(t) => b.tls(t),
            None => b,
        };
        let server = b
            .bind(a.listen.as_str())
            .await
            .map_err(|e| at(&a.listen, e))?;
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        println!(
            "WebSocket server listening on {scheme}://{}",
            server.local_addr()
        );
        stop.requested().await;
        // a graceful stop says so: close 1001 (going away) to every upgraded connection,
        // written before the runtime closes them
        for c in server.registry().all() {
            if c.is_authenticated() {
                let _ = c.try_send(Outgoing::Message(Message::close(
                    CloseCode::GOING_AWAY,
                    "server stopping",
                )));
            }
        }
        // the closing handshake, with a deadline: a peer's close answer closes its
        // connection (`handle`); the silent are closed by the shutdown after it
        let until = tokio::time::Instant::now() + CLOSE_DEADLINE;
        while !server.registry().all().is_empty() && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let tree = server.stats_tree(TOP_N);
        print_stats(
            tree,
            server.shutdown(Duration::from_secs(5)).await,
            a.stats_json,
        );
        Ok(())
    })
}

/// Sends the opening request as soon as a connection is up.
struct Open;

impl packwire_net::Listener<ClientOutgoing> for Open {
    fn on_connected(&self, conn: &Conn<ClientOutgoing>, _is_reconnect: bool) {
        let _ = conn.try_send(ClientOutgoing::Open);
    }
}

/// `ws://host[:port][/path]` or `wss://...`: (TLS, host, port, path).
fn parse_url(url: &str) -> io::Result<(bool, String, u16, String)> {
    let bad = || crate::net::usage(format!("{url}: write ws://HOST[:PORT][/PATH] or wss://..."));
    let (tls, rest) = if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((tls, host.to_owned(), port, path.to_owned()))
}

/// `packwire ws connect URL`: each stdin line goes as a text message; what comes back is
/// printed; a close 1000 at the end of the input.
pub(crate) fn connect(url: &str, deflate: bool, tls: &crate::tls::ConnectTls) -> io::Result<()> {
    use std::io::BufRead;
    let (secure, host, port, path) = parse_url(url)?;
    let nodes = crate::net::resolve(&format!("{host}:{port}"))?;
    let connector = match tls.connector()? {
        Some(c) => Some(c),
        None if secure => Some(
            packwire_net::tls::TlsClientConfig::webpki_roots()
                .server_name(&host)
                .and_then(packwire_net::tls::TlsClientConfig::build)
                .map_err(io::Error::other)?,
        ),
        None => None,
    };
    let host_header = if port == 80 || port == 443 {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    runtime()?.block_on(async move {
        let (up_tx, mut up) = tokio::sync::mpsc::unbounded_channel::<Result<(), String>>();
        let make = move || ClientConnCodec::new(&host_header, &path, &[], deflate, Config::default());
        let handler = move |conn: &Conn<ClientOutgoing>, inc: ClientIncoming| -> Option<ClientOutgoing> {
            match inc {
                ClientIncoming::Upgraded(r) => {
                    let _ = up_tx.send(r.map(|_| ()).map_err(|e| e.to_string()));
                    None
                }
                ClientIncoming::Message(m) => {
                    match &m {
                        Message::Text(t) => crate::stop::say(&format!("< {}", String::from_utf8_lossy(t))),
                        Message::Binary(b) => crate::stop::say(&format!("< {} bytes", b.len())),
                        Message::Close(c) => {
                            crate::stop::say(&format!("< close {:?}", c.as_ref().map(|(code, _)| code.0)));
                            conn.close(CloseReason::PeerClosed);
                            return None;
                        }
                        _ => {}
                    }
                    m.reply().map(ClientOutgoing::Message)
                }
            }
        };
        let mut b = packwire_net::Client::builder_sync(make, handler).listener(Open);
        for n in &nodes {
            b = b.node(*n);
        }
        if let Some(c) = connector {
            b = b.tls(c);
        }
        let mut client = b.start();
        let outcome = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                tokio::select! {
                    r = up.recv() => return r.unwrap_or_else(|| Err("the client stopped".into())),
                    e = client.next_event() => match e {
                        Some(packwire_net::ClientEvent::ConnectFailed { error, .. }) => return Err(error),
                        Some(_) => {}
                        None => return Err("the client stopped".into()),
                    },
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err("no answer to the opening request within 10 s".into()));
        if let Err(e) = outcome {
            client.shutdown().await;
            return Err(io::Error::other(format!("{url}: {e}")));
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(16);
        std::thread::spawn(move || {
            for line in io::stdin().lock().lines().map_while(Result::ok) {
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            let _ = client.send(ClientOutgoing::Message(Message::text(line)));
        }
        // what is still on its way back comes first, then the closing handshake: the
        // server's close answer (or 2 s) ends it
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = client.send(ClientOutgoing::Message(Message::close(CloseCode::NORMAL, "")));
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(e) = client.next_event().await {
                if matches!(e, packwire_net::ClientEvent::Disconnected { .. }) {
                    break;
                }
            }
        })
        .await;
        client.shutdown().await;
        Ok(())
    })
}
