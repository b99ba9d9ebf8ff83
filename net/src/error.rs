//! Why a connection closed, and why a send failed.

use std::fmt;
use std::io;
use std::sync::Arc;

use packwire_core::FrameError;

/// Why a connection closed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its side (or reset the connection).
    PeerClosed,
    /// No inbound bytes for longer than the idle timeout, or a heartbeat or link check
    /// found the peer silent.
    IdleTimeout,
    /// The peer sent a malformed frame: the codec's error, with its kind, rule and offset.
    Decode(Arc<FrameError>),
    /// Writing to the transport failed.
    Write(Arc<io::Error>),
    /// The application closed it.
    Kicked,
    /// The server is shutting down.
    ServerShutdown,
    /// A limit was exceeded: the server's connection limit on accept, or the most unread
    /// bytes one connection may buffer (`max_buffered`).
    LimitExceeded,
    /// The connection did not authenticate in time ([`crate::ServerBuilder::auth_gate`]).
    AuthTimeout,
    /// The peer's address is on the block list.
    BlockedIp,
    /// Refused on accept: the peer's address already holds the most connections one
    /// address may ([`crate::ServerBuilder::max_connections_per_ip`]).
    PerIpLimit,
    /// The peer took none of the bytes written to it for the write timeout, or its queue
    /// was full under [`crate::QueuePolicy::CloseSlowPeer`].
    SlowConsumer,
    /// The peer held an incomplete frame and completed none for the frame timeout (a
    /// slowloris: busy, never idle, never done).
    FrameTimeout,
    /// The server's memory budget for large partial frames and deep queues was spent;
    /// the connection that needed more was closed.
    OverBudget,
}

impl PartialEq for CloseReason {
    /// Reasons are equal when they are the same variant; decode errors also compare
    /// their kind and text, write errors their `io::ErrorKind`.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CloseReason::Decode(a), CloseReason::Decode(b)) => {
                Arc::ptr_eq(a, b) || (a.kind() == b.kind() && a.to_string() == b.to_string())
            }
            (CloseReason::Write(a), CloseReason::Write(b)) => a.kind() == b.kind(),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for CloseReason {}

impl CloseReason {
    pub(crate) const KINDS: usize = 13;
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
        "per_ip_limit",
        "slow_consumer",
        "frame_timeout",
        "over_budget",
    ];

    pub(crate) fn index(&self) -> usize {
        match self {
            CloseReason::PeerClosed => 0,
            CloseReason::IdleTimeout => 1,
            CloseReason::Decode(_) => 2,
            CloseReason::Write(_) => 3,
            CloseReason::Kicked => 4,
            CloseReason::ServerShutdown => 5,
            CloseReason::LimitExceeded => 6,
            CloseReason::AuthTimeout => 7,
            CloseReason::BlockedIp => 8,
            CloseReason::PerIpLimit => 9,
            CloseReason::SlowConsumer => 10,
            CloseReason::FrameTimeout => 11,
            CloseReason::OverBudget => 12,
        }
    }

    /// A snake_case name for logs and metrics (`idle_timeout`, `decode_error`, ...).
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// The decode error, for [`CloseReason::Decode`].
    pub fn frame_error(&self) -> Option<&FrameError> {
        match self {
            CloseReason::Decode(e) => Some(e),
            _ => None,
        }
    }

    /// A decode error from any codec's error type: a [`FrameError`] is kept as it is, an
    /// `io::Error` becomes [`FrameError::Io`], anything else an `InvalidData` I/O error
    /// carrying the codec's message.
    pub(crate) fn decode<E: std::error::Error + Send + Sync + 'static>(e: E) -> Self {
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
        let fe = match boxed.downcast::<FrameError>() {
            Ok(fe) => *fe,
            Err(other) => match other.downcast::<io::Error>() {
                Ok(io) => FrameError::Io(*io),
                Err(other) => FrameError::Io(io::Error::new(io::ErrorKind::InvalidData, other)),
            },
        };
        CloseReason::Decode(Arc::new(fe))
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Decode(e) => write!(f, "{}: {e}", self.name()),
            CloseReason::Write(e) => write!(f, "{}: {e}", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

/// Why a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The outbound queue is full, in messages or bytes (from `try_send`, or `send` under
    /// [`crate::QueuePolicy::Fail`]).
    Full,
    /// The connection is closed.
    Closed,
    /// A client is between connections (it fails fast rather than queue unboundedly).
    NotConnected,
    /// The codec could not encode the message (a message sent to many connections is
    /// encoded once, when it is sent).
    Unencodable,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Full => "the connection's outbound queue is full",
            SendError::Closed => "the connection is closed",
            SendError::NotConnected => "not connected (reconnecting)",
            SendError::Unencodable => "the codec cannot encode the message",
        })
    }
}

impl std::error::Error for SendError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codec_error_becomes_a_typed_frame_error() {
        let r = CloseReason::decode(FrameError::TooLarge {
            declared: 9,
            max: 4,
        });
        assert_eq!(
            r.frame_error().map(|e| e.kind()),
            Some(packwire_core::FrameErrorKind::TooLarge)
        );
        let r = CloseReason::decode(io::Error::new(io::ErrorKind::InvalidData, "bad"));
        assert!(matches!(r.frame_error(), Some(FrameError::Io(_))));
        #[derive(Debug)]
        struct Mine;
        impl fmt::Display for Mine {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("mine broke")
            }
        }
        impl std::error::Error for Mine {}
        let r = CloseReason::decode(Mine);
        assert!(r.to_string().contains("mine broke"), "{r}");
        assert_eq!(r.name(), "decode_error");
    }
}
