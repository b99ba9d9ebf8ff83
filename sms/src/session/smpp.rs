//! SMPP 3.4 on the session layer: an ESME's side ([`Esme`]) and an SMSC's
//! ([`SmscProtocol`]).

use bytes::Bytes;
use packwire_codecs::smpp::{
    Address, Bind, BindResp, Body, Coding, CommandStatus, ESM_DELIVERY_RECEIPT, LongMode, Pdu,
    Receipt, Sm, SmResp, Tag, part_of, split_sm,
};
use packwire_codecs::sms::UdhRef;
use packwire_core::EncodeError;

use super::server::{Account, Refusal, Request, ServerProtocol, SubmitView, Verdict};
use super::{Incoming, Message, Mo, Protocol, Report, SubmitOutcome};

/// How an ESME binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindKind {
    /// Submits only.
    Transmitter,
    /// Receives only (deliver_sm).
    Receiver,
    /// Both.
    Transceiver,
}

/// An ESME: its account and how it binds.
#[derive(Debug, Clone)]
pub struct Esme {
    /// The bind's fields (system_id, password, system_type, address_range, ...).
    pub bind: Bind,
    /// Which bind.
    pub kind: BindKind,
    /// How [`Message`]s too long for one submit_sm travel (default: UDH parts with an
    /// 8-bit reference; the reference given here is the first, the next message gets the
    /// next one).
    pub long: LongMode,
}

impl Esme {
    /// A transceiver bind for `system_id` with `password`.
    pub fn transceiver(system_id: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        Esme::new(system_id, password, BindKind::Transceiver)
    }

    /// A transmitter bind.
    pub fn transmitter(system_id: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        Esme::new(system_id, password, BindKind::Transmitter)
    }

    /// A receiver bind (deliver_sm only: receipts and MO messages).
    pub fn receiver(system_id: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        Esme::new(system_id, password, BindKind::Receiver)
    }

    fn new(system_id: impl Into<Bytes>, password: impl Into<Bytes>, kind: BindKind) -> Self {
        Esme {
            bind: Bind::new(system_id, password),
            kind,
            long: LongMode::Udh(UdhRef::Eight(1)),
        }
    }

    /// The long-message mode for the next message, moving the reference on.
    fn next_long(&mut self) -> LongMode {
        let now = self.long;
        self.long = match now {
            LongMode::Udh(UdhRef::Eight(r)) => LongMode::Udh(UdhRef::Eight(r.wrapping_add(1))),
            LongMode::Udh(UdhRef::Sixteen(r)) => LongMode::Udh(UdhRef::Sixteen(r.wrapping_add(1))),
            LongMode::Sar(r) => LongMode::Sar(r.wrapping_add(1)),
            LongMode::Payload => LongMode::Payload,
        };
        now
    }
}

impl Protocol for Esme {
    type Pdu = Pdu;
    type Submit = Sm;

    fn login(&mut self, seq: u32) -> Pdu {
        let b = self.bind.clone();
        Pdu::new(
            seq,
            match self.kind {
                BindKind::Transmitter => Body::BindTransmitter(b),
                BindKind::Receiver => Body::BindReceiver(b),
                BindKind::Transceiver => Body::BindTransceiver(b),
            },
        )
    }

    fn submit(&self, seq: u32, part: &Sm) -> Pdu {
        Pdu::new(seq, Body::SubmitSm(part.clone()))
    }

    fn link_check(&self, seq: u32) -> Pdu {
        Pdu::new(seq, Body::EnquireLink)
    }

    fn logout(&self, seq: u32) -> Pdu {
        Pdu::new(seq, Body::Unbind)
    }

    fn parts(&mut self, msg: &Message) -> Result<Vec<Sm>, EncodeError> {
        let mut template = Sm::new(
            Address::new(msg.from.clone()),
            Address::new(msg.to.clone()),
            0,
            "",
        );
        template.registered_delivery = u8::from(msg.report);
        let mode = self.next_long();
        split_sm(&msg.text, Coding::pick(&msg.text), mode, &template)
    }

    fn text(&self, coding: u8, payload: &[u8]) -> Option<String> {
        Coding::from_data_coding(coding).map(|c| c.decode(payload))
    }

    fn classify(&self, pdu: &Pdu) -> Incoming<Pdu> {
        let seq = pdu.sequence_number;
        let status = pdu.command_status;
        let ok = CommandStatus::ESME_ROK;
        match &pdu.body {
            Body::BindTransmitterResp(_)
            | Body::BindReceiverResp(_)
            | Body::BindTransceiverResp(_) => {
                Incoming::LoginAnswer(seq, (!status.is_ok()).then_some(status.0))
            }
            Body::SubmitSmResp(r) => Incoming::SubmitAnswer(
                seq,
                if status.is_ok() {
                    SubmitOutcome::Accepted(r.message_id.clone())
                } else if status.is_transient() {
                    SubmitOutcome::Throttled(status.0)
                } else {
                    SubmitOutcome::Rejected(status.0)
                },
            ),
            Body::DeliverSm(sm) => {
                let ack = pdu.answer(ok, Body::DeliverSmResp(SmResp::default()));
                match Receipt::parse(sm) {
                    Some(r) => Incoming::Report(
                        Report {
                            delivered: r.state == Some(2),
                            id: r.id,
                            stat: r.stat,
                            to: sm.source.addr.clone(),
                        },
                        ack,
                    ),
                    None => {
                        let (part, payload) = part_of(sm);
                        Incoming::Mo(
                            Mo {
                                from: sm.source.addr.clone(),
                                to: sm.dest.addr.clone(),
                                payload,
                                coding: sm.data_coding,
                                part,
                                text: None,
                                parts: 1,
                            },
                            ack,
                        )
                    }
                }
            }
            Body::EnquireLink => Incoming::LinkCheck(pdu.answer(ok, Body::EnquireLinkResp)),
            Body::EnquireLinkResp => Incoming::LinkCheckAnswer(seq),
            Body::Unbind => Incoming::Logout(pdu.answer(ok, Body::UnbindResp)),
            Body::UnbindResp => Incoming::LogoutAnswer,
            Body::GenericNack => Incoming::Nack(seq, status.0),
            Body::Unknown { command_id, .. } if !command_id.is_response() => {
                Incoming::Other(Some(Pdu::generic_nack(seq, CommandStatus::ESME_RINVCMDID)))
            }
            Body::DataSm(d) => Incoming::Mo(
                Mo {
                    from: d.source.addr.clone(),
                    to: d.dest.addr.clone(),
                    payload: d.tlvs.message_payload().cloned().unwrap_or_default(),
                    coding: d.data_coding,
                    part: None,
                    text: None,
                    parts: 1,
                },
                pdu.answer(ok, Body::DataSmResp(SmResp::default())),
            ),
            _ => Incoming::Other(None),
        }
    }
}

/// The SMSC's side of SMPP: binds checked against the accounts (an account's
/// [`Account::allowed`] lists the bind kinds it may make; empty: all three), hexadecimal
/// message ids, delivery receipts in the text form and the TLVs, MO messages as
/// deliver_sm (split by UDH when long).
#[derive(Debug, Clone)]
pub struct SmscProtocol {
    /// The system_id it answers binds with (default `packwire`).
    pub system_id: Bytes,
    /// Refuse a submit_sm that breaks a rule the encoder keeps (a TLV of the wrong size,
    /// a time field not 16 characters, ...) with the status
    /// [`Pdu::check_strict`] names, rather than take what the tolerant decoder read.
    /// Default false.
    pub strict: bool,
    next_id: u64,
    next_ref: u8,
}

impl SmscProtocol {
    /// An SMSC numbering its message ids from `first_id` (give each session its own
    /// range).
    pub fn new(first_id: u64) -> Self {
        SmscProtocol {
            system_id: Bytes::from_static(b"packwire"),
            strict: false,
            next_id: first_id,
            next_ref: 1,
        }
    }
}

impl SmscProtocol {
    /// The same, numbering its message ids from `first_id`.
    pub fn ids_from(mut self, first_id: u64) -> Self {
        self.next_id = first_id;
        self
    }
}

fn bind_of(pdu: &Pdu) -> Option<(&Bind, BindKind)> {
    match &pdu.body {
        Body::BindTransmitter(b) => Some((b, BindKind::Transmitter)),
        Body::BindReceiver(b) => Some((b, BindKind::Receiver)),
        Body::BindTransceiver(b) => Some((b, BindKind::Transceiver)),
        _ => None,
    }
}

/// SMPP's message_state for a final state word.
fn message_state(stat: &[u8]) -> u8 {
    match stat {
        b"ENROUTE" => 1,
        b"DELIVRD" => 2,
        b"EXPIRED" => 3,
        b"DELETED" => 4,
        b"UNDELIV" => 5,
        b"ACCEPTD" => 6,
        b"REJECTD" => 8,
        _ => 7,
    }
}

impl ServerProtocol for SmscProtocol {
    type Pdu = Pdu;
    type Id = Bytes;
    type Login = BindKind;
    type Allowed = Vec<BindKind>;
    const CLOSE_ON_REFUSAL: bool = false;

    fn classify(&self, pdu: &Pdu) -> Request<Pdu> {
        let ok = CommandStatus::ESME_ROK;
        match &pdu.body {
            Body::BindTransmitter(b) | Body::BindReceiver(b) | Body::BindTransceiver(b) => {
                Request::Login(b.system_id.clone())
            }
            Body::SubmitSm(_) if self.strict && pdu.check_strict().is_err() => {
                let status = pdu.check_strict().err().map_or(ok, |(s, _)| s);
                Request::Other(Some(
                    pdu.answer(status, Body::SubmitSmResp(SmResp::default())),
                ))
            }
            Body::SubmitSm(sm) => {
                let (part, payload) = part_of(sm);
                Request::Submit(SubmitView {
                    from: sm.source.addr.clone(),
                    to: vec![sm.dest.addr.clone()],
                    report: sm.registered_delivery & 0x03 != 0,
                    coding: sm.data_coding,
                    part,
                    payload,
                })
            }
            Body::EnquireLink => Request::LinkCheck(pdu.answer(ok, Body::EnquireLinkResp)),
            Body::Unbind => Request::Logout(pdu.answer(ok, Body::UnbindResp)),
            Body::DeliverSmResp(_)
            | Body::EnquireLinkResp
            | Body::UnbindResp
            | Body::GenericNack => Request::Answer(pdu.sequence_number),
            Body::Unknown { command_id, .. } if !command_id.is_response() => Request::Other(Some(
                Pdu::generic_nack(pdu.sequence_number, CommandStatus::ESME_RINVCMDID),
            )),
            _ => Request::Other(None),
        }
    }

    fn verify(&self, pdu: &Pdu, account: &Account<Vec<BindKind>>) -> Result<BindKind, u32> {
        let (b, kind) = bind_of(pdu).ok_or(CommandStatus::ESME_RBINDFAIL.0)?;
        if account.secret != b.password {
            return Err(CommandStatus::ESME_RINVPASWD.0);
        }
        if !account.allowed.is_empty() && !account.allowed.contains(&kind) {
            return Err(CommandStatus::ESME_RBINDFAIL.0);
        }
        Ok(kind)
    }

    fn refusal(&self, why: Refusal) -> u32 {
        match why {
            Refusal::AlreadyLoggedIn => CommandStatus::ESME_RALYBND.0,
            Refusal::UnknownAccount => CommandStatus::ESME_RINVSYSID.0,
            Refusal::Address | Refusal::TooManySessions => CommandStatus::ESME_RBINDFAIL.0,
            Refusal::Status(s) => s,
        }
    }

    fn login_answer(
        &self,
        pdu: &Pdu,
        outcome: Result<&BindKind, u32>,
        _account: Option<&Account<Vec<BindKind>>>,
    ) -> Pdu {
        let resp = BindResp {
            system_id: self.system_id.clone(),
            ..BindResp::default()
        };
        let body = match bind_of(pdu).map(|(_, k)| k) {
            Some(BindKind::Transmitter) => Body::BindTransmitterResp(resp),
            Some(BindKind::Receiver) => Body::BindReceiverResp(resp),
            _ => Body::BindTransceiverResp(resp),
        };
        pdu.answer(CommandStatus(outcome.err().unwrap_or(0)), body)
    }

    fn may_submit(&self, login: &BindKind) -> bool {
        *login != BindKind::Receiver
    }

    fn may_receive(&self, login: &BindKind) -> bool {
        *login != BindKind::Transmitter
    }

    fn ids(&mut self, n: usize) -> Vec<Bytes> {
        (0..n)
            .map(|_| {
                self.next_id += 1;
                Bytes::from(format!("{:x}", self.next_id))
            })
            .collect()
    }

    fn submit_answer(&self, pdu: &Pdu, verdict: Verdict<'_, Bytes>) -> Pdu {
        let (status, resp) = match verdict {
            Verdict::Accepted(ids) => (
                CommandStatus::ESME_ROK,
                SmResp::new(ids.first().cloned().unwrap_or_default()),
            ),
            Verdict::Throttled => (CommandStatus::ESME_RTHROTTLED, SmResp::default()),
            Verdict::NotAllowed => (CommandStatus::ESME_RINVBNDSTS, SmResp::default()),
        };
        pdu.answer(status, Body::SubmitSmResp(resp))
    }

    fn report(
        &mut self,
        _login: &BindKind,
        submit: &Pdu,
        id: &Bytes,
        _to: &Bytes,
        stat: &Bytes,
    ) -> Option<Pdu> {
        let Body::SubmitSm(sm) = &submit.body else {
            return None;
        };
        Some(Pdu::new(0, Body::DeliverSm(receipt(sm, id, stat))))
    }

    fn mo(
        &mut self,
        _login: &BindKind,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<Vec<Pdu>, EncodeError> {
        let template = Sm::new(
            Address::new(from.to_owned()),
            Address::new(to.to_owned()),
            0,
            "",
        );
        let reference = UdhRef::Eight(self.next_ref);
        self.next_ref = self.next_ref.wrapping_add(1);
        let parts = split_sm(
            text,
            Coding::pick(text),
            LongMode::Udh(reference),
            &template,
        )?;
        Ok(parts
            .into_iter()
            .map(|sm| Pdu::new(0, Body::DeliverSm(sm)))
            .collect())
    }

    fn link_check(&self) -> Pdu {
        Pdu::new(0, Body::EnquireLink)
    }

    fn logout(&self) -> Pdu {
        Pdu::new(0, Body::Unbind)
    }

    fn set_sequence(&self, pdu: &mut Pdu, seq: u32) {
        pdu.sequence_number = seq;
    }

    fn text(&self, coding: u8, payload: &[u8]) -> Option<String> {
        Coding::from_data_coding(coding).map(|c| c.decode(payload))
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

/// The receipt for `sm`, given `id`, in final state `stat`: the text form and the TLVs.
fn receipt(sm: &Sm, id: &Bytes, stat: &Bytes) -> Sm {
    let date = yymmddhhmm();
    let delivered = u8::from(&stat[..] == b"DELIVRD");
    let text = format!(
        "id:{} sub:001 dlvrd:00{delivered} submit date:{date} done date:{date} stat:{} err:000 text:",
        String::from_utf8_lossy(id),
        String::from_utf8_lossy(stat)
    );
    let mut r = Sm::new(sm.dest.clone(), sm.source.clone(), 0, text);
    r.esm_class = ESM_DELIVERY_RECEIPT;
    let mut rid = id.to_vec();
    rid.push(0);
    r.tlvs.push(Tag::RECEIPTED_MESSAGE_ID, rid);
    r.tlvs.push(Tag::MESSAGE_STATE, vec![message_state(stat)]);
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
