//! `Conn::call`: requests matched to responses by sequence number, with a window,
//! resends and a timeout — all kept by the connection's own task, which also routes each
//! decoded response (and the peer's link checks) before a message reaches the handler.
//!
//! A call travels to the connection's task through the outbound queue, like any message.
//! The task stamps it with a sequence number once the window has room, keeps a copy for
//! resends, and answers the caller's channel with the response, a time-out, or "closed".
//! The caller never reads the window itself, so a response that arrives is always the
//! call's answer: there is no moment in which an answered call can look lost.

use std::any::Any;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use packwire_core::{Exchange, Role};

use crate::SendError;
use crate::conn::{Conn, Outbound};
use crate::correlate::{Correlator, Due};
use crate::exchange::{CallConfig, CallError, Hooks, PendingCall};

/// What the connection's task does with a decoded item.
pub(crate) enum Routed<I, M> {
    /// Give it to the handler.
    Handle(I),
    /// A response nobody waits for: report it, then give it to the handler.
    Unmatched(u32, I),
    /// The peer's link check: send this answer.
    Answer(M),
    /// A call's response, or the answer to our link check: done.
    Consumed,
}

/// A connection's calls in flight and waiting for room, owned by its task.
pub(crate) struct CallTable<M> {
    cfg: CallConfig,
    corr: Correlator<u32>,
    inflight: HashMap<u32, Box<PendingCall<M>>>,
    /// calls that arrived while the window was full, in order
    parked: VecDeque<Box<PendingCall<M>>>,
    /// link checks this side sent, whose responses are consumed here
    checks: HashSet<u32>,
}

impl<M> CallTable<M> {
    pub(crate) fn new(cfg: CallConfig) -> Self {
        CallTable {
            cfg,
            corr: Correlator::new(cfg.window, cfg.timeout, cfg.max_sends),
            inflight: HashMap::new(),
            parked: VecDeque::new(),
            checks: HashSet::new(),
        }
    }

    /// When the window next needs a poll.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.corr.deadline()
    }

    /// A sequence number from the connection's counter that is not in flight.
    fn free_sequence(&self, conn: &Conn<M>) -> u32 {
        loop {
            let s = conn.inner.next_sequence();
            if !self.corr.contains(&s) && !self.checks.contains(&s) {
                return s;
            }
        }
    }

    /// Forgets calls whose callers stopped waiting (their futures were dropped).
    fn reap(&mut self) {
        let gone: Vec<u32> = self
            .inflight
            .iter()
            .filter(|(_, c)| c.answer.is_closed())
            .map(|(s, _)| *s)
            .collect();
        for s in gone {
            self.corr.cancel(&s);
            self.inflight.remove(&s);
        }
        self.parked.retain(|c| !c.answer.is_closed());
    }

    /// A call from the queue: the request to write now (stamped), or `None` while it waits
    /// for room in the window.
    pub(crate) fn start(
        &mut self,
        call: Box<PendingCall<M>>,
        conn: &Conn<M>,
        now: Instant,
    ) -> Option<M> {
        if call.answer.is_closed() {
            return None; // the caller gave up before it was sent
        }
        if !self.corr.has_room() {
            self.reap();
        }
        if !self.corr.has_room() || !self.parked.is_empty() {
            self.parked.push_back(call);
            return None;
        }
        Some(self.send(call, conn, now))
    }

    fn send(&mut self, mut call: Box<PendingCall<M>>, conn: &Conn<M>, now: Instant) -> M {
        let seq = self.free_sequence(conn);
        (call.set_sequence)(&mut call.request, seq);
        let wire = (call.copy)(&call.request);
        self.corr.try_start(seq, now);
        self.inflight.insert(seq, call);
        wire
    }

    /// Parked calls that now fit in the window, stamped, for the caller to write.
    pub(crate) fn admit(&mut self, conn: &Conn<M>, now: Instant, out: &mut impl FnMut(M)) {
        while self.corr.has_room() {
            let Some(call) = self.parked.pop_front() else {
                return;
            };
            if call.answer.is_closed() {
                continue;
            }
            out(self.send(call, conn, now));
        }
    }

    /// A response with `seq`: `Ok` when it answered a call (or our link check), else the
    /// response comes back.
    fn on_response(&mut self, seq: u32, response: M) -> Result<(), M> {
        if self.checks.remove(&seq) {
            return Ok(());
        }
        self.corr.on_response(&seq);
        match self.inflight.remove(&seq) {
            Some(call) => call.answer.send(Ok(response)).map_err(|r| match r {
                Ok(m) => m,
                Err(_) => unreachable!("only Ok was sent"),
            }),
            None => Err(response),
        }
    }

    /// Resends and time-outs due at `now`; resends go to `out`.
    pub(crate) fn poll(&mut self, now: Instant, out: &mut impl FnMut(M)) {
        self.reap();
        for due in self.corr.poll(now) {
            match due {
                Due::Resend(seq) => {
                    if let Some(c) = self.inflight.get(&seq) {
                        out((c.copy)(&c.request));
                    }
                }
                Due::TimedOut(seq) => {
                    if let Some(c) = self.inflight.remove(&seq) {
                        let _ = c.answer.send(Err(CallError::TimedOut {
                            sends: self.cfg.max_sends,
                        }));
                    }
                }
            }
        }
    }

    /// A link-check request to send now (its response will be consumed here).
    pub(crate) fn link_check(&mut self, conn: &Conn<M>, hooks: &Hooks<M>) -> Option<M> {
        if self.checks.len() >= 16 {
            // a peer that never answers checks but sends other traffic: forget old ones
            self.checks.clear();
        }
        let s = self.free_sequence(conn);
        let m = (hooks.link_check)(s)?;
        self.checks.insert(s);
        Some(m)
    }

    /// The connection closed: calls that were sent fail with [`CallError::Closed`] (the
    /// peer may have acted on them), calls never sent with `Send(Closed)` (safe to retry).
    pub(crate) fn close(&mut self) {
        for (_, c) in self.inflight.drain() {
            let _ = c.answer.send(Err(CallError::Closed));
        }
        for c in self.parked.drain(..) {
            let _ = c.answer.send(Err(CallError::Send(SendError::Closed)));
        }
        self.corr = Correlator::new(self.cfg.window, self.cfg.timeout, self.cfg.max_sends);
        self.checks.clear();
    }

    /// Routes a decoded item: a response to a call completes it; the peer's link check is
    /// answered.
    pub(crate) fn route<I: 'static>(&mut self, hooks: &Hooks<M>, item: I) -> Routed<I, M>
    where
        M: 'static,
    {
        let mut slot = Some(item);
        // the runtime is generic over any codec; only when it decodes the message type
        // it encodes can responses be matched
        let Some(m) = (&mut slot as &mut dyn Any).downcast_mut::<Option<M>>() else {
            return handle(slot);
        };
        let Some(msg) = m.as_ref() else {
            return Routed::Consumed;
        };
        match hooks.role(msg) {
            Role::Response(seq) => {
                let Some(msg) = m.take() else {
                    return Routed::Consumed;
                };
                match self.on_response(seq, msg) {
                    Ok(()) => Routed::Consumed,
                    Err(back) => {
                        *m = Some(back);
                        match slot {
                            Some(i) => Routed::Unmatched(seq, i),
                            None => Routed::Consumed,
                        }
                    }
                }
            }
            Role::Request(_) => match hooks.answer(msg) {
                Some(answer) => Routed::Answer(answer),
                None => handle(slot),
            },
            Role::Other => handle(slot),
        }
    }
}

fn handle<I, M>(slot: Option<I>) -> Routed<I, M> {
    match slot {
        Some(i) => Routed::Handle(i),
        None => Routed::Consumed,
    }
}

impl<M: Exchange + Clone + Send + 'static> Conn<M> {
    /// Sends `request` with the next sequence number and resolves with the peer's
    /// response to it. Waits for room when the window is full; resends after the
    /// timeout, at most `max_sends` sends in all ([`CallConfig`], set with the server's
    /// or client's `calls` option). Responses may arrive in any order; other messages,
    /// the peer's requests included, still go to the handler meanwhile. A response that
    /// arrives is always returned: an answered call never fails.
    ///
    /// Call it from a task of your own (or a spawned one), not from the same
    /// connection's handler: the connection reads its next message only after the
    /// handler returns, so a handler waiting for its own connection's response waits
    /// until the call times out.
    ///
    /// # Errors
    /// [`CallError::TimedOut`] after the last send, [`CallError::Closed`] when the
    /// connection closed after the request was written and before its response,
    /// [`CallError::Send`] when the request was never written (safe to retry elsewhere),
    /// [`CallError::NotARequest`].
    ///
    /// # Cancel safety
    /// Dropping the future frees its window slot; a response that comes later is
    /// reported as unmatched and handed to the handler.
    pub async fn call(&self, request: M) -> Result<M, CallError> {
        if !matches!(request.role(), Role::Request(_)) {
            return Err(CallError::NotARequest);
        }
        let _ = self.inner.hooks.get_or_init(Hooks::of);
        let (call, rx) = PendingCall::new(request);
        self.queue_wait(Outbound::Call(call))
            .await
            .map_err(CallError::Send)?;
        // the task always answers; a dropped sender means the task itself is gone
        rx.await.unwrap_or(Err(CallError::Closed))
    }

    /// A fresh sequence number from the same counter `call` uses (for requests sent with
    /// `send`, whose responses then reach the handler as unmatched).
    pub fn next_sequence(&self) -> u32 {
        self.inner.next_sequence()
    }
}
