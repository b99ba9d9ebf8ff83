//! Sans-IO request/response bookkeeping for protocols that match responses to requests by
//! a key (CMPP's and SMPP's sequence ids): a window of requests in flight, resends after
//! a timeout, a cap on sends, unmatched responses reported. [`crate::Conn::call`] is
//! built on it; a runtime of your own can drive it the same way.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// What the caller must do for a request in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due<K> {
    /// No response within the timeout: send the request again (same key).
    Resend(K),
    /// No response after the last allowed send: fail the call.
    TimedOut(K),
}

/// What became of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// It answers a request in flight, which is now done (its window slot is free).
    Request,
    /// No request in flight has this key (a late answer to a timed-out request, a peer's
    /// mistake): report it, never drop it silently.
    Unmatched,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    sent: Instant,
    sends: u32,
}

/// At most `window` requests in flight; each resent after `timeout` without a response,
/// at most `max_sends` sends in all (CMPP: 16, 60 s, 3).
///
/// ```
/// use std::time::{Duration, Instant};
/// use packwire_net::correlate::{Correlator, Due, Matched};
///
/// let t0 = Instant::now();
/// let mut c = Correlator::new(2, Duration::from_secs(60), 3);
/// assert!(c.try_start(1u32, t0));
/// assert!(c.try_start(2, t0));
/// assert!(!c.try_start(3, t0), "the window is full");
/// assert_eq!(c.on_response(&1), Matched::Request);
/// assert!(c.try_start(3, t0));
/// assert_eq!(c.poll(t0 + Duration::from_secs(60)), vec![Due::Resend(2), Due::Resend(3)]);
/// ```
#[derive(Debug)]
pub struct Correlator<K> {
    window: usize,
    timeout: Duration,
    max_sends: u32,
    inflight: HashMap<K, Entry>,
    unmatched: u64,
}

impl<K: Hash + Eq + Clone + Ord> Correlator<K> {
    /// A correlator with the given window, resend timeout and cap on sends (at least 1).
    pub fn new(window: usize, timeout: Duration, max_sends: u32) -> Self {
        Correlator {
            window: window.max(1),
            timeout,
            max_sends: max_sends.max(1),
            inflight: HashMap::new(),
            unmatched: 0,
        }
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Whether another request may be sent now.
    pub fn has_room(&self) -> bool {
        self.inflight.len() < self.window
    }

    /// Records that request `key` is sent at `now`; false (and nothing recorded) when the
    /// window is full or `key` is already in flight (sequence ids wrap: never reuse one
    /// that is still outstanding).
    pub fn try_start(&mut self, key: K, now: Instant) -> bool {
        if !self.has_room() || self.inflight.contains_key(&key) {
            return false;
        }
        self.inflight.insert(
            key,
            Entry {
                sent: now,
                sends: 1,
            },
        );
        true
    }

    /// A response with `key` arrived.
    pub fn on_response(&mut self, key: &K) -> Matched {
        if self.inflight.remove(key).is_some() {
            Matched::Request
        } else {
            self.unmatched += 1;
            Matched::Unmatched
        }
    }

    /// Forgets a request (the caller gave up on it, or cancelled).
    pub fn cancel(&mut self, key: &K) {
        self.inflight.remove(key);
    }

    /// Responses that matched nothing, so far.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    /// What is due at `now`, in key order: resends (recorded as sent now) and timeouts
    /// (removed).
    pub fn poll(&mut self, now: Instant) -> Vec<Due<K>> {
        let mut due: Vec<K> = self
            .inflight
            .iter()
            .filter(|(_, e)| now >= e.sent + self.timeout)
            .map(|(k, _)| k.clone())
            .collect();
        due.sort();
        let mut out = Vec::with_capacity(due.len());
        for k in due {
            let Some(e) = self.inflight.get_mut(&k) else {
                continue;
            };
            if e.sends >= self.max_sends {
                self.inflight.remove(&k);
                out.push(Due::TimedOut(k));
            } else {
                e.sends += 1;
                e.sent = now;
                out.push(Due::Resend(k));
            }
        }
        out
    }

    /// Whether `key` is in flight.
    pub fn contains(&self, key: &K) -> bool {
        self.inflight.contains_key(key)
    }

    /// When request `key` is due (resend or time-out), if it is in flight.
    pub fn deadline_of(&self, key: &K) -> Option<Instant> {
        self.inflight.get(key).map(|e| e.sent + self.timeout)
    }

    /// [`Correlator::poll`] for one request: what is due for `key` at `now` (a resend is
    /// recorded as sent now; a time-out removes it), `None` when nothing is due or `key` is
    /// not in flight. A runtime whose calls each wait on their own timer uses this.
    pub fn poll_key(&mut self, key: &K, now: Instant) -> Option<Due<K>> {
        let e = self.inflight.get_mut(key)?;
        if now < e.sent + self.timeout {
            return None;
        }
        if e.sends >= self.max_sends {
            self.inflight.remove(key);
            Some(Due::TimedOut(key.clone()))
        } else {
            e.sends += 1;
            e.sent = now;
            Some(Due::Resend(key.clone()))
        }
    }

    /// How many sends request `key` has had.
    pub fn sends(&self, key: &K) -> Option<u32> {
        self.inflight.get(key).map(|e| e.sends)
    }

    /// When `poll` next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        self.inflight.values().map(|e| e.sent + self.timeout).min()
    }
}

/// The next sequence id after `id`, wrapping, and skipping the ids still in flight.
pub fn next_free<K: Hash + Eq + Clone + Ord>(
    c: &Correlator<K>,
    mut id: u32,
    key: impl Fn(u32) -> K,
) -> u32 {
    for _ in 0..=c.window {
        id = id.wrapping_add(1);
        if !c.inflight.contains_key(&key(id)) {
            break;
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_sends_then_a_timeout_as_cmpp_prescribes() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut c = Correlator::new(16, s(60), 3);
        assert!(c.try_start(7u32, t0));
        assert_eq!(c.deadline(), Some(t0 + s(60)));
        assert!(c.poll(t0 + s(59)).is_empty());
        assert_eq!(c.poll(t0 + s(60)), vec![Due::Resend(7)]);
        assert_eq!(c.poll(t0 + s(120)), vec![Due::Resend(7)]);
        assert_eq!(c.poll(t0 + s(180)), vec![Due::TimedOut(7)]);
        assert_eq!(c.in_flight(), 0);
        // the late answer is reported, not dropped
        assert_eq!(c.on_response(&7), Matched::Unmatched);
        assert_eq!(c.unmatched(), 1);
    }

    #[test]
    fn the_17th_request_waits_for_room_and_responses_may_come_out_of_order() {
        let t0 = Instant::now();
        let mut c = Correlator::new(16, Duration::from_secs(60), 3);
        for k in 0..16u32 {
            assert!(c.try_start(k, t0));
        }
        assert!(!c.try_start(16, t0));
        assert_eq!(c.on_response(&9), Matched::Request);
        assert_eq!(c.on_response(&3), Matched::Request);
        assert!(c.try_start(16, t0));
        assert!(c.try_start(17, t0));
        assert!(!c.try_start(18, t0));
        assert!(!c.try_start(5, t0), "an id still in flight is not reused");
    }

    #[test]
    fn one_request_at_a_time_resends_then_times_out() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut c = Correlator::new(16, s(60), 3);
        assert!(c.try_start(1u32, t0));
        assert!(c.try_start(2u32, t0 + s(30)));
        assert_eq!(c.deadline_of(&1), Some(t0 + s(60)));
        assert_eq!(c.poll_key(&1, t0 + s(59)), None);
        assert_eq!(c.poll_key(&1, t0 + s(60)), Some(Due::Resend(1)));
        assert_eq!(c.sends(&1), Some(2));
        assert_eq!(c.deadline_of(&1), Some(t0 + s(120)));
        // the other request keeps its own clock
        assert_eq!(c.poll_key(&2, t0 + s(60)), None);
        assert_eq!(c.poll_key(&1, t0 + s(120)), Some(Due::Resend(1)));
        assert_eq!(c.poll_key(&1, t0 + s(180)), Some(Due::TimedOut(1)));
        assert!(!c.contains(&1));
        assert_eq!(c.poll_key(&1, t0 + s(999)), None);
        assert_eq!(c.in_flight(), 1);
    }

    #[test]
    fn sequence_ids_wrap_and_skip_ids_in_flight() {
        let t0 = Instant::now();
        let mut c = Correlator::new(4, Duration::from_secs(60), 3);
        assert!(c.try_start(0u32, t0));
        assert!(c.try_start(1u32, t0));
        assert_eq!(
            next_free(&c, u32::MAX, |i| i),
            2,
            "wraps past 0 and skips 0 and 1"
        );
        assert_eq!(next_free(&c, 5, |i| i), 6);
    }
}
