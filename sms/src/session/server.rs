//! The gateway side of an SMPP session (an SMSC simulator's), sans-IO: accounts, binds,
//! message ids, its own rate (answering `ESME_RTHROTTLED` past it), delivery receipts
//! when asked for, MO pushes, link checks both ways.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::smpp::BindKind;
use bytes::Bytes;
use packwire_codecs::smpp::{
    Address, Bind, BindResp, Body, CommandStatus, ESM_DELIVERY_RECEIPT, Pdu, Sm, SmResp, Tag,
};

/// An ESME account.
#[derive(Debug, Clone)]
pub struct Account {
    /// system_id.
    pub system_id: Bytes,
    /// password.
    pub password: Bytes,
    /// The binds it may make (default: all three).
    pub binds: Vec<BindKind>,
    /// The addresses it may bind from (empty: any).
    pub ips: Vec<IpAddr>,
    /// How many sessions it may have bound at once (`None`: no limit).
    pub max_binds: Option<usize>,
}

impl Account {
    /// An account that may bind any way, from anywhere, any number of times.
    pub fn new(system_id: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        Account {
            system_id: system_id.into(),
            password: password.into(),
            binds: vec![
                BindKind::Transmitter,
                BindKind::Receiver,
                BindKind::Transceiver,
            ],
            ips: Vec::new(),
            max_binds: None,
        }
    }
}

/// How many sessions each account has bound, shared by the sessions of one gateway.
#[derive(Debug, Clone, Default)]
pub struct BindCounts(Arc<Mutex<HashMap<Bytes, usize>>>);

impl BindCounts {
    /// Sessions bound as `system_id` now.
    pub fn get(&self, system_id: &[u8]) -> usize {
        self.lock().get(system_id).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, usize>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a bind for `system_id` unless `max` are bound.
    fn take(&self, system_id: &Bytes, max: Option<usize>) -> bool {
        let mut m = self.lock();
        let n = m.entry(system_id.clone()).or_default();
        if max.is_some_and(|max| *n >= max) {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self, system_id: &Bytes) {
        let mut m = self.lock();
        if let Some(n) = m.get_mut(system_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(system_id);
            }
        }
    }
}

/// How the gateway side behaves.
#[derive(Debug, Clone)]
pub struct SmscConfig {
    /// The accounts that may bind.
    pub accounts: Vec<Account>,
    /// The system_id it answers binds with.
    pub system_id: Bytes,
    /// Submits per second it takes from one session; past it, `ESME_RTHROTTLED`.
    pub tps: Option<u32>,
    /// Whether a submit that asks for a delivery receipt gets one.
    pub receipts: bool,
    /// A delivery receipt this long after a submit that asked for one.
    pub receipt_after: Duration,
    /// An enquire_link goes to a bound ESME that has sent nothing for this long (`None`:
    /// never).
    pub link_check_after: Option<Duration>,
    /// How long that enquire_link may go unanswered before the link is given up
    /// ([`SmscEvent::LinkLost`]).
    pub link_check_timeout: Duration,
}

impl SmscConfig {
    /// A gateway for `accounts`, no rate limit, receipts (when asked for) after 100 ms.
    pub fn new(accounts: Vec<Account>) -> Self {
        SmscConfig {
            accounts,
            system_id: Bytes::from_static(b"packwire"),
            tps: None,
            receipts: true,
            receipt_after: Duration::from_millis(100),
            link_check_after: Some(Duration::from_secs(30)),
            link_check_timeout: Duration::from_secs(10),
        }
    }
}

/// What happened on the gateway side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmscEvent {
    /// An ESME bound with this system_id.
    Bound(Bytes),
    /// A bind was refused, with the status it got.
    Refused(Bytes, CommandStatus),
    /// A submit was taken and given this message id.
    Submitted {
        /// The message id given.
        id: Bytes,
        /// The message.
        sm: Box<Sm>,
    },
    /// A submit was refused for the rate.
    Throttled,
    /// The ESME unbound.
    Unbound,
    /// The ESME did not answer the gateway's enquire_link in time: close the connection.
    LinkLost,
}

/// One ESME's session at the gateway.
#[derive(Debug)]
pub struct SmscSession {
    cfg: SmscConfig,
    bound: Option<(Bytes, BindKind)>,
    peer: Option<IpAddr>,
    counts: BindCounts,
    next_id: u64,
    next_seq: u32,
    /// when the rate lets the next submit in
    next_free: Option<Instant>,
    /// receipts due, by when
    receipts: VecDeque<(Instant, Sm)>,
    /// when the ESME last sent anything
    last_rx: Option<Instant>,
    /// our enquire_link in flight: its sequence number and when it went
    link_check: Option<(u32, Instant)>,
    /// the link was given up: nothing more goes out
    lost: bool,
    transmit: VecDeque<Pdu>,
    events: VecDeque<SmscEvent>,
}

impl SmscSession {
    /// A session with `cfg`; `first_id` numbers its message ids (give each session its own
    /// range, or share a counter).
    pub fn new(cfg: SmscConfig, first_id: u64) -> Self {
        SmscSession {
            cfg,
            bound: None,
            peer: None,
            counts: BindCounts::default(),
            next_id: first_id,
            next_seq: 1,
            next_free: None,
            receipts: VecDeque::new(),
            last_rx: None,
            link_check: None,
            lost: false,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7fff_ffff { 1 } else { s + 1 };
        s
    }

    /// The peer's address, for the accounts' address lists.
    pub fn with_peer(mut self, ip: IpAddr) -> Self {
        self.peer = Some(ip);
        self
    }

    /// Counts binds with the other sessions of the same gateway, for the accounts'
    /// `max_binds`.
    pub fn with_bind_counts(mut self, counts: BindCounts) -> Self {
        self.counts = counts;
        self
    }

    /// The system_id bound and how, if bound.
    pub fn bound(&self) -> Option<(&Bytes, BindKind)> {
        self.bound.as_ref().map(|(id, k)| (id, *k))
    }

    /// A PDU to write.
    pub fn poll_transmit(&mut self) -> Option<Pdu> {
        self.transmit.pop_front()
    }

    /// An event.
    pub fn poll_event(&mut self) -> Option<SmscEvent> {
        self.events.pop_front()
    }

    /// When the next receipt or link check is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let receipt = self.receipts.front().map(|(t, _)| *t);
        [receipt, self.link_due()].into_iter().flatten().min()
    }

    /// When the link check next has something to do: send an enquire_link to a bound,
    /// silent ESME, or give up on the one in flight.
    fn link_due(&self) -> Option<Instant> {
        if self.lost || self.bound.is_none() {
            return None;
        }
        match self.link_check {
            Some((_, sent)) => Some(sent + self.cfg.link_check_timeout),
            None => Some(self.last_rx? + self.cfg.link_check_after?),
        }
    }

    /// Sends the receipts due at `now`, and checks the link.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.lost {
            return;
        }
        while self.receipts.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, r)) = self.receipts.pop_front() {
                let seq = self.seq();
                self.transmit.push_back(Pdu::new(seq, Body::DeliverSm(r)));
            }
        }
        if self.link_due().is_some_and(|t| t <= now) {
            if self.link_check.is_some() {
                self.lost = true;
                self.receipts.clear();
                self.unbind();
                self.events.push_back(SmscEvent::LinkLost);
            } else {
                let seq = self.seq();
                self.link_check = Some((seq, now));
                self.transmit.push_back(Pdu::new(seq, Body::EnquireLink));
            }
        }
    }

    /// Pushes a mobile-originated message to the bound ESME; `false` (nothing sent) when
    /// it is not bound to receive.
    pub fn push_mo(
        &mut self,
        from: Address,
        to: Address,
        coding: u8,
        text: impl Into<Bytes>,
    ) -> bool {
        if !matches!(
            self.bound,
            Some((_, BindKind::Receiver | BindKind::Transceiver))
        ) {
            return false;
        }
        let seq = self.seq();
        self.transmit.push_back(Pdu::new(
            seq,
            Body::DeliverSm(Sm::new(from, to, coding, text)),
        ));
        true
    }

    fn bind(&mut self, pdu: &Pdu, b: &Bind, kind: BindKind, answer: fn(BindResp) -> Body) {
        let account = self
            .cfg
            .accounts
            .iter()
            .find(|a| a.system_id == b.system_id);
        let status = match account {
            _ if self.bound.is_some() => CommandStatus::ESME_RALYBND,
            None => CommandStatus::ESME_RINVSYSID,
            Some(a) if a.password != b.password => CommandStatus::ESME_RINVPASWD,
            Some(a) if !a.binds.contains(&kind) => CommandStatus::ESME_RBINDFAIL,
            Some(a) if !a.ips.is_empty() && !self.peer.is_some_and(|p| a.ips.contains(&p)) => {
                CommandStatus::ESME_RBINDFAIL
            }
            Some(a) if !self.counts.take(&a.system_id, a.max_binds) => {
                CommandStatus::ESME_RBINDFAIL
            }
            Some(_) => CommandStatus::ESME_ROK,
        };
        let resp = BindResp {
            system_id: self.cfg.system_id.clone(),
            ..BindResp::default()
        };
        if status.is_ok() {
            self.bound = Some((b.system_id.clone(), kind));
            self.events.push_back(SmscEvent::Bound(b.system_id.clone()));
        } else {
            self.events
                .push_back(SmscEvent::Refused(b.system_id.clone(), status));
        }
        self.transmit.push_back(pdu.answer(status, answer(resp)));
    }

    /// The connection has closed: a bound session gives its bind back to the account's
    /// count (also done when the session is dropped).
    pub fn closed(&mut self) {
        self.unbind();
    }

    fn unbind(&mut self) {
        if let Some((id, _)) = self.bound.take() {
            self.counts.release(&id);
        }
    }

    /// Takes a PDU from the ESME.
    pub fn handle(&mut self, now: Instant, pdu: &Pdu) {
        if self.lost {
            return;
        }
        // anything from the ESME shows the link is alive (a busy ESME's answer to our
        // enquire_link may come after its submits)
        self.last_rx = Some(now);
        self.link_check = None;
        let ok = CommandStatus::ESME_ROK;
        match &pdu.body {
            Body::BindTransmitter(b) => {
                self.bind(pdu, b, BindKind::Transmitter, Body::BindTransmitterResp);
            }
            Body::BindReceiver(b) => self.bind(pdu, b, BindKind::Receiver, Body::BindReceiverResp),
            Body::BindTransceiver(b) => {
                self.bind(pdu, b, BindKind::Transceiver, Body::BindTransceiverResp);
            }
            // a receiver does not submit; nobody submits before binding
            Body::SubmitSm(_)
                if !matches!(
                    self.bound,
                    Some((_, BindKind::Transmitter | BindKind::Transceiver))
                ) =>
            {
                self.transmit.push_back(pdu.answer(
                    CommandStatus::ESME_RINVBNDSTS,
                    Body::SubmitSmResp(SmResp::default()),
                ));
            }
            Body::SubmitSm(sm) => {
                if let Some(tps) = self.cfg.tps.filter(|&t| t > 0) {
                    if self.next_free.is_some_and(|f| f > now) {
                        self.events.push_back(SmscEvent::Throttled);
                        self.transmit.push_back(pdu.answer(
                            CommandStatus::ESME_RTHROTTLED,
                            Body::SubmitSmResp(SmResp::default()),
                        ));
                        return;
                    }
                    self.next_free = Some(now + Duration::from_secs(1) / tps);
                }
                self.next_id += 1;
                let id = Bytes::from(format!("{:x}", self.next_id));
                self.transmit
                    .push_back(pdu.answer(ok, Body::SubmitSmResp(SmResp::new(id.clone()))));
                if self.cfg.receipts && sm.registered_delivery & 0x03 != 0 {
                    self.receipts
                        .push_back((now + self.cfg.receipt_after, receipt(sm, &id)));
                }
                self.events.push_back(SmscEvent::Submitted {
                    id,
                    sm: Box::new(sm.clone()),
                });
            }
            Body::EnquireLink => self
                .transmit
                .push_back(pdu.answer(ok, Body::EnquireLinkResp)),
            Body::Unbind => {
                self.unbind();
                self.transmit.push_back(pdu.answer(ok, Body::UnbindResp));
                self.events.push_back(SmscEvent::Unbound);
            }
            Body::Unknown { command_id, .. } if !command_id.is_response() => {
                self.transmit.push_back(Pdu::generic_nack(
                    pdu.sequence_number,
                    CommandStatus::ESME_RINVCMDID,
                ))
            }
            // answers to what it sent (deliver_sm_resp, enquire_link_resp) need nothing
            _ => {}
        }
    }
}

impl Drop for SmscSession {
    /// A session that ends bound gives its bind back to the account's count.
    fn drop(&mut self) {
        self.unbind();
    }
}

/// The wall clock as `YYMMDDhhmm` (UTC), the receipts' date form.
fn yymmddhhmm() -> String {
    civil(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Seconds since the Unix epoch as `YYMMDDhhmm` (UTC).
fn civil(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // days since 1970-01-01 to a civil date (Howard Hinnant's algorithm)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        year % 100,
        month,
        day,
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The receipt for `sm`, given `id`: the text form and the TLVs.
fn receipt(sm: &Sm, id: &Bytes) -> Sm {
    let date = yymmddhhmm();
    let text = format!(
        "id:{} sub:001 dlvrd:001 submit date:{date} done date:{date} stat:DELIVRD err:000 text:",
        String::from_utf8_lossy(id)
    );
    let mut r = Sm::new(sm.dest.clone(), sm.source.clone(), 0, text);
    r.esm_class = ESM_DELIVERY_RECEIPT;
    let mut rid = id.to_vec();
    rid.push(0);
    r.tlvs.push(Tag::RECEIPTED_MESSAGE_ID, rid);
    r.tlvs.push(Tag::MESSAGE_STATE, vec![2]);
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(super::civil(0), "7001010000");
        assert_eq!(super::civil(951_782_400), "0002290000", "a leap day");
        assert_eq!(super::civil(1_796_299_200), "2612031200");
        assert_eq!(
            super::civil(4_107_542_399),
            "0002282359",
            "2100 is not a leap year"
        );
    }
}
