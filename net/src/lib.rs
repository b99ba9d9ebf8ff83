//! A tokio runtime that takes any packwire (or tokio-util) codec and does the connection
//! chores, for servers ([`Server`]) and clients ([`Client`]) alike: a registry that binds
//! connections to users, groups and tokens and sends to them; per-connection bounded
//! outbound queues with coalesced writes; idle eviction, Netty-style idle events,
//! heartbeats and protocol link checks; a lifecycle [`Listener`]; statistics; graceful
//! shutdown.
//!
//! A server is safe by default against peers it does not know: the guards in the table
//! below, queues bounded in bytes ([`DEFAULT_MAX_QUEUED_BYTES`]), a server-wide memory
//! budget ([`DEFAULT_MEMORY_BUDGET`]), per-IP and open-files connection limits
//! ([`DEFAULT_MAX_PER_IP`], [`default_max_connections`]); each builder method says why its
//! default is what it is, and [`Limits`] sets them from an operator's flags.
//!
//! # How a connection runs
//!
//! Every connection, accepted or connected, is one task running one driver over a
//! [`Transport`] (TCP; anything `AsyncRead + AsyncWrite` plugs in). What the connection
//! decides in time lives in the sans-IO [`ConnState`] (see [`state`] for its state table),
//! behind `poll_timeout` / `handle_timeout`: the driver keeps one timer. An idle
//! connection holds no read or write buffer (it waits for readability before it takes
//! one), so it costs about 2 KB of memory (`net/BENCHMARKS.md`).
//!
//! | setting | who | what happens | who answers |
//! |---|---|---|---|
//! | `idle_timeout(d)` | server (default 120 s) or client | nothing read for `d`: [`Listener::on_idle`]`(Read)`, then closed with [`CloseReason::IdleTimeout`] | — |
//! | `frame_timeout(d)` | server (default 30 s, or the idle timeout when shorter) | an incomplete frame held and none completed for `d`: closed with [`CloseReason::FrameTimeout`] (a slowloris) | — |
//! | `write_timeout(d)` | server (default 30 s) | output waits and the peer takes no byte for `d`: closed with [`CloseReason::SlowConsumer`]; until then back-pressured | — |
//! | `idle_events(read, write, all)` | either | [`Listener::on_idle`] after each idle period; nothing is closed | the application |
//! | `heartbeat(interval, timeout, ping)` | usually the client | `ping()` sent when write-idle for `interval`; nothing read for `timeout`: closed (a client reconnects) | the peer's handler, or its protocol's link-check answer |
//! | `link_check(interval, n)` | either, for an [`Exchange`] protocol | the protocol's check (CMPP ACTIVE_TEST, SMPP enquire_link) after `interval` of silence; `n` unanswered: closed | the peer's runtime, automatically ([`Exchange::answer_link_check`]) |
//!
//! A handler is async ([`Server::builder`], [`Client::builder`]: it gets its own [`Conn`]
//! and may await) or plain ([`Server::builder_sync`], [`Client::builder_sync`]: it
//! finishes on the connection's task, with no future and no handle clone per message);
//! either returns nothing or the answer ([`Reply`]), and a type of your own may be one
//! ([`Handler`], [`Server::builder_with`]).
//!
//! Protocols whose requests and responses are matched by sequence number (CMPP, SMPP,
//! ...) implement [`packwire_core::Exchange`] on their message type; then
//! [`Conn::call`] sends a request and resolves with its response, within a window, with
//! resends and a timeout ([`CallConfig`]), all kept by the connection's own task; the
//! peer's link checks are answered. `packwire-sms` builds SMS gateway sessions (a CMPP SP
//! client and ISMG simulator) on it.
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

mod blocklist;
mod budget;
mod buffers;
mod calls;
mod chores;
mod client;
mod config;
mod conn;
pub mod correlate;
mod driver;
mod error;
mod exchange;
mod handler;
mod ip_stats;
mod limits;
mod listener;
#[cfg(feature = "metrics")]
pub mod metrics;
mod queue;
mod registry;
mod server;
pub mod state;
mod stats;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;
mod tree;
#[cfg(feature = "websocket")]
pub mod websocket;

use std::fmt;

pub use blocklist::BlockList;
pub use chores::{Backoff, Heartbeat, HeartbeatAction, IdleTimer, LinkAction, LinkCheck};
pub use client::{Client, ClientBuilder, ClientEvent, ClientHandle};
pub use config::{DEFAULT_MAX_QUEUED_BYTES, default_message_size};
pub use conn::{Conn, QueuePolicy};
pub use error::{CloseReason, SendError};
pub use exchange::{CallConfig, CallError};
pub use handler::{AsyncHandler, Handled, Handler, Reply, SyncHandler};
pub use ip_stats::IpStats;
pub use limits::{
    DEFAULT_FRAME_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_PER_IP, DEFAULT_MEMORY_BUDGET,
    DEFAULT_WRITE_TIMEOUT, FD_RESERVE, Limits, default_max_connections,
};
pub use listener::{Listener, NoListener};
pub use packwire_core::{Exchange, FrameError, Role};
pub use registry::{EncodeError, Registry, Target};
pub use server::{Server, ServerBuilder, ServerHandle};
pub use state::{Action, ConnState, IdleKind, Timers};
pub use stats::{GroupStats, HandlerTime, StatsSnapshot};
pub use transport::Transport;
pub use tree::{ConnStats, StatsTree, Top, TopIps};

/// What the runtime needs of a codec: tokio-util's `Decoder` and `Encoder<M>`, movable
/// to another thread, with errors it can print. Every packwire codec qualifies; so does
/// any tokio-util codec.
/// A decode error becomes a [`FrameError`] in [`CloseReason::Decode`] (a packwire
/// codec's error as it is, an `io::Error` as [`FrameError::Io`], any other error as an
/// `InvalidData` I/O error carrying its message).
pub trait Codec<M>:
    tokio_util::codec::Decoder<
        Item: Send + 'static,
        Error: std::error::Error + Send + Sync + 'static,
    > + tokio_util::codec::Encoder<M, Error: fmt::Display>
    + Send
    + 'static
{
}

impl<M, C> Codec<M> for C where
    C: tokio_util::codec::Decoder<
            Item: Send + 'static,
            Error: std::error::Error + Send + Sync + 'static,
        > + tokio_util::codec::Encoder<M, Error: fmt::Display>
        + Send
        + 'static
{
}

/// A connection's id, unique within a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}
