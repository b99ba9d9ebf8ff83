//! What a protocol tells the gateway's session ([`ServerProtocol`]), and what the
//! session reports ([`ServerEvent`]).

use std::net::SocketAddr;

use bytes::Bytes;
use packwire_codecs::sms::Concat;
use packwire_core::EncodeError;

use super::Account;

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
    /// Every part of the MO message [`ServerSession::push_mo`](super::ServerSession::push_mo) numbered so was sent;
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

/// A [`ServerSession`](super::ServerSession)'s events for protocol `P`.
pub type EventOf<P> = ServerEvent<
    <P as ServerProtocol>::Id,
    <P as ServerProtocol>::Login,
    <P as ServerProtocol>::Pdu,
>;
