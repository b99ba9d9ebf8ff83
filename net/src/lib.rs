//! A tokio server runtime that takes any packwire (or tokio-util) codec and does the
//! connection chores: a registry that binds connections to users, groups and tokens and
//! sends to them; per-connection bounded outbound queues with coalesced writes; idle
//! eviction; a lifecycle listener; statistics; graceful shutdown.
//!
//! Protocols whose requests and responses are matched by sequence number (CMPP, SMPP,
//! ...) implement [`packwire_core::Exchange`] on their message type; then
//! [`Conn::call`] sends a request and resolves with its response, within a window, with
//! resends and a timeout ([`CallConfig`]), and the peer's link checks are answered.
//! [`cmpp`] (feature `cmpp`, on by default) builds a CMPP SP client and ISMG server on
//! it.
//!
//! ```no_run
//! use bytes::Bytes;
//! use packwire_codecs::LengthFieldCodec;
//! use packwire_net::Server;
//!
//! # async fn run() -> std::io::Result<()> {
//! // t-io's hello world: a 4-byte length header, echo every frame
//! let server = Server::builder(LengthFieldCodec::new, |conn: packwire_net::Conn<Bytes>, frame: Bytes| async move {
//!     let _ = conn.send(frame).await;
//! })
//! .bind("127.0.0.1:0")
//! .await?;
//! println!("listening on {}", server.local_addr());
//! # Ok(()) }
//! ```

mod calls;
mod client;
#[cfg(feature = "cmpp")]
pub mod cmpp;
mod conn;
pub mod correlate;
mod queue;
mod registry;
mod server;
mod stats;
mod timer;
mod window;

use std::fmt;

pub use calls::{CallConfig, CallError};
pub use client::{Client, ClientBuilder, ClientEvent, ClientHandle};
pub use conn::{Conn, QueuePolicy, SendError};
pub use packwire_core::{Exchange, Role};
pub use registry::Registry;
pub use server::BlockList;
pub use server::{Listener, NoListener, Server, ServerBuilder, ServerHandle};
pub use stats::StatsSnapshot;
pub use timer::{Backoff, Heartbeat, HeartbeatAction, IdleTimer, LinkAction, LinkCheck};
pub use window::IpStats;

/// What the runtime needs of a codec: tokio-util's `Decoder` and `Encoder<M>`, movable
/// to another thread, with errors it can print. Every packwire codec qualifies; so does
/// any tokio-util codec.
pub trait Codec<M>:
    tokio_util::codec::Decoder<Item: Send + 'static, Error: fmt::Display + Send>
    + tokio_util::codec::Encoder<M, Error: fmt::Display>
    + Send
    + 'static
{
}

impl<M, C> Codec<M> for C where
    C: tokio_util::codec::Decoder<Item: Send + 'static, Error: fmt::Display + Send>
        + tokio_util::codec::Encoder<M, Error: fmt::Display>
        + Send
        + 'static
{
}

/// A connection's id, unique within a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Why a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its side.
    PeerClosed,
    /// No inbound bytes for longer than the idle timeout.
    IdleTimeout,
    /// The peer sent a malformed frame; the codec's error, as text.
    DecodeError(String),
    /// Writing to the socket failed, or a message could not be encoded.
    WriteError(String),
    /// The application closed it.
    Kicked,
    /// The server is shutting down.
    ServerShutdown,
    /// A limit was exceeded (connections, connections per IP, buffered bytes, a full
    /// queue under [`QueuePolicy::CloseSlowPeer`]).
    LimitExceeded,
    /// The connection did not authenticate in time ([`ServerBuilder::auth_gate`]).
    AuthTimeout,
    /// The peer's address is on the block list.
    BlockedIp,
}

impl CloseReason {
    pub(crate) const KINDS: usize = 9;
    pub(crate) const NAMES: [&'static str; Self::KINDS] = [
        "peer_closed",
        "idle_timeout",
        "decode_error",
        "write_error",
        "kicked",
        "server_shutdown",
        "limit_exceeded",
        "auth_timeout",
        "blocked_ip",
    ];

    pub(crate) fn index(&self) -> usize {
        match self {
            CloseReason::PeerClosed => 0,
            CloseReason::IdleTimeout => 1,
            CloseReason::DecodeError(_) => 2,
            CloseReason::WriteError(_) => 3,
            CloseReason::Kicked => 4,
            CloseReason::ServerShutdown => 5,
            CloseReason::LimitExceeded => 6,
            CloseReason::AuthTimeout => 7,
            CloseReason::BlockedIp => 8,
        }
    }

    /// A snake_case name for logs and metrics (`idle_timeout`, `decode_error`, ...).
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::DecodeError(e) | CloseReason::WriteError(e) => {
                write!(f, "{}: {e}", self.name())
            }
            _ => f.write_str(self.name()),
        }
    }
}
