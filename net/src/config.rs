//! Configuration as plain data: what every connection of a server or client gets.
//! The builders fill these; one list of fields, one place for each default.

use std::fmt;
use std::sync::Arc;

use std::any::Any;

use crate::QueuePolicy;
use crate::budget::Budget;
use crate::conn::Settings;
use crate::exchange::Exchanges;
use crate::queue::Bound;
use crate::state::Timers;
use crate::stats::Stats;

/// Makes the heartbeat message.
pub(crate) type PingFn<M> = Arc<dyn Fn() -> M + Send + Sync>;

/// What every connection of one server or client is given.
pub(crate) struct ConnConfig<M> {
    /// Messages that may wait in a connection's outbound queue.
    pub(crate) queue_capacity: usize,
    /// What a send does when the queue is full.
    pub(crate) policy: QueuePolicy,
    /// A bound on the queue in bytes, as `weigh` measures messages.
    pub(crate) max_queued_bytes: usize,
    /// What a message weighs.
    pub(crate) weigh: fn(&M) -> usize,
    /// The most unread bytes a connection may buffer.
    pub(crate) max_buffered: usize,
    /// The connection's timers.
    pub(crate) timers: Timers,
    /// The heartbeat message (with `timers.heartbeat`).
    pub(crate) ping: Option<PingFn<M>>,
    /// Call matching and link checks.
    pub(crate) ex: Exchanges<M>,
    /// the frame timeout is the default one, which follows the idle timeout (servers)
    pub(crate) frame_follows_idle: bool,
    /// each handler call timed into the statistics' histogram
    pub(crate) time_handlers: bool,
}

/// The default bound on a connection's outbound queue in bytes.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

#[allow(clippy::borrowed_box)] // the message type is `Box<[u8]>` itself
fn boxed_len(b: &Box<[u8]>) -> usize {
    b.len()
}

/// What a message weighs in a queue's byte bound when no `message_size` is given: the
/// length of byte-like messages (`Bytes`, `BytesMut`, `Vec<u8>`, `String`, `Box<[u8]>`),
/// and the inline size (`size_of`) of any other type — give such types their own
/// `message_size` (the protocol codecs' message types say what they weigh) so the bound
/// sees their heap payload too. The type checks fold away at compile time.
pub fn default_message_size<M: 'static>(m: &M) -> usize {
    use std::any::TypeId;
    // `TypeId::of` of two known types compares at compile time; the downcast then
    // cannot fail (a `dyn Any`'s own `type_id` would be a virtual call per message)
    fn len<M: 'static, T: 'static>(m: &M, f: fn(&T) -> usize) -> Option<usize> {
        if TypeId::of::<M>() == TypeId::of::<T>() {
            (m as &dyn Any).downcast_ref::<T>().map(f)
        } else {
            None
        }
    }
    len(m, bytes::Bytes::len)
        .or_else(|| len(m, bytes::BytesMut::len))
        .or_else(|| len(m, Vec::<u8>::len))
        .or_else(|| len(m, String::len))
        .or_else(|| len(m, boxed_len))
        .unwrap_or(std::mem::size_of::<M>())
}

impl<M: 'static> ConnConfig<M> {
    pub(crate) fn new(policy: QueuePolicy) -> Self {
        ConnConfig {
            queue_capacity: 1024,
            policy,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            weigh: default_message_size::<M>,
            max_buffered: 16 * 1024 * 1024,
            timers: Timers::default(),
            ping: None,
            ex: Exchanges::default(),
            frame_follows_idle: false,
            time_handlers: false,
        }
    }

    /// What one connection of this server or client is given.
    pub(crate) fn settings(
        &self,
        registry: &Arc<dyn Any + Send + Sync>,
        budget: Option<&Arc<Budget>>,
        stats: &Arc<Stats>,
    ) -> Arc<Settings<M>> {
        Arc::new(Settings {
            bound: Bound {
                cap: self.queue_capacity,
                max_bytes: self.max_queued_bytes,
                budget: budget.cloned(),
            },
            policy: self.policy,
            weigh: self.weigh,
            stats: stats.clone(),
            calls: self.ex.calls,
            hooks: self.ex.hooks,
            registry: Some(registry.clone()),
            gated: self.timers.auth.is_some(),
        })
    }
}

impl<M> fmt::Debug for ConnConfig<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnConfig")
            .field("queue_capacity", &self.queue_capacity)
            .field("policy", &self.policy)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("max_buffered", &self.max_buffered)
            .field("timers", &self.timers)
            .field("calls", &self.ex.calls)
            .finish_non_exhaustive()
    }
}

/// The options every connection takes, for [`crate::ServerBuilder`] and
/// [`crate::ClientBuilder`] alike (both keep a `conn: ConnConfig<M>` and a `listener`).
macro_rules! conn_options {
    () => {
        /// Times each handler call (to the end of its future, answer written) into a
        /// histogram of the statistics ([`crate::StatsSnapshot::handler_time`]), t-io's
        /// handler-time statistic. Off by default: it reads the clock twice per message.
        pub fn handler_timing(mut self, on: bool) -> Self {
            self.conn.time_handlers = on;
            self
        }

        /// Closes a connection that sends nothing for `timeout`, after telling the
        /// listener ([`crate::Listener::on_idle`] with [`crate::IdleKind::Read`]).
        /// Without a heartbeat, link check or idle events the connection does not read
        /// the clock for each read: it notes that bytes came and checks every quarter of
        /// the timeout, so a silent peer goes within 1.25× of it. Default for servers:
        /// 120 s (t-io's heartbeat timeout); none for clients.
        ///
        /// Security: without one, silent connections hold their slots for ever.
        pub fn idle_timeout(mut self, timeout: impl Into<Option<std::time::Duration>>) -> Self {
            self.conn.timers.idle_timeout = timeout.into();
            self
        }

        /// Tells the listener ([`crate::Listener::on_idle`]) after each period a
        /// connection has read nothing (`read`), written nothing (`write`), or neither
        /// (`all`) — Netty's `IdleStateHandler`. Nothing is closed: the application
        /// decides. `None` turns a kind off.
        pub fn idle_events(
            mut self,
            read: Option<std::time::Duration>,
            write: Option<std::time::Duration>,
            all: Option<std::time::Duration>,
        ) -> Self {
            self.conn.timers.read_idle = read;
            self.conn.timers.write_idle = write;
            self.conn.timers.all_idle = all;
            self
        }

        /// Sends `ping()` after the connection has been write-idle for `interval`, and
        /// treats a peer silent for `timeout` as dead (closed with
        /// [`crate::CloseReason::IdleTimeout`]; a client then reconnects).
        pub fn heartbeat(
            mut self,
            interval: std::time::Duration,
            timeout: std::time::Duration,
            ping: impl Fn() -> M + Send + Sync + 'static,
        ) -> Self {
            self.conn.timers.heartbeat = Some((interval, timeout));
            self.conn.ping = Some(std::sync::Arc::new(ping));
            self
        }

        /// How many messages may wait in each connection's outbound queue. Default 1024.
        pub fn queue_capacity(mut self, n: usize) -> Self {
            self.conn.queue_capacity = n.max(1);
            self
        }

        /// What `Conn::send` does when a connection's queue is full.
        pub fn queue_policy(mut self, policy: crate::QueuePolicy) -> Self {
            self.conn.policy = policy;
            self
        }

        /// Bounds each connection's outbound queue in bytes, as
        /// [`message_size`](Self::message_size) weighs messages; the queue policy applies
        /// when a send would pass it (a message larger than the bound still goes alone
        /// into an empty queue). Default 4 MiB
        /// ([`crate::DEFAULT_MAX_QUEUED_BYTES`]).
        ///
        /// Security: without a byte bound a peer that never reads makes the server hold
        /// everything its handler sends it — with 8 MiB echoes, gigabytes. 4 MiB keeps a
        /// fast link busy (about 30 ms of 1 Gbit/s) while a stalled one costs little; a
        /// connection holds at most twice the bound (the queue, and the batch its task
        /// is writing).
        pub fn max_queued_bytes(mut self, n: usize) -> Self {
            self.conn.max_queued_bytes = n.max(1);
            self
        }

        /// What a message weighs in [`max_queued_bytes`](Self::max_queued_bytes)
        /// (default [`crate::default_message_size`]: the length of byte-like messages,
        /// the inline size of others). A plain `fn`, so weighing costs a call.
        pub fn message_size(mut self, weigh: fn(&M) -> usize) -> Self {
            self.conn.weigh = weigh;
            self
        }

        /// Closes a connection whose peer took none of the bytes written to it for
        /// `timeout` while more were waiting ([`crate::CloseReason::SlowConsumer`]),
        /// checked every quarter of the shortest guard timeout (so within 1.25× of it).
        /// Until then a full peer is back-pressured: its handler's sends wait and its input
        /// is not read. `None` turns it off. Default 30 s for servers, off for clients.
        ///
        /// Security: a peer that stops reading holds its queue's memory and a slot; 30 s
        /// outlasts network stalls and a peer's own pauses (an SMS gateway that stops
        /// reading for 10 s is back-pressured, not closed).
        pub fn write_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
            self.conn.timers.write_timeout = timeout;
            self
        }

        /// Closes a connection that holds an incomplete frame and completes none for
        /// `timeout` ([`crate::CloseReason::FrameTimeout`]; within 1.25× of it) — a
        /// slowloris peer is busy, never idle. `None` turns it off. Default for servers:
        /// 30 s, or the idle timeout when that is shorter; off for clients.
        pub fn frame_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
            self.conn.frame_follows_idle = false;
            self.conn.timers.frame_timeout = timeout;
            self
        }

        /// The most unread bytes a connection may buffer, whatever its codec does.
        /// Default 16 MiB.
        pub fn max_buffered(mut self, n: usize) -> Self {
            self.conn.max_buffered = n;
            self
        }

        /// How long a closing connection may take to write what is still queued for it,
        /// send its FIN and drain the peer's unread input (so the kernel does not reset
        /// what was written) before the transport is dropped anyway. Default 2 s.
        pub fn close_grace(mut self, grace: std::time::Duration) -> Self {
            self.conn.timers.linger = grace;
            self
        }

        /// Matches responses to requests for [`crate::Conn::call`] and answers the peer's
        /// link checks from the first message on, with `cfg`'s window, timeout and sends
        /// (default: CMPP's 16, 60 s, 3). Without it, the first `call` on a connection
        /// turns the matching on, with the default configuration.
        pub fn calls(mut self, cfg: crate::CallConfig) -> Self
        where
            M: packwire_core::Exchange,
        {
            self.conn.ex.set_calls(cfg);
            self
        }

        /// Sends the protocol's link-check request ([`packwire_core::Exchange::link_check`])
        /// when the peer has sent nothing for `interval`, and closes the connection with
        /// [`crate::CloseReason::IdleTimeout`] after `max_unanswered` checks in a row got
        /// nothing back. The peer's own link checks are answered whether or not this is
        /// set, once response matching is on (`calls`).
        pub fn link_check(mut self, interval: std::time::Duration, max_unanswered: u32) -> Self
        where
            M: packwire_core::Exchange,
        {
            self.conn.ex.set_hooks();
            self.conn.timers.link_check = Some((interval, max_unanswered.max(1)));
            self
        }

        /// Lifecycle hooks.
        pub fn listener(mut self, listener: impl crate::Listener<M>) -> Self {
            self.listener = std::sync::Arc::new(listener);
            self
        }
    };
}

pub(crate) use conn_options;

#[cfg(test)]
mod tests {
    use super::default_message_size;

    #[test]
    fn byte_like_messages_weigh_their_length_and_others_their_inline_size() {
        assert_eq!(
            default_message_size(&bytes::Bytes::from(vec![0u8; 1000])),
            1000
        );
        assert_eq!(default_message_size(&bytes::BytesMut::zeroed(70)), 70);
        assert_eq!(default_message_size(&vec![1u8; 5]), 5);
        assert_eq!(default_message_size(&"héllo".to_owned()), 6);
        assert_eq!(default_message_size(&vec![0u8; 3].into_boxed_slice()), 3);
        struct Pdu {
            _a: u64,
            _b: [u8; 40],
        }
        let p = Pdu { _a: 0, _b: [0; 40] };
        assert_eq!(default_message_size(&p), std::mem::size_of::<Pdu>());
    }
}
