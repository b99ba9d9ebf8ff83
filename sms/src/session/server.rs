//! The gateway side of a session (an ISMG's, an SMSC's), sans-IO: accounts and logins,
//! message ids, the accounts' rates (answering "throttled" past them), delivery reports
//! when asked for, MO pushes, the gateway's own requests sent within a window and resent
//! until answered, link checks both ways. A protocol plugs in through
//! [`ServerProtocol`]; [`super::smpp::SmscProtocol`] and [`super::cmpp::IsmgProtocol`]
//! do.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use packwire_codecs::sms::{Concat, Parts};
use packwire_core::EncodeError;

/// An account at the gateway (an SP's, an ESME's).
#[derive(Debug, Clone)]
pub struct Account<A> {
    /// What it logs in as (SMPP's system_id, CMPP's Source_Addr).
    pub name: Bytes,
    /// Its password or shared secret.
    pub secret: Bytes,
    /// What the protocol restricts further (SMPP: the bind kinds; CMPP: the versions);
    /// empty: anything the protocol speaks.
    pub allowed: A,
    /// The addresses it may log in from (empty: any).
    pub ips: Vec<IpAddr>,
    /// How many sessions it may have logged in at once (`None`: no limit).
    pub max_sessions: Option<usize>,
    /// Submits per second over all its sessions (overrides [`ServerConfig::rate`]).
    pub rate: Option<u32>,
}

impl<A: Default> Account<A> {
    /// An account that may log in any way, from anywhere, any number of times.
    pub fn new(name: impl Into<Bytes>, secret: impl Into<Bytes>) -> Self {
        Account {
            name: name.into(),
            secret: secret.into(),
            allowed: A::default(),
            ips: Vec::new(),
            max_sessions: None,
            rate: None,
        }
    }
}

/// How the gateway side behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig<A> {
    /// The accounts that may log in.
    pub accounts: Vec<Account<A>>,
    /// Submits per second one account may make over all its sessions; past it, the
    /// protocol's "throttled" answer. `None`: no limit.
    pub rate: Option<u32>,
    /// Whether a submit that asks for a delivery report gets one.
    pub reports: bool,
    /// A report this long after the submit.
    pub report_after: Duration,
    /// The reports' final state word.
    pub report_stat: Bytes,
    /// Reports per session scheduled or sent but not yet acknowledged; beyond it a report
    /// is dropped and counted ([`ServerSession::take_reports_dropped`]) rather than held for a
    /// client that does not acknowledge.
    pub max_pending_reports: usize,
    /// The gateway's own requests (reports, MO messages) unanswered at once.
    pub window: usize,
    /// How long one of them waits for its answer before it goes again.
    pub request_timeout: Duration,
    /// How often each is sent in all, the first included.
    pub request_sends: u32,
    /// A link check goes to a logged-in client silent for this long (`None`: never).
    pub link_check_after: Option<Duration>,
    /// How long a link check waits for its answer.
    pub link_check_timeout: Duration,
    /// Link checks unanswered one after the other before the link is given up
    /// ([`ServerEvent::LinkLost`]).
    pub link_check_tries: u32,
}

impl<A> ServerConfig<A> {
    /// A gateway for `accounts`: no rate limit, reports (when asked for) after 100 ms, a
    /// window of 16 requests resent after 60 s up to 3 sends, a link check after 30 s of
    /// silence given up after 10 s.
    pub fn new(accounts: Vec<Account<A>>) -> Self {
        ServerConfig {
            accounts,
            rate: None,
            reports: true,
            report_after: Duration::from_millis(100),
            report_stat: Bytes::from_static(b"DELIVRD"),
            max_pending_reports: 1024,
            window: 16,
            request_timeout: Duration::from_secs(60),
            request_sends: 3,
            link_check_after: Some(Duration::from_secs(30)),
            link_check_timeout: Duration::from_secs(10),
            link_check_tries: 1,
        }
    }
}

#[derive(Debug, Default)]
struct Use {
    sessions: usize,
    /// the second of the rate window, and the submits in it
    second: u64,
    submits: u32,
}

#[derive(Debug, Default)]
struct Uses {
    by_account: HashMap<Bytes, Use>,
    /// what the rate's seconds count from
    epoch: Option<Instant>,
}

/// What the sessions of one gateway share: its configuration, its accounts by name, and
/// each account's sessions and rate.
#[derive(Debug)]
pub struct ServerShared<A> {
    cfg: ServerConfig<A>,
    index: HashMap<Bytes, usize>,
    uses: Mutex<Uses>,
}

impl<A> ServerShared<A> {
    /// Shares `cfg` between sessions.
    pub fn new(cfg: ServerConfig<A>) -> Arc<Self> {
        let index = cfg
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.clone(), i))
            .collect();
        Arc::new(ServerShared {
            cfg,
            index,
            uses: Mutex::new(Uses::default()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig<A> {
        &self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Uses> {
        self.uses.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sessions logged in as `name` now.
    pub fn sessions(&self, name: &[u8]) -> usize {
        self.lock().by_account.get(name).map_or(0, |u| u.sessions)
    }

    fn account(&self, name: &[u8]) -> Option<&Account<A>> {
        self.index.get(name).map(|&i| &self.cfg.accounts[i])
    }

    /// Takes a session for `name` unless `max` are logged in.
    fn take(&self, name: &Bytes, max: Option<usize>) -> bool {
        let mut u = self.lock();
        let n = &mut u.by_account.entry(name.clone()).or_default().sessions;
        if max.is_some_and(|max| *n >= max) {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self, name: &Bytes) {
        let mut u = self.lock();
        if let Some(a) = u.by_account.get_mut(name) {
            a.sessions = a.sessions.saturating_sub(1);
            if a.sessions == 0 {
                u.by_account.remove(name);
            }
        }
    }

    /// Whether `name`'s rate lets one more submit in at `now` (a window per second).
    fn admit(&self, name: &Bytes, limit: u32, now: Instant) -> bool {
        let mut u = self.lock();
        let epoch = *u.epoch.get_or_insert(now);
        let second = now.saturating_duration_since(epoch).as_secs();
        let a = u.by_account.entry(name.clone()).or_default();
        if a.second != second {
            a.second = second;
            a.submits = 0;
        }
        if a.submits >= limit {
            return false;
        }
        a.submits += 1;
        true
    }
}

/// A submit as the session needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitView {
    /// Its source address.
    pub from: Bytes,
    /// Its destinations (a group send has several; each gets a message id).
    pub to: Vec<Bytes>,
    /// Whether it asks for a delivery report.
    pub report: bool,
    /// The protocol's data coding value.
    pub coding: u8,
    /// Where it belongs when it is one part of a long message.
    pub part: Option<Concat>,
    /// Its payload, headers removed.
    pub payload: Bytes,
}

/// What a PDU from the client is to the gateway's session.
#[derive(Debug, Clone)]
pub enum Request<Pdu> {
    /// A login as this account (the protocol checks the credentials in
    /// [`ServerProtocol::verify`]).
    Login(Bytes),
    /// A submit.
    Submit(SubmitView),
    /// The client checks the link: answer with this.
    LinkCheck(Pdu),
    /// The client logs out: answer with this, then close.
    Logout(Pdu),
    /// The answer to the gateway's request with this sequence number.
    Answer(u32),
    /// Something else, with the answer it needs if any.
    Other(Option<Pdu>),
}

/// Why a login was refused, before the protocol's own checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The session is logged in already.
    AlreadyLoggedIn,
    /// No such account.
    UnknownAccount,
    /// The account may not log in from this address.
    Address,
    /// The account has as many sessions as it may.
    TooManySessions,
    /// The protocol's check failed with this status.
    Status(u32),
}

/// How a submit is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a, Id> {
    /// Taken, with these ids (one per destination).
    Accepted(&'a [Id]),
    /// Past the account's rate.
    Throttled,
    /// Not logged in, or logged in a way that does not submit.
    NotAllowed,
}

/// One protocol's part of the gateway side: how its PDUs say what the session needs to
/// know and how its answers and requests are written. Sequence numbers are the
/// session's (1, 2, ...).
pub trait ServerProtocol {
    /// The protocol's PDU.
    type Pdu: Clone + std::fmt::Debug;
    /// A message id.
    type Id: Clone + std::fmt::Debug + PartialEq;
    /// What a login settled (SMPP: the bind kind; CMPP: the version).
    type Login: Clone + std::fmt::Debug + PartialEq;
    /// What an account restricts beyond the common checks.
    type Allowed: Clone + std::fmt::Debug + Default;
    /// Whether a refused login closes the connection (CMPP) or the client may try again
    /// (SMPP).
    const CLOSE_ON_REFUSAL: bool;

    /// What `pdu` is to the session.
    fn classify(&self, pdu: &Self::Pdu) -> Request<Self::Pdu>;
    /// Checks a login request's credentials and terms against `account`.
    ///
    /// # Errors
    /// The protocol's status for the refusal.
    fn verify(&self, pdu: &Self::Pdu, account: &Account<Self::Allowed>)
    -> Result<Self::Login, u32>;
    /// The status a refusal is answered with.
    fn refusal(&self, why: Refusal) -> u32;
    /// The answer to the login request `pdu`: `Ok` with what it settled, or the status
    /// it was refused with (`account` when it exists).
    fn login_answer(
        &self,
        pdu: &Self::Pdu,
        outcome: Result<&Self::Login, u32>,
        account: Option<&Account<Self::Allowed>>,
    ) -> Self::Pdu;
    /// Whether a session logged in this way may submit.
    fn may_submit(&self, login: &Self::Login) -> bool;
    /// Whether a session logged in this way receives reports and MO messages.
    fn may_receive(&self, login: &Self::Login) -> bool;
    /// `n` new message ids.
    fn ids(&mut self, n: usize) -> Vec<Self::Id>;
    /// The answer to the submit `pdu`.
    fn submit_answer(&self, pdu: &Self::Pdu, verdict: Verdict<'_, Self::Id>) -> Self::Pdu;
    /// The delivery report on `id`, the message `submit` sent to `to`, with final state
    /// `stat`.
    fn report(
        &mut self,
        login: &Self::Login,
        submit: &Self::Pdu,
        id: &Self::Id,
        to: &Bytes,
        stat: &Bytes,
    ) -> Option<Self::Pdu>;
    /// The requests that carry a mobile-originated `text` from `from` to `to`, one per
    /// part.
    ///
    /// # Errors
    /// When the text cannot be carried.
    fn mo(
        &mut self,
        login: &Self::Login,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<Vec<Self::Pdu>, EncodeError>;
    /// The link check request.
    fn link_check(&self) -> Self::Pdu;
    /// The logout request.
    fn logout(&self) -> Self::Pdu;
    /// Gives a request of the gateway's its sequence number.
    fn set_sequence(&self, pdu: &mut Self::Pdu, seq: u32);
    /// `payload` as text, when `coding` is a text coding of the protocol.
    fn text(&self, coding: u8, payload: &[u8]) -> Option<String>;
}

/// What happened on the gateway side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent<Id, Login, Pdu> {
    /// A client logged in.
    LoggedIn {
        /// Its account.
        account: Bytes,
        /// How.
        login: Login,
        /// From where.
        peer: SocketAddr,
    },
    /// A login was refused, with the status answered.
    LoginRefused {
        /// The account it claimed.
        account: Bytes,
        /// The status answered.
        status: u32,
        /// From where.
        peer: SocketAddr,
    },
    /// A submit was taken.
    Submitted {
        /// The account.
        account: Bytes,
        /// The ids given, one per destination.
        ids: Vec<Id>,
        /// The submit.
        request: Box<Pdu>,
    },
    /// A submit was refused for the account's rate.
    Throttled {
        /// The account.
        account: Bytes,
        /// The submit.
        request: Box<Pdu>,
    },
    /// A whole message arrived (one submit, or every part of a long one).
    Message {
        /// The account.
        account: Bytes,
        /// The first destination.
        to: Bytes,
        /// The text, when its coding is a text coding.
        text: Option<String>,
        /// How many parts it came in.
        parts: usize,
    },
    /// A delivery report went out; `acked` when the client answered it.
    ReportSent {
        /// The account.
        account: Bytes,
        /// The message id it reports on.
        id: Id,
        /// Whether it was answered.
        acked: bool,
    },
    /// Every part of the MO message [`ServerSession::push_mo`] numbered so was sent;
    /// `acked` when each was answered.
    MoSent {
        /// Its number.
        mo: u64,
        /// Whether every part was answered.
        acked: bool,
    },
    /// The client logged out, or answered the gateway's logout: close the connection.
    LoggedOut {
        /// The account (empty when it had not logged in).
        account: Bytes,
    },
    /// The client did not answer the gateway's link checks: close the connection.
    LinkLost,
}

/// A [`ServerSession`]'s events for protocol `P`.
pub type EventOf<P> = ServerEvent<
    <P as ServerProtocol>::Id,
    <P as ServerProtocol>::Login,
    <P as ServerProtocol>::Pdu,
>;

/// What one of the gateway's requests was.
#[derive(Debug, Clone)]
enum Purpose<Id> {
    Report(Bytes, Id),
    Mo(u64),
}

#[derive(Debug)]
struct Outgoing<Pdu, Id> {
    pdu: Pdu,
    purpose: Purpose<Id>,
}

#[derive(Debug)]
struct Sent<Pdu, Id> {
    out: Outgoing<Pdu, Id>,
    seq: u32,
    at: Instant,
    sends: u32,
}

#[derive(Debug)]
struct Due<Pdu, Id> {
    at: Instant,
    submit: Pdu,
    id: Id,
    to: Bytes,
}

#[derive(Debug)]
struct LoggedIn<L> {
    account: Bytes,
    login: L,
}

/// Why the session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Logged out (either side), or a refused login the protocol closes on.
    LoggedOut,
    /// The link checks went unanswered.
    LinkLost,
}

/// One client's session at the gateway.
///
/// ```
/// # use std::time::Instant;
/// # use packwire_codecs::smpp::{Bind, Body, Pdu};
/// use packwire_sms::session::{Account, ServerConfig, ServerEvent, ServerShared, ServerSession};
/// use packwire_sms::session::smpp::SmscProtocol;
///
/// let shared = ServerShared::new(ServerConfig::new(vec![Account::new("esme01", "secret")]));
/// let mut smsc = ServerSession::new(shared, SmscProtocol::new(1));
/// smsc.handle(Instant::now(), &Pdu::new(1, Body::BindTransceiver(Bind::new("esme01", "secret"))));
/// assert!(matches!(smsc.poll_event(), Some(ServerEvent::LoggedIn { .. })));
/// let answer = smsc.poll_transmit().unwrap(); // write it
/// assert!(answer.command_status.is_ok());
/// ```
#[derive(Debug)]
pub struct ServerSession<P: ServerProtocol> {
    protocol: P,
    shared: Arc<ServerShared<P::Allowed>>,
    peer: SocketAddr,
    logged_in: Option<LoggedIn<P::Login>>,
    next_seq: u32,
    next_mo: u64,
    /// reports waiting for their time
    due: VecDeque<Due<P::Pdu, P::Id>>,
    /// requests waiting for room in the window
    waiting: VecDeque<Outgoing<P::Pdu, P::Id>>,
    /// requests sent and not answered
    sent: Vec<Sent<P::Pdu, P::Id>>,
    /// MO messages: parts not yet answered or given up, and whether all were answered
    mo_left: HashMap<u64, (usize, bool)>,
    /// reports scheduled, waiting or sent, not yet answered
    pending_reports: usize,
    reports_dropped: u64,
    parts: Parts<u8>,
    last_rx: Option<Instant>,
    /// our link check in flight: its sequence number and when it went
    link_check: Option<(u32, Instant)>,
    link_misses: u32,
    /// our logout in flight
    logout: Option<u32>,
    ending: Option<Ending>,
    transmit: VecDeque<P::Pdu>,
    events: VecDeque<EventOf<P>>,
}

impl<P: ServerProtocol> ServerSession<P> {
    /// A session of the gateway `shared`, speaking `protocol`.
    pub fn new(shared: Arc<ServerShared<P::Allowed>>, protocol: P) -> Self {
        ServerSession {
            protocol,
            shared,
            peer: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            logged_in: None,
            next_seq: 1,
            next_mo: 1,
            due: VecDeque::new(),
            waiting: VecDeque::new(),
            sent: Vec::new(),
            mo_left: HashMap::new(),
            pending_reports: 0,
            reports_dropped: 0,
            parts: Parts::new(Duration::from_secs(600), 1000),
            last_rx: None,
            link_check: None,
            link_misses: 0,
            logout: None,
            ending: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The client's address, for the accounts' address lists and the events.
    pub fn with_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = peer;
        self
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7fff_ffff { 1 } else { s + 1 };
        s
    }

    /// The account logged in and how, if logged in.
    pub fn logged_in(&self) -> Option<(&Bytes, &P::Login)> {
        self.logged_in.as_ref().map(|l| (&l.account, &l.login))
    }

    /// Why the session is over, once it is: write what it hands out, then close.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// Reports dropped because [`ServerConfig::max_pending_reports`] were unanswered,
    /// since the last call.
    pub fn take_reports_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.reports_dropped)
    }

    /// A PDU to write.
    pub fn poll_transmit(&mut self) -> Option<P::Pdu> {
        self.transmit.pop_front()
    }

    /// An event.
    pub fn poll_event(&mut self) -> Option<EventOf<P>> {
        self.events.pop_front()
    }

    /// When [`ServerSession::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ending.is_some() {
            return None;
        }
        let cfg = &self.shared.cfg;
        let report = self.due.front().map(|d| d.at);
        let resend = self.sent.iter().map(|s| s.at + cfg.request_timeout).min();
        [report, resend, self.link_due()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the link check next has something to do: check a logged-in, silent client,
    /// or give up on the check in flight.
    fn link_due(&self) -> Option<Instant> {
        self.logged_in.as_ref()?;
        let cfg = &self.shared.cfg;
        match self.link_check {
            Some((_, sent)) => Some(sent + cfg.link_check_timeout),
            None => Some(self.last_rx? + cfg.link_check_after?),
        }
    }

    /// Sends the reports due at `now`, resends or gives up the requests unanswered, and
    /// checks the link.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ending.is_some() {
            return;
        }
        while self.due.front().is_some_and(|d| d.at <= now) {
            let Some(d) = self.due.pop_front() else { break };
            let Some(l) = &self.logged_in else { break };
            let stat = self.shared.cfg.report_stat.clone();
            match self
                .protocol
                .report(&l.login, &d.submit, &d.id, &d.to, &stat)
            {
                Some(pdu) => self.waiting.push_back(Outgoing {
                    pdu,
                    purpose: Purpose::Report(l.account.clone(), d.id),
                }),
                None => self.pending_reports -= 1,
            }
        }
        let (timeout, sends) = (
            self.shared.cfg.request_timeout,
            self.shared.cfg.request_sends,
        );
        let mut i = 0;
        while i < self.sent.len() {
            if self.sent[i].at + timeout > now {
                i += 1;
            } else if self.sent[i].sends < sends {
                let s = &mut self.sent[i];
                s.sends += 1;
                s.at = now;
                self.transmit.push_back(s.out.pdu.clone());
                i += 1;
            } else {
                let s = self.sent.swap_remove(i);
                self.settle(s.out.purpose, false);
            }
        }
        self.pump(now);
        if self.link_due().is_some_and(|t| t <= now) {
            if self.link_check.is_some() {
                self.link_misses += 1;
                self.link_check = None;
            }
            if self.link_misses >= self.shared.cfg.link_check_tries.max(1) {
                self.end(Ending::LinkLost);
                self.events.push_back(ServerEvent::LinkLost);
            } else {
                let seq = self.seq();
                let mut check = self.protocol.link_check();
                self.protocol.set_sequence(&mut check, seq);
                self.link_check = Some((seq, now));
                self.transmit.push_back(check);
            }
        }
    }

    /// The session is over: nothing more goes out; what waits is given up.
    fn end(&mut self, why: Ending) {
        self.ending = Some(why);
        self.abandon();
        self.release();
    }

    /// Gives up every report and MO message not yet answered, each with its event.
    fn abandon(&mut self) {
        let account = self
            .logged_in
            .as_ref()
            .map(|l| l.account.clone())
            .unwrap_or_default();
        for d in std::mem::take(&mut self.due) {
            self.settle(Purpose::Report(account.clone(), d.id), false);
        }
        let waiting = std::mem::take(&mut self.waiting).into_iter();
        let sent = std::mem::take(&mut self.sent).into_iter().map(|s| s.out);
        for out in waiting.chain(sent) {
            self.settle(out.purpose, false);
        }
        self.pending_reports = 0;
    }

    /// Sends what waits, within the window.
    fn pump(&mut self, now: Instant) {
        while self.sent.len() < self.shared.cfg.window.max(1) {
            let Some(mut out) = self.waiting.pop_front() else {
                break;
            };
            let seq = self.seq();
            self.protocol.set_sequence(&mut out.pdu, seq);
            self.transmit.push_back(out.pdu.clone());
            self.sent.push(Sent {
                out,
                seq,
                at: now,
                sends: 1,
            });
        }
    }

    /// A request of the gateway's was answered or given up.
    fn settle(&mut self, purpose: Purpose<P::Id>, acked: bool) {
        match purpose {
            Purpose::Report(account, id) => {
                self.pending_reports = self.pending_reports.saturating_sub(1);
                self.events
                    .push_back(ServerEvent::ReportSent { account, id, acked });
            }
            Purpose::Mo(mo) => {
                if let Some((left, all)) = self.mo_left.get_mut(&mo) {
                    *left -= 1;
                    *all &= acked;
                    if *left == 0 {
                        let acked = *all;
                        self.mo_left.remove(&mo);
                        self.events.push_back(ServerEvent::MoSent { mo, acked });
                    }
                }
            }
        }
    }

    /// Sends a mobile-originated message to the client, split into parts when long;
    /// returns its number (for [`ServerEvent::MoSent`]) and how many parts it took, or
    /// `None` (nothing sent) when the client is not logged in to receive or the text
    /// cannot be carried.
    pub fn push_mo(
        &mut self,
        now: Instant,
        from: &str,
        to: &str,
        text: &str,
    ) -> Option<(u64, usize)> {
        let l = self.logged_in.as_ref()?;
        if self.ending.is_some() || !self.protocol.may_receive(&l.login) {
            return None;
        }
        let pdus = self.protocol.mo(&l.login, from, to, text).ok()?;
        let (mo, parts) = (self.next_mo, pdus.len());
        self.next_mo += 1;
        self.mo_left.insert(mo, (parts, true));
        for pdu in pdus {
            self.waiting.push_back(Outgoing {
                pdu,
                purpose: Purpose::Mo(mo),
            });
        }
        self.pump(now);
        Some((mo, parts))
    }

    /// Logs the client out (the protocol's logout request); the session ends when it
    /// answers ([`ServerEvent::LoggedOut`]).
    pub fn logout(&mut self) {
        if self.ending.is_some() || self.logout.is_some() {
            return;
        }
        let seq = self.seq();
        let mut pdu = self.protocol.logout();
        self.protocol.set_sequence(&mut pdu, seq);
        self.logout = Some(seq);
        self.transmit.push_back(pdu);
    }

    /// The connection has closed: a logged-in session gives its place back to the
    /// account's count (also done when the session is dropped).
    /// What was not answered is given up, each with its event.
    pub fn closed(&mut self) {
        if self.ending.is_none() {
            self.abandon();
        }
        self.release();
    }

    fn release(&mut self) {
        if let Some(l) = self.logged_in.take() {
            self.shared.release(&l.account);
        }
    }

    fn login(&mut self, pdu: &P::Pdu, name: Bytes) {
        let shared = self.shared.clone();
        let account = shared.account(&name);
        let outcome = match account {
            _ if self.logged_in.is_some() => Err(self.protocol.refusal(Refusal::AlreadyLoggedIn)),
            None => Err(self.protocol.refusal(Refusal::UnknownAccount)),
            Some(a) if !a.ips.is_empty() && !a.ips.contains(&self.peer.ip()) => {
                Err(self.protocol.refusal(Refusal::Address))
            }
            Some(a) => match self.protocol.verify(pdu, a) {
                Err(status) => Err(self.protocol.refusal(Refusal::Status(status))),
                Ok(login) if shared.take(&a.name, a.max_sessions) => Ok(login),
                Ok(_) => Err(self.protocol.refusal(Refusal::TooManySessions)),
            },
        };
        self.transmit.push_back(self.protocol.login_answer(
            pdu,
            outcome.as_ref().map_err(|s| *s),
            account,
        ));
        match outcome {
            Ok(login) => {
                self.events.push_back(ServerEvent::LoggedIn {
                    account: name.clone(),
                    login: login.clone(),
                    peer: self.peer,
                });
                self.logged_in = Some(LoggedIn {
                    account: name,
                    login,
                });
            }
            Err(status) => {
                self.events.push_back(ServerEvent::LoginRefused {
                    account: name,
                    status,
                    peer: self.peer,
                });
                if P::CLOSE_ON_REFUSAL && self.logged_in.is_none() {
                    self.end(Ending::LoggedOut);
                }
            }
        }
    }

    fn submit(&mut self, now: Instant, pdu: &P::Pdu, view: SubmitView) {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        let Some(l) = self
            .logged_in
            .as_ref()
            .filter(|l| self.protocol.may_submit(&l.login))
        else {
            let answer = self.protocol.submit_answer(pdu, Verdict::NotAllowed);
            self.transmit.push_back(answer);
            return;
        };
        let account = l.account.clone();
        let limit = shared.account(&account).and_then(|a| a.rate).or(cfg.rate);
        if limit.is_some_and(|n| !shared.admit(&account, n, now)) {
            let answer = self.protocol.submit_answer(pdu, Verdict::Throttled);
            self.transmit.push_back(answer);
            self.events.push_back(ServerEvent::Throttled {
                account,
                request: Box::new(pdu.clone()),
            });
            return;
        }
        let ids = self.protocol.ids(view.to.len().max(1));
        let answer = self.protocol.submit_answer(pdu, Verdict::Accepted(&ids));
        self.transmit.push_back(answer);
        let first_to = view.to.first().cloned().unwrap_or_default();
        let whole = match view.part {
            Some(at) => self.parts.push(
                now,
                &account,
                &first_to,
                at,
                view.coding,
                view.payload.clone(),
            ),
            None => Some(vec![(view.coding, view.payload.clone())]),
        };
        if cfg.reports && view.report {
            let n = ids.len();
            if self.pending_reports + n > cfg.max_pending_reports {
                // the client does not answer what it has: these are not held for it
                self.reports_dropped += n as u64;
            } else {
                self.pending_reports += n;
                let at = now + cfg.report_after;
                for (id, to) in ids
                    .iter()
                    .zip(view.to.iter().chain(std::iter::repeat(&first_to)))
                {
                    self.due.push_back(Due {
                        at,
                        submit: pdu.clone(),
                        id: id.clone(),
                        to: to.clone(),
                    });
                }
            }
        }
        self.events.push_back(ServerEvent::Submitted {
            account: account.clone(),
            ids,
            request: Box::new(pdu.clone()),
        });
        if let Some(parts) = whole {
            let coding = parts.first().map_or(view.coding, |(c, _)| *c);
            let payload: Vec<u8> = parts.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            self.events.push_back(ServerEvent::Message {
                account,
                to: first_to,
                text: self.protocol.text(coding, &payload),
                parts: parts.len(),
            });
        }
    }

    /// Takes a PDU from the client.
    pub fn handle(&mut self, now: Instant, pdu: &P::Pdu) {
        if self.ending.is_some() {
            return;
        }
        // anything from the client shows the link is alive (a busy client's answer to
        // our link check may come after its submits)
        self.last_rx = Some(now);
        self.link_check = None;
        self.link_misses = 0;
        match self.protocol.classify(pdu) {
            Request::Login(name) => self.login(pdu, name),
            Request::Submit(view) => self.submit(now, pdu, view),
            Request::LinkCheck(answer) => self.transmit.push_back(answer),
            Request::Logout(answer) => {
                self.transmit.push_back(answer);
                let account = self.logged_in.as_ref().map(|l| l.account.clone());
                self.end(Ending::LoggedOut);
                self.events.push_back(ServerEvent::LoggedOut {
                    account: account.unwrap_or_default(),
                });
            }
            Request::Answer(seq) => {
                if self.logout == Some(seq) {
                    let account = self.logged_in.as_ref().map(|l| l.account.clone());
                    self.end(Ending::LoggedOut);
                    self.events.push_back(ServerEvent::LoggedOut {
                        account: account.unwrap_or_default(),
                    });
                } else if let Some(i) = self.sent.iter().position(|s| s.seq == seq) {
                    let s = self.sent.swap_remove(i);
                    self.settle(s.out.purpose, true);
                    self.pump(now);
                }
            }
            Request::Other(answer) => self.transmit.extend(answer),
        }
    }
}

impl<P: ServerProtocol> Drop for ServerSession<P> {
    /// A session that ends logged in gives its place back to the account's count.
    fn drop(&mut self) {
        self.release();
    }
}
