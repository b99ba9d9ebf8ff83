//! Putting long messages back together from their parts, whatever carried the parts'
//! numbers (a user data header, SMPP's SAR parameters, SGIP's or SMGP's fields).
//! Sans-IO: the caller passes the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Concat;

#[derive(Debug)]
struct Pending<C> {
    first_seen: Instant,
    parts: Vec<Option<(C, Bytes)>>,
}

type Key = (Bytes, Bytes, u16, u8);

/// Parts of long messages, keyed by source, destination, reference and total. Parts may
/// arrive out of order, twice, or each with its own coding `C`; incomplete messages
/// expire after a timeout the caller chooses, and at most `max_pending` are kept (the
/// oldest is dropped to make room).
///
/// ```
/// use std::time::{Duration, Instant};
/// use bytes::Bytes;
/// use packwire_codecs::sms::{Concat, Parts};
///
/// let mut parts: Parts<u8> = Parts::new(Duration::from_secs(60), 1000);
/// let now = Instant::now();
/// let part = |number| Concat { reference: 7, total: 2, number };
/// assert!(parts.push(now, b"from", b"to", part(2), 0, Bytes::from_static(b" world")).is_none());
/// let whole = parts.push(now, b"from", b"to", part(1), 0, Bytes::from_static(b"hello")).unwrap();
/// assert_eq!(whole.iter().map(|(_, p)| &p[..]).collect::<Vec<_>>().concat(), b"hello world");
/// ```
#[derive(Debug)]
pub struct Parts<C> {
    pending: HashMap<Key, Pending<C>>,
    timeout: Duration,
    max_pending: usize,
    dropped: u64,
}

impl<C: Copy> Parts<C> {
    /// Keeps incomplete messages for `timeout`, at most `max_pending` of them.
    pub fn new(timeout: Duration, max_pending: usize) -> Self {
        Parts {
            pending: HashMap::new(),
            timeout,
            max_pending: max_pending.max(1),
            dropped: 0,
        }
    }

    /// Incomplete messages held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Incomplete messages dropped so far (expired or evicted).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Drops incomplete messages older than the timeout; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.pending.len();
        let timeout = self.timeout;
        self.pending
            .retain(|_, p| now.saturating_duration_since(p.first_seen) < timeout);
        let n = before - self.pending.len();
        self.dropped += n as u64;
        n
    }

    /// Takes part `at` of a message (its payload, header removed, in coding `coding`):
    /// every part in order once the last one is in. A part whose numbers make no sense
    /// (total 0, number 0 or past the total) is a whole message by itself.
    pub fn push(
        &mut self,
        now: Instant,
        src: &[u8],
        dest: &[u8],
        at: Concat,
        coding: C,
        payload: Bytes,
    ) -> Option<Vec<(C, Bytes)>> {
        if !at.is_valid() || at.total == 1 {
            return Some(vec![(coding, payload)]);
        }
        self.expire(now);
        let key = (
            Bytes::copy_from_slice(src),
            Bytes::copy_from_slice(dest),
            at.reference,
            at.total,
        );
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_pending {
            if let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.first_seen)
                .map(|(k, _)| k.clone())
            {
                self.pending.remove(&oldest);
                self.dropped += 1;
            }
        }
        let entry = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            first_seen: now,
            parts: vec![None; usize::from(at.total)],
        });
        let slot = &mut entry.parts[usize::from(at.number) - 1];
        if slot.is_none() {
            *slot = Some((coding, payload));
        }
        if entry.parts.iter().any(Option::is_none) {
            return None;
        }
        let done = self.pending.remove(&key)?;
        Some(done.parts.into_iter().flatten().collect())
    }
}
