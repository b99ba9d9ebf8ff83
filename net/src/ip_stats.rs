//! Per-IP counters over a sliding window (one-second buckets).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::tree::{Tally, TopIps, top_of};

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
    /// Messages written to it.
    pub messages_out: u64,
    /// Bytes written to it.
    pub bytes_out: u64,
    /// Its connections closed because a frame was malformed.
    pub decode_errors: u64,
    /// Nanoseconds its messages spent in the handler (with `handler_timing(true)`;
    /// 0 otherwise): `handler_ns / messages_in` is the mean, t-io's `handledPacketCosts`.
    pub handler_ns: u64,
}

const BUCKETS: usize = 60;

const ONE_CONNECTION: IpStats = IpStats {
    connections: 1,
    messages_in: 0,
    bytes_in: 0,
    messages_out: 0,
    bytes_out: 0,
    decode_errors: 0,
    handler_ns: 0,
};

/// One second's counts; `sec` says which second (u64::MAX: none yet). Counts of things
/// are u32 (per address per second), bytes and nanoseconds u64: 48 bytes a bucket.
#[derive(Debug)]
struct Bucket {
    sec: AtomicU64,
    /// connections, messages in, messages out, decode errors
    counts: [AtomicU32; 4],
    /// bytes in, bytes out, handler nanoseconds
    sums: [AtomicU64; 3],
}

/// One address's buckets. Connections keep an `Arc` to their address's ring and add to
/// it with relaxed atomics: no lock and no map look-up per read.
#[derive(Debug)]
pub(crate) struct Ring {
    buckets: [Bucket; BUCKETS],
}

fn add32(a: &AtomicU32, n: u64) {
    if n > 0 {
        a.fetch_add(u32::try_from(n).unwrap_or(u32::MAX), Ordering::Relaxed);
    }
}

fn add64(a: &AtomicU64, n: u64) {
    if n > 0 {
        a.fetch_add(n, Ordering::Relaxed);
    }
}

impl Ring {
    fn new() -> Self {
        Ring {
            buckets: std::array::from_fn(|_| Bucket {
                sec: AtomicU64::new(u64::MAX),
                counts: Default::default(),
                sums: Default::default(),
            }),
        }
    }

    fn add(&self, sec: u64, d: &IpStats) {
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
            b.counts.iter().for_each(|c| c.store(0, Ordering::Relaxed));
            b.sums.iter().for_each(|c| c.store(0, Ordering::Relaxed));
        }
        if b.sec.load(Ordering::Acquire) != sec {
            return; // a later second owns the bucket already
        }
        let [conns, msgs_in, msgs_out, errors] = &b.counts;
        add32(conns, d.connections);
        add32(msgs_in, d.messages_in);
        add32(msgs_out, d.messages_out);
        add32(errors, d.decode_errors);
        let [bytes_in, bytes_out, handler] = &b.sums;
        add64(bytes_in, d.bytes_in);
        add64(bytes_out, d.bytes_out);
        add64(handler, d.handler_ns);
    }

    fn sum(&self, now_sec: u64, window: u64) -> IpStats {
        let mut s = IpStats::default();
        let n32 = |a: &AtomicU32| u64::from(a.load(Ordering::Relaxed));
        let n64 = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for b in &self.buckets {
            let sec = b.sec.load(Ordering::Acquire);
            if sec != u64::MAX && sec.saturating_add(window) > now_sec && sec <= now_sec {
                let [conns, msgs_in, msgs_out, errors] = &b.counts;
                let [bytes_in, bytes_out, handler] = &b.sums;
                s.add(&IpStats {
                    connections: n32(conns),
                    messages_in: n32(msgs_in),
                    bytes_in: n64(bytes_in),
                    messages_out: n32(msgs_out),
                    bytes_out: n64(bytes_out),
                    decode_errors: n32(errors),
                    handler_ns: n64(handler),
                });
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

    /// Counts a connection on a ring it holds.
    pub(crate) fn connected(&self, ring: &Ring, now: Instant) {
        ring.add(self.sec(now), &ONE_CONNECTION);
    }

    /// Counts a connection for `ip` (a refused connection holds no ring).
    pub(crate) fn refused(&self, ip: IpAddr, now: Instant) {
        self.connected(&self.ring(ip, now), now);
    }

    /// The `n` busiest addresses active in the window, the rest added up.
    pub(crate) fn top(&self, n: usize, now: Instant) -> TopIps {
        let (sec, w) = (self.sec(now), self.window);
        let active: Vec<(IpAddr, IpStats)> = {
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
        top_of(active, n)
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
    /// Counts `d` in the current second's bucket.
    pub(crate) fn count(&self, d: &IpStats) {
        let sec = self.windows.clock.load(Ordering::Relaxed);
        self.ring.add(sec, d);
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
        w.refused(ip, t0);
        let ring = w.ring(ip, t0);
        let read = IpStats {
            messages_in: 3,
            bytes_in: 300,
            messages_out: 1,
            bytes_out: 10,
            decode_errors: 1,
            handler_ns: 7,
            ..IpStats::default()
        };
        ring.add(w.sec(t0 + Duration::from_secs(5)), &read);
        let at = |secs| w.get(ip, t0 + Duration::from_secs(secs));
        assert_eq!(
            at(5),
            IpStats {
                connections: 1,
                ..read
            }
        );
        assert_eq!(
            at(12).connections,
            0,
            "the connection at 0 s is out of a 10 s window at 12 s"
        );
        assert_eq!(at(12), read);
        assert_eq!(at(20), IpStats::default());
        assert_eq!(w.get("192.0.2.2".parse().unwrap(), t0), IpStats::default());
    }
}
