//! Configuration as plain data: what every connection of a server or client gets.
//! The builders fill these; one list of fields, one place for each default.

use std::fmt;
use std::sync::Arc;

use std::any::Any;

use crate::QueuePolicy;
use crate::conn::{EncodeFn, Settings};
use crate::exchange::Exchanges;
use crate::state::Timers;

/// Makes the heartbeat message.
pub(crate) type PingFn<M> = Arc<dyn Fn() -> M + Send + Sync>;

/// What every connection of one server or client is given.
pub(crate) struct ConnConfig<M> {
    /// Messages that may wait in a connection's outbound queue.
    pub(crate) queue_capacity: usize,
    /// What a send does when the queue is full.
    pub(crate) policy: QueuePolicy,
    /// A bound on the queue in encoded bytes.
    pub(crate) max_queued_bytes: Option<usize>,
    /// The most unread bytes a connection may buffer.
    pub(crate) max_buffered: usize,
    /// The connection's timers.
    pub(crate) timers: Timers,
    /// The heartbeat message (with `timers.heartbeat`).
    pub(crate) ping: Option<PingFn<M>>,
    /// Call matching and link checks.
    pub(crate) ex: Exchanges<M>,
}

impl<M> ConnConfig<M> {
    pub(crate) fn new(policy: QueuePolicy) -> Self {
        ConnConfig {
            queue_capacity: 1024,
            policy,
            max_queued_bytes: None,
            max_buffered: 16 * 1024 * 1024,
            timers: Timers::default(),
            ping: None,
            ex: Exchanges::default(),
        }
    }

    /// What one connection of this server or client is given.
    pub(crate) fn settings(
        &self,
        encode: &EncodeFn<M>,
        registry: &Arc<dyn Any + Send + Sync>,
    ) -> Settings<M> {
        Settings {
            queue_capacity: self.queue_capacity,
            policy: self.policy,
            byte_limit: self.max_queued_bytes.map(|n| (n, encode.clone())),
            calls: self.ex.calls,
            hooks: self.ex.hooks,
            registry: Some(registry.clone()),
        }
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
        /// Closes a connection that sends nothing for `timeout`, after telling the
        /// listener ([`crate::Listener::on_idle`] with [`crate::IdleKind::Read`]).
        pub fn idle_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.conn.timers.idle_timeout = Some(timeout);
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

        /// Also bounds each connection's queue in encoded bytes (the queue policy applies
        /// when a message would pass it). Messages are then encoded when they are sent,
        /// to be measured. Default: bounded in messages only.
        pub fn max_queued_bytes(mut self, n: usize) -> Self {
            self.conn.max_queued_bytes = Some(n);
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
