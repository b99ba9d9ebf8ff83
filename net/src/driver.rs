//! The one connection driver, for servers and clients alike: reads, decodes, hands each
//! message to the handler, writes what is queued, and carries out what the sans-IO
//! [`ConnState`] says is due — over any [`Transport`], with one timer.
//!
//! An idle connection holds neither a read nor a write buffer: it waits for its
//! transport to be readable before it takes a read buffer, and takes a write buffer only
//! while something is queued (see `buffers`).

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::time::Sleep;

use crate::budget::Share;
use crate::buffers;
use crate::calls::{CallTable, Routed};
use crate::config::ConnConfig;
use crate::conn::{Conn, Outbound};
use crate::ip_stats::IpCounter;
use crate::listener::Listener;
use crate::queue::Took;
use crate::state::{Action, ConnState};
use crate::stats::Stats;
use crate::transport::{self, Transport};
use crate::{CloseReason, Codec, Handled, Handler, Reply};

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
        log_close(&self.conn, &reason);
        Box::pin(self.finish()).await;
        self.count_sent(env);
        reason
    }

    fn env_ping<H>(&mut self, env: &Env<M, H>) {
        if let Some(ping) = &env.cfg.ping {
            self.encode(Outbound::Msg(ping()));
        }
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
                    if let Some(reason) = Box::pin(self.on_read(env, eof)).await {
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
        if let Poll::Ready(w) = self.poll_read(cx) {
            return Poll::Ready(w);
        }
        self.release_write();
        // what was just taken from the queue (a call) may have moved the deadline
        self.poll_timer(cx).map(|()| Wake::Timer)
    }

    /// Encodes into the write buffer while it has room: what was taken before, then (once
    /// per wake, `took`) what is queued, parking the task on the queue. A push after the
    /// take wakes the task, so one look per wake is enough.
    fn poll_fill(&mut self, cx: &mut Context<'_>, took: &mut bool) -> Fill {
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

    /// Hands the messages and bytes written since the last count to the statistics.
    fn count_sent<H>(&mut self, env: &Env<M, H>) {
        if self.sent.1 > 0 {
            let (msgs, bytes) = std::mem::take(&mut self.sent);
            let (msgs, bytes) = (msgs as usize, bytes as usize);
            env.stats.sent(self.conn.id(), msgs, bytes);
            env.listener.on_sent(&self.conn, msgs, bytes);
        }
    }

    /// Writes the write buffer while the transport takes bytes. `Ready(Ok)` once it is
    /// empty, `Pending` while the transport is full.
    fn poll_flush<H>(&mut self, cx: &mut Context<'_>, env: &Env<M, H>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_buf(cx))?;
        self.count_sent(env);
        Poll::Ready(Ok(()))
    }

    /// Gives back the write buffer and the taken queue's storage once all is written
    /// and nothing more is queued, so a quiet connection keeps neither.
    fn release_write(&mut self) {
        if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
            buffers::give(&mut self.wbuf);
        }
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            // the queue swaps its items out whole: give the emptied storage back too
            buffers::give_deque(std::mem::take(&mut self.pending));
        }
    }

    /// Encodes one outbound item into the write buffer.
    fn encode(&mut self, out: Outbound<M>) {
        if self.wbuf.capacity() == 0 {
            self.wbuf = buffers::take();
        }
        match out {
            Outbound::Msg(m) => {
                if let Err(e) = self.codec.encode(m, &mut self.wbuf) {
                    tracing::warn!(id = %self.conn.id(), error = %e, "a message could not be encoded; dropped");
                    return;
                }
            }
            Outbound::Raw(b) => self.wbuf.extend_from_slice(&b),
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
                return self.encode(Outbound::Msg(m));
            }
        }
        self.sent.0 = self.sent.0.saturating_add(1);
    }

    fn table(&mut self) -> &mut CallTable<M> {
        let cfg = self.conn.inner.set.calls;
        self.calls
            .get_or_insert_with(|| Box::new(CallTable::new(cfg)))
    }

    fn sync_calls_deadline(&mut self) {
        let d = self.calls.as_ref().and_then(|c| c.deadline());
        self.state.set_calls_deadline(d);
    }

    /// Encodes what is queued into the write buffer, up to [`MAX_UNWRITTEN`]; how many
    /// items it took.
    fn fill(&mut self) -> usize {
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
    fn encode_taken(&mut self, took: Took<Outbound<M>>) -> usize {
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
    fn encode_pending(&mut self) -> usize {
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

    /// The call window is due: resends go out, time-outs answer their callers.
    fn poll_calls(&mut self) {
        let Some(mut table) = self.calls.take() else {
            return;
        };
        let mut resend = Vec::new();
        table.poll(now(), &mut |m| resend.push(m));
        table.admit(&self.conn, now(), &mut |m| resend.push(m));
        self.calls = Some(table);
        for m in resend {
            self.encode(Outbound::Msg(m));
        }
        self.sync_calls_deadline();
    }

    /// The link-check timer fired: sends the protocol's check.
    fn link_check(&mut self) {
        let Some(hooks) = self.conn.inner.hooks.get().copied() else {
            return;
        };
        let conn = self.conn.clone();
        if let Some(m) = self.table().link_check(&conn, &hooks) {
            self.encode(Outbound::Msg(m));
        }
    }

    /// What the runtime does with a decoded item before the handler: a response to a
    /// call and the peer's link check are consumed here (`None`); a response nobody waits
    /// for is reported to the listener and then handed on.
    #[inline(always)]
    fn route<I: 'static, H>(&mut self, item: I, env: &Env<M, H>) -> Option<I> {
        // the common case stays inline: moving the item through a call cost a store stall
        match self.conn.inner.hooks.get() {
            None => Some(item),
            Some(hooks) => {
                let hooks = *hooks;
                self.route_slow(item, &hooks, env)
            }
        }
    }

    #[inline(never)]
    fn route_slow<I: 'static, H>(
        &mut self,
        item: I,
        hooks: &crate::exchange::Hooks<M>,
        env: &Env<M, H>,
    ) -> Option<I> {
        let conn = self.conn.clone();
        let table = self.table();
        match table.route(hooks, item) {
            Routed::Handle(i) => Some(i),
            Routed::Unmatched(seq, i) => {
                tracing::debug!(id = %conn.id(), seq, "a response no call waits for");
                env.listener.on_unmatched_response(&conn, seq);
                Some(i)
            }
            Routed::Answer(m) => {
                self.encode(Outbound::Msg(m));
                None
            }
            Routed::Consumed => {
                // a slot may have freed: calls waiting for room go out
                let mut out = Vec::new();
                self.table().admit(&conn, now(), &mut |m| out.push(m));
                for m in out {
                    self.encode(Outbound::Msg(m));
                }
                self.sync_calls_deadline();
                None
            }
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
    /// the connection must close.
    async fn on_read<H>(&mut self, env: &Env<M, H>, eof: bool) -> Option<CloseReason>
    where
        H: Handler<M, C::Item>,
    {
        if self.state.uses_clock() {
            self.state.on_read(now());
        } else {
            self.state.saw_read();
        }
        // this task runs the handlers: their sends need not wake it
        self.conn.inner.queue.unpark();
        // while handlers run nothing is read: no frame waits for the peer to finish it
        self.state.on_frames(false, false);
        let (mut msgs, mut bytes) = (0u64, 0u64);
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
            if let Some(ring) = &self.ring {
                ring.received(msgs, bytes);
            }
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

    /// Encodes a handler's returned message, if any (`true` then): straight into the
    /// write buffer, unless something sent earlier still waits (what the handler itself
    /// queued before it returned must go first).
    #[inline(always)]
    fn reply(&mut self, out: impl Reply<M>) -> bool {
        match out.into_reply() {
            Some(m) => {
                self.answer(m);
                true
            }
            None => false,
        }
    }

    fn answer(&mut self, m: M) {
        if self.pending.is_empty() && !self.conn.inner.queue.maybe_queued() {
            self.encode(Outbound::Msg(m));
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
    async fn make_room<H>(&mut self, env: &Env<M, H>) -> io::Result<()> {
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

    /// The close: writes what is still queued, shuts the write side (FIN), then reads
    /// and discards the peer's input until its EOF, so the kernel does not answer unread
    /// bytes with a reset that discards what was written — all within the linger
    /// deadline.
    async fn finish(&mut self) {
        self.state.start_close(now());
        self.arm();
        let aborted = poll_fn(|cx| {
            loop {
                match self.poll_write_buf(cx) {
                    Poll::Ready(Ok(())) => {
                        if self.fill() > 0 {
                            continue;
                        }
                        return Poll::Ready(false);
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(true),
                    Poll::Pending => break,
                }
            }
            self.poll_abort(cx)
        })
        .await;
        if aborted {
            return;
        }
        let shut = poll_fn(|cx| match transport::poll_shutdown(&mut self.io, cx) {
            Poll::Ready(r) => Poll::Ready(r.is_ok()),
            Poll::Pending => self.poll_abort(cx).map(|_| false),
        })
        .await;
        if !shut {
            return;
        }
        poll_fn(|cx| {
            loop {
                if self.rbuf.capacity() == 0 {
                    self.rbuf = buffers::take();
                }
                self.rbuf.clear();
                match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Ready(Ok(_)) => continue,
                    Poll::Pending => return self.poll_abort(cx).map(|_| ()),
                }
            }
        })
        .await;
        self.rbuf.clear();
        self.release_read();
    }

    /// Ready (true) once the linger deadline has passed.
    fn poll_abort(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match &mut self.timer {
            Some(t) if self.armed.is_some() => t.as_mut().poll(cx).map(|()| true),
            _ => Poll::Pending,
        }
    }

    /// Writes the write buffer until it is empty or the transport is full.
    fn poll_write_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
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
                self.state.on_write(now());
            } else {
                self.state.saw_write();
            }
        }
        self.state.on_write_blocked(false);
        Poll::Ready(Ok(()))
    }
}

fn ready_or_pending(p: Poll<io::Result<()>>) -> io::Result<()> {
    match p {
        Poll::Ready(r) => r,
        Poll::Pending => Ok(()),
    }
}

/// What [`Driver::poll_fill`] did.
enum Fill {
    /// encoded something: write it, then look again
    More,
    /// nothing more to encode for now
    Done,
    /// the queue is closed
    Closed,
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

#[cfg(test)]
mod tests;
