//! The gateway side of a session (an ISMG's, an SMSC's), sans-IO: accounts and logins,
//! message ids, the accounts' rates (answering "throttled" past them), delivery reports
//! when asked for, MO pushes, the gateway's own requests sent within a window and resent
//! until answered, link checks both ways. A protocol plugs in through
//! [`ServerProtocol`]; [`super::smpp::SmscProtocol`] and [`super::cmpp::IsmgProtocol`]
//! do.

mod accounts;
mod protocol;

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use packwire_codecs::sms::Parts;

pub use accounts::{Account, ServerConfig, ServerShared};
pub use protocol::{EventOf, Refusal, Request, ServerEvent, ServerProtocol, SubmitView, Verdict};

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
