//! Calls, link checks and heartbeats: the call window started lazily, responses routed
//! before the handler sees them, the protocol's checks written when their timers fire.

use super::{Driver, Env, now};
use crate::Codec;
use crate::calls::{CallTable, Routed};
use crate::conn::Outbound;
use crate::transport::Transport;

impl<T, C, M> Driver<T, C, M>
where
    T: Transport,
    C: Codec<M>,
    M: Send + 'static,
{
    pub(super) fn env_ping<H>(&mut self, env: &Env<M, H>) {
        if let Some(ping) = &env.cfg.ping {
            self.encode(Outbound::Msg(ping()));
        }
    }

    pub(super) fn table(&mut self) -> &mut CallTable<M> {
        let cfg = self.conn.inner.set.calls;
        self.calls
            .get_or_insert_with(|| Box::new(CallTable::new(cfg)))
    }

    pub(super) fn sync_calls_deadline(&mut self) {
        let d = self.calls.as_ref().and_then(|c| c.deadline());
        self.state.set_calls_deadline(d);
    }

    /// The call window is due: resends go out, time-outs answer their callers.
    pub(super) fn poll_calls(&mut self) {
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
    pub(super) fn link_check(&mut self) {
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
    pub(super) fn route<I: 'static, H>(&mut self, item: I, env: &Env<M, H>) -> Option<I> {
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
    pub(super) fn route_slow<I: 'static, H>(
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
