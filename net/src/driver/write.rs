//! The write side: what is queued or answered encoded into the write buffer (bounded
//! by [`MAX_UNWRITTEN`]), the buffer written to the transport, counted, and given back
//! once empty.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll, ready};

use bytes::Buf;

use super::{Driver, Env, MAX_UNWRITTEN, now};
use crate::buffers;
use crate::conn::Outbound;
use crate::queue::Took;
use crate::transport::{self, Transport};
use crate::{Codec, IpStats, Reply};

impl<T, C, M> Driver<T, C, M>
where
    T: Transport,
    C: Codec<M>,
    M: Send + 'static,
{
    /// Encodes into the write buffer while it has room: what was taken before, then (once
    /// per wake, `took`) what is queued, parking the task on the queue. A push after the
    /// take wakes the task, so one look per wake is enough.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>, took: &mut bool) -> Fill {
        if self.wbuf.len() >= MAX_UNWRITTEN {
            return Fill::Done;
        }
        if !self.pending.is_empty() {
            self.encode_pending();
            return Fill::More;
        }
        if *took {
            return Fill::Done;
        }
        *took = true;
        let bound = &self.conn.inner.set.bound;
        match self
            .conn
            .inner
            .queue
            .poll_take(cx, bound, &mut self.pending)
        {
            Poll::Ready(None) => Fill::Closed,
            Poll::Ready(Some(took)) => {
                self.encode_taken(took);
                Fill::More
            }
            Poll::Pending => Fill::Done,
        }
    }

    /// Hands the messages and bytes written since the last count to the statistics.
    pub(super) fn count_sent<H>(&mut self, env: &Env<M, H>) {
        if self.sent.1 > 0 {
            let (msgs, bytes) = std::mem::take(&mut self.sent);
            let (msgs, bytes) = (msgs as usize, bytes as usize);
            env.stats.sent(self.conn.id(), msgs, bytes);
            let (m, b) = (msgs as u64, bytes as u64);
            self.conn.inner.counters.sent(m, b);
            if let Some(ring) = &self.ring {
                ring.count(&IpStats {
                    messages_out: m,
                    bytes_out: b,
                    ..IpStats::default()
                });
            }
            self.conn.each_group(|g| g.sent(m, b));
            env.listener.on_sent(&self.conn, msgs, bytes);
        }
    }

    /// Writes the write buffer while the transport takes bytes. `Ready(Ok)` once it is
    /// empty, `Pending` while the transport is full.
    pub(super) fn poll_flush<H>(
        &mut self,
        cx: &mut Context<'_>,
        env: &Env<M, H>,
    ) -> Poll<io::Result<()>> {
        ready!(self.poll_write_buf(cx))?;
        self.count_sent(env);
        Poll::Ready(Ok(()))
    }

    /// Gives back the write buffer and the taken queue's storage once all is written
    /// and nothing more is queued, so a quiet connection keeps neither.
    pub(super) fn release_write(&mut self) {
        if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
            buffers::give(&mut self.wbuf);
        }
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            // the queue swaps its items out whole: give the emptied storage back too
            buffers::give_deque(std::mem::take(&mut self.pending));
        }
    }

    /// Encodes one message into the write buffer.
    #[inline]
    pub(super) fn encode_msg(&mut self, m: M) {
        if self.wbuf.capacity() == 0 {
            self.wbuf = buffers::take();
        }
        if let Err(e) = self.codec.encode(m, &mut self.wbuf) {
            tracing::warn!(id = %self.conn.id(), error = %e, "a message could not be encoded; dropped");
            return;
        }
        self.sent.0 = self.sent.0.saturating_add(1);
    }

    /// Encodes one outbound item into the write buffer.
    pub(super) fn encode(&mut self, out: Outbound<M>) {
        match out {
            Outbound::Msg(m) => return self.encode_msg(m),
            Outbound::Raw(b) => {
                if self.wbuf.capacity() == 0 {
                    self.wbuf = buffers::take();
                }
                self.wbuf.extend_from_slice(&b);
            }
            Outbound::Call(call) => {
                if self.state.is_closing() {
                    // never written: the caller may safely try elsewhere
                    let _ = call
                        .answer
                        .send(Err(crate::CallError::Send(crate::SendError::Closed)));
                    return;
                }
                let conn = self.conn.clone();
                let Some(m) = self.table().start(call, &conn, now()) else {
                    return; // waits for room in the window
                };
                self.sync_calls_deadline();
                return self.encode_msg(m);
            }
        }
        self.sent.0 = self.sent.0.saturating_add(1);
    }

    /// Encodes what is queued into the write buffer, up to [`MAX_UNWRITTEN`]; how many
    /// items it took.
    pub(super) fn fill(&mut self) -> usize {
        let mut n = 0;
        while self.wbuf.len() < MAX_UNWRITTEN {
            if self.pending.is_empty() {
                let bound = &self.conn.inner.set.bound;
                match self.conn.inner.queue.take_all(bound, &mut self.pending) {
                    Took::Nothing => break,
                    took => n += self.encode_taken(took),
                }
            } else {
                n += self.encode_pending();
            }
        }
        n
    }

    /// Encodes what a take found (the rest waits in `pending` past [`MAX_UNWRITTEN`]);
    /// how many items.
    pub(super) fn encode_taken(&mut self, took: Took<Outbound<M>>) -> usize {
        match took {
            Took::Nothing => 0,
            Took::One(out) => {
                self.encode(out);
                1
            }
            Took::Many(_) => self.encode_pending(),
        }
    }

    /// Encodes what was taken from the queue, up to [`MAX_UNWRITTEN`]; how many items.
    pub(super) fn encode_pending(&mut self) -> usize {
        let mut n = 0;
        while self.wbuf.len() < MAX_UNWRITTEN {
            let Some(out) = self.pending.pop_front() else {
                break;
            };
            self.encode(out);
            n += 1;
        }
        n
    }

    /// Encodes a handler's returned message, if any (`true` then): straight into the
    /// write buffer, unless something sent earlier still waits (what the handler itself
    /// queued before it returned must go first).
    #[inline(always)]
    pub(super) fn reply(&mut self, out: impl Reply<M>) -> bool {
        match out.into_reply() {
            Some(m) => {
                self.answer(m);
                true
            }
            None => false,
        }
    }

    pub(super) fn answer(&mut self, m: M) {
        if self.pending.is_empty() && !self.conn.inner.queue.maybe_queued() {
            // straight to the codec: wrapped in an `Outbound` and unwrapped again, the
            // message was copied twice more (on this machine a store-to-load stall each)
            self.encode_msg(m);
            return;
        }
        let bound = &self.conn.inner.set.bound;
        if let Took::One(out) = self.conn.inner.queue.take_all(bound, &mut self.pending) {
            self.pending.push_back(out);
        }
        self.pending.push_back(Outbound::Msg(m));
        // up to the unwritten bound; the rest goes out with the next fill
        self.encode_pending();
    }

    /// Writes until the write buffer is below [`MAX_UNWRITTEN`] (the timer runs: a peer
    /// that takes nothing is closed at the write timeout, which ends the wait).
    pub(super) async fn make_room<H>(&mut self, env: &Env<M, H>) -> io::Result<()> {
        // this may wait for the peer: its writes read the clock
        self.stamp = None;
        poll_fn(|cx| {
            loop {
                let p = self.poll_write_buf(cx);
                if let Poll::Ready(r) = p {
                    self.count_sent(env);
                    return Poll::Ready(r);
                }
                if self.wbuf.len() < MAX_UNWRITTEN {
                    return Poll::Ready(Ok(()));
                }
                if self.poll_timer(cx).is_ready() {
                    if let Some(reason) = self.on_timer(env) {
                        self.conn.close(reason);
                        return Poll::Ready(Ok(()));
                    }
                    continue;
                }
                return Poll::Pending;
            }
        })
        .await
    }

    /// Writes the write buffer until it is empty or the transport is full.
    pub(super) fn poll_write_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wbuf.is_empty() {
            // a plain write of the one contiguous buffer (tokio's `write_buf` would take
            // the vectored path, a longer one in the kernel than `send`)
            let n = match transport::poll_write(&mut self.io, cx, &self.wbuf) {
                Poll::Ready(r) => r?,
                Poll::Pending => {
                    self.state.on_write_blocked(true);
                    return Poll::Pending;
                }
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wbuf.advance(n);
            // saturating: 4 GiB unflushed would take a message far past any codec's limit
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            self.sent.1 = self.sent.1.saturating_add(n);
            if self.state.uses_clock() {
                // written in the poll that read what it answers: the read's time will do
                let t = self.stamp.unwrap_or_else(now);
                self.state.on_write(t);
            } else {
                self.state.saw_write();
            }
        }
        self.state.on_write_blocked(false);
        Poll::Ready(Ok(()))
    }
}

pub(super) fn ready_or_pending(p: Poll<io::Result<()>>) -> io::Result<()> {
    match p {
        Poll::Ready(r) => r,
        Poll::Pending => Ok(()),
    }
}

/// What [`Driver::poll_fill`] did.
pub(super) enum Fill {
    /// encoded something: write it, then look again
    More,
    /// nothing more to encode for now
    Done,
    /// the queue is closed
    Closed,
}
