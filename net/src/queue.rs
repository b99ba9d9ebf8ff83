//! A connection's outbound queue: any task pushes, the connection's own task takes
//! everything queued with one lock.
//!
//! A bounded tokio `mpsc` channel costs a semaphore permit, a linked-block push and a
//! wake per message, and a pop plus a permit release per message on the other side; in
//! the echo benchmark that was about a third of the server's own CPU. Here a push is one
//! uncontended lock, and the connection's task swaps the whole queue out at once, which
//! is also the batch it encodes into one write.
//!
//! The first item waits in a slot of its own, so a connection that sends one message at a
//! time (a request answered, a push) never takes storage for a list of them.
//!
//! The queue is bounded in messages and in bytes (each push says what its item weighs):
//! a push that would pass either bound is refused, except into an empty queue — a
//! message larger than the byte bound goes out alone. Bytes beyond the connection's free
//! share are charged to the server's [`Budget`], so deep queues on many connections
//! cannot add up past it.

use std::collections::VecDeque;
#[cfg(test)]
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

use crate::budget::{Budget, Share};

/// Why a push failed; the item comes back.
#[derive(Debug)]
pub(crate) enum PushError<T> {
    Full(T),
    Closed(T),
}

/// What a take found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Took<T> {
    /// nothing queued
    Nothing,
    /// one item, handed over without storage for a list
    One(T),
    /// this many items, moved to the end of the caller's list
    Many(usize),
}

#[derive(Debug)]
struct State<T> {
    /// the oldest item (`None` only while `items` is empty too)
    first: Option<T>,
    /// the items after the first
    items: VecDeque<T>,
    /// the connection's task, woken by a push while it is parked
    waker: Option<Waker>,
    /// the connection's task waits for a push (the waker is kept once it is not: parking
    /// again needs no clone)
    parked: bool,
    closed: bool,
    /// a sender waits for room
    senders_waiting: bool,
    /// what the queued items weigh
    bytes: usize,
    /// the part of `bytes` charged to the server's budget
    share: Share,
}

/// A queue's bounds, the same for every connection of a server (so each connection's
/// queue does not keep its own copy): messages, bytes, and the budget deep queues are
/// charged to.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    pub(crate) cap: usize,
    pub(crate) max_bytes: usize,
    pub(crate) budget: Option<Arc<Budget>>,
}

#[derive(Debug)]
pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    /// the connection's task runs its own handlers (set without the lock; cleared under
    /// it when the task parks): a push then need not wake it
    handling: AtomicBool,
    /// something was pushed since the last take (read without the lock by the
    /// connection's task, to know whether a handler's returned answer may go first)
    queued: AtomicBool,
    room: Notify,
}

impl<T: 'static> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue {
            state: Mutex::new(State {
                first: None,
                items: VecDeque::new(),
                waker: None,
                parked: false,
                closed: false,
                senders_waiting: false,
                bytes: 0,
                share: Share::default(),
            }),
            handling: AtomicBool::new(false),
            queued: AtomicBool::new(false),
            room: Notify::new(),
        }
    }

    fn push_inner(
        &self,
        b: &Bound,
        item: T,
        weight: usize,
        mark_waiting: bool,
    ) -> Result<(), PushError<T>> {
        let waker = {
            let mut s = self.lock();
            if s.closed {
                return Err(PushError::Closed(item));
            }
            let bytes = s.bytes.saturating_add(weight);
            let empty = s.first.is_none();
            let fits = empty || (1 + s.items.len() < b.cap.max(1) && bytes <= b.max_bytes);
            let budgeted = match &b.budget {
                Some(budget) if fits => s.share.follow(budget, bytes, empty),
                _ => fits,
            };
            if !budgeted {
                s.senders_waiting |= mark_waiting;
                return Err(PushError::Full(item));
            }
            s.bytes = bytes;
            self.queued.store(true, Ordering::Release);
            if empty {
                s.first = Some(item);
            } else {
                if s.items.capacity() == 0 {
                    s.items = crate::buffers::take_deque();
                }
                s.items.push_back(item);
            }
            if s.parked && !self.handling.load(Ordering::Acquire) {
                s.parked = false;
                s.waker.clone()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Queues `item`, weighing `weight` bytes, if there is room now.
    pub(crate) fn try_push(&self, b: &Bound, item: T, weight: usize) -> Result<(), PushError<T>> {
        self.push_inner(b, item, weight, false)
    }

    /// Queues `item`, waiting for room; `Err` gives it back when the queue closed.
    pub(crate) async fn push(&self, b: &Bound, item: T, weight: usize) -> Result<(), T> {
        let mut item = match self.push_inner(b, item, weight, false) {
            Ok(()) => return Ok(()),
            Err(PushError::Closed(i)) => return Err(i),
            Err(PushError::Full(i)) => i,
        };
        loop {
            // registered before looking, so a take between the look and the wait wakes it
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.push_inner(b, item, weight, true) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(i)) => return Err(i),
                Err(PushError::Full(i)) => item = i,
            }
            notified.await;
        }
    }

    /// Takes everything queued: one item alone, or more moved to the end of `into`.
    pub(crate) fn take_all(&self, b: &Bound, into: &mut VecDeque<T>) -> Took<T> {
        let (took, wake) = self.take_locked(&mut self.lock(), b, into);
        if wake {
            self.room.notify_waiters();
        }
        took
    }

    /// Takes what is queued (as [`Queue::take_all`]) and parks the connection's task on
    /// the queue, so the next push wakes it, all under one lock: `Ready(Some(took))` when
    /// it took something, `Ready(None)` when the queue is closed (nothing taken), `Pending`
    /// when it was empty.
    pub(crate) fn poll_take(
        &self,
        cx: &mut Context<'_>,
        b: &Bound,
        into: &mut VecDeque<T>,
    ) -> Poll<Option<Took<T>>> {
        let (took, wake) = {
            let mut s = self.lock();
            if s.closed {
                return Poll::Ready(None);
            }
            self.park_locked(&mut s, cx);
            self.take_locked(&mut s, b, into)
        };
        if wake {
            self.room.notify_waiters();
        }
        match took {
            Took::Nothing => Poll::Pending,
            took => Poll::Ready(Some(took)),
        }
    }

    fn park_locked(&self, s: &mut State<T>, cx: &Context<'_>) {
        s.parked = true;
        self.handling.store(false, Ordering::Release);
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
    }

    /// Moves the items out; also says whether a sender waits for the room it made.
    fn take_locked(&self, s: &mut State<T>, b: &Bound, into: &mut VecDeque<T>) -> (Took<T>, bool) {
        let Some(first) = s.first.take() else {
            return (Took::Nothing, false);
        };
        // under the lock, as the store of a push is
        self.queued.store(false, Ordering::Release);
        let took = if s.items.is_empty() {
            Took::One(first)
        } else {
            let n = 1 + s.items.len();
            if into.is_empty() {
                std::mem::swap(&mut s.items, into);
                into.push_front(first);
            } else {
                into.push_back(first);
                into.extend(s.items.drain(..));
            }
            Took::Many(n)
        };
        s.bytes = 0;
        if let Some(budget) = &b.budget {
            s.share.release(budget);
        }
        (took, std::mem::take(&mut s.senders_waiting))
    }

    /// Ready when something is queued (or the queue closed); otherwise parks the
    /// connection's task on the queue.
    #[cfg(test)]
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.lock();
        if s.first.is_some() || s.closed {
            return Poll::Ready(());
        }
        self.park_locked(&mut s, cx);
        Poll::Pending
    }

    /// Resolves when something is queued.
    #[cfg(test)]
    pub(crate) async fn ready(&self) {
        poll_fn(|cx| self.poll_ready(cx)).await;
    }

    /// Whether something may be queued: `false` only when every push so far was taken
    /// (pushes from the reading thread itself are always seen).
    pub(crate) fn maybe_queued(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// The connection's task runs its own handlers: their sends need not wake it (it
    /// takes what they queued when it next looks).
    pub(crate) fn unpark(&self) {
        // no lock: a push that misses this store wakes the task once for nothing
        self.handling.store(true, Ordering::Release);
    }

    /// Refuses further pushes and wakes every waiting sender and the connection's task.
    pub(crate) fn close(&self) {
        let waker = {
            let mut s = self.lock();
            s.closed = true;
            s.waker.take()
        };
        self.room.notify_waiters();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Queue<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives back what the queue holds of the budget (when its connection is dropped).
    pub(crate) fn release(&self, b: &Bound) {
        if let Some(budget) = &b.budget {
            self.lock().share.release(budget);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(cap: usize, max_bytes: usize, budget: Option<Arc<Budget>>) -> Bound {
        Bound {
            cap,
            max_bytes,
            budget,
        }
    }

    /// Takes everything into `out`, the lone item too; how many.
    fn take_into<T: 'static>(q: &Queue<T>, b: &Bound, out: &mut VecDeque<T>) -> usize {
        match q.take_all(b, out) {
            Took::Nothing => 0,
            Took::One(t) => {
                out.push_back(t);
                1
            }
            Took::Many(n) => n,
        }
    }

    #[test]
    fn one_item_is_handed_over_without_list_storage() {
        let (q, b) = (Queue::new(), bound(16, 1 << 20, None));
        let mut out = VecDeque::new();
        assert_eq!(q.take_all(&b, &mut out), Took::Nothing);
        q.try_push(&b, 1, 1).unwrap();
        assert_eq!(q.take_all(&b, &mut out), Took::One(1));
        assert_eq!(out.capacity(), 0, "no list was needed");
        assert_eq!(q.lock().items.capacity(), 0, "nor in the queue");
        // two: the first from its slot, then the rest, in order
        q.try_push(&b, 2, 1).unwrap();
        q.try_push(&b, 3, 1).unwrap();
        assert_eq!(q.take_all(&b, &mut out), Took::Many(2));
        q.try_push(&b, 4, 1).unwrap();
        q.try_push(&b, 5, 1).unwrap();
        assert_eq!(q.take_all(&b, &mut out), Took::Many(2));
        assert_eq!(out, [2, 3, 4, 5]);
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn only_a_push_to_a_parked_task_wakes_it() {
        let q = Queue::new();
        let b = bound(16, 1 << 20, None);
        let count = Arc::new(Count(Default::default()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let wakes = || count.0.load(Ordering::SeqCst);
        let mut out = VecDeque::new();
        // parked on an empty queue: a push wakes it, once
        assert!(q.poll_take(&mut cx, &b, &mut out).is_pending());
        q.try_push(&b, 1, 1).unwrap();
        q.try_push(&b, 2, 1).unwrap();
        assert_eq!(wakes(), 1);
        // taking parks it again in the same breath: the next push wakes it
        assert_eq!(
            q.poll_take(&mut cx, &b, &mut out),
            Poll::Ready(Some(Took::Many(2)))
        );
        q.try_push(&b, 3, 1).unwrap();
        assert_eq!(wakes(), 2);
        // while the task runs its own handlers their pushes do not wake it, and it
        // still finds them
        q.unpark();
        q.try_push(&b, 4, 1).unwrap();
        assert_eq!(wakes(), 2);
        assert_eq!(
            q.poll_take(&mut cx, &b, &mut out),
            Poll::Ready(Some(Took::Many(2)))
        );
        assert_eq!(out, [1, 2, 3, 4]);
        // closed: said at once, and nothing more is taken
        q.close();
        assert_eq!(q.poll_take(&mut cx, &b, &mut out), Poll::Ready(None));
    }

    #[test]
    fn full_and_closed_give_the_item_back() {
        let (q, b) = (Queue::new(), bound(2, usize::MAX, None));
        q.try_push(&b, 1, 1).unwrap();
        q.try_push(&b, 2, 1).unwrap();
        assert!(matches!(q.try_push(&b, 3, 1), Err(PushError::Full(3))));
        let mut out = VecDeque::new();
        assert_eq!(take_into(&q, &b, &mut out), 2);
        assert_eq!(out, [1, 2]);
        q.try_push(&b, 3, 1).unwrap();
        q.close();
        assert!(matches!(q.try_push(&b, 4, 1), Err(PushError::Closed(4))));
        assert_eq!(take_into(&q, &b, &mut out), 1);
        assert_eq!(out, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_waiting_sender_gets_room_in_order() {
        let (q, b) = (Arc::new(Queue::new()), bound(1, usize::MAX, None));
        q.try_push(&b, 0, 1).unwrap();
        let (q2, b2) = (q.clone(), b.clone());
        let sender = tokio::spawn(async move {
            for i in 1..100 {
                q2.push(&b2, i, 1).await.unwrap();
            }
        });
        let mut got = VecDeque::new();
        while got.len() < 100 {
            q.ready().await;
            take_into(&q, &b, &mut got);
        }
        sender.await.unwrap();
        assert_eq!(got, (0..100).collect::<VecDeque<_>>());
    }

    #[tokio::test]
    async fn closing_releases_a_waiting_sender() {
        let (q, b) = (Arc::new(Queue::new()), bound(1, usize::MAX, None));
        q.try_push(&b, 0, 1).unwrap();
        let (q2, b2) = (q.clone(), b.clone());
        let sender = tokio::spawn(async move { q2.push(&b2, 1, 1).await });
        tokio::task::yield_now().await;
        q.close();
        assert_eq!(sender.await.unwrap(), Err(1));
    }

    #[test]
    fn the_byte_bound_refuses_a_push_that_would_pass_it_but_not_into_an_empty_queue() {
        let (q, b) = (Queue::new(), bound(100, 1000, None));
        q.try_push(&b, "big", 5000).unwrap(); // alone: larger than the bound, still goes
        assert!(matches!(
            q.try_push(&b, "small", 1),
            Err(PushError::Full(_))
        ));
        let mut out = VecDeque::new();
        take_into(&q, &b, &mut out);
        q.try_push(&b, "a", 600).unwrap();
        q.try_push(&b, "b", 400).unwrap();
        assert!(matches!(q.try_push(&b, "c", 1), Err(PushError::Full(_))));
        take_into(&q, &b, &mut out);
        assert_eq!(out, ["big", "a", "b"]);
    }

    #[test]
    fn deep_queues_are_charged_to_the_servers_budget_and_give_it_back() {
        use crate::budget::FREE_PER_CONN;
        let budget = Arc::new(Budget::new(10_000));
        let b = bound(100, usize::MAX, Some(budget.clone()));
        let (one, two) = (Queue::new(), Queue::new());
        one.try_push(&b, 0, FREE_PER_CONN).unwrap();
        one.try_push(&b, 1, 8_000).unwrap();
        assert_eq!(budget.used(), 8_000);
        two.try_push(&b, 0, FREE_PER_CONN).unwrap();
        assert!(
            matches!(two.try_push(&b, 1, 5_000), Err(PushError::Full(_))),
            "another queue cannot take what the budget no longer has"
        );
        let mut out = VecDeque::new();
        take_into(&one, &b, &mut out);
        assert_eq!(budget.used(), 0);
        two.try_push(&b, 1, 5_000).unwrap();
        two.release(&b);
        assert_eq!(budget.used(), 0, "a released queue gives its share back");
    }
}
