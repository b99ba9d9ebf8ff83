//! The connection handle.

use std::any::{Any, TypeId};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::exchange::{CallConfig, Hooks, PendingCall};
use crate::queue::{Bound, PushError, Queue};
use crate::stats::{GroupCounters, Stats};
use crate::tree::{ConnCounters, ConnStats};
use crate::{CloseReason, ConnId, SendError};

/// Encodes one message to bytes (a message sent to many connections is encoded once).
pub(crate) type EncodeFn<M> =
    Arc<dyn Fn(M) -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> + Send + Sync>;

/// What waits in a connection's outbound queue: a message for the codec to encode, bytes
/// already encoded (a message sent to many connections is encoded once), or a call for
/// the connection's window.
pub(crate) enum Outbound<M> {
    Msg(M),
    Raw(Bytes),
    Call(Box<PendingCall<M>>),
}

/// What [`Conn::send`] does when a connection's outbound queue is full (a peer that
/// reads slower than it is written to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueuePolicy {
    /// Wait for room (back-pressure on the sender). The default.
    #[default]
    Wait,
    /// Fail the send with [`SendError::Full`].
    Fail,
    /// Close the slow peer with [`CloseReason::LimitExceeded`] and fail the send with
    /// [`SendError::Closed`].
    CloseSlowPeer,
}

/// A few typed values per connection: a short list beats a hash map's footprint.
type Attrs = Vec<(TypeId, Box<dyn Any + Send + Sync>)>;

/// A group this connection is in, with its counters.
pub(crate) type GroupLink = (String, Arc<GroupCounters>);

/// The groups a connection is in, kept among its attributes (private type: no
/// application attribute collides with it), so a connection in none pays nothing.
struct GroupSet(Vec<GroupLink>);

pub(crate) struct Inner<M> {
    pub(crate) id: ConnId,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) queue: Queue<Outbound<M>>,
    /// what every connection of its server or client shares
    pub(crate) set: Arc<Settings<M>>,
    /// the protocol's functions, once responses are matched on this connection
    pub(crate) hooks: OnceLock<Hooks<M>>,
    /// sequence numbers for calls, link checks and `next_sequence`
    next_seq: AtomicU32,
    pub(crate) close: Mutex<Option<CloseReason>>,
    /// the same fact, for the send path to read without a lock
    closed_flag: AtomicBool,
    attrs: Mutex<Attrs>,
    authenticated: AtomicBool,
    /// in a group: its counters are in the attributes (`GroupSet`)
    in_groups: AtomicBool,
    /// what it read and wrote (written by its task only)
    pub(crate) counters: ConnCounters,
    opened: std::time::Instant,
}

impl<M> Drop for Inner<M> {
    fn drop(&mut self) {
        self.queue.release(&self.set.bound);
    }
}

impl<M> Inner<M> {
    /// The next sequence number (wrapping, never 0).
    pub(crate) fn next_sequence(&self) -> u32 {
        loop {
            let s = self.next_seq.fetch_add(1, Ordering::Relaxed);
            if s != 0 {
                return s;
            }
        }
    }
}

/// An [`EncodeFn`] that encodes with a fresh codec from `make` each time.
pub(crate) fn encoder_of<M, C, F>(make: Arc<F>) -> EncodeFn<M>
where
    F: Fn() -> C + Send + Sync + 'static,
    C: tokio_util::codec::Encoder<M>,
    <C as tokio_util::codec::Encoder<M>>::Error: fmt::Display,
{
    Arc::new(move |msg| {
        let mut buf = bytes::BytesMut::new();
        make()
            .encode(msg, &mut buf)
            .map_err(|e| e.to_string().into())
            .map(|()| buf.freeze())
    })
}

/// What a server or client gives each of its connections, shared by all of them.
pub(crate) struct Settings<M> {
    /// the queue's bounds (messages, bytes, the budget)
    pub(crate) bound: Bound,
    pub(crate) policy: QueuePolicy,
    /// what a message weighs in the queue's byte bound
    pub(crate) weigh: fn(&M) -> usize,
    /// the call window's settings (the window itself lives in the connection's task)
    pub(crate) calls: CallConfig,
    /// the protocol's functions, when response matching is on from the start
    pub(crate) hooks: Option<Hooks<M>>,
    /// the registry the connections are in (a `Registry<M>`), for `Conn::registry`
    pub(crate) registry: Option<Arc<dyn Any + Send + Sync>>,
    pub(crate) stats: Arc<Stats>,
    /// behind an auth gate: broadcasts skip connections not yet authenticated
    pub(crate) gated: bool,
}

/// A connection: a cheap handle (clone it freely) to send to it, close it, and keep
/// typed attributes on it. `M` is what its codec encodes.
///
/// ```no_run
/// # use bytes::Bytes;
/// # use packwire_net::{CloseReason, Conn};
/// #[derive(Clone)]
/// struct User(String);
///
/// # async fn handle(conn: Conn<Bytes>, frame: Bytes) {
/// if let Some(name) = frame.strip_prefix(b"LOGIN ") {
///     conn.set_attr(User(String::from_utf8_lossy(name).into_owned()));
///     conn.authenticate(); // lets it past the server's auth gate
/// }
/// match conn.attr::<User>() {
///     Some(User(name)) => {
///         let _ = conn.send(Bytes::from(format!("hello {name}"))).await; // waits for room
///     }
///     None => conn.close(CloseReason::Kicked),
/// }
/// # }
/// ```
pub struct Conn<M> {
    pub(crate) inner: Arc<Inner<M>>,
}

impl<M> Clone for Conn<M> {
    fn clone(&self) -> Self {
        Conn {
            inner: self.inner.clone(),
        }
    }
}

impl<M> fmt::Debug for Conn<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<M: Send + 'static> Conn<M> {
    pub(crate) fn new(
        id: ConnId,
        (peer, local): (SocketAddr, SocketAddr),
        set: Arc<Settings<M>>,
    ) -> Self {
        let hooks = OnceLock::new();
        if let Some(h) = set.hooks {
            let _ = hooks.set(h);
        }
        Conn {
            inner: Arc::new(Inner {
                id,
                peer,
                local,
                queue: Queue::new(),
                set,
                hooks,
                next_seq: AtomicU32::new(1),
                close: Mutex::new(None),
                closed_flag: AtomicBool::new(false),
                attrs: Mutex::new(Vec::new()),
                authenticated: AtomicBool::new(false),
                in_groups: AtomicBool::new(false),
                counters: ConnCounters::default(),
                opened: crate::driver::now(),
            }),
        }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.inner.id
    }

    /// What it read and wrote since it opened (t-io's `ChannelStat`); the server's
    /// busiest connections are in [`ServerHandle::stats_tree`](crate::ServerHandle::stats_tree).
    pub fn stats(&self) -> ConnStats {
        self.inner.counters.snapshot()
    }

    /// How long since it opened.
    pub fn age(&self) -> std::time::Duration {
        crate::driver::now().saturating_duration_since(self.inner.opened)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }

    /// The local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Queues a message. When the queue is full (in messages or bytes) it follows the
    /// server's [`QueuePolicy`]: waits for room (the default), fails with
    /// [`SendError::Full`], or closes the slow peer.
    ///
    /// # Errors
    /// [`SendError::Closed`] if the connection is closed; [`SendError::Full`] under
    /// [`QueuePolicy::Fail`].
    ///
    /// # Cancel safety
    /// Cancelling the future before it completes leaves the message unsent.
    pub async fn send(&self, msg: M) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        // the common case stays in this future: no nested future to build and move
        let weight = (self.inner.set.weigh)(&msg);
        match self
            .inner
            .queue
            .try_push(&self.inner.set.bound, Outbound::Msg(msg), weight)
        {
            Ok(()) => Ok(()),
            Err(PushError::Closed(_)) => Err(SendError::Closed),
            // boxed: the waiting path stays out of the size of every handler's future
            Err(PushError::Full(out)) => Box::pin(self.when_full(out, weight)).await,
        }
    }

    /// The queue was full: wait, fail or close, as the policy says.
    async fn when_full(&self, out: Outbound<M>, weight: usize) -> Result<(), SendError> {
        match self.inner.set.policy {
            QueuePolicy::Wait => self
                .inner
                .queue
                .push(&self.inner.set.bound, out, weight)
                .await
                .map_err(|_| SendError::Closed),
            QueuePolicy::Fail => {
                self.inner.set.stats.queue_full();
                Err(SendError::Full)
            }
            QueuePolicy::CloseSlowPeer => {
                self.inner.set.stats.queue_full();
                self.close(CloseReason::SlowConsumer);
                Err(SendError::Closed)
            }
        }
    }

    /// Queues an answer to one of the peer's requests, waiting for room whatever the
    /// queue policy: an answer is what frees the peer's window, so it is never dropped
    /// or refused for a full queue (while it waits, this connection reads nothing more:
    /// back-pressure). Use it for responses, `send` for everything else.
    ///
    /// # Errors
    /// [`SendError::Closed`] when the connection is closed.
    pub async fn respond(&self, msg: M) -> Result<(), SendError> {
        self.queue_wait(Outbound::Msg(msg)).await
    }

    /// Queues an item, waiting for room whatever the policy (calls wait for their window
    /// in the connection's task, so they are never refused for a full queue).
    pub(crate) async fn queue_wait(&self, out: Outbound<M>) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let weight = self.weight_of(&out);
        self.inner
            .queue
            .push(&self.inner.set.bound, out, weight)
            .await
            .map_err(|_| SendError::Closed)
    }

    /// What an outbound item weighs in the queue's byte bound.
    pub(crate) fn weight_of(&self, out: &Outbound<M>) -> usize {
        match out {
            Outbound::Msg(m) => (self.inner.set.weigh)(m),
            Outbound::Raw(b) => b.len(),
            Outbound::Call(c) => (self.inner.set.weigh)(&c.request),
        }
    }

    /// What the connection's TLS handshake settled (version, suite, ALPN, the name asked
    /// for, the peer's certificates), when it runs over TLS.
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<Arc<crate::tls::TlsInfo>> {
        self.attr::<Arc<crate::tls::TlsInfo>>()
    }

    /// Marks the connection authenticated (see [`crate::ServerBuilder::auth_gate`]).
    pub fn authenticate(&self) {
        self.inner.authenticated.store(true, Ordering::Release);
    }

    /// Whether [`Conn::authenticate`] was called.
    pub fn is_authenticated(&self) -> bool {
        self.inner.authenticated.load(Ordering::Acquire)
    }

    /// Whether broadcasts reach it: always without an auth gate; behind one, once
    /// authenticated (a peer mid-login, or mid-handshake, gets no broadcast).
    pub(crate) fn is_admitted(&self) -> bool {
        !self.inner.set.gated || self.is_authenticated()
    }

    /// Queues a message if there is room now.
    ///
    /// # Errors
    /// [`SendError::Full`] when the queue is full, [`SendError::Closed`] when closed.
    pub fn try_send(&self, msg: M) -> Result<(), SendError> {
        self.try_queue(Outbound::Msg(msg))
    }

    pub(crate) fn try_queue(&self, out: Outbound<M>) -> Result<(), SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let weight = self.weight_of(&out);
        self.inner
            .queue
            .try_push(&self.inner.set.bound, out, weight)
            .map_err(|e| match e {
                PushError::Full(_) => {
                    self.inner.set.stats.queue_full();
                    SendError::Full
                }
                PushError::Closed(_) => SendError::Closed,
            })
    }

    /// Closes the connection: queued messages are still written, then the socket closes.
    /// The first reason given is the one reported.
    pub fn close(&self, reason: CloseReason) {
        let mut c = lock(&self.inner.close);
        if c.is_none() {
            *c = Some(reason);
            self.inner.closed_flag.store(true, Ordering::Release);
            // senders waiting for room fail now, the connection's task wakes; what is
            // queued is still written
            self.inner.queue.close();
        }
    }

    /// Whether `close` was called (or the connection ended).
    pub fn is_closed(&self) -> bool {
        self.inner.closed_flag.load(Ordering::Acquire)
    }

    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        lock(&self.inner.close).clone()
    }

    /// Changes the counters of the groups this connection is in (the registry's part).
    pub(crate) fn with_groups<R>(&self, f: impl FnOnce(&mut Vec<GroupLink>) -> R) -> R {
        let mut attrs = lock(&self.inner.attrs);
        let id = TypeId::of::<GroupSet>();
        let at = match attrs.iter().position(|(t, _)| *t == id) {
            Some(i) => i,
            None => {
                attrs.push((id, Box::new(GroupSet(Vec::new()))));
                attrs.len() - 1
            }
        };
        let set = attrs[at]
            .1
            .downcast_mut::<GroupSet>()
            .expect("the GroupSet slot holds a GroupSet");
        let r = f(&mut set.0);
        self.inner
            .in_groups
            .store(!set.0.is_empty(), Ordering::Relaxed);
        r
    }

    /// Calls `f` with the counters of each group this connection is in (nothing, and no
    /// lock, for a connection in none).
    #[inline(always)]
    pub(crate) fn each_group(&self, f: impl Fn(&GroupCounters)) {
        if self.inner.in_groups.load(Ordering::Relaxed) {
            self.each_group_slow(&f);
        }
    }

    #[inline(never)]
    fn each_group_slow(&self, f: &dyn Fn(&GroupCounters)) {
        let attrs = lock(&self.inner.attrs);
        let id = TypeId::of::<GroupSet>();
        if let Some(set) = attrs
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, b)| b.downcast_ref::<GroupSet>())
        {
            for (_, g) in &set.0 {
                f(g);
            }
        }
    }

    /// Stores a typed attribute (one value per type), replacing any earlier one.
    pub fn set_attr<T: Any + Send + Sync>(&self, value: T) {
        let mut attrs = lock(&self.inner.attrs);
        let id = TypeId::of::<T>();
        match attrs.iter_mut().find(|(t, _)| *t == id) {
            Some((_, v)) => *v = Box::new(value),
            None => attrs.push((id, Box::new(value))),
        }
    }

    /// A copy of the attribute of type `T`, if set.
    pub fn attr<T: Any + Send + Sync + Clone>(&self) -> Option<T> {
        let id = TypeId::of::<T>();
        lock(&self.inner.attrs)
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, b)| b.downcast_ref::<T>())
            .cloned()
    }
}
