//! The connection chores, each a plain struct that takes `now` and says what is due:
//! idle eviction, the write-idle heartbeat, protocol link checks and the reconnect
//! back-off. [`crate::ConnState`] puts the per-connection ones behind one timer.

use std::time::{Duration, Instant};

/// Server-side idle eviction: a connection with no inbound bytes for longer than the
/// timeout is dead. Outbound traffic does not count: writing to a dead peer succeeds
/// until the kernel's buffer fills.
///
/// ```
/// use std::time::{Duration, Instant};
/// use packwire_net::IdleTimer;
///
/// let t0 = Instant::now();
/// let mut idle = IdleTimer::new(Duration::from_secs(30), t0);
/// assert!(!idle.is_expired(t0 + Duration::from_secs(29)));
/// idle.on_read(t0 + Duration::from_secs(20));
/// assert!(!idle.is_expired(t0 + Duration::from_secs(49)));
/// assert!(idle.is_expired(t0 + Duration::from_secs(50)));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IdleTimer {
    timeout: Duration,
    last_read: Instant,
}

impl IdleTimer {
    /// A timer that starts counting at `now`.
    pub fn new(timeout: Duration, now: Instant) -> Self {
        IdleTimer {
            timeout,
            last_read: now,
        }
    }

    /// Bytes arrived at `now`.
    pub fn on_read(&mut self, now: Instant) {
        self.last_read = now;
    }

    /// When the connection becomes idle if nothing arrives.
    pub fn deadline(&self) -> Instant {
        self.last_read + self.timeout
    }

    /// Whether the connection has been silent for the whole timeout at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.deadline()
    }
}

/// What a client's heartbeat wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Nothing yet.
    Wait,
    /// The connection has written nothing for the interval: send the heartbeat message.
    Ping,
    /// The server has sent nothing for the timeout: treat it as dead.
    Dead,
}

/// Client-side heartbeat: ping only after the connection has been *write*-idle for the
/// interval (traffic already proves liveness), and declare the server dead after it has
/// been silent for the timeout.
///
/// ```
/// use std::time::{Duration, Instant};
/// use packwire_net::{Heartbeat, HeartbeatAction};
///
/// let t0 = Instant::now();
/// let s = Duration::from_secs;
/// let mut hb = Heartbeat::new(s(10), s(35), t0);
/// assert_eq!(hb.poll(t0 + s(9)), HeartbeatAction::Wait);
/// hb.on_write(t0 + s(5)); // real traffic: no ping needed until 15 s
/// assert_eq!(hb.poll(t0 + s(12)), HeartbeatAction::Wait);
/// assert_eq!(hb.poll(t0 + s(15)), HeartbeatAction::Ping);
/// hb.on_write(t0 + s(15));
/// assert_eq!(hb.poll(t0 + s(35)), HeartbeatAction::Dead); // nothing read since 0 s
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    last_write: Instant,
    last_read: Instant,
}

impl Heartbeat {
    /// A heartbeat starting at `now` (the moment the connection opened).
    pub fn new(interval: Duration, timeout: Duration, now: Instant) -> Self {
        Heartbeat {
            interval,
            timeout,
            last_write: now,
            last_read: now,
        }
    }

    /// Bytes were written at `now`.
    pub fn on_write(&mut self, now: Instant) {
        self.last_write = now;
    }

    /// Bytes were read at `now`.
    pub fn on_read(&mut self, now: Instant) {
        self.last_read = now;
    }

    /// What is due at `now`.
    pub fn poll(&self, now: Instant) -> HeartbeatAction {
        if now >= self.last_read + self.timeout {
            HeartbeatAction::Dead
        } else if now >= self.last_write + self.interval {
            HeartbeatAction::Ping
        } else {
            HeartbeatAction::Wait
        }
    }

    /// The next moment something may be due.
    pub fn deadline(&self) -> Instant {
        (self.last_write + self.interval).min(self.last_read + self.timeout)
    }
}

/// Reconnect back-off: exponential from `base` to `max`, with up to `jitter` (a fraction)
/// randomly taken off each delay so that clients restarted together do not reconnect in
/// step, and an optional cap on attempts after which it gives up.
///
/// ```
/// use std::time::Duration;
/// use packwire_net::Backoff;
///
/// let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).jitter(0.0).max_attempts(5);
/// let delays: Vec<_> = std::iter::from_fn(|| b.next_delay()).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000].map(Duration::from_millis));
/// b.reset();
/// assert_eq!(b.next_delay(), Some(Duration::from_millis(100)));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    jitter: f64,
    attempts: u32,
    max_attempts: Option<u32>,
    rng: fastrand::Rng,
}

impl Backoff {
    /// Delays from `base` doubling up to `max`, 20% jitter, no attempt cap. Each back-off
    /// seeds its jitter on its own (from the process's random source), so clients started
    /// together spread their reconnects instead of meeting a restarted server in step.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            jitter: 0.2,
            attempts: 0,
            max_attempts: None,
            rng: fastrand::Rng::new(),
        }
    }

    /// The fraction (0 to 1) of each delay that may be randomly taken off.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// Gives up after `n` attempts.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// Seeds the jitter (tests make it repeatable); without it every back-off draws its
    /// own seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// The delay before the next attempt, or `None` once the attempts are used up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.max_attempts.is_some_and(|m| self.attempts >= m) {
            return None;
        }
        let exp = self
            .base
            .saturating_mul(1u32 << self.attempts.min(20))
            .min(self.max);
        self.attempts += 1;
        Some(exp.mul_f64(1.0 - self.jitter * self.rng.f64()))
    }

    /// Attempts made since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Starts over (after a successful connection).
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// What a link check wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    /// Nothing yet.
    Wait,
    /// The peer has sent nothing for the interval: send a link-check request.
    Check,
    /// `max_unanswered` checks went unanswered: close the connection.
    Dead,
}

/// Protocol-level link checking (CMPP's ACTIVE_TEST, SMPP's enquire_link): when the peer
/// has sent nothing for `interval`, send a check; after `max_unanswered` checks in a row
/// with nothing back for another interval each, the link is dead. Any inbound byte
/// (a response or anything else) counts as an answer.
///
/// ```
/// use std::time::{Duration, Instant};
/// use packwire_net::{LinkAction, LinkCheck};
///
/// let s = Duration::from_secs;
/// let t0 = Instant::now();
/// let mut lc = LinkCheck::new(s(60), 3, t0);
/// assert_eq!(lc.poll(t0 + s(59)), LinkAction::Wait);
/// assert_eq!(lc.poll(t0 + s(60)), LinkAction::Check);
/// assert_eq!(lc.poll(t0 + s(120)), LinkAction::Check);
/// lc.on_read(t0 + s(130)); // the peer answered
/// assert_eq!(lc.poll(t0 + s(180)), LinkAction::Wait);
/// assert_eq!(lc.poll(t0 + s(190)), LinkAction::Check);
/// assert_eq!(lc.poll(t0 + s(250)), LinkAction::Check);
/// assert_eq!(lc.poll(t0 + s(310)), LinkAction::Check);
/// assert_eq!(lc.poll(t0 + s(370)), LinkAction::Dead);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LinkCheck {
    interval: Duration,
    max_unanswered: u32,
    unanswered: u32,
    next: Instant,
}

impl LinkCheck {
    /// A link check starting at `now`; `max_unanswered` at least 1.
    pub fn new(interval: Duration, max_unanswered: u32, now: Instant) -> Self {
        LinkCheck {
            interval,
            max_unanswered: max_unanswered.max(1),
            unanswered: 0,
            next: now + interval,
        }
    }

    /// Bytes arrived at `now`.
    pub fn on_read(&mut self, now: Instant) {
        self.unanswered = 0;
        self.next = now + self.interval;
    }

    /// When `poll` next has something to do.
    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> LinkAction {
        if now < self.next {
            return LinkAction::Wait;
        }
        if self.unanswered >= self.max_unanswered {
            return LinkAction::Dead;
        }
        self.unanswered += 1;
        self.next = now + self.interval;
        LinkAction::Check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittered_delays_stay_within_their_band_and_are_seeded() {
        let mut a = Backoff::new(Duration::from_secs(1), Duration::from_secs(30)).seed(7);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30)).seed(7);
        for i in 0..10 {
            let exp = Duration::from_secs(1u64 << i).min(Duration::from_secs(30));
            let d = a.next_delay().unwrap();
            assert!(d <= exp && d >= exp.mul_f64(0.8), "{i}: {d:?} vs {exp:?}");
            assert_eq!(Some(d), b.next_delay());
        }
    }

    #[test]
    fn two_default_backoffs_spread_their_delays_within_the_band() {
        let (base, max) = (Duration::from_millis(200), Duration::from_secs(30));
        let mut a = Backoff::new(base, max);
        let mut b = Backoff::new(base, max);
        let mut differ = 0;
        for i in 0..12 {
            let exp = base.saturating_mul(1 << i).min(max);
            let (da, db) = (a.next_delay().unwrap(), b.next_delay().unwrap());
            for d in [da, db] {
                assert!(d <= exp && d >= exp.mul_f64(0.8), "{i}: {d:?} vs {exp:?}");
            }
            differ += usize::from(da != db);
        }
        // equal by chance in one step at most once in ~2^50; twelve steps all equal means
        // the two share a seed
        assert!(
            differ >= 11,
            "two clients reconnect in step: {differ} of 12 delays differ"
        );
    }

    #[test]
    fn heartbeat_deadline_is_the_earlier_of_ping_and_death() {
        let t0 = Instant::now();
        let hb = Heartbeat::new(Duration::from_secs(10), Duration::from_secs(5), t0);
        assert_eq!(hb.deadline(), t0 + Duration::from_secs(5));
        assert_eq!(hb.poll(t0 + Duration::from_secs(5)), HeartbeatAction::Dead);
    }
}
