//! Read and write buffers lent to connections while they have bytes to handle.
//!
//! An idle connection holds no buffer: it takes one when its transport is readable or
//! something is queued for it, and gives it back once the buffer is empty (no partial
//! frame, nothing left to write). A small per-thread pool keeps busy connections from
//! paying an allocation per read; a buffer that grew for a large frame is not pooled, so
//! its memory goes back to the allocator.

use std::cell::RefCell;

use bytes::BytesMut;

/// The size of a fresh buffer, and the smallest spare room a read is given.
pub(crate) const CHUNK: usize = 8 * 1024;
/// Buffers with more capacity than this are freed rather than pooled.
const MAX_POOLED: usize = 64 * 1024;
/// Buffers kept per worker thread.
const POOL: usize = 4;

thread_local! {
    static FREE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A buffer with at least [`CHUNK`] bytes of room.
pub(crate) fn take() -> BytesMut {
    FREE.with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(CHUNK))
}

/// Gives an empty buffer back (a non-empty one is kept by the caller).
pub(crate) fn give(buf: &mut BytesMut) {
    debug_assert!(buf.is_empty());
    let b = std::mem::take(buf);
    if b.capacity() < CHUNK / 2 || b.capacity() > MAX_POOLED {
        return; // too little left to be worth lending, or grew for a large frame
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
