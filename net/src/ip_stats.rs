//! Per-IP counters over a sliding window (one-second buckets).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// What one IP address did over the last window ([`ServerHandle::ip_stats`]).
///
/// ```no_run
/// # fn see(server: &packwire_net::ServerHandle<bytes::Bytes>) {
/// use std::time::Duration;
/// let ip = "203.0.113.7".parse().unwrap();
/// let s = server.ip_stats(ip);
/// if s.connections > 100 {
///     // a client reconnecting in a loop: keep it out for ten minutes
///     server.block_list().block_for(ip, Duration::from_secs(600));
/// }
/// println!("{ip}: {} messages, {} bytes in the last minute", s.messages_in, s.bytes_in);
/// # }
/// ```
///
/// [`ServerHandle::ip_stats`]: crate::ServerHandle::ip_stats
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct IpStats {
    /// Connections accepted (or refused) from it.
    pub connections: u64,
    /// Messages decoded from it.
    pub messages_in: u64,
    /// Bytes read from it.
    pub bytes_in: u64,
}

impl IpStats {
    fn add(&mut self, o: &IpStats) {
        self.connections += o.connections;
        self.messages_in += o.messages_in;
        self.bytes_in += o.bytes_in;
    }
}

/// The busiest IP addresses over the last window ([`ServerHandle::top_ips`]): a bounded
/// view however many addresses connect, the rest added up in one line, as t-io's
/// per-IP statistics with a cap.
///
/// ```no_run
/// # fn see(server: &packwire_net::ServerHandle<bytes::Bytes>) {
/// let top = server.top_ips(10);
/// for (ip, s) in &top.top {
///     println!("{ip}: {} connections, {} messages", s.connections, s.messages_in);
/// }
/// println!("{} other addresses: {} messages", top.others, top.rest.messages_in);
/// # }
/// ```
///
/// [`ServerHandle::top_ips`]: crate::ServerHandle::top_ips
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TopIps {
    /// The busiest addresses, by messages then connections, busiest first.
    pub top: Vec<(IpAddr, IpStats)>,
    /// How many other addresses were active in the window.
    pub others: usize,
    /// What those others did, added up.
    pub rest: IpStats,
}

const BUCKETS: usize = 60;

/// One second's counts; `sec` says which second (u64::MAX: none yet).
#[derive(Debug)]
struct Bucket {
    sec: AtomicU64,
    connections: AtomicU64,
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
}

/// One address's buckets. Connections keep an `Arc` to their address's ring and add to
/// it with relaxed atomics: no lock and no map look-up per read.
#[derive(Debug)]
pub(crate) struct Ring {
    buckets: [Bucket; BUCKETS],
}

impl Ring {
    fn new() -> Self {
        Ring {
            buckets: std::array::from_fn(|_| Bucket {
                sec: AtomicU64::new(u64::MAX),
                connections: AtomicU64::new(0),
                messages_in: AtomicU64::new(0),
                bytes_in: AtomicU64::new(0),
            }),
        }
    }

    fn add(&self, sec: u64, connections: u64, messages: u64, bytes: u64) {
        let b = &self.buckets[(sec % BUCKETS as u64) as usize];
        let seen = b.sec.load(Ordering::Acquire);
        if seen != sec
            && (seen == u64::MAX || seen < sec)
            && b.sec
                .compare_exchange(seen, sec, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // this thread turned the bucket over to a new second; an add racing with the
            // turn-over may be lost (the window is approximate at its edges)
            b.connections.store(0, Ordering::Relaxed);
            b.messages_in.store(0, Ordering::Relaxed);
            b.bytes_in.store(0, Ordering::Relaxed);
        }
        if b.sec.load(Ordering::Acquire) != sec {
            return; // a later second owns the bucket already
        }
        if connections > 0 {
            b.connections.fetch_add(connections, Ordering::Relaxed);
        }
        if messages > 0 {
            b.messages_in.fetch_add(messages, Ordering::Relaxed);
        }
        if bytes > 0 {
            b.bytes_in.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    fn sum(&self, now_sec: u64, window: u64) -> IpStats {
        let mut s = IpStats::default();
        for b in &self.buckets {
            let sec = b.sec.load(Ordering::Acquire);
            if sec != u64::MAX && sec.saturating_add(window) > now_sec && sec <= now_sec {
                s.connections += b.connections.load(Ordering::Relaxed);
                s.messages_in += b.messages_in.load(Ordering::Relaxed);
                s.bytes_in += b.bytes_in.load(Ordering::Relaxed);
            }
        }
        s
    }
}

/// Per-IP rings, for the server's `ip_stats`.
#[derive(Debug)]
pub(crate) struct IpWindows {
    start: Instant,
    window: u64,
    /// the current second, kept by [`IpWindows::keep_time`]: a read's count lands in
    /// the bucket it names, so reads cost no clock
    clock: AtomicU64,
    rings: Mutex<HashMap<IpAddr, Arc<Ring>>>,
}

impl IpWindows {
    pub(crate) fn new(window: Duration) -> Self {
        IpWindows {
            start: Instant::now(),
            window: window.as_secs().clamp(1, BUCKETS as u64),
            clock: AtomicU64::new(0),
            rings: Mutex::new(HashMap::new()),
        }
    }

    fn sec(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }

    /// Keeps the current second once a second while anything holds the windows (a task
    /// on the current runtime).
    pub(crate) fn keep_time(windows: &Arc<IpWindows>, now: fn() -> Instant) {
        let weak: Weak<IpWindows> = Arc::downgrade(windows);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let Some(w) = weak.upgrade() else { return };
                w.clock.store(w.sec(now()), Ordering::Relaxed);
            }
        });
    }

    /// The ring of `ip` (made on first use), for a connection to keep.
    pub(crate) fn ring(&self, ip: IpAddr, now: Instant) -> Arc<Ring> {
        let mut rings = self
            .rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rings.len() > 100_000 {
            // bound the map: forget addresses no connection holds and with nothing in
            // the window
            let (sec, w) = (self.sec(now), self.window);
            rings.retain(|_, r| Arc::strong_count(r) > 1 || r.sum(sec, w) != IpStats::default());
        }
        rings
            .entry(ip)
            .or_insert_with(|| Arc::new(Ring::new()))
            .clone()
    }

    /// Counts on a ring a connection holds.
    pub(crate) fn add_to(
        &self,
        ring: &Ring,
        now: Instant,
        connections: u64,
        messages: u64,
        bytes: u64,
    ) {
        ring.add(self.sec(now), connections, messages, bytes);
    }

    /// Counts for `ip` (a refused connection holds no ring).
    pub(crate) fn add(
        &self,
        ip: IpAddr,
        now: Instant,
        connections: u64,
        messages: u64,
        bytes: u64,
    ) {
        let ring = self.ring(ip, now);
        self.add_to(&ring, now, connections, messages, bytes);
    }

    /// The `n` busiest addresses active in the window, the rest added up.
    pub(crate) fn top(&self, n: usize, now: Instant) -> TopIps {
        let (sec, w) = (self.sec(now), self.window);
        let mut active: Vec<(IpAddr, IpStats)> = {
            let rings = self
                .rings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            rings
                .iter()
                .map(|(ip, r)| (*ip, r.sum(sec, w)))
                .filter(|(_, s)| *s != IpStats::default())
                .collect()
        };
        let busier = |a: &(IpAddr, IpStats), b: &(IpAddr, IpStats)| {
            (b.1.messages_in, b.1.connections, b.1.bytes_in)
                .cmp(&(a.1.messages_in, a.1.connections, a.1.bytes_in))
                .then(a.0.cmp(&b.0))
        };
        if active.len() > n && n > 0 {
            active.select_nth_unstable_by(n - 1, busier);
        }
        let rest_list = active.split_off(n.min(active.len()));
        active.sort_unstable_by(busier);
        let mut rest = IpStats::default();
        for (_, s) in &rest_list {
            rest.add(s);
        }
        TopIps {
            top: active,
            others: rest_list.len(),
            rest,
        }
    }

    pub(crate) fn get(&self, ip: IpAddr, now: Instant) -> IpStats {
        let rings = self
            .rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rings
            .get(&ip)
            .map_or_else(IpStats::default, |r| r.sum(self.sec(now), self.window))
    }
}

/// A connection's handle on its address's counters.
#[derive(Debug, Clone)]
pub(crate) struct IpCounter {
    pub(crate) windows: Arc<IpWindows>,
    pub(crate) ring: Arc<Ring>,
}

impl IpCounter {
    /// Counts what a read decoded, in the current second's bucket.
    pub(crate) fn received(&self, messages: u64, bytes: u64) {
        let sec = self.windows.clock.load(Ordering::Relaxed);
        self.ring.add(sec, 0, messages, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_out_of_the_window() {
        let w = IpWindows::new(Duration::from_secs(10));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = w.start;
        w.add(ip, t0, 1, 0, 0);
        let ring = w.ring(ip, t0);
        w.add_to(&ring, t0 + Duration::from_secs(5), 0, 3, 300);
        let at = |secs| w.get(ip, t0 + Duration::from_secs(secs));
        assert_eq!(
            at(5),
            IpStats {
                connections: 1,
                messages_in: 3,
                bytes_in: 300
            }
        );
        assert_eq!(
            at(12).connections,
            0,
            "the connection at 0 s is out of a 10 s window at 12 s"
        );
        assert_eq!(at(12).messages_in, 3);
        assert_eq!(at(20), IpStats::default());
        assert_eq!(w.get("192.0.2.2".parse().unwrap(), t0), IpStats::default());
    }
}
