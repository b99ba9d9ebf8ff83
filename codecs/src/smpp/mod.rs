//! SMPP 3.4: every PDU between an ESME (an application) and an SMSC, as one [`Pdu`] type,
//! and [`SmppCodec`] to frame, decode and encode them.
//!
//! Strict when encoding (C-Octet Strings within their maximum lengths and without NULs,
//! time fields NULL or 16 characters, known TLVs at their sizes, `short_message` at most
//! 254 octets and never beside `message_payload`, request sequence numbers in
//! 1..=0x7FFFFFFF); tolerant when decoding the way real SMSCs need (a response's body
//! missing when its status is not 0, TLVs of any tag kept byte-exact and in order, a
//! known tag of an unexpected size kept as it came, an unknown command kept as bytes for
//! the session to answer with `generic_nack`). A body that breaks the layout is a typed
//! error naming the field, and the stream yields nothing more.
//!
//! ```
//! use bytes::BytesMut;
//! use packwire_codecs::smpp::{Address, Body, Pdu, Sm, SmppCodec};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = SmppCodec::new();
//! let submit = Sm::new(Address::new("10086"), Address::international("8613800138000"), 0, "hello");
//! let mut wire = BytesMut::new();
//! codec.encode(Pdu::new(7, Body::SubmitSm(submit.clone())), &mut wire).unwrap();
//! let pdu = codec.decode(&mut wire).unwrap().unwrap();
//! assert_eq!(pdu.sequence_number, 7);
//! assert_eq!(pdu.body, Body::SubmitSm(submit));
//! ```

mod bind;
mod fields;
mod head;
mod long;
mod manage;
mod multi;
mod receipt;
mod sm;
mod tlv;

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};
use tokio_util::codec::{Decoder, Encoder};

use crate::LengthFieldCodec;

pub use bind::{Bind, BindResp, Outbind};
pub use fields::Address;
pub use head::{CommandId, CommandStatus};
pub use long::{Coding, LongMode, part_of, split_sm};
pub use manage::{AlertNotification, CancelSm, QuerySm, QuerySmResp, ReplaceSm};
pub use multi::{Dest, MAX_DESTS, SubmitMulti, SubmitMultiResp, Unsuccess};
pub use receipt::Receipt;
pub use sm::{DataSm, ESM_DELIVERY_RECEIPT, ESM_UDHI, Sm, SmResp};
pub use tlv::{Tag, Tlv, Tlvs};

/// The header's length.
pub const HEADER_LEN: usize = 16;

/// One PDU: its header's status and sequence number, and its body (which names the
/// command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// command_status: 0 in requests.
    pub command_status: CommandStatus,
    /// sequence_number (a response carries its request's).
    pub sequence_number: u32,
    /// The command and its fields.
    pub body: Body,
}

impl Pdu {
    /// A request (or a response with status 0) with sequence number `seq`.
    pub fn new(seq: u32, body: Body) -> Self {
        Pdu {
            command_status: CommandStatus::ESME_ROK,
            sequence_number: seq,
            body,
        }
    }

    /// The answer to this PDU: `body` with this one's sequence number and `status`.
    pub fn answer(&self, status: CommandStatus, body: Body) -> Pdu {
        Pdu {
            command_status: status,
            sequence_number: self.sequence_number,
            body,
        }
    }

    /// generic_nack with `status` for sequence number `seq` (0 when it is not known).
    pub fn generic_nack(seq: u32, status: CommandStatus) -> Pdu {
        Pdu {
            command_status: status,
            sequence_number: seq,
            body: Body::GenericNack,
        }
    }

    /// The command.
    pub fn command_id(&self) -> CommandId {
        self.body.command_id()
    }

    /// Whether this PDU (decoded tolerantly) keeps every rule the encoder enforces; when
    /// it does not, the status a strict peer answers it with, named after the field that
    /// broke a rule (`ESME_RINVSRCADR` for a bad source_addr, `ESME_RINVPARLEN` for a TLV
    /// of the wrong size, `ESME_RINVMSGLEN` for a bad short_message, ...), and the rule.
    ///
    /// # Errors
    /// The status and the rule broken.
    pub fn check_strict(&self) -> Result<(), (CommandStatus, &'static str)> {
        let mut scratch = BytesMut::new();
        let Err(EncodeError::Invalid { rule }) = self.body.encode(&mut scratch, true) else {
            return Ok(());
        };
        let by_field = [
            ("service_type", CommandStatus::ESME_RINVSERTYP),
            ("source_addr", CommandStatus::ESME_RINVSRCADR),
            ("destination_addr", CommandStatus::ESME_RINVDSTADR),
            ("schedule_delivery_time", CommandStatus::ESME_RINVSCHED),
            ("validity_period", CommandStatus::ESME_RINVEXPIRY),
            ("short_message", CommandStatus::ESME_RINVMSGLEN),
            ("a TLV", CommandStatus::ESME_RINVPARLEN),
            ("submit_multi", CommandStatus::ESME_RINVNUMDESTS),
        ];
        let status = by_field
            .iter()
            .find(|(field, _)| rule.starts_with(field))
            .map_or(CommandStatus::ESME_RSYSERR, |(_, s)| *s);
        Err((status, rule))
    }
}

/// Every SMPP 3.4 command and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// bind_transmitter.
    BindTransmitter(Bind),
    /// bind_transmitter_resp.
    BindTransmitterResp(BindResp),
    /// bind_receiver.
    BindReceiver(Bind),
    /// bind_receiver_resp.
    BindReceiverResp(BindResp),
    /// bind_transceiver.
    BindTransceiver(Bind),
    /// bind_transceiver_resp.
    BindTransceiverResp(BindResp),
    /// outbind.
    Outbind(Outbind),
    /// unbind.
    Unbind,
    /// unbind_resp.
    UnbindResp,
    /// submit_sm.
    SubmitSm(Sm),
    /// submit_sm_resp.
    SubmitSmResp(SmResp),
    /// submit_multi.
    SubmitMulti(SubmitMulti),
    /// submit_multi_resp.
    SubmitMultiResp(SubmitMultiResp),
    /// deliver_sm.
    DeliverSm(Sm),
    /// deliver_sm_resp (message_id NULL).
    DeliverSmResp(SmResp),
    /// data_sm.
    DataSm(DataSm),
    /// data_sm_resp.
    DataSmResp(SmResp),
    /// query_sm.
    QuerySm(QuerySm),
    /// query_sm_resp.
    QuerySmResp(QuerySmResp),
    /// cancel_sm.
    CancelSm(CancelSm),
    /// cancel_sm_resp.
    CancelSmResp,
    /// replace_sm.
    ReplaceSm(ReplaceSm),
    /// replace_sm_resp.
    ReplaceSmResp,
    /// enquire_link.
    EnquireLink,
    /// enquire_link_resp.
    EnquireLinkResp,
    /// generic_nack.
    GenericNack,
    /// alert_notification.
    AlertNotification(AlertNotification),
    /// A command 3.4 does not define, with its body as it came (answer a request with
    /// generic_nack and `ESME_RINVCMDID`).
    Unknown {
        /// Its command_id.
        command_id: CommandId,
        /// Its body.
        body: Bytes,
    },
}

impl Body {
    /// The command this body is.
    pub fn command_id(&self) -> CommandId {
        use Body as B;
        match self {
            B::BindTransmitter(_) => CommandId::BIND_TRANSMITTER,
            B::BindTransmitterResp(_) => CommandId::BIND_TRANSMITTER_RESP,
            B::BindReceiver(_) => CommandId::BIND_RECEIVER,
            B::BindReceiverResp(_) => CommandId::BIND_RECEIVER_RESP,
            B::BindTransceiver(_) => CommandId::BIND_TRANSCEIVER,
            B::BindTransceiverResp(_) => CommandId::BIND_TRANSCEIVER_RESP,
            B::Outbind(_) => CommandId::OUTBIND,
            B::Unbind => CommandId::UNBIND,
            B::UnbindResp => CommandId::UNBIND_RESP,
            B::SubmitSm(_) => CommandId::SUBMIT_SM,
            B::SubmitSmResp(_) => CommandId::SUBMIT_SM_RESP,
            B::SubmitMulti(_) => CommandId::SUBMIT_MULTI,
            B::SubmitMultiResp(_) => CommandId::SUBMIT_MULTI_RESP,
            B::DeliverSm(_) => CommandId::DELIVER_SM,
            B::DeliverSmResp(_) => CommandId::DELIVER_SM_RESP,
            B::DataSm(_) => CommandId::DATA_SM,
            B::DataSmResp(_) => CommandId::DATA_SM_RESP,
            B::QuerySm(_) => CommandId::QUERY_SM,
            B::QuerySmResp(_) => CommandId::QUERY_SM_RESP,
            B::CancelSm(_) => CommandId::CANCEL_SM,
            B::CancelSmResp => CommandId::CANCEL_SM_RESP,
            B::ReplaceSm(_) => CommandId::REPLACE_SM,
            B::ReplaceSmResp => CommandId::REPLACE_SM_RESP,
            B::EnquireLink => CommandId::ENQUIRE_LINK,
            B::EnquireLinkResp => CommandId::ENQUIRE_LINK_RESP,
            B::GenericNack => CommandId::GENERIC_NACK,
            B::AlertNotification(_) => CommandId::ALERT_NOTIFICATION,
            B::Unknown { command_id, .. } => *command_id,
        }
    }

    /// Parses the body of a `command_id` PDU (`frame` is the whole PDU).
    fn load(command_id: CommandId, frame: &Bytes) -> Result<Body, FrameError> {
        use Body as B;
        let body = &frame[HEADER_LEN..];
        let r = &mut Reader::with_base(body, HEADER_LEN as u64);
        // the PDUs without optional parameters end after their last field
        let (parsed, end): (Body, Option<&'static str>) = match command_id {
            CommandId::BIND_TRANSMITTER => (
                B::BindTransmitter(Bind::load(frame, r)?),
                Some("bind_transmitter has bytes after address_range"),
            ),
            CommandId::BIND_RECEIVER => (
                B::BindReceiver(Bind::load(frame, r)?),
                Some("bind_receiver has bytes after address_range"),
            ),
            CommandId::BIND_TRANSCEIVER => (
                B::BindTransceiver(Bind::load(frame, r)?),
                Some("bind_transceiver has bytes after address_range"),
            ),
            CommandId::BIND_TRANSMITTER_RESP => {
                (B::BindTransmitterResp(BindResp::load(frame, r)?), None)
            }
            CommandId::BIND_RECEIVER_RESP => (B::BindReceiverResp(BindResp::load(frame, r)?), None),
            CommandId::BIND_TRANSCEIVER_RESP => {
                (B::BindTransceiverResp(BindResp::load(frame, r)?), None)
            }
            CommandId::OUTBIND => (
                B::Outbind(Outbind::load(frame, r)?),
                Some("outbind has bytes after password"),
            ),
            CommandId::SUBMIT_SM => (B::SubmitSm(Sm::load(frame, r)?), None),
            CommandId::SUBMIT_SM_RESP => (
                B::SubmitSmResp(SmResp::load(frame, r, false)?),
                Some("submit_sm_resp has bytes after message_id"),
            ),
            CommandId::DELIVER_SM => (B::DeliverSm(Sm::load(frame, r)?), None),
            CommandId::DELIVER_SM_RESP => (
                B::DeliverSmResp(SmResp::load(frame, r, false)?),
                Some("deliver_sm_resp has bytes after message_id"),
            ),
            CommandId::DATA_SM => (B::DataSm(DataSm::load(frame, r)?), None),
            CommandId::DATA_SM_RESP => (B::DataSmResp(SmResp::load(frame, r, true)?), None),
            CommandId::SUBMIT_MULTI => (B::SubmitMulti(SubmitMulti::load(frame, r)?), None),
            CommandId::SUBMIT_MULTI_RESP => (
                B::SubmitMultiResp(SubmitMultiResp::load(frame, r)?),
                Some("submit_multi_resp has bytes after its last unsuccess_sme"),
            ),
            CommandId::QUERY_SM => (
                B::QuerySm(QuerySm::load(frame, r)?),
                Some("query_sm has bytes after source_addr"),
            ),
            CommandId::QUERY_SM_RESP => (
                B::QuerySmResp(QuerySmResp::load(frame, r)?),
                Some("query_sm_resp has bytes after error_code"),
            ),
            CommandId::CANCEL_SM => (
                B::CancelSm(CancelSm::load(frame, r)?),
                Some("cancel_sm has bytes after destination_addr"),
            ),
            CommandId::REPLACE_SM => (
                B::ReplaceSm(ReplaceSm::load(frame, r)?),
                Some("replace_sm has bytes after short_message"),
            ),
            CommandId::ALERT_NOTIFICATION => (
                B::AlertNotification(AlertNotification::load(frame, r)?),
                None,
            ),
            CommandId::UNBIND => (B::Unbind, Some("unbind has no body")),
            CommandId::UNBIND_RESP => (B::UnbindResp, Some("unbind_resp has no body")),
            CommandId::CANCEL_SM_RESP => (B::CancelSmResp, Some("cancel_sm_resp has no body")),
            CommandId::REPLACE_SM_RESP => (B::ReplaceSmResp, Some("replace_sm_resp has no body")),
            CommandId::ENQUIRE_LINK => (B::EnquireLink, Some("enquire_link has no body")),
            CommandId::ENQUIRE_LINK_RESP => {
                (B::EnquireLinkResp, Some("enquire_link_resp has no body"))
            }
            CommandId::GENERIC_NACK => (B::GenericNack, Some("generic_nack has no body")),
            _ => {
                return Ok(B::Unknown {
                    command_id,
                    body: frame.slice(HEADER_LEN..),
                });
            }
        };
        if let Some(rule) = end {
            r.finish(rule)?;
        }
        Ok(parsed)
    }

    /// Writes the body; `ok` is whether the status is 0 (a failed bind or submit_sm
    /// answer with nothing in its body leaves the body out, as the spec has it; one given
    /// a body is written with it, so what was decoded encodes back to itself).
    fn encode(&self, dst: &mut BytesMut, ok: bool) -> Result<(), EncodeError> {
        use Body as B;
        match self {
            B::BindTransmitter(b) | B::BindReceiver(b) | B::BindTransceiver(b) => b.encode(dst),
            B::BindTransmitterResp(b) | B::BindReceiverResp(b) | B::BindTransceiverResp(b) => {
                if ok || *b != BindResp::default() {
                    b.encode(dst)
                } else {
                    Ok(())
                }
            }
            B::Outbind(o) => o.encode(dst),
            B::SubmitSm(s) | B::DeliverSm(s) => s.encode(dst),
            B::SubmitSmResp(s) => {
                if ok || *s != SmResp::default() {
                    s.encode(dst, false)
                } else {
                    Ok(())
                }
            }
            B::DeliverSmResp(s) => s.encode(dst, false),
            B::DataSm(d) => d.encode(dst),
            B::DataSmResp(s) => s.encode(dst, true),
            B::SubmitMulti(m) => m.encode(dst),
            B::SubmitMultiResp(m) => m.encode(dst),
            B::QuerySm(q) => q.encode(dst),
            B::QuerySmResp(q) => q.encode(dst),
            B::CancelSm(c) => c.encode(dst),
            B::ReplaceSm(x) => x.encode(dst),
            B::AlertNotification(a) => a.encode(dst),
            B::Unbind
            | B::UnbindResp
            | B::CancelSmResp
            | B::ReplaceSmResp
            | B::EnquireLink
            | B::EnquireLinkResp
            | B::GenericNack => Ok(()),
            B::Unknown { body, .. } => {
                dst.put_slice(body);
                Ok(())
            }
        }
    }
}

/// The SMPP codec: frames PDUs by their command_length and decodes and encodes
/// [`Pdu`]s.
#[derive(Debug, Clone)]
pub struct SmppCodec {
    framing: LengthFieldCodec,
    /// a body failed to parse: the stream is corrupt and yields nothing more
    failed: bool,
}

impl Default for SmppCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl SmppCodec {
    /// The default maximum PDU length: room for a 64 KiB `message_payload` and the
    /// mandatory fields of any PDU around it.
    pub const DEFAULT_MAX_PDU: usize = 72 * 1024;

    /// A codec with the default maximum PDU length.
    pub fn new() -> Self {
        Self::with_max_pdu(Self::DEFAULT_MAX_PDU)
    }

    /// A codec with another maximum PDU length (at least the 16-byte header).
    pub fn with_max_pdu(max: usize) -> Self {
        static DEFAULT: std::sync::OnceLock<std::sync::Arc<crate::length::Builder>> =
            std::sync::OnceLock::new();
        let layout = |max: usize| {
            std::sync::Arc::new(
                LengthFieldCodec::builder()
                    .frame_length()
                    .strip(0)
                    .min_frame(HEADER_LEN)
                    .max_frame(max.max(HEADER_LEN))
                    // most PDUs are small: room for a long submit_sm ahead, never more
                    .reserve_ahead(2048),
            )
        };
        let cfg = if max == Self::DEFAULT_MAX_PDU {
            DEFAULT.get_or_init(|| layout(max)).clone()
        } else {
            layout(max)
        };
        SmppCodec {
            framing: LengthFieldCodec::from_builder(cfg),
            failed: false,
        }
    }

    /// The maximum PDU length.
    pub fn max_pdu(&self) -> usize {
        self.framing.max_frame()
    }
}

impl Decoder for SmppCodec {
    type Item = Pdu;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Pdu>, FrameError> {
        if self.failed {
            return Err(FrameError::malformed("the stream already failed", 0));
        }
        let Some(frame) = self
            .framing
            .decode(src)
            .inspect_err(|_| self.failed = true)?
        else {
            return Ok(None);
        };
        let word =
            |i: usize| u32::from_be_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
        let command_id = CommandId(word(4));
        let command_status = CommandStatus(word(8));
        let sequence_number = word(12);
        let body = Body::load(command_id, &frame).inspect_err(|_| self.failed = true)?;
        Ok(Some(Pdu {
            command_status,
            sequence_number,
            body,
        }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Pdu>, FrameError> {
        match self.decode(src)? {
            Some(pdu) => Ok(Some(pdu)),
            None => self.framing.decode_eof(src).map(|_| None),
        }
    }
}

impl Encoder<Pdu> for SmppCodec {
    type Error = EncodeError;

    fn encode(&mut self, pdu: Pdu, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode(&pdu, dst)
    }
}

impl Encoder<&Pdu> for SmppCodec {
    type Error = EncodeError;

    fn encode(&mut self, pdu: &Pdu, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let id = pdu.command_id();
        let is_request = !id.is_response();
        if is_request && !(1..=0x7fff_ffff).contains(&pdu.sequence_number) {
            return Err(EncodeError::Invalid {
                rule: "a request's sequence_number must be 1 to 0x7FFFFFFF",
            });
        }
        if is_request && !pdu.command_status.is_ok() {
            return Err(EncodeError::Invalid {
                rule: "a request's command_status must be 0",
            });
        }
        let start = dst.len();
        dst.put_u32(0); // command_length, filled in below
        dst.put_u32(id.0);
        dst.put_u32(pdu.command_status.0);
        dst.put_u32(pdu.sequence_number);
        if let Err(e) = pdu.body.encode(dst, pdu.command_status.is_ok()) {
            dst.truncate(start);
            return Err(e);
        }
        crate::sms::finish_pdu(dst, start, self.framing.max_frame())
    }
}

/// SMPP's request/response pairs for a session runtime: a command with the high bit set
/// answers the request with the same sequence_number (generic_nack included); outbind
/// and alert_notification are answered by nothing; enquire_link is the link check.
impl packwire_core::Exchange for Pdu {
    fn role(&self) -> packwire_core::Role {
        let seq = self.sequence_number;
        match self.body {
            Body::Outbind(_) | Body::AlertNotification(_) => packwire_core::Role::Other,
            _ if self.command_id().is_response() => packwire_core::Role::Response(seq),
            _ => packwire_core::Role::Request(seq),
        }
    }

    fn set_sequence(&mut self, seq: u32) {
        // SMPP numbers run 1..=0x7FFFFFFF
        self.sequence_number = match seq & 0x7fff_ffff {
            0 => 1,
            s => s,
        };
    }

    fn link_check(seq: u32) -> Option<Self> {
        let mut p = Pdu::new(seq, Body::EnquireLink);
        packwire_core::Exchange::set_sequence(&mut p, seq);
        Some(p)
    }

    fn answer_link_check(&self) -> Option<Self> {
        matches!(self.body, Body::EnquireLink)
            .then(|| self.answer(CommandStatus::ESME_ROK, Body::EnquireLinkResp))
    }
}
