//! A node's cluster statistics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::envelope::TargetKind;

const KINDS: usize = TargetKind::ALL.len();

#[derive(Debug, Default)]
pub(crate) struct Counters {
    published: [AtomicU64; KINDS],
    received: [AtomicU64; KINDS],
    dropped: [AtomicU64; KINDS],
    delivered: AtomicU64,
    bad_envelopes: AtomicU64,
    broker_downs: AtomicU64,
    resubscribes: AtomicU64,
    presence_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn published(&self, k: TargetKind) {
        self.published[k as usize].fetch_add(1, Relaxed);
    }
    pub(crate) fn received(&self, k: TargetKind) {
        self.received[k as usize].fetch_add(1, Relaxed);
    }
    pub(crate) fn dropped(&self, k: TargetKind) {
        self.dropped[k as usize].fetch_add(1, Relaxed);
    }
    pub(crate) fn delivered(&self, n: usize) {
        self.delivered.fetch_add(n as u64, Relaxed);
    }
    pub(crate) fn bad_envelope(&self) {
        self.bad_envelopes.fetch_add(1, Relaxed);
    }
    pub(crate) fn broker_down(&self) {
        self.broker_downs.fetch_add(1, Relaxed);
    }
    pub(crate) fn resubscribed(&self) {
        self.resubscribes.fetch_add(1, Relaxed);
    }
    pub(crate) fn presence_failed(&self) {
        self.presence_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, presence_users: usize) -> ClusterStats {
        let read = |a: &[AtomicU64; KINDS]| std::array::from_fn(|i| a[i].load(Relaxed));
        ClusterStats {
            published: read(&self.published),
            received: read(&self.received),
            dropped: read(&self.dropped),
            delivered: self.delivered.load(Relaxed),
            bad_envelopes: self.bad_envelopes.load(Relaxed),
            broker_downs: self.broker_downs.load(Relaxed),
            resubscribes: self.resubscribes.load(Relaxed),
            presence_failures: self.presence_failures.load(Relaxed),
            presence_users,
        }
    }
}

/// What one node did in its cluster, since it joined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStats {
    published: [u64; KINDS],
    received: [u64; KINDS],
    dropped: [u64; KINDS],
    /// Connections of this node that envelopes from other nodes were queued for.
    pub delivered: u64,
    /// Frames from the broker that were not envelopes (and were dropped).
    pub bad_envelopes: u64,
    /// Times the link to the broker broke.
    pub broker_downs: u64,
    /// Times the subscription came back after a break.
    pub resubscribes: u64,
    /// Presence writes that failed (retried in full at the next chance).
    pub presence_failures: u64,
    /// Users online on this node, now.
    pub presence_users: usize,
}

impl ClusterStats {
    /// Envelopes published to the broker, for one kind of target.
    pub fn published(&self, k: TargetKind) -> u64 {
        self.published[k as usize]
    }

    /// Envelopes received from other nodes, for one kind of target.
    pub fn received(&self, k: TargetKind) -> u64 {
        self.received[k as usize]
    }

    /// Sends not published (broker unreachable, queue full, publish failed), for one
    /// kind of target.
    pub fn dropped(&self, k: TargetKind) -> u64 {
        self.dropped[k as usize]
    }

    /// Totals over every kind: published, received, dropped.
    pub fn totals(&self) -> (u64, u64, u64) {
        (
            self.published.iter().sum(),
            self.received.iter().sum(),
            self.dropped.iter().sum(),
        )
    }
}
