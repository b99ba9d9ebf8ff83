//! CMPP 2.0 / 3.0, China Mobile's SP <-> ISMG protocol: the reference private binary
//! protocol of this field, and the worked example of how packwire stacks a protocol on a
//! framing.
//!
//! ```text
//!  +--------------+------------+-------------+-------------------------------+
//!  | Total_Length | Command_Id | Sequence_Id | body (layout by command id    |
//!  |   u32 BE     |  u32 BE    |   u32 BE    |  and by version: 2.0 or 3.0)  |
//!  +--------------+------------+-------------+-------------------------------+
//!  |<------------------------ Total_Length (12 to 4096) -------------------->|
//! ```
//!
//! [`CmppCodec`] = a [`LengthFieldCodec`] (whole-PDU length, at least the 12-byte header,
//! at most [`CmppCodec::DEFAULT_MAX_PDU`]) + the [`Head`] + one `load` / `encode` pair per
//! message. It decodes to [`Pdu`]s and encodes them.
//!
//! # Strict when encoding, tolerant when decoding
//!
//! Encoding refuses anything the spec does not allow (an octet string longer than its
//! field, 0 or more than 99 destinations, content over 255 bytes, a status over 255 in a
//! 2.0 field). Decoding accepts what real gateways send:
//!
//! - octet strings NUL-padded, space-padded or filled to the last byte all read the same;
//! - a CONNECT_RESP is read by its length (18-byte body = 2.0, 21 = 3.0), whatever version
//!   the codec was told;
//! - a status report's layout is chosen by its length (60 bytes = 2.0, 71 = 3.0), because
//!   3.0 gateways send 2.0 reports ([`Deliver::report`]);
//! - a DELIVER or SUBMIT whose Reserve / LinkID is short or missing is read as far as it
//!   goes, and bytes after the last field are ignored (the PDU's length keeps the framing
//!   intact);
//! - an ACTIVE_TEST_RESP of 12 bytes (no Reserved byte) is accepted, and so is pycmpp's,
//!   which declares 13 bytes but sends the Reserved byte as the 4 ASCII characters `0x00`:
//!   the 3 extra bytes are skipped, so framing stays in step;
//! - TP_udhi 0x40 counts as a user data header ([`udhi`]);
//! - unknown command ids come out as [`Body::Unknown`], not as an error.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use packwire_codecs::cmpp::{Body, CmppCodec, Version};
//! use tokio_util::codec::Decoder;
//!
//! // vector G12 of the CMPP reference: an ACTIVE_TEST
//! let mut codec = CmppCodec::new(Version::V30);
//! let mut buf = BytesMut::from(&b"\x00\x00\x00\x0c\x00\x00\x00\x08\x00\x00\x00\x17"[..]);
//! let pdu = codec.decode(&mut buf)?.unwrap();
//! assert_eq!(pdu.sequence_id.0, 23);
//! assert_eq!(pdu.body, Body::ActiveTest);
//! # Ok::<(), packwire_core::FrameError>(())
//! ```

mod auth;
mod codes;
mod connect;
mod deliver;
mod fields;
mod head;
mod long;
mod msg_id;
mod query;
mod submit;
mod text;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};
use tokio_util::codec::{Decoder, Encoder};

pub use crate::sms::UdhRef;
pub use auth::{authenticator_ismg, authenticator_source, timestamp, verify_ismg};
pub use codes::{ConnectStatus, MsgFmt, SubmitResult, udhi};
pub use connect::{Connect, ConnectResp};
pub use deliver::{Deliver, DeliverResp, Report};
pub use head::{CommandId, Head, SequenceId, Version};
pub use long::{Part, Reassembled, Reassembler, Split, split_text};
pub use msg_id::{MsgId, MsgIdParts};
pub use query::{Cancel, CancelResp, Query, QueryResp};
pub use submit::{MAX_DESTINATIONS, Submit, SubmitResp};
pub use text::{decode_text, encode_text, pick_format};

use crate::LengthFieldCodec;

/// One CMPP PDU: its sequence id and its body (the Command_Id follows from the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// The sender's sequence number, echoed by the response.
    pub sequence_id: SequenceId,
    /// The message.
    pub body: Body,
}

impl Pdu {
    /// A PDU.
    pub fn new(sequence_id: u32, body: Body) -> Self {
        Pdu {
            sequence_id: SequenceId(sequence_id),
            body,
        }
    }

    /// About what the PDU takes on the wire, from above (the fixed fields of the larger
    /// 3.0 layout plus what it carries), cheaply and without encoding it: what a byte-
    /// bounded queue counts it as (`message_size` in packwire-net).
    pub fn weight(&self) -> usize {
        const FIXED: usize = 200; // the largest fixed part (SUBMIT, 3.0) is under this
        Head::LEN
            + match &self.body {
                Body::Submit(s) => FIXED + s.msg_content.len() + 32 * s.dest_terminal_ids.len(),
                Body::Deliver(d) => FIXED + d.msg_content.len(),
                _ => FIXED,
            }
    }
}

/// Every SP <-> ISMG message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Body {
    Connect(Connect),
    ConnectResp(ConnectResp),
    Terminate,
    TerminateResp,
    Submit(Box<Submit>),
    SubmitResp(SubmitResp),
    Deliver(Box<Deliver>),
    DeliverResp(DeliverResp),
    Query(Query),
    QueryResp(Box<QueryResp>),
    Cancel(Cancel),
    CancelResp(CancelResp),
    ActiveTest,
    /// The Reserved byte (0 when a sloppy peer sent none).
    ActiveTestResp {
        reserved: u8,
    },
    /// A command this codec does not parse (FWD, the GNS route commands, private ones),
    /// with its raw body.
    Unknown {
        command_id: CommandId,
        body: Bytes,
    },
}

impl Body {
    /// The Command_Id this body is sent with.
    pub fn command_id(&self) -> CommandId {
        match self {
            Body::Connect(_) => CommandId::CONNECT,
            Body::ConnectResp(_) => CommandId::CONNECT_RESP,
            Body::Terminate => CommandId::TERMINATE,
            Body::TerminateResp => CommandId::TERMINATE_RESP,
            Body::Submit(_) => CommandId::SUBMIT,
            Body::SubmitResp(_) => CommandId::SUBMIT_RESP,
            Body::Deliver(_) => CommandId::DELIVER,
            Body::DeliverResp(_) => CommandId::DELIVER_RESP,
            Body::Query(_) => CommandId::QUERY,
            Body::QueryResp(_) => CommandId::QUERY_RESP,
            Body::Cancel(_) => CommandId::CANCEL,
            Body::CancelResp(_) => CommandId::CANCEL_RESP,
            Body::ActiveTest => CommandId::ACTIVE_TEST,
            Body::ActiveTestResp { .. } => CommandId::ACTIVE_TEST_RESP,
            Body::Unknown { command_id, .. } => *command_id,
        }
    }

    /// Parses a body of `command_id` from `frame` (the whole PDU) in `version`'s layout.
    fn load(command_id: CommandId, frame: &Bytes, version: Version) -> Result<Body, FrameError> {
        let v3 = version.is_v3();
        let mut r = Reader::with_base(&frame[Head::LEN..], Head::LEN as u64);
        let r = &mut r;
        Ok(match command_id {
            CommandId::CONNECT => Body::Connect(Connect::load(frame, r)?),
            CommandId::CONNECT_RESP => Body::ConnectResp(ConnectResp::load(r, v3)?),
            CommandId::TERMINATE => Body::Terminate,
            CommandId::TERMINATE_RESP => Body::TerminateResp,
            CommandId::SUBMIT => Body::Submit(Box::new(Submit::load(frame, r, version)?)),
            CommandId::SUBMIT_RESP => Body::SubmitResp(SubmitResp::load(r, v3)?),
            CommandId::DELIVER => Body::Deliver(Box::new(Deliver::load(frame, r, version)?)),
            CommandId::DELIVER_RESP => Body::DeliverResp(DeliverResp::load(r, v3)?),
            CommandId::QUERY => Body::Query(Query::load(frame, r)?),
            CommandId::QUERY_RESP => Body::QueryResp(Box::new(QueryResp::load(frame, r)?)),
            CommandId::CANCEL => Body::Cancel(Cancel {
                msg_id: MsgId(r.u64("Msg_Id")?),
            }),
            CommandId::CANCEL_RESP => Body::CancelResp(CancelResp::load(r, v3)?),
            CommandId::ACTIVE_TEST => Body::ActiveTest,
            CommandId::ACTIVE_TEST_RESP => Body::ActiveTestResp {
                reserved: if r.is_empty() { 0 } else { r.u8("Reserved")? },
            },
            other => Body::Unknown {
                command_id: other,
                body: frame.slice(Head::LEN..),
            },
        })
    }

    fn encode(&self, dst: &mut BytesMut, version: Version) -> Result<(), EncodeError> {
        let v3 = version.is_v3();
        match self {
            Body::Connect(m) => m.encode(dst),
            Body::ConnectResp(m) => m.encode(dst, v3),
            Body::Terminate | Body::TerminateResp | Body::ActiveTest => Ok(()),
            Body::Submit(m) => m.encode(dst, version),
            Body::SubmitResp(m) => m.encode(dst, v3),
            Body::Deliver(m) => m.encode(dst, version),
            Body::DeliverResp(m) => m.encode(dst, v3),
            Body::Query(m) => m.encode(dst),
            Body::QueryResp(m) => m.encode(dst),
            Body::Cancel(m) => {
                dst.put_u64(m.msg_id.0);
                Ok(())
            }
            Body::CancelResp(m) => m.encode(dst, v3),
            Body::ActiveTestResp { reserved } => {
                dst.put_u8(*reserved);
                Ok(())
            }
            Body::Unknown { body, .. } => {
                dst.put_slice(body);
                Ok(())
            }
        }
    }
}

/// What pycmpp sends after its ACTIVE_TEST_RESP header and a `'0'` Reserved byte.
const PYCMPP_TAIL: &[u8] = b"x00";

/// The CMPP codec: decodes and encodes [`Pdu`]s in one version's layout.
///
/// The version is what the session negotiated at CONNECT; a server can read it from the
/// CONNECT ([`Connect::version`], then [`CmppCodec::set_version`] with
/// [`Version::layout`]). CONNECT itself has the same layout in both versions.
#[derive(Debug, Clone)]
pub struct CmppCodec {
    framing: LengthFieldCodec,
    version: Version,
    /// the last PDU was an ACTIVE_TEST_RESP that pycmpp may have followed with `x00`
    pycmpp: bool,
    /// a body failed to parse: the stream is corrupt and yields nothing more
    failed: bool,
    /// adopt the version CONNECT and CONNECT_RESP carry ([`CmppCodec::following_connect`])
    follow: bool,
}

impl CmppCodec {
    /// The default maximum PDU length: 4 KiB, the bound SMSGate's frame decoder uses. The
    /// largest legal SUBMIT (3.0, 99 destinations, 255 bytes) is 3586 bytes.
    pub const DEFAULT_MAX_PDU: usize = 4096;

    /// A codec for `version`'s layout with the default maximum PDU length.
    pub fn new(version: Version) -> Self {
        Self::with_max_pdu(version, Self::DEFAULT_MAX_PDU)
    }

    /// A codec with another maximum PDU length (at least the 12-byte header).
    pub fn with_max_pdu(version: Version, max: usize) -> Self {
        // a 4-byte whole-frame length at offset 0 with min <= max: always a valid layout,
        // so the builder's checks are not needed; the default layout is shared by every
        // codec (one per connection)
        static DEFAULT: std::sync::OnceLock<std::sync::Arc<crate::length::Builder>> =
            std::sync::OnceLock::new();
        let layout = |max: usize| {
            std::sync::Arc::new(
                LengthFieldCodec::builder()
                    .frame_length()
                    // the message parser reads the whole PDU, its head included
                    .strip(0)
                    .min_frame(Head::LEN)
                    .max_frame(max.max(Head::LEN))
                    // PDUs are small: room for a long SUBMIT ahead, never more
                    .reserve_ahead(2048),
            )
        };
        let cfg = if max == Self::DEFAULT_MAX_PDU {
            DEFAULT.get_or_init(|| layout(max)).clone()
        } else {
            layout(max)
        };
        let framing = LengthFieldCodec::from_builder(cfg);
        CmppCodec {
            framing,
            version,
            pycmpp: false,
            failed: false,
            follow: false,
        }
    }

    /// Makes the codec switch layouts as the login goes, so one codec factory serves SPs
    /// of both versions (an ISMG) or follows what a gateway answered (an SP):
    ///
    /// - decoding or encoding a CONNECT adopts its Version's layout;
    /// - encoding a CONNECT_RESP adopts its Version's layout (an ISMG puts the negotiated
    ///   version there), and decoding one adopts the layout its length shows (18-byte
    ///   body: 2.0, 21: 3.0).
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use packwire_codecs::cmpp::{Body, CmppCodec, Connect, Pdu, Version};
    /// use tokio_util::codec::{Decoder, Encoder};
    ///
    /// let mut sp = CmppCodec::new(Version::V20);
    /// let mut wire = BytesMut::new();
    /// let connect = Connect {
    ///     source_addr: Bytes::from_static(b"901234"),
    ///     authenticator_source: [0; 16],
    ///     version: Version::V20,
    ///     timestamp: 1_124_000_000,
    /// };
    /// sp.encode(Pdu::new(1, Body::Connect(connect)), &mut wire).unwrap();
    /// let mut ismg = CmppCodec::new(Version::V30).following_connect();
    /// ismg.decode(&mut wire).unwrap().unwrap();
    /// assert_eq!(ismg.version(), Version::V20);
    /// ```
    pub fn following_connect(mut self) -> Self {
        self.follow = true;
        self
    }

    /// The layout in use.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Switches the layout (after CONNECT negotiated a version).
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// Skips pycmpp's malformed ACTIVE_TEST_RESP tail if it is there; `false` while too few
    /// bytes have arrived to tell. Nothing is consumed until the whole tail has matched, so
    /// the outcome does not depend on how the stream was cut.
    fn skip_pycmpp(&mut self, src: &mut BytesMut) -> bool {
        if !self.pycmpp {
            return true;
        }
        if src.len() < PYCMPP_TAIL.len() && PYCMPP_TAIL.starts_with(src) {
            return false;
        }
        if src.starts_with(PYCMPP_TAIL) {
            src.advance(PYCMPP_TAIL.len());
        }
        self.pycmpp = false;
        true
    }
}

impl Decoder for CmppCodec {
    type Item = Pdu;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Pdu>, FrameError> {
        if self.failed {
            return Err(FrameError::malformed("the stream already failed", 0));
        }
        if !self.skip_pycmpp(src) {
            return Ok(None);
        }
        let Some(frame) = self.framing.decode(src)? else {
            return Ok(None);
        };
        // (the framing hands out nothing shorter than the header)
        let Some(Head {
            command_id,
            sequence_id,
            ..
        }) = Head::parse(&frame)
        else {
            return Err(FrameError::malformed("a PDU shorter than its header", 0));
        };
        let body =
            Body::load(command_id, &frame, self.version).inspect_err(|_| self.failed = true)?;
        if self.follow {
            match &body {
                Body::Connect(c) => self.version = c.version,
                Body::ConnectResp(_) if frame.len() == Head::LEN + 18 => {
                    self.version = Version::V20
                }
                Body::ConnectResp(_) if frame.len() == Head::LEN + 21 => {
                    self.version = Version::V30
                }
                _ => {}
            }
        }
        if command_id == CommandId::ACTIVE_TEST_RESP && frame.len() == 13 && frame[12] == b'0' {
            self.pycmpp = true;
        }
        Ok(Some(Pdu { sequence_id, body }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Pdu>, FrameError> {
        match self.decode(src)? {
            Some(pdu) => Ok(Some(pdu)),
            None if self.pycmpp => {
                // the stream ended inside pycmpp's tail: nothing of value was cut
                src.clear();
                self.pycmpp = false;
                Ok(None)
            }
            None => self.framing.decode_eof(src).map(|_| None),
        }
    }
}

impl Encoder<Pdu> for CmppCodec {
    type Error = EncodeError;

    fn encode(&mut self, pdu: Pdu, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode(&pdu, dst)
    }
}

impl Encoder<&Pdu> for CmppCodec {
    type Error = EncodeError;

    fn encode(&mut self, pdu: &Pdu, dst: &mut BytesMut) -> Result<(), EncodeError> {
        if self.follow {
            match &pdu.body {
                Body::Connect(c) => self.version = c.version,
                Body::ConnectResp(r) => self.version = r.version,
                _ => {}
            }
        }
        let start = dst.len();
        Head {
            total_length: 0, // filled in once the body is written
            command_id: pdu.body.command_id(),
            sequence_id: pdu.sequence_id,
        }
        .encode(dst);
        if let Err(e) = pdu.body.encode(dst, self.version) {
            dst.truncate(start);
            return Err(e);
        }
        crate::sms::finish_pdu(dst, start, self.framing.max_frame())
    }
}

/// CMPP's request/response pairs for a session runtime: every command with the high bit
/// clear is a request (Unknown ones included, e.g. FWD), every `_RESP` a response to the
/// request with the same Sequence_Id; ACTIVE_TEST is the link check, answered with a
/// zero Reserved byte.
impl packwire_core::Exchange for Pdu {
    fn role(&self) -> packwire_core::Role {
        let seq = self.sequence_id.0;
        if self.body.command_id().is_response() {
            packwire_core::Role::Response(seq)
        } else {
            packwire_core::Role::Request(seq)
        }
    }

    fn set_sequence(&mut self, seq: u32) {
        self.sequence_id = SequenceId(seq);
    }

    fn link_check(seq: u32) -> Option<Self> {
        Some(Pdu {
            sequence_id: SequenceId(seq),
            body: Body::ActiveTest,
        })
    }

    fn answer_link_check(&self) -> Option<Self> {
        matches!(self.body, Body::ActiveTest).then(|| Pdu {
            sequence_id: self.sequence_id,
            body: Body::ActiveTestResp { reserved: 0 },
        })
    }
}
