//! The client side of a session (an SP, an ESME), sans-IO.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use packwire_codecs::sms::Parts;

use super::{Incoming, Mo, Protocol, Report, SubmitOutcome};

/// A submit the application asked for, as [`ClientSession::submit`] numbered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// How a client session behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Submits sent and not answered yet, at most (SMPP's guideline is 10; CMPP's 16).
    pub window: usize,
    /// Submits per second, at most (`None`: as fast as the window allows).
    pub tps: Option<u32>,
    /// How long an answer may take; a submit unanswered by then is sent again.
    pub response_timeout: Duration,
    /// How many times a submit is sent before it fails as timed out (CMPP's N).
    pub max_tries: u32,
    /// How long the login's answer may take.
    pub login_timeout: Duration,
    /// A link check goes out when nothing has been received for this long.
    pub link_check_after: Duration,
    /// How long a link check may go unanswered (`None`: the response timeout).
    pub link_check_timeout: Option<Duration>,
    /// Link checks that go unanswered, one after the other, before the link is given up
    /// (at least 1).
    pub link_check_tries: u32,
    /// The pause after the gateway throttled a submit, doubled for each throttle in a
    /// row up to [`ClientConfig::max_backoff`].
    pub backoff: Duration,
    /// The longest pause after throttling.
    pub max_backoff: Duration,
    /// Times a submit may be throttled before it fails as rejected with the throttling
    /// status (`None`: retried until accepted).
    pub max_throttled: Option<u32>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            window: 16,
            tps: None,
            response_timeout: Duration::from_secs(60),
            max_tries: 3,
            login_timeout: Duration::from_secs(10),
            link_check_after: Duration::from_secs(30),
            link_check_timeout: None,
            link_check_tries: 1,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_throttled: None,
        }
    }
}

/// What happened, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The login was accepted: submits flow.
    LoggedIn,
    /// The login was refused with this status; the session is closed.
    LoginRefused(u32),
    /// A submit was accepted with the gateway's message id.
    Accepted {
        /// The request.
        request: RequestId,
        /// The gateway's id for it (what its report will carry).
        id: Bytes,
    },
    /// A submit was refused with this status (or throttled more than
    /// [`ClientConfig::max_throttled`] times: the throttling status).
    Rejected {
        /// The request.
        request: RequestId,
        /// The protocol's status code.
        status: u32,
    },
    /// A submit went unanswered `max_tries` times.
    TimedOut(RequestId),
    /// A delivery report (already acknowledged).
    Report(Report),
    /// A mobile-originated message (already acknowledged).
    Mo(Mo),
    /// The login or a link check went unanswered: close the connection and connect again
    /// ([`ClientSession::disconnected`] keeps what was not answered).
    LinkLost,
    /// The session logged out (either side asked); close the connection.
    LoggedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    LoggingIn { seq: u32, deadline: Instant },
    Bound,
    LoggingOut { deadline: Instant },
    Closed,
}

#[derive(Debug)]
struct Queued<S> {
    request: RequestId,
    part: S,
    not_before: Option<Instant>,
    tries: u32,
    throttled: u32,
}

#[derive(Debug)]
struct InFlight<S> {
    request: RequestId,
    part: S,
    sent: Instant,
    tries: u32,
    throttled: u32,
}

/// A client session: feed it what arrives and the time, write what it hands out.
///
/// ```
/// # use std::time::Instant;
/// # use packwire_sms::session::{ClientConfig, ClientSession, smpp::Esme};
/// # use packwire_codecs::smpp::{Address, Sm};
/// let mut s = ClientSession::new(Esme::transceiver("esme01", "secret"), ClientConfig::default());
/// let now = Instant::now();
/// s.connected(now);
/// let bind = s.poll_transmit().unwrap(); // write it; feed the answer to `handle`
/// s.submit(now, Sm::new(Address::new("10086"), Address::new("13800138000"), 0, "hi"));
/// assert_eq!(s.queued(), 1, "it waits for the login");
/// ```
#[derive(Debug)]
pub struct ClientSession<P: Protocol> {
    protocol: P,
    cfg: ClientConfig,
    state: State,
    next_seq: u32,
    next_request: u64,
    queue: VecDeque<Queued<P::Submit>>,
    in_flight: HashMap<u32, InFlight<P::Submit>>,
    /// our link check in flight: its sequence number and when it went
    link_check: Option<(u32, Instant)>,
    /// link checks gone unanswered one after the other
    link_misses: u32,
    last_rx: Option<Instant>,
    /// no submit goes before this (the rate, or a throttle's pause)
    next_send: Option<Instant>,
    throttled_in_a_row: u32,
    transmit: VecDeque<P::Pdu>,
    events: VecDeque<Event>,
    /// parts of long MO messages (10 minutes, 10,000 messages at most)
    mo_parts: Parts<u8>,
}

impl<P: Protocol> ClientSession<P> {
    /// A session speaking `protocol`, not connected yet.
    pub fn new(protocol: P, cfg: ClientConfig) -> Self {
        ClientSession {
            protocol,
            cfg,
            state: State::Disconnected,
            next_seq: 1,
            next_request: 1,
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
            link_check: None,
            link_misses: 0,
            last_rx: None,
            next_send: None,
            throttled_in_a_row: 0,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            mo_parts: Parts::new(Duration::from_secs(600), 10_000),
        }
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7fff_ffff { 1 } else { s + 1 };
        s
    }

    /// The connection is up: the login goes out.
    pub fn connected(&mut self, now: Instant) {
        let seq = self.seq();
        let login = self.protocol.login(seq);
        self.transmit.push_back(login);
        self.state = State::LoggingIn {
            seq,
            deadline: now + self.cfg.login_timeout,
        };
        self.link_misses = 0;
        self.last_rx = Some(now);
    }

    /// The connection is gone: every submit sent and not answered goes back to the front
    /// of the queue, in the order it was sent, to go again after the next login; answered
    /// ones are never sent again.
    pub fn disconnected(&mut self, _now: Instant) {
        let mut unanswered: Vec<InFlight<P::Submit>> =
            self.in_flight.drain().map(|(_, f)| f).collect();
        unanswered.sort_by_key(|f| std::cmp::Reverse(f.request));
        for f in unanswered {
            self.queue.push_front(Queued {
                request: f.request,
                part: f.part,
                not_before: None,
                tries: f.tries,
                throttled: f.throttled,
            });
        }
        self.link_check = None;
        self.transmit.clear();
        if self.state != State::Closed {
            self.state = State::Disconnected;
        }
    }

    /// Asks for a submit at `now`; it goes out once logged in, within the window and the
    /// rate.
    pub fn submit(&mut self, now: Instant, part: P::Submit) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request += 1;
        self.queue.push_back(Queued {
            request,
            part,
            not_before: None,
            tries: 0,
            throttled: 0,
        });
        self.pump(now);
        request
    }

    /// The protocol (to build submits with it).
    pub fn protocol_mut(&mut self) -> &mut P {
        &mut self.protocol
    }

    /// Takes back a submit that has not gone out yet; `false` once it has been sent (its
    /// answer will come as an event) or when it is not known.
    pub fn cancel(&mut self, request: RequestId) -> bool {
        let before = self.queue.len();
        self.queue.retain(|q| q.request != request);
        self.queue.len() < before
    }

    /// Asks for the submits that carry `msg` (as [`ClientSession::submit`] each), one
    /// request per part, in order.
    ///
    /// # Errors
    /// When the protocol cannot carry the text; nothing is queued then.
    pub fn send(
        &mut self,
        now: Instant,
        msg: &super::Message,
    ) -> Result<Vec<RequestId>, packwire_core::EncodeError> {
        let parts = self.protocol.parts(msg)?;
        Ok(parts.into_iter().map(|p| self.submit(now, p)).collect())
    }

    /// Logs out: the request goes out, and the session closes at its answer (or the
    /// response timeout).
    pub fn logout(&mut self, now: Instant) {
        let seq = self.seq();
        self.transmit.push_back(self.protocol.logout(seq));
        self.state = State::LoggingOut {
            deadline: now + self.cfg.response_timeout,
        };
    }

    /// Submits waiting to go.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Submits sent and not answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether the login was accepted and the session has not ended.
    pub fn is_bound(&self) -> bool {
        self.state == State::Bound
    }

    /// A PDU to write.
    pub fn poll_transmit(&mut self) -> Option<P::Pdu> {
        self.transmit.pop_front()
    }

    /// An event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Takes a PDU that arrived.
    pub fn handle(&mut self, now: Instant, pdu: &P::Pdu) {
        self.last_rx = Some(now);
        match self.protocol.classify(pdu) {
            Incoming::LoginAnswer(seq, status) => {
                if !matches!(self.state, State::LoggingIn { seq: s, .. } if s == seq) {
                    return;
                }
                match status {
                    None => {
                        self.state = State::Bound;
                        self.events.push_back(Event::LoggedIn);
                    }
                    Some(code) => {
                        self.state = State::Closed;
                        self.events.push_back(Event::LoginRefused(code));
                    }
                }
            }
            Incoming::SubmitAnswer(seq, outcome) => self.answered(now, seq, outcome),
            Incoming::Nack(seq, status) => {
                if self.in_flight.contains_key(&seq) {
                    self.answered(now, seq, SubmitOutcome::Rejected(status));
                } else if matches!(self.state, State::LoggingIn { seq: s, .. } if s == seq) {
                    self.state = State::Closed;
                    self.events.push_back(Event::LoginRefused(status));
                } else if self.link_check.is_some_and(|(s, _)| s == seq) {
                    self.link_check = None;
                }
            }
            Incoming::Report(r, ack) => {
                self.transmit.push_back(ack);
                self.events.push_back(Event::Report(r));
            }
            Incoming::Mo(m, ack) => {
                self.transmit.push_back(ack);
                self.mo(now, m);
            }
            Incoming::LinkCheck(answer) => self.transmit.push_back(answer),
            Incoming::LinkCheckAnswer(seq) => {
                if self.link_check.is_some_and(|(s, _)| s == seq) {
                    self.link_check = None;
                    self.link_misses = 0;
                }
            }
            Incoming::Logout(answer) => {
                self.transmit.push_back(answer);
                self.state = State::Closed;
                self.events.push_back(Event::LoggedOut);
            }
            Incoming::LogoutAnswer => {
                if matches!(self.state, State::LoggingOut { .. }) {
                    self.state = State::Closed;
                    self.events.push_back(Event::LoggedOut);
                }
            }
            Incoming::Other(answer) => self.transmit.extend(answer),
        }
        self.pump(now);
    }

    /// Reports an MO message, once every part of a long one is in.
    fn mo(&mut self, now: Instant, mut m: Mo) {
        let Some(at) = m.part else {
            m.text = self.protocol.text(m.coding, &m.payload);
            self.events.push_back(Event::Mo(m));
            return;
        };
        if let Some(parts) =
            self.mo_parts
                .push(now, &m.from, &m.to, at, m.coding, m.payload.clone())
        {
            let coding = parts.first().map_or(m.coding, |(c, _)| *c);
            let payload: Vec<u8> = parts.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            self.events.push_back(Event::Mo(Mo {
                text: self.protocol.text(coding, &payload),
                parts: parts.len(),
                payload: Bytes::from(payload),
                coding,
                part: None,
                ..m
            }));
        }
    }

    /// Long MO messages waiting for parts, and those dropped incomplete (expired or
    /// evicted).
    pub fn mo_pending(&self) -> (usize, u64) {
        (self.mo_parts.pending(), self.mo_parts.dropped())
    }

    fn answered(&mut self, now: Instant, seq: u32, outcome: SubmitOutcome) {
        // a late answer to a request already given up on is ignored
        let Some(f) = self.in_flight.remove(&seq) else {
            return;
        };
        match outcome {
            SubmitOutcome::Accepted(id) => {
                self.throttled_in_a_row = 0;
                self.events.push_back(Event::Accepted {
                    request: f.request,
                    id,
                });
            }
            SubmitOutcome::Throttled(status)
                if self.cfg.max_throttled.is_some_and(|m| f.throttled >= m) =>
            {
                self.events.push_back(Event::Rejected {
                    request: f.request,
                    status,
                });
            }
            SubmitOutcome::Throttled(_) => {
                // the same request again, first in line, after a pause that grows while
                // the gateway keeps throttling; nothing else goes before it
                let pause = self
                    .cfg
                    .backoff
                    .saturating_mul(1 << self.throttled_in_a_row.min(16))
                    .min(self.cfg.max_backoff);
                self.throttled_in_a_row += 1;
                let at = now + pause;
                self.next_send = Some(self.next_send.map_or(at, |n| n.max(at)));
                self.queue.push_front(Queued {
                    request: f.request,
                    part: f.part,
                    not_before: Some(at),
                    tries: 0,
                    throttled: f.throttled + 1,
                });
            }
            SubmitOutcome::Rejected(status) => self.events.push_back(Event::Rejected {
                request: f.request,
                status,
            }),
        }
    }

    /// Sends what the window, the rate and the pauses allow.
    fn pump(&mut self, now: Instant) {
        if self.state != State::Bound {
            return;
        }
        let interval = self
            .cfg
            .tps
            .filter(|&t| t > 0)
            .map(|t| Duration::from_secs(1) / t);
        while self.in_flight.len() < self.cfg.window {
            if self.next_send.is_some_and(|n| n > now) {
                return;
            }
            let Some(front) = self.queue.front() else {
                return;
            };
            if front.not_before.is_some_and(|n| n > now) {
                return;
            }
            let Some(q) = self.queue.pop_front() else {
                return;
            };
            let seq = self.seq();
            self.transmit.push_back(self.protocol.submit(seq, &q.part));
            self.in_flight.insert(
                seq,
                InFlight {
                    request: q.request,
                    part: q.part,
                    sent: now,
                    tries: q.tries + 1,
                    throttled: q.throttled,
                },
            );
            self.next_send = interval.map(|i| now + i);
        }
    }

    /// Runs what is due at `now`: sends that were waiting, answers that are late, the
    /// link check.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::LoggingIn { deadline, .. } | State::LoggingOut { deadline }
                if deadline <= now =>
            {
                self.state = State::Disconnected;
                self.events.push_back(Event::LinkLost);
                return;
            }
            _ => {}
        }
        if self.state != State::Bound {
            return;
        }
        let timeout = self.cfg.response_timeout;
        let late: Vec<u32> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.sent + timeout <= now)
            .map(|(s, _)| *s)
            .collect();
        for seq in late {
            let Some(mut f) = self.in_flight.remove(&seq) else {
                continue;
            };
            if f.tries >= self.cfg.max_tries {
                self.events.push_back(Event::TimedOut(f.request));
                continue;
            }
            // sent again with the same sequence number, as CMPP's T and N have it
            self.transmit.push_back(self.protocol.submit(seq, &f.part));
            f.tries += 1;
            f.sent = now;
            self.in_flight.insert(seq, f);
        }
        if let Some((_, sent)) = self.link_check {
            if sent + self.link_wait() <= now {
                self.link_misses += 1;
                if self.link_misses >= self.cfg.link_check_tries.max(1) {
                    self.link_check = None;
                    self.state = State::Disconnected;
                    self.events.push_back(Event::LinkLost);
                    return;
                }
                let seq = self.seq();
                self.transmit.push_back(self.protocol.link_check(seq));
                self.link_check = Some((seq, now));
            }
        } else if self
            .last_rx
            .is_some_and(|t| t + self.cfg.link_check_after <= now)
        {
            let seq = self.seq();
            self.transmit.push_back(self.protocol.link_check(seq));
            self.link_check = Some((seq, now));
        }
        self.pump(now);
    }

    /// How long a link check may go unanswered.
    fn link_wait(&self) -> Duration {
        self.cfg
            .link_check_timeout
            .unwrap_or(self.cfg.response_timeout)
    }

    /// When [`ClientSession::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let min = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        match self.state {
            State::LoggingIn { deadline, .. } | State::LoggingOut { deadline } => Some(deadline),
            State::Bound => {
                let t = self.cfg.response_timeout;
                let mut at = self.in_flight.values().map(|f| f.sent + t).min();
                at = min(
                    at,
                    match self.link_check {
                        Some((_, sent)) => Some(sent + self.link_wait()),
                        None => self.last_rx.map(|r| r + self.cfg.link_check_after),
                    },
                );
                if self.in_flight.len() < self.cfg.window {
                    if let Some(q) = self.queue.front() {
                        at = min(
                            at,
                            [q.not_before, self.next_send].into_iter().flatten().max(),
                        );
                    }
                }
                at
            }
            State::Disconnected | State::Closed => None,
        }
    }
}
