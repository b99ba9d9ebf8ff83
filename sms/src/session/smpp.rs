//! SMPP 3.4 on the session layer: an ESME's side.

use bytes::Bytes;
use packwire_codecs::smpp::{
    Address, Bind, Body, Coding, CommandStatus, LongMode, Pdu, Receipt, Sm, SmResp, part_of,
    split_sm,
};
use packwire_codecs::sms::UdhRef;
use packwire_core::EncodeError;

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
