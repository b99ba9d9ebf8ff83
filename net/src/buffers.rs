//! Read and write buffers lent to connections while they have bytes to handle.
//!
//! An idle connection holds no buffer: it takes one when its transport is readable or
//! something is queued for it, and gives it back once the buffer is empty (no partial
//! frame, nothing left to write). A small per-thread pool keeps busy connections from
//! paying an allocation per read; a buffer that grew for a large frame is not pooled, so
//! its memory goes back to the allocator. The outbound queues' storage is pooled the same
//! way: a connection that sends one message takes a small `VecDeque` and gives it back
//! once the message is written.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;

use bytes::BytesMut;

/// The size of a fresh buffer, and the smallest spare room a read is given.
pub(crate) const CHUNK: usize = 8 * 1024;
/// Buffers with more capacity than this are freed rather than pooled.
const MAX_POOLED: usize = 64 * 1024;
/// Buffers kept per worker thread.
const POOL: usize = 4;

thread_local! {
    static FREE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    /// per item type, a `Vec<VecDeque<T>>` of empty queues with their storage
    static DEQUES: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Queue storage kept per worker thread and item type.
const DEQUE_POOL: usize = 16;
/// Queues that grew past this many items are freed rather than pooled.
const MAX_POOLED_ITEMS: usize = 64;

#[cfg(test)]
thread_local! {
    /// buffers and queue storage lent out on this thread and not given back
    static LENT: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

/// Counts a loan (`+1`) or a return (`-1`) in test builds.
#[inline(always)]
fn lend(_n: isize) {
    #[cfg(test)]
    LENT.with(|l| l.set(l.get() + _n));
}

/// Buffers and queue storage taken on this thread and not given back (test builds).
#[cfg(test)]
pub(crate) fn lent() -> isize {
    LENT.with(std::cell::Cell::get)
}

/// A buffer with at least [`CHUNK`] bytes of room.
pub(crate) fn take() -> BytesMut {
    lend(1);
    FREE.with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(CHUNK))
}

/// Gives an empty buffer back (a non-empty one is kept by the caller).
pub(crate) fn give(buf: &mut BytesMut) {
    debug_assert!(buf.is_empty());
    lend(-1);
    let mut b = std::mem::take(buf);
    if b.capacity() > MAX_POOLED {
        return; // grew for a large frame
    }
    if b.capacity() < CHUNK / 2 {
        // the frames split off its front used it up: once they are dropped, the buffer
        // takes its whole allocation back without allocating (otherwise this allocates a
        // fresh chunk, which the next read would have)
        b.reserve(CHUNK);
    }
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < POOL {
            f.push(b);
        }
    });
}

/// Makes room for a read: at least [`CHUNK`] spare bytes (taking a pooled buffer when the
/// connection holds none).
pub(crate) fn room_for_read(buf: &mut BytesMut) {
    if buf.capacity() == 0 {
        *buf = take();
    } else if buf.capacity() - buf.len() < CHUNK / 8 {
        buf.reserve(CHUNK);
    }
}

/// An empty queue with the storage of one given back earlier on this thread, if any.
pub(crate) fn take_deque<T: 'static>() -> VecDeque<T> {
    lend(1);
    DEQUES
        .with(|d| {
            d.borrow_mut()
                .iter_mut()
                .find_map(|p| p.downcast_mut::<Vec<VecDeque<T>>>())
                .and_then(Vec::pop)
        })
        .unwrap_or_default()
}

/// Gives a queue's storage back (its items, if any, are dropped).
pub(crate) fn give_deque<T: 'static>(mut q: VecDeque<T>) {
    lend(-1);
    if q.capacity() == 0 || q.capacity() > MAX_POOLED_ITEMS {
        return;
    }
    q.clear();
    DEQUES.with(|d| {
        let mut d = d.borrow_mut();
        let pool = match d.iter().position(|p| p.is::<Vec<VecDeque<T>>>()) {
            Some(i) => &mut d[i],
            None => {
                d.push(Box::new(Vec::<VecDeque<T>>::new()));
                d.last_mut().expect("just pushed")
            }
        };
        let pool = pool
            .downcast_mut::<Vec<VecDeque<T>>>()
            .expect("found by its type");
        if pool.len() < DEQUE_POOL {
            pool.push(q);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_storage_comes_back_per_type() {
        let mut q: VecDeque<u32> = VecDeque::new();
        q.push_back(1);
        let cap = q.capacity();
        give_deque(q);
        // another type does not get it
        assert_eq!(take_deque::<String>().capacity(), 0);
        let q = take_deque::<u32>();
        assert!(q.is_empty());
        assert_eq!(q.capacity(), cap);
        assert_eq!(take_deque::<u32>().capacity(), 0, "given once, taken once");
    }

    #[test]
    fn a_read_buffer_used_up_by_split_frames_is_reclaimed() {
        let mut b = take();
        b.extend_from_slice(&[7; CHUNK - 100]);
        let frame = b.split().freeze();
        drop(frame);
        let pooled = || FREE.with(|f| f.borrow().len());
        let before = pooled();
        give(&mut b);
        assert_eq!(pooled(), before + 1, "kept, not dropped");
        let again = take();
        assert!(
            again.capacity() >= CHUNK,
            "a buffer with room, not a sliver"
        );
    }
}
