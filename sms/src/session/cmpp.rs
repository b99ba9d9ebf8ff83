//! CMPP 2.0 / 3.0 on the session layer: an SP's side ([`Sp`]) and an ISMG's
//! ([`IsmgProtocol`]). On the SP's side message ids are the 64-bit Msg_Id written in
//! decimal, so reports match them as SMPP's do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, Ordering};

use bytes::Bytes;
use packwire_codecs::cmpp::{
    Body, CancelResp, Connect, ConnectResp, ConnectStatus, Deliver, DeliverResp, MsgFmt, MsgId,
    MsgIdParts, Part, Pdu, QueryResp, Report as CmppReport, SequenceId, Split, Submit, SubmitResp,
    SubmitResult, Version, authenticator_ismg, authenticator_source, decode_text, pick_format,
    split_text, timestamp, udhi, verify_ismg,
};
use packwire_codecs::sms::{UdhRef, concat_info, strip_udh};
use packwire_core::EncodeError;

use super::server::{Account, Refusal, Request, ServerProtocol, SubmitView, Verdict};
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

/// What the sessions of one ISMG share to number what they send: the gateway code and
/// the sequence in the Msg_Ids, the references of long MO messages.
#[derive(Debug)]
pub struct IsmgIds {
    gateway: u32,
    sequence: AtomicU16,
    reference: AtomicU8,
}

impl IsmgIds {
    /// Msg_Ids with gateway code `gateway`.
    pub fn new(gateway: u32) -> Arc<Self> {
        Arc::new(IsmgIds {
            gateway,
            sequence: AtomicU16::new(1),
            reference: AtomicU8::new(1),
        })
    }

    /// `n` consecutive Msg_Ids (a group send's), Beijing time now.
    pub fn next(&self, n: usize) -> MsgId {
        let (_, month, day, hour, minute, second) = crate::cmpp::beijing_now();
        let sequence = self.sequence.fetch_add(n.max(1) as u16, Ordering::Relaxed);
        MsgId::from_parts(MsgIdParts {
            month: month as u8,
            day: day as u8,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            gateway: self.gateway,
            sequence,
        })
    }
}

/// The ISMG's side of CMPP: CONNECTs checked against the accounts (AuthenticatorSource
/// with the shared secret, the versions in [`Account::allowed`], 2.0 and 3.0 when empty),
/// Msg_Ids, status reports as DELIVERs in the version logged in with, MO messages split
/// by UDH when long, QUERY and CANCEL answered. A refused CONNECT closes the connection.
#[derive(Debug, Clone)]
pub struct IsmgProtocol {
    ids: Arc<IsmgIds>,
}

impl IsmgProtocol {
    /// A session numbering with `ids` (shared by the sessions of one ISMG).
    pub fn new(ids: Arc<IsmgIds>) -> Self {
        IsmgProtocol { ids }
    }
}

/// The highest version `allowed` lets in (3.0 when it lists none).
fn highest(allowed: &[Version]) -> Version {
    allowed
        .iter()
        .copied()
        .max_by_key(|v| v.0)
        .unwrap_or(Version::V30)
}

impl ServerProtocol for IsmgProtocol {
    type Pdu = Pdu;
    type Id = MsgId;
    type Login = Version;
    type Allowed = Vec<Version>;
    const CLOSE_ON_REFUSAL: bool = true;

    fn classify(&self, pdu: &Pdu) -> Request<Pdu> {
        let seq = pdu.sequence_id.0;
        let answer = |body| Pdu::new(seq, body);
        match &pdu.body {
            Body::Connect(c) => Request::Login(c.source_addr.clone()),
            Body::Submit(s) => {
                let content = &s.msg_content;
                let info = if udhi(s.tp_udhi) {
                    concat_info(content).filter(|(c, _)| c.is_valid())
                } else {
                    None
                };
                let (part, payload) = match info {
                    Some((at, hlen)) => (Some(at), content.slice(hlen..)),
                    None if udhi(s.tp_udhi) => (None, content.slice_ref(strip_udh(content))),
                    None => (None, content.clone()),
                };
                Request::Submit(SubmitView {
                    from: s.src_id.clone(),
                    to: s.dest_terminal_ids.clone(),
                    report: s.registered_delivery == 1,
                    coding: s.msg_fmt,
                    part,
                    payload,
                })
            }
            Body::ActiveTest => Request::LinkCheck(answer(Body::ActiveTestResp { reserved: 0 })),
            Body::Terminate => Request::Logout(answer(Body::TerminateResp)),
            Body::DeliverResp(_) | Body::ActiveTestResp { .. } | Body::TerminateResp => {
                Request::Answer(seq)
            }
            Body::Query(q) => Request::Other(Some(answer(Body::QueryResp(Box::new(QueryResp {
                time: q.time.clone(),
                query_type: q.query_type,
                query_code: q.query_code.clone(),
                ..Default::default()
            }))))),
            Body::Cancel(_) => {
                Request::Other(Some(answer(Body::CancelResp(CancelResp { success_id: 0 }))))
            }
            _ => Request::Other(None),
        }
    }

    fn verify(&self, pdu: &Pdu, account: &Account<Vec<Version>>) -> Result<Version, u32> {
        let Body::Connect(c) = &pdu.body else {
            return Err(ConnectStatus::BAD_STRUCTURE.0);
        };
        let expected = authenticator_source(&c.source_addr, &account.secret, c.timestamp);
        if expected != c.authenticator_source {
            return Err(ConnectStatus::AUTH_FAILED.0);
        }
        // only 2.x and 3.x are spoken, and only the layouts this account allows; any
        // other Version byte (0x00, 0x10, 0x40, 0xFF) is status 4, the version error
        let spoken = matches!(c.version.0 >> 4, 2 | 3);
        let allowed = account.allowed.is_empty() || account.allowed.contains(&c.version.layout());
        if !spoken || !allowed {
            return Err(ConnectStatus::VERSION_TOO_HIGH.0);
        }
        Ok(c.version)
    }

    fn refusal(&self, why: Refusal) -> u32 {
        match why {
            Refusal::UnknownAccount | Refusal::Address => ConnectStatus::BAD_SOURCE.0,
            Refusal::AlreadyLoggedIn | Refusal::TooManySessions => ConnectStatus::OTHER.0,
            Refusal::Status(s) => s,
        }
    }

    fn login_answer(
        &self,
        pdu: &Pdu,
        outcome: Result<&Version, u32>,
        account: Option<&Account<Vec<Version>>>,
    ) -> Pdu {
        let seq = pdu.sequence_id.0;
        let resp = match (outcome, &pdu.body, account) {
            (Ok(&version), Body::Connect(c), Some(a)) => ConnectResp {
                status: ConnectStatus::OK,
                authenticator_ismg: authenticator_ismg(
                    0,
                    &c.authenticator_source,
                    &a.secret,
                    version,
                ),
                // the negotiated version: the SP's, which this account allows
                version,
            },
            (outcome, _, account) => ConnectResp {
                status: ConnectStatus(outcome.err().unwrap_or(ConnectStatus::OTHER.0)),
                authenticator_ismg: [0; 16],
                // the version the ISMG does speak for this account
                version: highest(account.map_or(&[][..], |a| &a.allowed)),
            },
        };
        Pdu::new(seq, Body::ConnectResp(resp))
    }

    fn may_submit(&self, _login: &Version) -> bool {
        true
    }

    fn may_receive(&self, _login: &Version) -> bool {
        true
    }

    fn ids(&mut self, n: usize) -> Vec<MsgId> {
        self.ids.next(n).group(n.max(1)).collect()
    }

    fn submit_answer(&self, pdu: &Pdu, verdict: Verdict<'_, MsgId>) -> Pdu {
        let (msg_id, result) = match verdict {
            Verdict::Accepted(ids) => (ids.first().copied().unwrap_or(MsgId(0)), SubmitResult::OK),
            Verdict::Throttled => (MsgId(0), SubmitResult::FLOW_CONTROL),
            Verdict::NotAllowed => (MsgId(0), SubmitResult::BAD_COMMAND),
        };
        Pdu::new(
            pdu.sequence_id.0,
            Body::SubmitResp(SubmitResp { msg_id, result }),
        )
    }

    fn report(
        &mut self,
        version: &Version,
        submit: &Pdu,
        id: &MsgId,
        to: &Bytes,
        stat: &Bytes,
    ) -> Option<Pdu> {
        let Body::Submit(s) = &submit.body else {
            return None;
        };
        let (year, month, day, hour, minute, _) = crate::cmpp::beijing_now();
        let stamp = Bytes::from(format!(
            "{:02}{month:02}{day:02}{hour:02}{minute:02}",
            year % 100
        ));
        let report = CmppReport {
            msg_id: *id,
            stat: stat.clone(),
            submit_time: stamp.clone(),
            done_time: stamp,
            dest_terminal_id: to.clone(),
            smsc_sequence: 0,
        };
        let d = Deliver {
            msg_id: self.ids.next(1),
            dest_id: s.src_id.clone(),
            src_terminal_id: to.clone(),
            registered_delivery: 1,
            msg_content: report.encode(*version).ok()?,
            ..Deliver::default()
        };
        Some(Pdu::new(0, Body::Deliver(Box::new(d))))
    }

    fn mo(
        &mut self,
        _version: &Version,
        from: &str,
        to: &str,
        text: &str,
    ) -> Result<Vec<Pdu>, EncodeError> {
        let fmt = pick_format(text);
        let reference = UdhRef::Eight(self.ids.reference.fetch_add(1, Ordering::Relaxed));
        let split = Split {
            fmt,
            reference,
            signature: None,
        };
        Ok(split_text(text, &split)?
            .into_iter()
            .map(|p| {
                let d = Deliver {
                    msg_id: self.ids.next(1),
                    dest_id: Bytes::copy_from_slice(to.as_bytes()),
                    tp_udhi: p.tp_udhi,
                    msg_fmt: fmt.0,
                    src_terminal_id: Bytes::copy_from_slice(from.as_bytes()),
                    registered_delivery: 0,
                    msg_content: p.content,
                    ..Deliver::default()
                };
                Pdu::new(0, Body::Deliver(Box::new(d)))
            })
            .collect())
    }

    fn link_check(&self) -> Pdu {
        Pdu::new(0, Body::ActiveTest)
    }

    fn logout(&self) -> Pdu {
        Pdu::new(0, Body::Terminate)
    }

    fn set_sequence(&self, pdu: &mut Pdu, seq: u32) {
        pdu.sequence_id = SequenceId(seq);
    }

    fn text(&self, coding: u8, payload: &[u8]) -> Option<String> {
        decode_text(MsgFmt(coding), payload)
    }
}
