//! WebSocket on the runtime: a server whose codec is
//! [`ServerConnCodec`](packwire_codecs::websocket::ServerConnCodec) keeps its upgraded
//! connections in the registry like any other (bind users, join groups, send to them),
//! and [`broadcast`] sends one message to many encoded once, and compressed once for
//! all the connections that agreed to the same permessage-deflate window without
//! context takeover (a compressed frame that depends on no earlier message is the same
//! bytes for each of them). Connections that keep a context get the frame uncompressed
//! (RSV1 clear), which permessage-deflate allows.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use packwire_codecs::websocket::{Config, Incoming, Message, Outgoing, ServerConnCodec, ServerHandshake};
//! use packwire_net::{Conn, Server, Target, websocket};
//!
//! # async fn run() -> std::io::Result<()> {
//! let hs = Arc::new(ServerHandshake::default());
//! let server = Server::builder_sync(
//!     move || ServerConnCodec::with_handshake(hs.clone(), Config::default()),
//!     |conn: &Conn<Outgoing>, inc: Incoming| match inc {
//!         Incoming::Upgrade { answer, .. } => match *answer {
//!             Ok(accepted) => Some(websocket::upgraded(conn, accepted)),
//!             Err(refused) => Some(Outgoing::Refuse(Box::new(refused))),
//!         },
//!         Incoming::Message(m) => m.reply().map(Outgoing::Message),
//!     },
//! )
//! .auth_gate(Duration::from_secs(10)) // no broadcast reaches a connection mid-handshake
//! .bind("127.0.0.1:8080")
//! .await?;
//! websocket::broadcast(server.registry(), Target::All, Message::text("hello, all"), 6)
//!     .expect("a valid text message");
//! # Ok(()) }
//! ```

use std::collections::HashMap;

use bytes::Bytes;
use packwire_codecs::websocket::{Accepted, DeflateParams, Message, Outgoing, WebSocketCodec};
use packwire_core::EncodeError;

use crate::conn::Outbound;
use crate::{Conn, Registry, Target};

/// What a connection agreed to in its opening handshake, kept on it by [`upgraded`].
#[derive(Debug, Clone, Copy)]
struct Agreed(Option<DeflateParams>);

/// Marks `conn` upgraded: authenticates it (past an auth gate, and into broadcasts),
/// keeps what it agreed to for [`broadcast`], and returns the `101` to answer with.
pub fn upgraded(conn: &Conn<Outgoing>, accepted: Accepted) -> Outgoing {
    conn.set_attr(Agreed(accepted.deflate));
    conn.authenticate();
    Outgoing::Accept(Box::new(accepted.response))
}

/// What a [`broadcast`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Broadcast {
    /// Connections the frame was queued for.
    pub reached: usize,
    /// Frames encoded uncompressed (0 or 1).
    pub plain: usize,
    /// Frames compressed: one per window size among the connections without context
    /// takeover.
    pub compressed: usize,
}

/// Sends `msg` to the upgraded connections `target` names, without waiting (a
/// connection whose queue is full is skipped): encoded once, and compressed (at `level`)
/// once per window size for the connections whose server side agreed to no context
/// takeover.
///
/// # Errors
/// When `msg` cannot be encoded (text that is not UTF-8, a control frame over 125 bytes).
pub fn broadcast(
    registry: &Registry<Outgoing>,
    target: Target<'_>,
    msg: Message,
    level: u32,
) -> Result<Broadcast, EncodeError> {
    let mut frames: HashMap<Option<u8>, Bytes> = HashMap::new();
    let mut done = Broadcast::default();
    let data = matches!(msg, Message::Text(_) | Message::Binary(_));
    for conn in registry.conns(target) {
        let Some(Agreed(params)) = conn.attr::<Agreed>() else {
            continue; // not (yet) a WebSocket
        };
        let window = params
            .filter(|p| data && p.server_no_context_takeover)
            .map(|p| p.server_max_window_bits);
        let frame = match frames.get(&window) {
            Some(f) => f.clone(),
            None => {
                let f = WebSocketCodec::server_frame(msg.clone(), window.map(|w| (w, level)))?;
                if window.is_some() {
                    done.compressed += 1;
                } else {
                    done.plain += 1;
                }
                frames.insert(window, f.clone());
                f
            }
        };
        if conn.try_queue(Outbound::Raw(frame)).is_ok() {
            done.reached += 1;
        }
    }
    Ok(done)
}
