//! Lifecycle hooks.

use packwire_core::FrameError;

use crate::conn::Conn;
use crate::{CloseReason, ConnId, IdleKind};

/// Lifecycle hooks, all with no-op defaults, for servers and clients alike. Called from
/// the connection's task: keep them quick.
///
/// ```
/// use bytes::Bytes;
/// use packwire_net::{CloseReason, Conn, ConnId, IdleKind, Listener};
///
/// struct Audit;
///
/// impl Listener<Bytes> for Audit {
///     fn on_connected(&self, conn: &Conn<Bytes>, _is_reconnect: bool) {
///         println!("{} from {}", conn.id(), conn.peer_addr());
///     }
///     fn on_idle(&self, conn: &Conn<Bytes>, kind: IdleKind) {
///         println!("{} idle: {kind:?}", conn.id());
///     }
///     fn on_after_close(&self, id: ConnId, reason: &CloseReason) {
///         println!("{id} closed: {reason}");
///     }
/// }
/// // Server::builder(..).listener(Audit)
/// ```
pub trait Listener<M>: Send + Sync + 'static {
    /// A connection was accepted (server) or established (client; `is_reconnect` after the
    /// first time).
    fn on_connected(&self, _conn: &Conn<M>, _is_reconnect: bool) {}
    /// A message of `bytes` wire bytes was decoded (before the handler sees it).
    fn on_message(&self, _conn: &Conn<M>, _bytes: usize) {}
    /// `messages` messages (`bytes` bytes) were written to the transport in one write.
    fn on_sent(&self, _conn: &Conn<M>, _messages: usize, _bytes: usize) {}
    /// The connection has been idle this way (Netty's `IdleStateHandler` events): from
    /// the `read_idle` / `write_idle` / `all_idle` settings, and — as `Read` — just before
    /// an idle timeout, heartbeat or link check closes a silent peer. Send a ping, warn,
    /// or [`Conn::close`] it yourself.
    fn on_idle(&self, _conn: &Conn<M>, _kind: IdleKind) {}
    /// The peer sent a malformed frame; the connection is closing.
    fn on_decode_error(&self, _conn: &Conn<M>, _error: &FrameError) {}
    /// The connection is about to close (queued messages are still being written).
    fn on_before_close(&self, _conn: &Conn<M>, _reason: &CloseReason) {}
    /// The connection is closed and gone from the registry.
    fn on_after_close(&self, _id: ConnId, _reason: &CloseReason) {}
    /// A response arrived that no call waits for (late, after its call timed out or was
    /// dropped, or the peer's mistake); it goes on to the handler.
    fn on_unmatched_response(&self, _conn: &Conn<M>, _sequence: u32) {}
}

/// A listener that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoListener;

impl<M> Listener<M> for NoListener {}
