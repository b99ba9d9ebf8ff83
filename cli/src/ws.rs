//! `packwire ws serve`: a WebSocket server on the runtime (the opening handshake, pongs,
//! the closing handshake; text and binary messages echoed or printed).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use packwire_codecs::websocket::{
    Config, DeflateConfig, Incoming, Message, Outgoing, ServerConnCodec, ServerHandshake,
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
}

/// One connection's answer to what it received.
fn handle(echo: bool, conn: &Conn<Outgoing>, inc: Incoming) -> Option<Outgoing> {
    match inc {
        Incoming::Upgrade { answer, .. } => match *answer {
            Ok(a) => {
                conn.authenticate();
                Some(Outgoing::Accept(Box::new(a.response)))
            }
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
        let b = Server::builder_sync(make, move |conn: &Conn<Outgoing>, inc| {
            handle(echo, conn, inc)
        })
        // the opening request must come within 10 s
        .auth_gate(Duration::from_secs(10));
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
        let tree = server.stats_tree(TOP_N);
        print_stats(
            tree,
            server.shutdown(Duration::from_secs(5)).await,
            a.stats_json,
        );
        Ok(())
    })
}
