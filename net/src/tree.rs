//! The statistics as t-io's tree — server, groups, IP addresses, connections — each
//! level bounded to its busiest entries with the rest added up.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::{ConnId, GroupStats, IpStats, StatsSnapshot};

/// The busiest `n` of many (addresses, groups, connections), the others added up in one
/// entry: a view whose size does not grow with the number of peers.
///
/// ```no_run
/// # fn see(server: &packwire_net::ServerHandle<bytes::Bytes>) {
/// let top = server.top_ips(10);
/// for (ip, s) in &top.top {
///     println!("{ip}: {} connections, {} messages in", s.connections, s.messages_in);
/// }
/// println!("{} other addresses: {} messages in", top.others, top.rest.messages_in);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Top<K, S> {
    /// The busiest, by messages (in and out) then connections then bytes, busiest first.
    pub top: Vec<(K, S)>,
    /// How many others there were.
    pub others: usize,
    /// What those others did, added up.
    pub rest: S,
}

/// The busiest IP addresses over the last window ([`ServerHandle::top_ips`]).
///
/// [`ServerHandle::top_ips`]: crate::ServerHandle::top_ips
pub type TopIps = Top<IpAddr, IpStats>;

/// What every level's entry counts, for ordering and printing.
pub(crate) struct Counts {
    /// connections (or members) and what to call them; `None` for a connection itself
    who: Option<(u64, &'static str)>,
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
    decode_errors: Option<u64>,
    handler_ns: u64,
}

/// What a level of the tree counts, and a sum of entries.
pub(crate) trait Tally: Default {
    fn counts(&self) -> Counts;
    fn add(&mut self, o: &Self);

    /// How busy: messages both ways, then connections, then bytes.
    fn weight(&self) -> (u64, u64, u64) {
        let c = self.counts();
        (
            c.messages_in + c.messages_out,
            c.who.map_or(0, |(n, _)| n),
            c.bytes_in + c.bytes_out,
        )
    }
}

/// The `n` busiest of `all`, busiest first (ties by key), the rest added up.
pub(crate) fn top_of<K: Ord, S: Tally>(mut all: Vec<(K, S)>, n: usize) -> Top<K, S> {
    let busier = |a: &(K, S), b: &(K, S)| b.1.weight().cmp(&a.1.weight()).then(a.0.cmp(&b.0));
    if all.len() > n && n > 0 {
        all.select_nth_unstable_by(n - 1, busier);
    }
    let rest_list = all.split_off(n.min(all.len()));
    all.sort_unstable_by(busier);
    let mut rest = S::default();
    for (_, s) in &rest_list {
        rest.add(s);
    }
    Top {
        top: all,
        others: rest_list.len(),
        rest,
    }
}

impl Tally for IpStats {
    fn counts(&self) -> Counts {
        Counts {
            who: Some((self.connections, "connections")),
            messages_in: self.messages_in,
            bytes_in: self.bytes_in,
            messages_out: self.messages_out,
            bytes_out: self.bytes_out,
            decode_errors: Some(self.decode_errors),
            handler_ns: self.handler_ns,
        }
    }

    fn add(&mut self, o: &Self) {
        self.connections += o.connections;
        self.messages_in += o.messages_in;
        self.bytes_in += o.bytes_in;
        self.messages_out += o.messages_out;
        self.bytes_out += o.bytes_out;
        self.decode_errors += o.decode_errors;
        self.handler_ns += o.handler_ns;
    }
}

impl Tally for GroupStats {
    fn counts(&self) -> Counts {
        Counts {
            who: Some((self.connections, "members")),
            messages_in: self.messages_in,
            bytes_in: self.bytes_in,
            messages_out: self.messages_out,
            bytes_out: self.bytes_out,
            decode_errors: Some(self.decode_errors),
            handler_ns: self.handler_ns,
        }
    }

    fn add(&mut self, o: &Self) {
        self.connections += o.connections;
        self.messages_in += o.messages_in;
        self.bytes_in += o.bytes_in;
        self.messages_out += o.messages_out;
        self.bytes_out += o.bytes_out;
        self.decode_errors += o.decode_errors;
        self.handler_ns += o.handler_ns;
    }
}

impl Tally for ConnStats {
    fn counts(&self) -> Counts {
        Counts {
            who: None,
            messages_in: self.messages_in,
            bytes_in: self.bytes_in,
            messages_out: self.messages_out,
            bytes_out: self.bytes_out,
            decode_errors: None,
            handler_ns: self.handler_ns,
        }
    }

    fn add(&mut self, o: &Self) {
        self.messages_in += o.messages_in;
        self.bytes_in += o.bytes_in;
        self.messages_out += o.messages_out;
        self.bytes_out += o.bytes_out;
        self.handler_ns += o.handler_ns;
    }
}

/// What one connection did since it opened ([`Conn::stats`], t-io's `ChannelStat`).
///
/// ```no_run
/// # fn see(conn: &packwire_net::Conn<bytes::Bytes>) {
/// let s = conn.stats();
/// println!("{}: {} in, {} out, open for {:?}", conn.id(), s.messages_in, s.messages_out, conn.age());
/// # }
/// ```
///
/// [`Conn::stats`]: crate::Conn::stats
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ConnStats {
    /// Messages decoded.
    pub messages_in: u64,
    /// Bytes of those messages.
    pub bytes_in: u64,
    /// Messages written.
    pub messages_out: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Nanoseconds its messages spent in the handler (with `handler_timing(true)`;
    /// 0 otherwise).
    pub handler_ns: u64,
}

/// A connection's counters. Only the connection's own task writes them (a load and a
/// store, no locked add); anyone may read them.
#[derive(Debug, Default)]
pub(crate) struct ConnCounters {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    handler_ns: AtomicU64,
}

fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

impl ConnCounters {
    pub(crate) fn received(&self, messages: u64, bytes: u64, handler_ns: u64) {
        bump(&self.messages_in, messages);
        bump(&self.bytes_in, bytes);
        if handler_ns > 0 {
            bump(&self.handler_ns, handler_ns);
        }
    }

    pub(crate) fn sent(&self, messages: u64, bytes: u64) {
        bump(&self.messages_out, messages);
        bump(&self.bytes_out, bytes);
    }

    pub(crate) fn snapshot(&self) -> ConnStats {
        ConnStats {
            messages_in: self.messages_in.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            handler_ns: self.handler_ns.load(Relaxed),
        }
    }
}

/// The whole tree at one moment ([`ServerHandle::stats_tree`]): the server's counters,
/// then its busiest groups, IP addresses (over the last window) and connections (since
/// they opened), each level bounded. `Display` prints it as a tree; with the `serde`
/// feature it serializes (JSON for `packwire serve --stats-json`).
///
/// ```no_run
/// # fn see(server: &packwire_net::ServerHandle<bytes::Bytes>) {
/// let tree = server.stats_tree(10);
/// println!("{tree}");
/// if let Some((id, s)) = tree.connections.top.first() {
///     println!("busiest: {id} with {} messages in", s.messages_in);
/// }
/// # }
/// ```
///
/// [`ServerHandle::stats_tree`]: crate::ServerHandle::stats_tree
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StatsTree {
    /// The server's counters.
    pub server: StatsSnapshot,
    /// The busiest groups (what members did while members).
    pub groups: Top<String, GroupStats>,
    /// The busiest IP addresses over the last window.
    pub ips: TopIps,
    /// The busiest open connections.
    pub connections: Top<ConnId, ConnStats>,
}

impl StatsTree {
    pub(crate) fn new(
        server: StatsSnapshot,
        groups: Vec<(String, GroupStats)>,
        ips: TopIps,
        connections: Vec<(ConnId, ConnStats)>,
        n: usize,
    ) -> Self {
        StatsTree {
            server,
            groups: top_of(groups, n),
            ips,
            connections: top_of(connections, n),
        }
    }
}

/// One line of a level: `├── name: what it did`.
struct Line<'a, S>(&'a S);

impl<S: Tally> fmt::Display for Line<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0.counts();
        if let Some((n, what)) = c.who {
            write!(f, "{n} {what}, ")?;
        }
        write!(
            f,
            "in {} messages / {} bytes, out {} / {}",
            c.messages_in, c.bytes_in, c.messages_out, c.bytes_out
        )?;
        if let Some(e) = c.decode_errors {
            write!(f, ", {e} decode errors")?;
        }
        f.write_str(&mean(c.handler_ns, c.messages_in))
    }
}

/// `, handler mean 1.2µs` when handler time was measured.
fn mean(ns: u64, n: u64) -> String {
    if ns == 0 || n == 0 {
        return String::new();
    }
    format!(
        ", handler mean {:?}",
        std::time::Duration::from_nanos(ns / n)
    )
}

fn level<K: fmt::Display, S: Tally>(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    top: &Top<K, S>,
) -> fmt::Result {
    if top.top.is_empty() {
        return Ok(());
    }
    writeln!(f)?;
    write!(f, "{title}")?;
    for (i, (k, s)) in top.top.iter().enumerate() {
        let last = i + 1 == top.top.len() && top.others == 0;
        let branch = if last { "└──" } else { "├──" };
        write!(f, "\n{branch} {k}: {}", Line(s))?;
    }
    if top.others > 0 {
        write!(f, "\n└── {} others: {}", top.others, Line(&top.rest))?;
    }
    Ok(())
}

impl fmt::Display for StatsTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.server)?;
        level(f, "groups", &self.groups)?;
        level(f, "addresses (last minute)", &self.ips)?;
        level(f, "connections", &self.connections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(msgs: u64) -> ConnStats {
        ConnStats {
            messages_in: msgs,
            bytes_in: msgs * 10,
            ..ConnStats::default()
        }
    }

    #[test]
    fn a_level_keeps_the_busiest_and_adds_up_the_rest() {
        let all: Vec<(ConnId, ConnStats)> = (1..=6).map(|k| (ConnId(k), conn(k % 4))).collect();
        // 1 -> 1, 2 -> 2, 3 -> 3, 4 -> 0, 5 -> 1, 6 -> 2
        let top = top_of(all.clone(), 3);
        let ids: Vec<u64> = top.top.iter().map(|(id, _)| id.0).collect();
        assert_eq!(ids, [3, 2, 6], "busiest first, ties by key");
        assert_eq!(top.others, 3);
        assert_eq!(top.rest.messages_in, 1 + 1);
        assert_eq!(top.rest.bytes_in, 20);
        let none = top_of(all.clone(), 0);
        assert_eq!((none.top.len(), none.others), (0, 6));
        let every = top_of(all, 10);
        assert_eq!((every.top.len(), every.others), (6, 0));
    }

    #[test]
    fn single_writer_counters_add_up() {
        let c = ConnCounters::default();
        c.received(2, 20, 0);
        c.received(1, 5, 300);
        c.sent(4, 40);
        assert_eq!(
            c.snapshot(),
            ConnStats {
                messages_in: 3,
                bytes_in: 25,
                messages_out: 4,
                bytes_out: 40,
                handler_ns: 300
            }
        );
    }
}
