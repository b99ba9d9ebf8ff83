//! CMPP 2.0 / 3.0 on the session layer: an SP's side. Message ids are the 64-bit Msg_Id
//! written in decimal, so reports match them as SMPP's do.

use bytes::Bytes;
use packwire_codecs::cmpp::{
    Body, Connect, ConnectStatus, DeliverResp, Part, Pdu, Split, Submit, SubmitResult, Version,
    authenticator_source, pick_format, split_text, timestamp, verify_ismg,
};
use packwire_codecs::sms::{UdhRef, concat_info, strip_udh};
use packwire_core::EncodeError;

use super::{Incoming, Message, Mo, Protocol, Report, SubmitOutcome};

/// An SP: its account, secret and version.
#[derive(Debug, Clone)]
pub struct Sp {
    /// Source_Addr (the SP_Id).
    pub account: Bytes,
    /// The shared secret.
    pub secret: Bytes,
    /// The version it logs in with.
    pub version: Version,
    /// Src_Id of the [`Message`]s it sends without a source address (default: the
    /// account).
    pub src_id: Bytes,
    /// Service_Id.
    pub service_id: Bytes,
    /// The reference of the next long message's parts.
    pub next_ref: u8,
    /// Check the ISMG's AuthenticatorISMG (either status width): an ISMG that does not
    /// know the secret is refused with [`BAD_AUTHENTICATOR`]. Default true.
    pub verify_ismg: bool,
    /// AuthenticatorSource of the last CONNECT sent
    sent_auth: [u8; 16],
}

/// One SUBMIT per part of a split text: `template`'s fields (addresses, Msg_Fmt,
/// Registered_Delivery, ...) with each part's Pk_total, Pk_number, TP_udhi and content.
pub fn part_submits(parts: Vec<Part>, template: &Submit) -> Vec<Box<Submit>> {
    parts
        .into_iter()
        .map(|p| {
            Box::new(Submit {
                pk_total: p.pk_total,
                pk_number: p.pk_number,
                tp_udhi: p.tp_udhi,
                msg_content: p.content,
                ..template.clone()
            })
        })
        .collect()
}

/// The login status a session reports when the ISMG's AuthenticatorISMG does not match
/// (not a CMPP status: the ISMG accepted, but cannot prove it knows the secret).
pub const BAD_AUTHENTICATOR: u32 = u32::MAX;

impl Sp {
    /// An SP logging in as `account` with `secret` in `version`.
    pub fn new(account: impl Into<Bytes>, secret: impl Into<Bytes>, version: Version) -> Self {
        let account = account.into();
        Sp {
            src_id: account.clone(),
            account,
            secret: secret.into(),
            version,
            service_id: Bytes::new(),
            next_ref: 1,
            verify_ismg: true,
            sent_auth: [0; 16],
        }
    }
}

impl Protocol for Sp {
    type Pdu = Pdu;
    type Submit = Box<Submit>;

    fn login(&mut self, seq: u32) -> Pdu {
        let (_, month, day, hour, minute, second) = crate::cmpp::beijing_now();
        let ts = timestamp(month, day, hour, minute, second);
        self.sent_auth = authenticator_source(&self.account, &self.secret, ts);
        Pdu::new(
            seq,
            Body::Connect(Connect {
                source_addr: self.account.clone(),
                authenticator_source: self.sent_auth,
                version: self.version,
                timestamp: ts,
            }),
        )
    }

    fn submit(&self, seq: u32, part: &Box<Submit>) -> Pdu {
        Pdu::new(seq, Body::Submit(part.clone()))
    }

    fn link_check(&self, seq: u32) -> Pdu {
        Pdu::new(seq, Body::ActiveTest)
    }

    fn logout(&self, seq: u32) -> Pdu {
        Pdu::new(seq, Body::Terminate)
    }

    fn parts(&mut self, msg: &Message) -> Result<Vec<Box<Submit>>, EncodeError> {
        let fmt = pick_format(&msg.text);
        let reference = UdhRef::Eight(self.next_ref);
        self.next_ref = self.next_ref.wrapping_add(1);
        let split = Split {
            fmt,
            reference,
            signature: None,
        };
        let src_id = if msg.from.is_empty() {
            self.src_id.clone()
        } else {
            Bytes::from(msg.from.clone())
        };
        let template = Submit {
            registered_delivery: u8::from(msg.report),
            service_id: self.service_id.clone(),
            msg_fmt: fmt.0,
            msg_src: self.account.clone(),
            fee_type: Bytes::from_static(b"01"),
            src_id,
            dest_terminal_ids: vec![Bytes::from(msg.to.clone())],
            ..Submit::default()
        };
        Ok(part_submits(split_text(&msg.text, &split)?, &template))
    }

    fn text(&self, coding: u8, payload: &[u8]) -> Option<String> {
        packwire_codecs::cmpp::decode_text(packwire_codecs::cmpp::MsgFmt(coding), payload)
    }

    fn classify(&self, pdu: &Pdu) -> Incoming<Pdu> {
        let seq = pdu.sequence_id.0;
        let answer = |body| Pdu::new(seq, body);
        match &pdu.body {
            Body::ConnectResp(r) => Incoming::LoginAnswer(
                seq,
                if r.status != ConnectStatus::OK {
                    Some(r.status.0)
                } else if self.verify_ismg
                    && !verify_ismg(
                        &r.authenticator_ismg,
                        r.status.0,
                        &self.sent_auth,
                        &self.secret,
                    )
                {
                    Some(BAD_AUTHENTICATOR)
                } else {
                    None
                },
            ),
            Body::SubmitResp(r) => Incoming::SubmitAnswer(
                seq,
                match r.result {
                    SubmitResult::OK => {
                        SubmitOutcome::Accepted(Bytes::from(r.msg_id.0.to_string()))
                    }
                    SubmitResult::FLOW_CONTROL => SubmitOutcome::Throttled(r.result.0),
                    code => SubmitOutcome::Rejected(code.0),
                },
            ),
            Body::Deliver(d) => {
                let ack = answer(Body::DeliverResp(DeliverResp {
                    msg_id: d.msg_id,
                    result: SubmitResult::OK,
                }));
                match d.report() {
                    Some(Ok(r)) => Incoming::Report(
                        Report {
                            id: Bytes::from(r.msg_id.0.to_string()),
                            delivered: &r.stat[..] == b"DELIVRD",
                            stat: r.stat,
                            to: r.dest_terminal_id,
                        },
                        ack,
                    ),
                    // a report that does not parse is acknowledged and dropped
                    Some(Err(_)) => Incoming::Other(Some(ack)),
                    None => {
                        let udhi = packwire_codecs::cmpp::udhi(d.tp_udhi);
                        let content = &d.msg_content;
                        let (part, payload) = if udhi {
                            (
                                concat_info(content).map(|(c, _)| c),
                                content.slice_ref(strip_udh(content)),
                            )
                        } else {
                            (None, content.clone())
                        };
                        Incoming::Mo(
                            Mo {
                                from: d.src_terminal_id.clone(),
                                to: d.dest_id.clone(),
                                payload,
                                coding: d.msg_fmt,
                                part,
                                text: None,
                                parts: 1,
                            },
                            ack,
                        )
                    }
                }
            }
            Body::ActiveTest => Incoming::LinkCheck(answer(Body::ActiveTestResp { reserved: 0 })),
            Body::ActiveTestResp { .. } => Incoming::LinkCheckAnswer(seq),
            Body::Terminate => Incoming::Logout(answer(Body::TerminateResp)),
            Body::TerminateResp => Incoming::LogoutAnswer,
            _ => Incoming::Other(None),
        }
    }
}
