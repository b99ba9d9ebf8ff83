//! `Conn::call`: requests matched to responses by sequence number, with a window,
//! resends and a timeout; and the routing of responses (and link checks) that the
//! connection's task does before a message reaches the handler.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use packwire_core::{Exchange, Role};
use tokio::sync::{Notify, oneshot};

use crate::correlate::{Correlator, Due};

use crate::conn::{Conn, SendError};

/// How [`Conn::call`] behaves: at most `window` calls in flight per connection (more
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

/// What a server or client builder keeps for [`Conn::call`] and link checks.
pub(crate) struct Exchanges<M> {
    pub(crate) calls: CallConfig,
    /// set once the message type is known to be an [`Exchange`]
    pub(crate) hooks: Option<Hooks<M>>,
    /// link-check interval and unanswered checks before closing
    pub(crate) link: Option<(Duration, u32)>,
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
            link: None,
        }
    }
}

impl<M: Exchange> Exchanges<M> {
    pub(crate) fn set_calls(&mut self, cfg: CallConfig) {
        self.calls = cfg;
        self.hooks = Some(Hooks::of());
    }

    pub(crate) fn set_link_check(&mut self, interval: Duration, max_unanswered: u32) {
        self.hooks.get_or_insert_with(Hooks::of);
        self.link = Some((interval, max_unanswered));
    }
}

struct State<M> {
    next_seq: u32,
    /// the window, resend clocks and send counts (sans-IO)
    corr: Correlator<u32>,
    /// where each call in flight waits for its response
    waiting: HashMap<u32, oneshot::Sender<M>>,
    /// link checks this side sent, whose responses are consumed here
    checks: HashSet<u32>,
    closed: bool,
}

/// A connection's calls in flight.
pub(crate) struct Calls<M> {
    pub(crate) cfg: CallConfig,
    pub(crate) hooks: OnceLock<Hooks<M>>,
    state: Mutex<State<M>>,
    room: Notify,
}

impl<M> fmt::Debug for Calls<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calls")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// What the connection's task does with a decoded item.
pub(crate) enum Routed<I> {
    /// Give it to the handler.
    Handle(I),
    /// A response nobody waits for: report it, then give it to the handler.
    Unmatched(u32, I),
    /// A call's response, or a link-check exchange: done.
    Consumed,
}

impl<M> Calls<M> {
    pub(crate) fn new(cfg: CallConfig, hooks: Option<Hooks<M>>) -> Self {
        let once = OnceLock::new();
        if let Some(h) = hooks {
            let _ = once.set(h);
        }
        Calls {
            cfg,
            hooks: once,
            state: Mutex::new(State {
                next_seq: 1,
                corr: Correlator::new(cfg.window, cfg.timeout, cfg.max_sends),
                waiting: HashMap::new(),
                checks: HashSet::new(),
                closed: false,
            }),
            room: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<M>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next sequence number not in flight (wrapping, never 0).
    fn next_free(st: &mut State<M>) -> u32 {
        loop {
            let s = st.next_seq;
            st.next_seq = st.next_seq.wrapping_add(1).max(1);
            if !st.corr.contains(&s) && !st.checks.contains(&s) {
                return s;
            }
        }
    }

    /// A sequence number for a request sent outside `call`.
    pub(crate) fn next_sequence(&self) -> u32 {
        Self::next_free(&mut self.lock())
    }

    /// A link-check request to send now (its response will be consumed here), if the
    /// protocol has one.
    pub(crate) fn link_check(&self) -> Option<M> {
        let h = *self.hooks.get()?;
        (h.link_check)(self.start_check())
    }

    /// Registers a link check about to be sent; its number.
    fn start_check(&self) -> u32 {
        let mut st = self.lock();
        if st.checks.len() >= 16 {
            // a peer that never answers checks but sends other traffic: forget old ones
            st.checks.clear();
        }
        let s = Self::next_free(&mut st);
        st.checks.insert(s);
        s
    }

    /// Fails every call in flight and every future one (the connection closed).
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.corr = Correlator::new(self.cfg.window, self.cfg.timeout, self.cfg.max_sends);
        st.waiting.clear();
        st.checks.clear();
        drop(st);
        self.room.notify_waiters();
    }

    /// Whether responses are matched on this connection (a call was made, or the
    /// server or client turned matching on).
    #[inline]
    pub(crate) fn routes(&self) -> bool {
        self.hooks.get().is_some()
    }

    /// Routes a decoded item: a response to a call completes it; the peer's link check
    /// is answered through `reply`.
    pub(crate) fn route<I: 'static>(&self, item: I, reply: impl FnOnce(M)) -> Routed<I>
    where
        M: 'static,
    {
        let Some(h) = self.hooks.get() else {
            return Routed::Handle(item);
        };
        let mut slot = Some(item);
        // the runtime is generic over any codec; only when it decodes the message type
        // it encodes can responses be matched
        let Some(m) = (&mut slot as &mut dyn Any).downcast_mut::<Option<M>>() else {
            return handle(slot);
        };
        let Some(msg) = m.as_ref() else {
            return Routed::Consumed;
        };
        match (h.role)(msg) {
            Role::Response(seq) => {
                let mut st = self.lock();
                if st.checks.remove(&seq) {
                    return Routed::Consumed;
                }
                st.corr.on_response(&seq);
                if let Some(tx) = st.waiting.remove(&seq) {
                    drop(st);
                    self.room.notify_one();
                    if let Some(response) = m.take() {
                        let _ = tx.send(response);
                    }
                    return Routed::Consumed;
                }
                drop(st);
                match slot {
                    Some(i) => Routed::Unmatched(seq, i),
                    None => Routed::Consumed,
                }
            }
            Role::Request(_) => {
                if let Some(answer) = (h.answer)(msg) {
                    reply(answer);
                    return Routed::Consumed;
                }
                handle(slot)
            }
            Role::Other => handle(slot),
        }
    }
}

fn handle<I>(slot: Option<I>) -> Routed<I> {
    match slot {
        Some(i) => Routed::Handle(i),
        None => Routed::Consumed,
    }
}

/// Frees a call's window slot however the call ends (response, error, or the future
/// dropped).
struct Slot<'a, M> {
    calls: &'a Calls<M>,
    seq: u32,
}

impl<M> Drop for Slot<'_, M> {
    fn drop(&mut self) {
        let mut st = self.calls.lock();
        st.corr.cancel(&self.seq);
        if st.waiting.remove(&self.seq).is_some() {
            drop(st);
            self.calls.room.notify_one();
        }
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl<M: Exchange + Clone + Send + 'static> Conn<M> {
    /// Sends `request` with the next sequence number and resolves with the peer's
    /// response to it. Waits for room when the window is full; resends after the
    /// timeout, at most `max_sends` sends in all ([`CallConfig`], set with the server's
    /// or client's `calls` option). Responses may arrive in any order; other messages,
    /// the peer's requests included, still go to the handler meanwhile.
    ///
    /// Call it from a task of your own (or a spawned one), not from the same
    /// connection's handler: the connection reads its next message only after the
    /// handler returns, so a handler waiting for its own connection's response waits
    /// until the call times out.
    ///
    /// # Errors
    /// [`CallError::TimedOut`] after the last send, [`CallError::Closed`] when the
    /// connection closes, [`CallError::Send`] when the request cannot be queued,
    /// [`CallError::NotARequest`].
    ///
    /// # Cancel safety
    /// Dropping the future frees its window slot; a response that comes later is
    /// reported as unmatched.
    pub async fn call(&self, mut request: M) -> Result<M, CallError> {
        if !matches!(request.role(), Role::Request(_)) {
            return Err(CallError::NotARequest);
        }
        let calls = &self.inner.calls;
        let _ = calls.hooks.get_or_init(Hooks::of);
        let (seq, mut rx) = loop {
            let room = calls.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut st = calls.lock();
                if st.closed || self.is_closed() {
                    // nothing was sent: safe to retry on another connection
                    return Err(CallError::Send(SendError::Closed));
                }
                if st.corr.has_room() {
                    let seq = Calls::next_free(&mut st);
                    st.corr.try_start(seq, now());
                    let (tx, rx) = oneshot::channel();
                    st.waiting.insert(seq, tx);
                    break (seq, rx);
                }
            }
            room.await;
        };
        let _slot = Slot { calls, seq };
        request.set_sequence(seq);
        self.send(request.clone()).await.map_err(CallError::Send)?;
        loop {
            let Some(deadline) = calls.lock().corr.deadline_of(&seq) else {
                // the connection closed and forgot it
                return Err(CallError::Closed);
            };
            tokio::select! {
                r = &mut rx => return r.map_err(|_| CallError::Closed),
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            let due = calls.lock().corr.poll_key(&seq, now());
            match due {
                Some(Due::Resend(_)) => {
                    self.send(request.clone()).await.map_err(CallError::Send)?;
                }
                Some(Due::TimedOut(_)) => {
                    return Err(CallError::TimedOut {
                        sends: calls.cfg.max_sends,
                    });
                }
                None => {}
            }
        }
    }

    /// A fresh sequence number from the same counter `call` uses (for requests sent with
    /// `send`, whose responses then reach the handler as unmatched).
    pub fn next_sequence(&self) -> u32 {
        self.inner.calls.next_sequence()
    }
}
