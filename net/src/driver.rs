//! The one connection driver, for servers and clients alike: reads, decodes, hands each
//! message to the handler, writes what is queued, and carries out what the sans-IO
//! [`ConnState`] says is due — over any [`Transport`], with one timer.
//!
//! An idle connection holds neither a read nor a write buffer: it waits for its
//! transport to be readable before it takes a read buffer, and takes a write buffer only
//! while something is queued (see `buffers`).
//!
//! Here: the main loop, the timer, reading and handling. The write side is in `write`,
//! calls and link checks in `calls`, the close in `close`.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use tokio::time::Sleep;

use crate::budget::Share;
use crate::buffers;
use crate::calls::CallTable;
use crate::config::ConnConfig;
use crate::conn::{Conn, Outbound};
use crate::ip_stats::IpCounter;
use crate::listener::Listener;
use crate::state::{Action, ConnState};
use crate::stats::{GroupCounters, Stats};
use crate::transport::Transport;
use crate::{CloseReason, Codec, Handled, Handler, IpStats, Reply};

/// The most one read takes from the transport.
const READ_STEP: usize = 64 * 1024;

/// Encoded bytes stop being taken from the queue above this much unwritten output.
pub(crate) const MAX_UNWRITTEN: usize = 64 * 1024;

/// What every connection of one server or client shares.
pub(crate) struct Env<M, H> {
    pub(crate) handler: H,
    pub(crate) listener: Arc<dyn Listener<M>>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) cfg: ConnConfig<M>,
}

/// The clock the runtime reads (tokio's, so a paused test clock holds).
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What woke the connection's task.
enum Wake {
    Read,
    Eof,
    ReadFailed,
    WriteFailed(io::Error),
    Timer,
    Closing,
}

/// One connection's task state.
pub(crate) struct Driver<T, C, M> {
    io: T,
    /// one codec for both directions, as tokio's `Framed` has (a protocol codec may
    /// frame what it decodes by what it encoded, as HTTP responses follow requests)
    codec: C,
    conn: Conn<M>,
    state: ConnState,
    /// calls in flight, once responses are matched here (boxed: most connections have none)
    calls: Option<Box<CallTable<M>>>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    /// taken from the queue, not yet encoded
    pending: VecDeque<Outbound<M>>,
    timer: Option<Pin<Box<Sleep>>>,
    armed: Option<Instant>,
    /// the timer has seen this task's waker since it was last set: until it is set
    /// again, a look at whether it fired does instead of a poll
    registered: bool,
    /// the clock as the last read found it, for the writes that answer it in the same
    /// poll (one clock read per echo, not two); dropped before anything can wait
    stamp: Option<Instant>,
    /// messages and bytes written since the write buffer was last empty (counted once
    /// it is; u32s keep the idle connection's driver small)
    sent: (u32, u32),
    /// this peer address's counters (servers)
    ring: Option<IpCounter>,
    /// what the read buffer holds beyond the free share, charged to the budget
    rshare: Share,
}

impl<T, C, M> Driver<T, C, M>
where
    T: Transport,
    C: Codec<M>,
    M: Send + 'static,
{
    pub(crate) fn new(
        io: T,
        make_codec: &dyn Fn() -> C,
        conn: Conn<M>,
        cfg: &ConnConfig<M>,
        ring: Option<IpCounter>,
    ) -> Box<Self> {
        // on the heap: the task's future then holds a pointer, not a copy of the state
        // for every await it passes through
        Box::new(Driver {
            io,
            codec: make_codec(),
            conn,
            state: ConnState::new(&cfg.timers, now()),
            calls: None,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            pending: VecDeque::new(),
            timer: None,
            armed: None,
            registered: false,
            stamp: None,
            sent: (0, 0),
            ring,
            rshare: Share::default(),
        })
    }

    /// Runs the connection to its end: the main loop, then the close (flush, FIN, drain
    /// the peer's input until its EOF or the linger deadline). `unregister` runs once the
    /// connection is closing, before the flush.
    pub(crate) async fn run<H>(
        mut self: Box<Self>,
        env: &Env<M, H>,
        unregister: impl FnOnce(),
    ) -> CloseReason
    where
        H: Handler<M, C::Item>,
    {
        let reason = self.serve(env).await;
        if let Some(b) = &self.conn.inner.set.bound.budget {
            self.rshare.release(b);
        }
        self.conn.close(reason);
        let reason = self.conn.close_reason().unwrap_or(CloseReason::Kicked);
        env.listener.on_before_close(&self.conn, &reason);
        unregister();
        if let Some(c) = &mut self.calls {
            c.close();
        }
        // counted as closed now; the flush and drain below only tidy the transport
        env.stats.closed(&reason);
        if matches!(reason, CloseReason::Decode(_)) {
            self.conn.each_group(GroupCounters::decode_error);
            if let Some(ring) = &self.ring {
                ring.count(&IpStats {
                    decode_errors: 1,
                    ..IpStats::default()
                });
            }
        }
        log_close(&self.conn, &reason);
        self.stamp = None;
        Box::pin(self.finish()).await;
        self.count_sent(env);
        reason
    }

    /// The main loop, until the connection must close.
    async fn serve<H>(&mut self, env: &Env<M, H>) -> CloseReason
    where
        H: Handler<M, C::Item>,
    {
        loop {
            if self.conn.is_closed() {
                return self.conn.close_reason().unwrap_or(CloseReason::Kicked);
            }
            self.arm();
            let wake = poll_fn(|cx| self.poll_wake(cx, env)).await;
            match wake {
                Wake::Read | Wake::Eof => {
                    let eof = matches!(wake, Wake::Eof);
                    if !self.charge_read() {
                        return CloseReason::OverBudget;
                    }
                    // boxed: the handler's future lives only while a read is handled, so it
                    // stays out of the idle connection's task
                    // timed or not is chosen per wake, so the untimed loop reads no clock
                    // and keeps no start time per message
                    let closed = if env.cfg.time_handlers {
                        Box::pin(self.on_read::<H, true>(env, eof)).await
                    } else {
                        Box::pin(self.on_read::<H, false>(env, eof)).await
                    };
                    if let Some(reason) = closed {
                        return reason;
                    }
                    if eof {
                        return CloseReason::PeerClosed;
                    }
                    if self.rbuf.len() >= env.cfg.max_buffered {
                        return CloseReason::LimitExceeded;
                    }
                    self.charge_read(); // shrinking always succeeds
                }
                Wake::ReadFailed => return CloseReason::PeerClosed,
                Wake::WriteFailed(e) => return CloseReason::Write(Arc::new(e)),
                Wake::Closing => {}
                Wake::Timer => {
                    if let Some(reason) = self.on_timer(env) {
                        return reason;
                    }
                }
            }
        }
    }

    /// The timer fired: carries out what the state says is due; `Some` when the
    /// connection must close.
    fn on_timer<H>(&mut self, env: &Env<M, H>) -> Option<CloseReason> {
        self.state.handle_timeout(now());
        while let Some(action) = self.state.poll_action() {
            match action {
                Action::Idle(kind) => env.listener.on_idle(&self.conn, kind),
                Action::Ping => self.env_ping(env),
                Action::LinkCheck => self.link_check(),
                Action::Calls => self.poll_calls(),
                Action::Close(reason) => return Some(reason),
                Action::Abort => {}
            }
        }
        None
    }

    /// Follows the read buffer's allocated size (its capacity: what a codec reserves
    /// ahead for a frame counts too) in the server's budget; `false` when it grew past
    /// what the budget has left.
    fn charge_read(&mut self) -> bool {
        // the same budget the connection's queue is charged to
        match &self.conn.inner.set.bound.budget {
            Some(b) => self.rshare.follow(b, self.rbuf.capacity(), false),
            None => true,
        }
    }

    /// Polls the timer; `Ready` when it fired.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.arm();
        if self.armed.is_none() {
            return Poll::Pending;
        }
        let Some(t) = &mut self.timer else {
            return Poll::Pending;
        };
        // a connection's task keeps its waker for life, so the timer holds the right one
        // once polled: later wakes (most of them reads) only look at whether it fired
        let fired = if self.registered {
            t.is_elapsed()
        } else {
            self.registered = true;
            t.as_mut().poll(cx).is_ready()
        };
        if fired {
            self.armed = None;
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Sets the one timer to the state's next deadline (only ever earlier: a timer that
    /// fires early finds nothing due and is set again).
    fn arm(&mut self) {
        if !self.state.take_changed() {
            return; // the deadline is where the timer (or its absence) already is
        }
        let Some(next) = self.state.poll_timeout() else {
            self.armed = None;
            return;
        };
        if self.armed.is_some_and(|a| a <= next) {
            return;
        }
        self.armed = Some(next);
        self.registered = false;
        let at = tokio::time::Instant::from_std(next);
        match &mut self.timer {
            Some(t) => t.as_mut().reset(at),
            None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    /// Writes what it can, takes what is queued, reads when readable; says what woke it.
    fn poll_wake<H>(&mut self, cx: &mut Context<'_>, env: &Env<M, H>) -> Poll<Wake> {
        let mut took = false;
        loop {
            if let Err(e) = ready_or_pending(self.poll_flush(cx, env)) {
                return Poll::Ready(Wake::WriteFailed(e));
            }
            match self.poll_fill(cx, &mut took) {
                Fill::More => continue,
                Fill::Closed => return Poll::Ready(Wake::Closing),
                Fill::Done => break,
            }
        }
        // the answers to the last read are written: later writes read the clock
        self.stamp = None;
        if let Poll::Ready(w) = self.poll_read(cx) {
            return Poll::Ready(w);
        }
        self.release_write();
        // what was just taken from the queue (a call) may have moved the deadline
        self.poll_timer(cx).map(|()| Wake::Timer)
    }

    /// Reads into the read buffer, taking one only once the transport is readable.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if self.rbuf.capacity() == 0 {
            match self.io.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(Wake::ReadFailed),
                Poll::Pending => return Poll::Pending,
            }
            if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
                // what was just written leaves its buffer free: read into it
                self.rbuf = std::mem::take(&mut self.wbuf);
            }
        }
        buffers::room_for_read(&mut self.rbuf);
        // at most one step per read: a large frame grows the buffer (and its charge to
        // the server's budget) a step at a time, never by all the kernel holds at once
        let mut step = bytes::BufMut::limit(&mut self.rbuf, READ_STEP);
        match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut step) {
            Poll::Ready(Ok(0)) => Poll::Ready(Wake::Eof),
            Poll::Ready(Ok(_)) => Poll::Ready(Wake::Read),
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.release_read();
                Poll::Pending
            }
            Poll::Ready(Err(_)) => Poll::Ready(Wake::ReadFailed),
            Poll::Pending => {
                self.release_read();
                Poll::Pending
            }
        }
    }

    fn release_read(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            buffers::give(&mut self.rbuf);
        }
    }
}

impl<T, C, M> Driver<T, C, M>
where
    T: Transport,
    C: Codec<M>,
    M: Send + 'static,
{
    /// Decodes and handles every whole message in the read buffer; `Some(reason)` when
    /// the connection must close. `TIMED`: each handler call is timed into the statistics.
    async fn on_read<H, const TIMED: bool>(
        &mut self,
        env: &Env<M, H>,
        eof: bool,
    ) -> Option<CloseReason>
    where
        H: Handler<M, C::Item>,
    {
        if self.state.uses_clock() {
            let t = now();
            self.stamp = Some(t);
            self.state.on_read(t);
        } else {
            self.state.saw_read();
        }
        // this task runs the handlers: their sends need not wake it
        self.conn.inner.queue.unpark();
        // while handlers run nothing is read: no frame waits for the peer to finish it
        self.state.on_frames(false, false);
        let (mut msgs, mut bytes, mut handled_ns) = (0u64, 0u64, 0u64);
        let r = loop {
            let before = self.rbuf.len();
            let r = if eof {
                self.codec.decode_eof(&mut self.rbuf)
            } else {
                self.codec.decode(&mut self.rbuf)
            };
            match r {
                Ok(Some(item)) => {
                    let n = before - self.rbuf.len();
                    msgs += 1;
                    bytes += n as u64;
                    env.listener.on_message(&self.conn, n);
                    let Some(item) = self.route(item, env) else {
                        continue;
                    };
                    let started = TIMED.then(std::time::Instant::now);
                    let replied = match env.handler.call(&self.conn, item) {
                        Handled::Done(out) => self.reply(out),
                        Handled::Later(fut) => {
                            let mut fut = std::pin::pin!(fut);
                            // the answer is taken where the poll returns it: carried out
                            // of the poll through this future's state, it cost two
                            // store-forwarding stalls per message
                            let first = poll_fn(|cx| {
                                Poll::Ready(match fut.as_mut().poll(cx) {
                                    Poll::Ready(out) => Some(self.reply(out)),
                                    Poll::Pending => None,
                                })
                            })
                            .await;
                            match first {
                                Some(replied) => replied,
                                None => match self.drive(fut, env).await {
                                    Ok(replied) => replied,
                                    Err(e) => break Some(CloseReason::Write(Arc::new(e))),
                                },
                            }
                        }
                    };
                    if let Some(t) = started {
                        let took = t.elapsed();
                        env.stats.handler_time(took);
                        handled_ns += u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
                    }
                    if replied && self.wbuf.len() >= MAX_UNWRITTEN {
                        // answers pile up for a peer that reads slowly: no more decoding
                        // until they are written (as a send waits for room in the queue;
                        // the write timeout closes a peer that takes none)
                        if let Err(e) = self.make_room(env).await {
                            break Some(CloseReason::Write(Arc::new(e)));
                        }
                    }
                    if self.conn.is_closed() {
                        break self.conn.close_reason();
                    }
                    if self.state.awaits_auth() {
                        if !self.conn.is_authenticated() {
                            // the first message must authenticate the peer
                            break Some(CloseReason::AuthTimeout);
                        }
                        self.state.on_authenticated();
                    }
                }
                Ok(None) => break None,
                Err(e) => {
                    let reason = CloseReason::decode(e);
                    if let Some(fe) = reason.frame_error() {
                        env.listener.on_decode_error(&self.conn, fe);
                    }
                    break Some(reason);
                }
            }
        };
        self.state.on_frames(msgs > 0, !self.rbuf.is_empty());
        if msgs > 0 {
            env.stats.received(self.conn.id(), msgs, bytes);
            self.conn.inner.counters.received(msgs, bytes, handled_ns);
            if let Some(ring) = &self.ring {
                ring.count(&IpStats {
                    messages_in: msgs,
                    bytes_in: bytes,
                    handler_ns: handled_ns,
                    ..IpStats::default()
                });
            }
            self.conn
                .each_group(|g| g.received(msgs, bytes, handled_ns));
            if self.rbuf.is_empty() && self.wbuf.capacity() == 0 {
                // the answers to what was read go into the buffer it was read into: one
                // buffer per wake, not one taken for reading and another for writing
                self.wbuf = std::mem::take(&mut self.rbuf);
            }
        }
        self.release_read();
        r
    }

    /// Runs a handler's future to completion while writing what is queued, so a handler
    /// that waits for room in its own connection's queue gets it. The timer still runs:
    /// a peer that takes nothing while the handler waits for room is closed at the write
    /// timeout, which fails the handler's send.
    ///
    /// The caller pins the future where it was made and polls it once first (most handlers
    /// finish on that poll: no select, and no move of the future into this one's state);
    /// `true` when the handler returned an answer (encoded by now).
    async fn drive<F: Future<Output: Reply<M>>, H>(
        &mut self,
        mut fut: Pin<&mut F>,
        env: &Env<M, H>,
    ) -> io::Result<bool> {
        // the handler waits: what it writes is written later than the read
        self.stamp = None;
        poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(self.reply(out)));
            }
            let mut took = false;
            loop {
                if let Err(e) = ready_or_pending(self.poll_flush(cx, env)) {
                    return Poll::Ready(Err(e));
                }
                // closed: the handler's sends fail, it finishes, then the loop closes
                if let Fill::More = self.poll_fill(cx, &mut took) {
                    continue;
                }
                if self.poll_timer(cx).is_ready() {
                    if let Some(reason) = self.on_timer(env) {
                        // the handler's sends now fail; it finishes, then the loop closes
                        self.conn.close(reason);
                    }
                    continue;
                }
                self.release_write();
                return Poll::Pending;
            }
        })
        .await
    }
}

/// The span a connection's task runs in (debug level): every event the runtime or a
/// handler logs while it runs carries the connection's id, its peer, which side it is and
/// its protocol (the codec's type name).
pub(crate) fn span<M: Send + 'static, C>(conn: &Conn<M>, side: &'static str) -> tracing::Span {
    tracing::debug_span!(
        "conn",
        side,
        id = %conn.id(),
        peer = %conn.peer_addr(),
        protocol = %ShortName(std::any::type_name::<C>()),
    )
}

/// A type's name without its module paths: `a::b::Codec<c::Item>` shows as `Codec<Item>`.
struct ShortName(&'static str);

impl std::fmt::Display for ShortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, b) = (self.0, self.0.as_bytes());
        let (mut start, mut i) = (0, 0);
        while i < b.len() {
            if b[i..].starts_with(b"::") {
                // what came since the last delimiter was a module: dropped
                start = i + 2;
                i += 2;
                continue;
            }
            if !(b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                f.write_str(&s[start..=i])?;
                start = i + 1;
            }
            i += 1;
        }
        f.write_str(&s[start..])
    }
}

/// One line per close, with the connection's id and peer: the ordinary ends (the peer
/// left, the application or a shutdown closed it) at debug level, an eviction (a limit, a
/// timeout, a slow or silent peer) at info, a failure (a malformed frame, a write error)
/// at warn.
fn log_close<M: Send + 'static>(conn: &Conn<M>, reason: &CloseReason) {
    let (id, peer) = (conn.id(), conn.peer_addr());
    match reason {
        CloseReason::PeerClosed | CloseReason::Kicked | CloseReason::ServerShutdown => {
            tracing::debug!(%id, %peer, %reason, "closed");
        }
        CloseReason::Decode(_) | CloseReason::Write(_) => {
            tracing::warn!(%id, %peer, %reason, "connection failed");
        }
        _ => tracing::info!(%id, %peer, %reason, "connection evicted"),
    }
}

mod calls;
mod close;
mod write;

use write::{Fill, ready_or_pending};

#[cfg(test)]
mod tests;
