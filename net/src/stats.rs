//! Counters every connection updates, and a snapshot to read them.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::{CloseReason, ConnId};

/// The counters every read and every write touches, one set per shard: the worker threads
/// of a runtime then do not pull one cache line back and forth for each (the idea of
/// Java's `LongAdder`); a snapshot adds the shards up.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Traffic {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
}

const SHARDS: usize = 8;

/// A connection's shard: connections spread over the shards by id, so two worker
/// threads rarely update one shard at once, and no per-thread lookup is needed.
fn shard(conn: ConnId) -> usize {
    (conn.0 % SHARDS as u64) as usize
}

/// Live counters (atomics; cheap to update from every connection task).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    accepted: AtomicU64,
    current: AtomicU64,
    traffic: [Traffic; SHARDS],
    decode_errors: AtomicU64,
    queue_full: AtomicU64,
    closed: [AtomicU64; CloseReason::KINDS],
    /// handler times, when timed (boxed: most servers do not)
    handler: std::sync::OnceLock<Box<Histogram>>,
}

/// How many histogram buckets: bucket `i` holds durations below 2^(i + 8) ns (256 ns,
/// 512 ns, ... about 275 s; the last also everything longer).
pub(crate) const HANDLER_BUCKETS: usize = 31;

/// Durations in power-of-two buckets, with their count and sum.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; HANDLER_BUCKETS],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    fn record(&self, ns: u64) {
        let i = (64 - ns.leading_zeros() as usize)
            .saturating_sub(8)
            .min(HANDLER_BUCKETS - 1);
        self.buckets[i].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    fn snapshot(&self) -> HandlerTime {
        HandlerTime {
            count: self.count.load(Relaxed),
            sum_ns: self.sum_ns.load(Relaxed),
            buckets: self
                .buckets
                .iter()
                .enumerate()
                .map(|(i, b)| (1u64 << (i + 8), b.load(Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

/// How long handler calls took ([`StatsSnapshot::handler_time`], with
/// `handler_timing(true)` on the builder): a histogram of power-of-two buckets.
///
/// ```no_run
/// # fn see(server: &packwire_net::ServerHandle<bytes::Bytes>) {
/// if let Some(t) = server.stats().handler_time {
///     println!("{} calls, p99 under {:?}", t.count, t.quantile(0.99));
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct HandlerTime {
    /// Calls timed.
    pub count: u64,
    /// Their total time, in nanoseconds.
    pub sum_ns: u64,
    /// `(upper bound in ns, calls)` per non-empty bucket, shortest first: a call counts
    /// in the first bucket whose bound it is below (the last also holds longer ones).
    pub buckets: Vec<(u64, u64)>,
}

impl HandlerTime {
    /// An upper bound of the `q` quantile (0.5: the median): the bound of the bucket it
    /// falls in; zero when nothing was timed.
    pub fn quantile(&self, q: f64) -> std::time::Duration {
        let want = (self.count as f64 * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bound, n) in &self.buckets {
            seen += n;
            if seen >= want {
                return std::time::Duration::from_nanos(*bound);
            }
        }
        std::time::Duration::ZERO
    }

    /// The mean call time.
    pub fn mean(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.sum_ns.checked_div(self.count).unwrap_or(0))
    }
}

impl Stats {
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
        self.current.fetch_add(1, Relaxed);
    }

    pub(crate) fn closed(&self, reason: &CloseReason) {
        self.current.fetch_sub(1, Relaxed);
        self.closed[reason.index()].fetch_add(1, Relaxed);
        if matches!(reason, CloseReason::Decode(_)) {
            self.decode_errors.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn received(&self, conn: ConnId, messages: u64, bytes: u64) {
        let t = &self.traffic[shard(conn)];
        t.messages_in.fetch_add(messages, Relaxed);
        t.bytes_in.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn sent(&self, conn: ConnId, messages: usize, bytes: usize) {
        let t = &self.traffic[shard(conn)];
        t.messages_out.fetch_add(messages as u64, Relaxed);
        t.bytes_out.fetch_add(bytes as u64, Relaxed);
    }

    fn sum(&self, f: impl Fn(&Traffic) -> &AtomicU64) -> u64 {
        self.traffic.iter().map(|t| f(t).load(Relaxed)).sum()
    }

    /// One handler call took `d`.
    pub(crate) fn handler_time(&self, d: std::time::Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.handler.get_or_init(Box::default).record(ns);
    }

    pub(crate) fn queue_full(&self) {
        self.queue_full.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            accepted: self.accepted.load(Relaxed),
            current: self.current.load(Relaxed),
            messages_in: self.sum(|t| &t.messages_in),
            bytes_in: self.sum(|t| &t.bytes_in),
            messages_out: self.sum(|t| &t.messages_out),
            bytes_out: self.sum(|t| &t.bytes_out),
            decode_errors: self.decode_errors.load(Relaxed),
            queue_full: self.queue_full.load(Relaxed),
            closed: CloseReason::NAMES
                .iter()
                .zip(&self.closed)
                .map(|(n, c)| (*n, c.load(Relaxed)))
                .filter(|(_, c)| *c > 0)
                .collect(),
            handler_time: self.handler.get().map(|h| h.snapshot()),
        }
    }
}

/// The counters at one moment ([`crate::ServerHandle::stats`],
/// [`crate::ClientHandle::stats`], and what `shutdown` returns). `Display` prints them as
/// a tree.
///
/// ```no_run
/// # use bytes::Bytes;
/// # fn show(server: &packwire_net::ServerHandle<Bytes>) {
/// let s = server.stats();
/// println!("{} open, {} in, {} out", s.current, s.messages_in, s.messages_out);
/// println!("idle evictions: {}", s.closed_for("idle_timeout"));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Connections accepted since start.
    pub accepted: u64,
    /// Connections open now.
    pub current: u64,
    /// Messages decoded.
    pub messages_in: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Messages written to sockets.
    pub messages_out: u64,
    /// Bytes written to sockets.
    pub bytes_out: u64,
    /// Connections closed because a frame was malformed.
    pub decode_errors: u64,
    /// Sends refused because a connection's queue was full.
    pub queue_full: u64,
    /// Connections closed, by reason (only reasons that occurred; serialized as a map).
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_map"))]
    pub closed: Vec<(&'static str, u64)>,
    /// How long handler calls took, when timed (`handler_timing(true)`).
    pub handler_time: Option<HandlerTime>,
}

impl StatsSnapshot {
    /// Connections closed for `reason` (its snake_case name, as in [`CloseReason::name`]).
    pub fn closed_for(&self, reason: &str) -> u64 {
        self.closed
            .iter()
            .find(|(n, _)| *n == reason)
            .map_or(0, |(_, c)| *c)
    }
}

impl fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "connections")?;
        writeln!(f, "├── accepted: {}", self.accepted)?;
        writeln!(f, "├── current: {}", self.current)?;
        writeln!(
            f,
            "└── closed: {}",
            self.closed.iter().map(|(_, c)| c).sum::<u64>()
        )?;
        for (i, (n, c)) in self.closed.iter().enumerate() {
            let branch = if i + 1 == self.closed.len() {
                "└──"
            } else {
                "├──"
            };
            writeln!(f, "    {branch} {n}: {c}")?;
        }
        writeln!(f, "traffic")?;
        writeln!(
            f,
            "├── in: {} messages, {} bytes",
            self.messages_in, self.bytes_in
        )?;
        writeln!(
            f,
            "└── out: {} messages, {} bytes",
            self.messages_out, self.bytes_out
        )?;
        writeln!(f, "errors")?;
        writeln!(f, "├── decode: {}", self.decode_errors)?;
        write!(f, "└── queue full: {}", self.queue_full)?;
        if let Some(t) = &self.handler_time {
            writeln!(f)?;
            writeln!(f, "handler time")?;
            writeln!(f, "├── calls: {}, mean {:?}", t.count, t.mean())?;
            write!(
                f,
                "└── p50 < {:?}, p99 < {:?}",
                t.quantile(0.5),
                t.quantile(0.99)
            )?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
fn as_map<S: serde::Serializer>(closed: &[(&'static str, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(closed.iter().copied())
}

/// One group's counters, shared by the registry and its members' connections (t-io's
/// `GroupStat`): what members read and wrote while they were members.
#[derive(Debug, Default)]
pub(crate) struct GroupCounters {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    decode_errors: AtomicU64,
    handler_ns: AtomicU64,
}

impl GroupCounters {
    pub(crate) fn received(&self, messages: u64, bytes: u64, handler_ns: u64) {
        self.messages_in.fetch_add(messages, Relaxed);
        self.bytes_in.fetch_add(bytes, Relaxed);
        if handler_ns > 0 {
            self.handler_ns.fetch_add(handler_ns, Relaxed);
        }
    }

    pub(crate) fn sent(&self, messages: u64, bytes: u64) {
        self.messages_out.fetch_add(messages, Relaxed);
        self.bytes_out.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn decode_error(&self) {
        self.decode_errors.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, connections: usize) -> GroupStats {
        GroupStats {
            connections: connections as u64,
            messages_in: self.messages_in.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            decode_errors: self.decode_errors.load(Relaxed),
            handler_ns: self.handler_ns.load(Relaxed),
        }
    }
}

/// What one group's members did while they were members ([`Registry::group_stats`]),
/// counted from the group's first member on; a group that empties starts again at zero.
/// A connection's reads count for the groups it is in once their messages are handled
/// (so the read holding its `JOIN` counts), its writes for those it is in when they are
/// done.
///
/// ```no_run
/// # fn see(registry: &packwire_net::Registry<bytes::Bytes>) {
/// for (group, s) in registry.groups_stats() {
///     println!("{group}: {} members, {} messages in, {} out", s.connections, s.messages_in, s.messages_out);
/// }
/// # }
/// ```
///
/// [`Registry::group_stats`]: crate::Registry::group_stats
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GroupStats {
    /// Members now.
    pub connections: u64,
    /// Messages decoded from members.
    pub messages_in: u64,
    /// Bytes read from members.
    pub bytes_in: u64,
    /// Messages written to members.
    pub messages_out: u64,
    /// Bytes written to members.
    pub bytes_out: u64,
    /// Members closed because a frame was malformed.
    pub decode_errors: u64,
    /// Nanoseconds members' messages spent in the handler (with `handler_timing(true)`;
    /// 0 otherwise): `handler_ns / messages_in` is the mean.
    pub handler_ns: u64,
}
