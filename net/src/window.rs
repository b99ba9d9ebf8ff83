//! Per-IP counters over a sliding window (one-second buckets).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What one IP address did over the last window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IpStats {
    /// Connections accepted (or refused) from it.
    pub connections: u64,
    /// Messages decoded from it.
    pub messages_in: u64,
    /// Bytes read from it.
    pub bytes_in: u64,
}

const BUCKETS: usize = 60;

#[derive(Debug)]
struct Ring {
    /// per bucket: the second it counts, and its counts
    buckets: [(u64, IpStats); BUCKETS],
}

impl Ring {
    fn bucket(&mut self, sec: u64) -> &mut IpStats {
        let b = &mut self.buckets[(sec % BUCKETS as u64) as usize];
        if b.0 != sec {
            *b = (sec, IpStats::default());
        }
        &mut b.1
    }

    fn sum(&self, now_sec: u64, window: u64) -> IpStats {
        let mut s = IpStats::default();
        for (sec, b) in &self.buckets {
            if sec.saturating_add(window) > now_sec && *sec <= now_sec {
                s.connections += b.connections;
                s.messages_in += b.messages_in;
                s.bytes_in += b.bytes_in;
            }
        }
        s
    }
}

/// Counters per IP over the last `window` (at most 60 s), kept in one-second buckets.
#[derive(Debug)]
pub(crate) struct IpWindows {
    start: Instant,
    window: u64,
    rings: Mutex<HashMap<IpAddr, Ring>>,
}

impl IpWindows {
    pub(crate) fn new(window: Duration) -> Self {
        IpWindows {
            start: Instant::now(),
            window: window.as_secs().clamp(1, BUCKETS as u64),
            rings: Mutex::new(HashMap::new()),
        }
    }

    fn sec(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }

    pub(crate) fn add(&self, ip: IpAddr, now: Instant, f: impl FnOnce(&mut IpStats)) {
        let sec = self.sec(now);
        let mut rings = self
            .rings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rings.len() > 100_000 {
            // bound the map: forget addresses with nothing in the window
            let w = self.window;
            rings.retain(|_, r| r.sum(sec, w) != IpStats::default());
        }
        let ring = rings.entry(ip).or_insert_with(|| Ring {
            buckets: [(u64::MAX, IpStats::default()); BUCKETS],
        });
        f(ring.bucket(sec));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_out_of_the_window() {
        let w = IpWindows::new(Duration::from_secs(10));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = w.start;
        w.add(ip, t0, |s| s.connections += 1);
        w.add(ip, t0 + Duration::from_secs(5), |s| {
            s.messages_in += 3;
            s.bytes_in += 300;
        });
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
