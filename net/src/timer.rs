//! Sans-IO timers: plain structs that take `now` and say what is due. The tokio tasks only
//! sleep until the deadline they give.

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
