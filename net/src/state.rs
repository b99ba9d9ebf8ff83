//! The sans-IO connection state: every timer a connection keeps, behind one deadline.
//!
//! A driver (packwire's, or one of your own) feeds it what happened — bytes read, bytes
//! written, the handler authenticated the peer, the call window's next deadline, the
//! connection started closing — asks [`ConnState::poll_timeout`] when to wake it, calls
//! [`ConnState::handle_timeout`] when that moment has come, and then carries out each
//! [`Action`] that [`ConnState::poll_action`] hands back. No clock, runtime or socket is
//! involved, so every timer is tested with plain `#[test]`s on made-up instants.
//!
//! # State table
//!
//! | setting | measured from | when it expires | action(s) | then |
//! |---|---|---|---|---|
//! | `idle_timeout` | the last byte read | no byte read for the timeout | [`Action::Idle`]`(Read)`, [`Action::Close`]`(IdleTimeout)` | closed |
//! | `read_idle` / `write_idle` / `all_idle` (Netty's `IdleStateHandler`) | the last byte read / written / either, or the last such event | idle for the period | [`Action::Idle`]`(Read / Write / Both)` | again after each further period of idleness |
//! | `heartbeat(interval, timeout)` | last write / last read | write-idle for `interval` / nothing read for `timeout` | [`Action::Ping`] / [`Action::Idle`]`(Read)`, [`Action::Close`]`(IdleTimeout)` | the ping counts as a write |
//! | `link_check(interval, n)` | the last byte read | silent for `interval` | [`Action::LinkCheck`]; after `n` unanswered in a row [`Action::Idle`]`(Read)`, [`Action::Close`]`(IdleTimeout)` | any byte read answers |
//! | `auth` deadline | the connection's start | not authenticated in time | [`Action::Close`]`(AuthTimeout)` | closed |
//! | `frame_timeout` (guard) | the first check that finds an incomplete frame ([`ConnState::on_frames`]) | no frame completed for the timeout | [`Action::Close`]`(FrameTimeout)` | closed |
//! | `write_timeout` (guard) | the first check that finds output blocked ([`ConnState::on_write_blocked`]) | no byte taken for the timeout | [`Action::Close`]`(SlowConsumer)` | closed |
//! | calls | the window's next resend or time-out ([`ConnState::set_calls_deadline`]) | that deadline | [`Action::Calls`] (poll the call window) | |
//! | drain (`linger`) | [`ConnState::start_close`] | flushing and draining took longer | [`Action::Abort`] | the transport is dropped |
//!
//! Once closing, only the drain deadline is kept: a closing connection pings nobody.
//!
//! **Guards without a clock.** The guards a server keeps on by default (`idle_timeout`,
//! `frame_timeout`, `write_timeout`) need no time stamp per read or write: the driver
//! reports that bytes came ([`ConnState::saw_read`]), that bytes went
//! ([`ConnState::saw_write`]), whether a frame is incomplete and whether one completed
//! ([`ConnState::on_frames`]), and whether output is blocked. The state checks those
//! notes every *tick* — a quarter of the shortest guard timeout — while any of them
//! matters, so each guard fires between its timeout and 1.25× of it. (A driver that
//! does stamp reads, [`ConnState::on_read`], gets an exact idle timeout.)
//!
//! ```
//! use std::time::{Duration, Instant};
//! use packwire_net::{Action, ConnState, IdleKind, Timers};
//!
//! let s = Duration::from_secs;
//! let t0 = Instant::now();
//! let mut st = ConnState::new(&Timers { idle_timeout: Some(s(30)), ..Timers::default() }, t0);
//! assert_eq!(st.poll_timeout(), Some(t0 + s(30)));
//! st.on_read(t0 + s(10));
//! st.handle_timeout(t0 + s(30)); // the old deadline: nothing is due any more
//! assert_eq!(st.poll_action(), None);
//! assert_eq!(st.poll_timeout(), Some(t0 + s(40)));
//! st.handle_timeout(t0 + s(40));
//! assert_eq!(st.poll_action(), Some(Action::Idle(IdleKind::Read)));
//! assert!(matches!(st.poll_action(), Some(Action::Close(_))));
//! ```

use std::time::{Duration, Instant};

use crate::CloseReason;
use crate::chores::{Heartbeat, HeartbeatAction, LinkAction, LinkCheck};

/// Which way a connection has been idle (Netty's `IdleState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdleKind {
    /// Nothing was read for the period.
    Read,
    /// Nothing was written for the period.
    Write,
    /// Nothing was read or written for the period.
    Both,
}

/// The timers of one connection, as plain data; [`crate::ServerBuilder`] and
/// [`crate::ClientBuilder`] fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Close a connection that sends nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// Report [`IdleKind::Read`] after each period without a byte read.
    pub read_idle: Option<Duration>,
    /// Report [`IdleKind::Write`] after each period without a byte written.
    pub write_idle: Option<Duration>,
    /// Report [`IdleKind::Both`] after each period without a byte read or written.
    pub all_idle: Option<Duration>,
    /// Ping after `.0` write-idle; the peer is dead after `.1` without a byte read.
    pub heartbeat: Option<(Duration, Duration)>,
    /// Send the protocol's link check after `.0` of silence; dead after `.1` unanswered.
    pub link_check: Option<(Duration, u32)>,
    /// The peer must be authenticated within this long of the connection's start.
    pub auth: Option<Duration>,
    /// How long a closing connection may take to flush its queue and drain the peer's
    /// input before the transport is dropped anyway.
    pub linger: Duration,
    /// Close a connection that holds an incomplete frame and completes none this long.
    pub frame_timeout: Option<Duration>,
    /// Close a connection whose peer takes no byte this long while output waits.
    pub write_timeout: Option<Duration>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            idle_timeout: None,
            read_idle: None,
            write_idle: None,
            all_idle: None,
            heartbeat: None,
            link_check: None,
            auth: None,
            linger: Duration::from_secs(2),
            frame_timeout: None,
            write_timeout: None,
        }
    }
}

/// What the driver must do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Tell the listener the connection has been idle this way.
    Idle(IdleKind),
    /// Send the heartbeat message.
    Ping,
    /// Send the protocol's link-check request.
    LinkCheck,
    /// A call in the window is due for a resend or a time-out: poll the window.
    Calls,
    /// Close the connection for this reason.
    Close(CloseReason),
    /// The drain deadline passed: drop the transport without waiting any longer.
    Abort,
}

/// A periodic idle event: fires `period` after the later of the last activity and the
/// last time it fired.
#[derive(Debug, Clone, Copy)]
struct Periodic {
    period: Duration,
    fired: Option<Instant>,
}

impl Periodic {
    fn deadline(&self, last: Instant) -> Instant {
        self.fired.map_or(last, |f| f.max(last)) + self.period
    }
}

/// Everything that is due, in the order [`ConnState::poll_action`] hands it out.
#[derive(Debug, Default, Clone, Copy)]
struct Due {
    idle: [bool; 3],
    /// the Read idleness that closes the connection: handed out last before the close
    dead: bool,
    ping: bool,
    link: bool,
    calls: bool,
    abort: bool,
}

/// The timers most connections do not set, kept out of line so an idle connection's
/// state stays small.
#[derive(Debug, Clone)]
struct Extra {
    events: [Option<Periodic>; 3],
    heartbeat: Option<Heartbeat>,
    link: Option<LinkCheck>,
    auth: Option<Instant>,
    /// the last byte written (only the idle events and the heartbeat read it)
    last_write: Instant,
}

/// A duration as whole milliseconds (rounded up, so a short one is never 0), to keep
/// the state of every connection small; 0 means "none".
fn millis(d: Option<Duration>) -> u32 {
    d.map_or(0, |d| {
        u32::try_from(d.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u32::MAX)
            .max(1)
    })
}

fn from_millis(ms: u32) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
}

/// A guard that counts the checks in a row that found no progress.
#[derive(Debug, Clone, Copy)]
struct Stuck {
    /// whole ticks without progress that make the timeout
    needed: u16,
    count: u16,
    /// the condition held at the last check
    held: bool,
}

impl Stuck {
    fn new(timeout: Duration, tick: Duration) -> Self {
        let fit = timeout.as_nanos().div_ceil(tick.as_nanos().max(1));
        Stuck {
            needed: u16::try_from(fit).unwrap_or(u16::MAX).max(1),
            count: 0,
            held: false,
        }
    }

    /// One check: `holds` is the condition now, `progressed` whether progress was made
    /// since the last check. A tick counts only when the condition held all through it
    /// (at its start, at its end, no progress between), so the guard fires once it has
    /// held for its timeout and at most one tick later than that. `true` then.
    fn check(&mut self, holds: bool, progressed: bool) -> bool {
        let whole = self.held && holds && !progressed;
        self.held = holds;
        self.count = if whole {
            self.count.saturating_add(1)
        } else {
            0
        };
        self.count >= self.needed
    }
}

/// The clock-free guards: notes from the driver, looked at every `tick`.
#[derive(Debug, Clone, Copy)]
struct Guard {
    /// milliseconds between checks
    tick_ms: u32,
    last_tick: Instant,
    frame: Option<Stuck>,
    write: Option<Stuck>,
    /// bytes came since the last check
    read_seen: bool,
    /// an incomplete frame is buffered now
    partial: bool,
    /// a frame completed since the last check
    frame_done: bool,
    /// output waits for a peer that takes none now
    blocked: bool,
    /// bytes went since the last check
    wrote: bool,
}

/// One connection's timers; see the [module docs](self) for the state table.
#[derive(Debug, Clone)]
pub struct ConnState {
    guard: Option<Guard>,
    /// the idle timeout in milliseconds (0: none)
    idle_ms: u32,
    /// the drain deadline's length in milliseconds
    linger_ms: u32,
    last_read: Instant,
    calls: Option<Instant>,
    drain: Option<Instant>,
    extra: Option<Box<Extra>>,
    due: Due,
    close: Option<CloseReason>,
    /// a close was handed out: nothing but the drain deadline is due after it
    closed: bool,
    /// something that can move [`ConnState::poll_timeout`] happened since
    /// [`ConnState::take_changed`] was last asked
    changed: bool,
}

impl ConnState {
    /// The state of a connection that opened at `now`.
    pub fn new(t: &Timers, now: Instant) -> Self {
        let ev = |d: Option<Duration>| {
            d.map(|period| Periodic {
                period,
                fired: None,
            })
        };
        let extra = Extra {
            events: [ev(t.read_idle), ev(t.write_idle), ev(t.all_idle)],
            heartbeat: t.heartbeat.map(|(i, to)| Heartbeat::new(i, to, now)),
            link: t.link_check.map(|(i, n)| LinkCheck::new(i, n, now)),
            auth: t.auth.map(|d| now + d),
            last_write: now,
        };
        let used = extra.events.iter().any(Option::is_some)
            || extra.heartbeat.is_some()
            || extra.link.is_some()
            || extra.auth.is_some();
        let tick = [t.idle_timeout, t.frame_timeout, t.write_timeout]
            .into_iter()
            .flatten()
            .min()
            .map(|d| millis(Some(d / 4)));
        let guard = tick.map(|tick_ms| Guard {
            tick_ms,
            last_tick: now,
            frame: t
                .frame_timeout
                .map(|d| Stuck::new(d, Duration::from_millis(tick_ms.into()))),
            write: t
                .write_timeout
                .map(|d| Stuck::new(d, Duration::from_millis(tick_ms.into()))),
            read_seen: false,
            partial: false,
            frame_done: false,
            blocked: false,
            wrote: false,
        });
        ConnState {
            guard,
            idle_ms: millis(t.idle_timeout),
            linger_ms: millis(Some(t.linger)),
            last_read: now,
            calls: None,
            drain: None,
            extra: used.then(|| Box::new(extra)),
            due: Due::default(),
            close: None,
            closed: false,
            changed: true,
        }
    }

    /// Whether [`ConnState::poll_timeout`] may have moved *earlier* since the last time
    /// this was asked (and resets the answer): a driver whose timer is set re-reads the
    /// deadline only then. Reads and writes only ever move deadlines later (every one is
    /// a last read or write plus a fixed time), so they do not count: a timer set for the
    /// old deadline fires early, finds nothing due, and is set again, and a busy
    /// connection does not recompute its deadline for every message.
    #[inline]
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Bytes arrived at `now`.
    pub fn on_read(&mut self, now: Instant) {
        self.last_read = now;
        if let Some(x) = &mut self.extra {
            if let Some(h) = &mut x.heartbeat {
                h.on_read(now);
            }
            if let Some(l) = &mut x.link {
                l.on_read(now);
            }
        }
    }

    /// Bytes were written at `now`.
    pub fn on_write(&mut self, now: Instant) {
        if let Some(x) = &mut self.extra {
            x.last_write = now;
            if let Some(h) = &mut x.heartbeat {
                h.on_write(now);
            }
        }
    }

    /// Bytes arrived (no time stamp: the idle guard notes it at its next check).
    #[inline]
    pub fn saw_read(&mut self) {
        if let Some(g) = &mut self.guard {
            self.changed |= !g.read_seen;
            g.read_seen = true;
        }
    }

    /// Bytes were written (no time stamp).
    #[inline]
    pub fn saw_write(&mut self) {
        if let Some(g) = &mut self.guard {
            g.wrote = true;
        }
    }

    /// After decoding: whether a frame completed, and whether an incomplete one is left.
    #[inline]
    pub fn on_frames(&mut self, completed: bool, partial: bool) {
        if let Some(g) = &mut self.guard {
            g.frame_done |= completed;
            self.changed |= g.partial != partial;
            g.partial = partial;
        }
    }

    /// Whether output now waits for a peer that takes none (`false` once it is written).
    #[inline]
    pub fn on_write_blocked(&mut self, blocked: bool) {
        if let Some(g) = &mut self.guard {
            self.changed |= g.blocked != blocked;
            g.blocked = blocked;
        }
    }

    /// The peer is authenticated: the auth deadline no longer applies.
    pub fn on_authenticated(&mut self) {
        if let Some(x) = &mut self.extra {
            self.changed = true;
            x.auth = None;
        }
    }

    /// The call window's next resend or time-out, if a call is in flight.
    pub fn set_calls_deadline(&mut self, deadline: Option<Instant>) {
        self.changed |= self.calls != deadline;
        self.calls = deadline;
    }

    /// The connection started closing at `now`: from here on only the drain deadline
    /// (`now + linger`) is kept.
    pub fn start_close(&mut self, now: Instant) {
        if self.drain.is_none() {
            self.changed = true;
            self.drain = Some(now + from_millis(self.linger_ms).unwrap_or_default());
            self.due = Due::default();
        }
    }

    /// Whether any timer reads the last read and write times: without one the driver need
    /// not read the clock for every read and write.
    pub fn uses_clock(&self) -> bool {
        self.extra.is_some()
    }

    /// Whether the peer still has to be authenticated.
    pub fn awaits_auth(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| x.auth.is_some())
    }

    /// Whether [`ConnState::start_close`] was called.
    pub fn is_closing(&self) -> bool {
        self.drain.is_some()
    }

    fn last(&self, i: usize) -> Instant {
        let write = self.extra.as_ref().map_or(self.last_read, |x| x.last_write);
        match i {
            0 => self.last_read,
            1 => write,
            _ => self.last_read.max(write),
        }
    }

    /// When [`ConnState::handle_timeout`] must next be called, if ever. The driver keeps
    /// one timer set to this; waking earlier is harmless.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some(d) = self.drain {
            return Some(d);
        }
        if self.closed {
            return None;
        }
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if let Some(d) = from_millis(self.idle_ms) {
            at(self.last_read + d);
        }
        if let Some(g) = &self.guard {
            if g.read_seen || g.partial || g.blocked {
                at(g.last_tick + Duration::from_millis(g.tick_ms.into()));
            }
        }
        if let Some(x) = &self.extra {
            for (i, e) in x.events.iter().enumerate() {
                if let Some(e) = e {
                    at(e.deadline(self.last(i)));
                }
            }
            if let Some(h) = &x.heartbeat {
                at(h.deadline());
            }
            if let Some(l) = &x.link {
                at(l.deadline());
            }
            if let Some(a) = x.auth {
                at(a);
            }
        }
        if let Some(c) = self.calls {
            at(c);
        }
        next
    }

    /// Works out what is due at `now`; [`ConnState::poll_action`] hands it out.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.changed = true;
        if let Some(d) = self.drain {
            self.due.abort |= now >= d;
            return;
        }
        if self.close.is_some() || self.closed {
            return;
        }
        if let Some(reason) = self.check_guards(now) {
            self.close = Some(reason);
            return;
        }
        let mut dead = from_millis(self.idle_ms).is_some_and(|d| now >= self.last_read + d);
        let mut auth_late = false;
        let lasts = [self.last(0), self.last(1), self.last(2)];
        if let Some(x) = &mut self.extra {
            for (i, last) in lasts.into_iter().enumerate() {
                if let Some(e) = &mut x.events[i] {
                    if now >= e.deadline(last) {
                        e.fired = Some(now);
                        self.due.idle[i] = true;
                    }
                }
            }
            if let Some(h) = &mut x.heartbeat {
                match h.poll(now) {
                    HeartbeatAction::Dead => dead = true,
                    HeartbeatAction::Ping => {
                        self.due.ping = true;
                        // the ping is a write: no second one before it is due again
                        h.on_write(now);
                    }
                    HeartbeatAction::Wait => {}
                }
            }
            if let Some(l) = &mut x.link {
                match l.poll(now) {
                    LinkAction::Dead => dead = true,
                    LinkAction::Check => self.due.link = true,
                    LinkAction::Wait => {}
                }
            }
            auth_late = x.auth.is_some_and(|a| now >= a);
        }
        if dead {
            self.due.dead = true;
            self.close = Some(CloseReason::IdleTimeout);
        } else if auth_late {
            self.close = Some(CloseReason::AuthTimeout);
        }
        if self.calls.is_some_and(|c| now >= c) {
            self.calls = None;
            self.due.calls = true;
        }
    }

    /// A guard tick, if one is due at `now`: the notes since the last are looked at.
    fn check_guards(&mut self, now: Instant) -> Option<CloseReason> {
        let g = self.guard.as_mut()?;
        if std::mem::take(&mut g.read_seen) {
            // bytes came at some moment since the last look: at the latest, now
            self.last_read = self.last_read.max(now);
        }
        if now < g.last_tick + Duration::from_millis(g.tick_ms.into()) {
            return None;
        }
        g.last_tick = now;
        let frame_done = std::mem::take(&mut g.frame_done);
        let wrote = std::mem::take(&mut g.wrote);
        if let Some(f) = &mut g.frame {
            if f.check(g.partial, frame_done) {
                return Some(CloseReason::FrameTimeout);
            }
        }
        if let Some(w) = &mut g.write {
            if w.check(g.blocked, wrote) {
                return Some(CloseReason::SlowConsumer);
            }
        }
        None
    }

    /// The next thing to do, if any: idle events first, then pings and link checks, the
    /// call window, and a close last.
    pub fn poll_action(&mut self) -> Option<Action> {
        let d = &mut self.due;
        const KINDS: [IdleKind; 3] = [IdleKind::Read, IdleKind::Write, IdleKind::Both];
        if d.dead {
            // the closing Read event stands for a periodic one due in the same breath
            d.idle[0] = false;
        }
        for (i, kind) in KINDS.into_iter().enumerate() {
            if std::mem::take(&mut d.idle[i]) {
                return Some(Action::Idle(kind));
            }
        }
        if std::mem::take(&mut d.dead) {
            // right before the close it causes, whatever else was due with it
            return Some(Action::Idle(IdleKind::Read));
        }
        if std::mem::take(&mut d.abort) {
            return Some(Action::Abort);
        }
        if self.close.is_none() {
            if std::mem::take(&mut d.ping) {
                return Some(Action::Ping);
            }
            if std::mem::take(&mut d.link) {
                return Some(Action::LinkCheck);
            }
        }
        if std::mem::take(&mut d.calls) {
            return Some(Action::Calls);
        }
        if let Some(r) = self.close.take() {
            // handed out once; the driver starts closing
            self.closed = true;
            self.due = Due::default();
            return Some(Action::Close(r));
        }
        None
    }
}

#[cfg(test)]
mod tests;
