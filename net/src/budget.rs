//! The server-wide memory budget: bytes of large partial frames and deep outbound queues,
//! shared by every connection of one server.
//!
//! Each connection may hold [`FREE_PER_CONN`] bytes of unread input and as much of queued
//! output without asking (an ordinary connection never touches the shared counter); only
//! what goes beyond that is charged here. A connection whose input needs more than the
//! budget has left is closed ([`crate::CloseReason::OverBudget`]); a send that would need
//! more waits or fails as a full queue does. So the process never runs out of memory
//! because many peers each hold a little less than a maximal frame.

use std::sync::atomic::{AtomicUsize, Ordering};

/// What each connection holds, in input and in queued output, before the budget counts.
pub(crate) const FREE_PER_CONN: usize = 64 * 1024;

/// The bytes every connection of one server may hold beyond [`FREE_PER_CONN`].
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    max: usize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Self {
        Budget {
            used: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes `n` bytes if the budget has them.
    pub(crate) fn try_charge(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&t| t <= self.max)
            })
            .is_ok()
    }

    /// Takes `n` bytes whatever is left (for memory that exists already).
    pub(crate) fn force_charge(&self, n: usize) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    /// Gives `n` charged bytes back.
    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// The bytes charged now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// One connection's share of the budget for one buffer: charges what the buffer holds
/// beyond [`FREE_PER_CONN`] and gives it back as the buffer shrinks.
#[derive(Debug, Default)]
pub(crate) struct Share {
    charged: usize,
}

impl Share {
    /// Follows a buffer now holding `len` bytes; `false` when growing would pass the
    /// budget (then nothing more is charged). `force` charges whatever is left.
    pub(crate) fn follow(&mut self, budget: &Budget, len: usize, force: bool) -> bool {
        let want = len.saturating_sub(FREE_PER_CONN);
        if want > self.charged {
            let more = want - self.charged;
            if force {
                budget.force_charge(more);
            } else if !budget.try_charge(more) {
                return false;
            }
        } else {
            budget.release(self.charged - want);
        }
        self.charged = want;
        true
    }

    /// Gives everything back.
    pub(crate) fn release(&mut self, budget: &Budget) {
        budget.release(std::mem::take(&mut self.charged));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bytes_beyond_the_free_share_are_charged_and_the_budget_holds() {
        let b = Budget::new(100_000);
        let (mut one, mut two) = (Share::default(), Share::default());
        assert!(one.follow(&b, FREE_PER_CONN, false));
        assert_eq!(b.used(), 0, "an ordinary buffer costs the budget nothing");
        assert!(one.follow(&b, FREE_PER_CONN + 60_000, false));
        assert_eq!(b.used(), 60_000);
        assert!(
            !two.follow(&b, FREE_PER_CONN + 50_000, false),
            "over the budget"
        );
        assert_eq!(b.used(), 60_000, "a refused charge takes nothing");
        assert!(one.follow(&b, FREE_PER_CONN + 10_000, false));
        assert_eq!(b.used(), 10_000, "shrinking gives back");
        assert!(two.follow(&b, FREE_PER_CONN + 50_000, false));
        two.follow(&b, usize::MAX / 2, true);
        two.release(&b);
        one.release(&b);
        assert_eq!(b.used(), 0);
    }
}
