//! The types a request/response protocol's calls are made of, shared by the connection
//! handle (which starts calls) and the driver (which keeps their window).

use std::fmt;
use std::time::Duration;

use packwire_core::{Exchange, Role};
use tokio::sync::oneshot;

use crate::SendError;

/// How [`crate::Conn::call`] behaves: at most `window` calls in flight per connection (more
/// wait for room), each request resent after `timeout` without a response, at most
/// `max_sends` sends in all before the call fails with [`CallError::TimedOut`].
/// The default is CMPP's: 16, 60 s, 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallConfig {
    /// Calls in flight per connection.
    pub window: usize,
    /// Time to wait for a response before resending.
    pub timeout: Duration,
    /// Sends in all, the first included.
    pub max_sends: u32,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            window: 16,
            timeout: Duration::from_secs(60),
            max_sends: 3,
        }
    }
}

impl CallConfig {
    /// A configuration (window and sends at least 1).
    pub fn new(window: usize, timeout: Duration, max_sends: u32) -> Self {
        CallConfig {
            window: window.max(1),
            timeout,
            max_sends: max_sends.max(1),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// No response after `sends` sends, each followed by the configured timeout.
    TimedOut {
        /// How often the request was sent.
        sends: u32,
    },
    /// The connection closed after the request was sent and before its response came
    /// (whether the peer acted on it is unknown).
    Closed,
    /// The request was not sent (the connection was closed, the queue full, ...): nothing
    /// reached the peer.
    Send(SendError),
    /// The message is not a request (its [`Exchange::role`] says so).
    NotARequest,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::TimedOut { sends } => {
                write!(f, "no response after {sends} sends")
            }
            CallError::Closed => f.write_str("the connection closed before the response"),
            CallError::Send(e) => write!(f, "the request could not be sent: {e}"),
            CallError::NotARequest => f.write_str("the message is not a request"),
        }
    }
}

impl std::error::Error for CallError {}

/// The protocol's functions, captured where `M: Exchange` is known, so the connection's
/// task (generic over any codec) can route without that bound.
pub(crate) struct Hooks<M> {
    role: fn(&M) -> Role,
    answer: fn(&M) -> Option<M>,
    pub(crate) link_check: fn(u32) -> Option<M>,
}

impl<M> Clone for Hooks<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Hooks<M> {}

impl<M: Exchange> Hooks<M> {
    pub(crate) fn of() -> Self {
        Hooks {
            role: M::role,
            answer: M::answer_link_check,
            link_check: M::link_check,
        }
    }
}

/// What a server or client builder keeps for [`crate::Conn::call`] and link checks.
pub(crate) struct Exchanges<M> {
    pub(crate) calls: CallConfig,
    /// set once the message type is known to be an [`Exchange`]
    pub(crate) hooks: Option<Hooks<M>>,
}

impl<M> Clone for Exchanges<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Exchanges<M> {}

impl<M> Default for Exchanges<M> {
    fn default() -> Self {
        Exchanges {
            calls: CallConfig::default(),
            hooks: None,
        }
    }
}

impl<M: Exchange> Exchanges<M> {
    pub(crate) fn set_calls(&mut self, cfg: CallConfig) {
        self.calls = cfg;
        self.set_hooks();
    }

    pub(crate) fn set_hooks(&mut self) {
        self.hooks.get_or_insert_with(Hooks::of);
    }
}

/// A call on its way to the connection's task: the request, where its answer goes, and
/// the protocol's functions to stamp and copy it (captured where `M: Exchange + Clone`
/// is known).
pub(crate) struct PendingCall<M> {
    pub(crate) request: M,
    pub(crate) answer: oneshot::Sender<Result<M, CallError>>,
    pub(crate) set_sequence: fn(&mut M, u32),
    pub(crate) copy: fn(&M) -> M,
}

impl<M: Exchange + Clone> PendingCall<M> {
    pub(crate) fn new(request: M) -> (Box<Self>, oneshot::Receiver<Result<M, CallError>>) {
        let (answer, rx) = oneshot::channel();
        let call = Box::new(PendingCall {
            request,
            answer,
            set_sequence: M::set_sequence,
            copy: M::clone,
        });
        (call, rx)
    }
}

impl<M> Hooks<M> {
    pub(crate) fn role(&self, m: &M) -> Role {
        (self.role)(m)
    }

    pub(crate) fn answer(&self, m: &M) -> Option<M> {
        (self.answer)(m)
    }
}
