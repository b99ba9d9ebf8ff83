//! A connection's outbound queue: any task pushes, the connection's own task takes
//! everything queued with one lock.
//!
//! A bounded tokio `mpsc` channel costs a semaphore permit, a linked-block push and a
//! wake per message, and a pop plus a permit release per message on the other side; in
//! the echo benchmark that was about a third of the server's own CPU. Here a push is one
//! uncontended lock, and the connection's task swaps the whole queue out at once, which
//! is also the batch it encodes into one write.

use std::collections::VecDeque;
#[cfg(test)]
use std::future::poll_fn;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

/// Why a push failed; the item comes back.
#[derive(Debug)]
pub(crate) enum PushError<T> {
    Full(T),
    Closed(T),
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    /// the connection's task, parked until something is queued
    waker: Option<Waker>,
    closed: bool,
    /// a sender waits for room
    senders_waiting: bool,
}

#[derive(Debug)]
pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    room: Notify,
    cap: usize,
}

impl<T> Queue<T> {
    pub(crate) fn new(cap: usize) -> Self {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                waker: None,
                closed: false,
                senders_waiting: false,
            }),
            room: Notify::new(),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push_inner(&self, item: T, mark_waiting: bool) -> Result<(), PushError<T>> {
        let waker = {
            let mut s = self.lock();
            if s.closed {
                return Err(PushError::Closed(item));
            }
            if s.items.len() >= self.cap {
                s.senders_waiting |= mark_waiting;
                return Err(PushError::Full(item));
            }
            s.items.push_back(item);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Queues `item` if there is room now.
    pub(crate) fn try_push(&self, item: T) -> Result<(), PushError<T>> {
        self.push_inner(item, false)
    }

    /// Queues `item`, waiting for room; `Err` gives it back when the queue closed.
    pub(crate) async fn push(&self, item: T) -> Result<(), T> {
        let mut item = match self.push_inner(item, false) {
            Ok(()) => return Ok(()),
            Err(PushError::Closed(i)) => return Err(i),
            Err(PushError::Full(i)) => i,
        };
        loop {
            // registered before looking, so a take between the look and the wait wakes it
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.push_inner(item, true) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(i)) => return Err(i),
                Err(PushError::Full(i)) => item = i,
            }
            notified.await;
        }
    }

    /// Moves everything queued to the end of `into`; returns how many items moved.
    pub(crate) fn take_all(&self, into: &mut VecDeque<T>) -> usize {
        let (n, wake) = {
            let mut s = self.lock();
            let n = s.items.len();
            if n == 0 {
                return 0;
            }
            if into.is_empty() {
                std::mem::swap(&mut s.items, into);
            } else {
                into.extend(s.items.drain(..));
            }
            (n, std::mem::take(&mut s.senders_waiting))
        };
        if wake {
            self.room.notify_waiters();
        }
        n
    }

    /// Ready when something is queued (or the queue closed); otherwise remembers the
    /// task to wake.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.lock();
        if !s.items.is_empty() || s.closed {
            return Poll::Ready(());
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Resolves when something is queued.
    #[cfg(test)]
    pub(crate) async fn ready(&self) {
        poll_fn(|cx| self.poll_ready(cx)).await;
    }

    /// Forgets the parked task: the connection's task calls it while it runs its own
    /// handlers, whose sends need not wake it.
    pub(crate) fn unpark(&self) {
        self.lock().waker = None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn full_and_closed_give_the_item_back() {
        let q = Queue::new(2);
        q.try_push(1).unwrap();
        q.try_push(2).unwrap();
        assert!(matches!(q.try_push(3), Err(PushError::Full(3))));
        let mut out = VecDeque::new();
        assert_eq!(q.take_all(&mut out), 2);
        assert_eq!(out, [1, 2]);
        q.try_push(3).unwrap();
        q.close();
        assert!(matches!(q.try_push(4), Err(PushError::Closed(4))));
        assert_eq!(q.take_all(&mut out), 1);
        assert_eq!(out, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_waiting_sender_gets_room_in_order() {
        let q = Arc::new(Queue::new(1));
        q.try_push(0).unwrap();
        let q2 = q.clone();
        let sender = tokio::spawn(async move {
            for i in 1..100 {
                q2.push(i).await.unwrap();
            }
        });
        let mut got = VecDeque::new();
        while got.len() < 100 {
            q.ready().await;
            q.take_all(&mut got);
        }
        sender.await.unwrap();
        assert_eq!(got, (0..100).collect::<VecDeque<_>>());
    }

    #[tokio::test]
    async fn closing_releases_a_waiting_sender() {
        let q = Arc::new(Queue::new(1));
        q.try_push(0).unwrap();
        let q2 = q.clone();
        let sender = tokio::spawn(async move { q2.push(1).await });
        tokio::task::yield_now().await;
        q.close();
        assert_eq!(sender.await.unwrap(), Err(1));
    }
}
