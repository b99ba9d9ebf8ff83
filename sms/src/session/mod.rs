//! The sans-IO session layer every SMS gateway protocol runs on: what a client (an SP, an
//! ESME) does between its socket and its application — log in, keep a window of
//! unanswered submits and a submit rate, retry what the gateway throttled, resend after a
//! reconnect what was never answered (and never what was), check the link, answer
//! reports and mobile-originated messages — with no sockets and no clock of its own.
//! The caller feeds it PDUs and the time and takes back PDUs to write and events (quinn's
//! `Connection` is the model). A protocol plugs in through [`Protocol`]: [`smpp`] and
//! [`cmpp`] do. The gateway's side (an SMSC's, an ISMG's) is [`ServerSession`], with
//! [`ServerProtocol`], run per connection by [`GatewayServer`].

mod client;
pub mod cmpp;
mod run;
mod serve;
mod server;
pub mod smpp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_server;

use bytes::Bytes;

pub use client::{ClientConfig, ClientSession, Event, RequestId};
pub use run::{EVENT_BUFFER, GatewayClient, SendError};
pub use serve::{GatewayServer, MoError, ServeOptions, Served};
pub use server::{
    Account, Ending, EventOf, Refusal, Request, ServerConfig, ServerEvent, ServerProtocol,
    ServerSession, ServerShared, SubmitView, Verdict,
};

/// An SMSC's configuration (accounts restricted to bind kinds).
pub type SmscConfig = ServerConfig<Vec<smpp::BindKind>>;
/// An SMSC's session with one ESME.
pub type SmscSession = ServerSession<smpp::SmscProtocol>;
/// What happened on an SMSC.
pub type SmscEvent = EventOf<smpp::SmscProtocol>;

/// What a submit's answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Accepted, with the gateway's message id.
    Accepted(Bytes),
    /// The gateway is throttling or its queue is full: the same request may succeed later.
    Throttled(u32),
    /// Refused, with the protocol's status code.
    Rejected(u32),
}

/// A delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The id the gateway gave the message when it took it.
    pub id: Bytes,
    /// The final state word (`DELIVRD`, `UNDELIV`, ...).
    pub stat: Bytes,
    /// Whether it says the message was delivered.
    pub delivered: bool,
    /// The number the message went to.
    pub to: Bytes,
}

/// A message from a mobile; the session puts a long one back together from its parts
/// before it reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mo {
    /// Who sent it.
    pub from: Bytes,
    /// To which number.
    pub to: Bytes,
    /// Its bytes (every part's payload in order, headers removed), in `coding`.
    pub payload: Bytes,
    /// The protocol's data coding value (the first part's).
    pub coding: u8,
    /// Where this part belongs, when it is one part of a long message (as the protocol
    /// read it; `None` once reassembled, or for a whole message).
    pub part: Option<packwire_codecs::sms::Concat>,
    /// The payload as text, when `coding` is a text coding of the protocol (filled in by
    /// the session once the message is whole).
    pub text: Option<String>,
    /// How many parts it came in (1 for a message that fitted one).
    pub parts: usize,
}

/// A text to send, in the terms every SMS protocol has: the session's protocol turns it
/// into its submits (one per part of a long text, in the most compact coding that
/// carries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The source address (SMPP's source_addr, CMPP's Src_Id); empty: the protocol's
    /// default (CMPP: the SP's own number).
    pub from: String,
    /// The destination number.
    pub to: String,
    /// The text.
    pub text: String,
    /// Whether to ask for a delivery report.
    pub report: bool,
}

impl Message {
    /// `text` to `to`, no report asked for.
    pub fn new(to: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            from: String::new(),
            to: to.into(),
            text: text.into(),
            report: false,
        }
    }

    /// From this source address.
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = from.into();
        self
    }

    /// Asks for a delivery report.
    pub fn with_report(mut self) -> Self {
        self.report = true;
        self
    }
}

/// What a received PDU is to the session.
#[derive(Debug, Clone)]
pub enum Incoming<P> {
    /// The answer to the login request with this sequence number: accepted (`None`) or
    /// refused with a status.
    LoginAnswer(u32, Option<u32>),
    /// The answer to the submit with this sequence number.
    SubmitAnswer(u32, SubmitOutcome),
    /// A delivery report, and the PDU that acknowledges it.
    Report(Report, P),
    /// A mobile-originated message, and the PDU that acknowledges it.
    Mo(Mo, P),
    /// The peer checks the link: answer with this.
    LinkCheck(P),
    /// The answer to our link check with this sequence number.
    LinkCheckAnswer(u32),
    /// The peer could not take the request with this sequence number (SMPP's
    /// generic_nack), with its status.
    Nack(u32, u32),
    /// The peer logs out: answer with this, then close.
    Logout(P),
    /// The answer to our logout.
    LogoutAnswer,
    /// Something else, with the answer it needs if any (an unknown request's nack).
    Other(Option<P>),
}

/// One protocol's part of a session: how its PDUs say what the session needs to know.
/// Sequence numbers are the session's (1, 2, ...); a protocol maps them onto its own
/// range.
pub trait Protocol {
    /// The protocol's PDU.
    type Pdu: Clone + std::fmt::Debug;
    /// A message to submit, ready for one request (one part of a long text).
    type Submit: Clone + std::fmt::Debug;

    /// The login request (a protocol may keep what it needs to check the answer).
    fn login(&mut self, seq: u32) -> Self::Pdu;
    /// The submit request for `part`.
    fn submit(&self, seq: u32, part: &Self::Submit) -> Self::Pdu;
    /// The link check request.
    fn link_check(&self, seq: u32) -> Self::Pdu;
    /// The logout request.
    fn logout(&self, seq: u32) -> Self::Pdu;
    /// What `pdu` is to the session.
    fn classify(&self, pdu: &Self::Pdu) -> Incoming<Self::Pdu>;
    /// The submits that carry `msg`, one per part (a long text's parts share a reference
    /// the protocol picks, a new one each call).
    ///
    /// # Errors
    /// When the text cannot be carried (more parts than the protocol allows).
    fn parts(&mut self, msg: &Message) -> Result<Vec<Self::Submit>, packwire_core::EncodeError>;
    /// `payload` as text, when `coding` (the protocol's data coding value) is a text
    /// coding.
    fn text(&self, coding: u8, payload: &[u8]) -> Option<String>;
}
