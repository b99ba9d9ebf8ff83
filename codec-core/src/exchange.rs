//! Requests and responses matched by a sequence number — what a session runtime needs to
//! know of a protocol's messages to offer `call(request) -> response`, a window of
//! requests in flight, resends and link checks (CMPP, SMPP, SGIP, SMGP all work this way).

/// What a message is to the request/response machinery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A request carrying this sequence number; the peer answers with the same number.
    Request(u32),
    /// A response to the request with this sequence number.
    Response(u32),
    /// Neither (a notification, an unknown command).
    Other,
}

/// A protocol message that takes part in request/response correlation.
///
/// ```
/// use packwire_core::{Exchange, Role};
///
/// #[derive(Clone)]
/// enum Msg { Ping(u32), Pong(u32) }
///
/// impl Exchange for Msg {
///     fn role(&self) -> Role {
///         match self { Msg::Ping(s) => Role::Request(*s), Msg::Pong(s) => Role::Response(*s) }
///     }
///     fn set_sequence(&mut self, seq: u32) {
///         if let Msg::Ping(s) | Msg::Pong(s) = self { *s = seq; }
///     }
///     fn link_check(seq: u32) -> Option<Self> { Some(Msg::Ping(seq)) }
///     fn answer_link_check(&self) -> Option<Self> {
///         match self { Msg::Ping(s) => Some(Msg::Pong(*s)), _ => None }
///     }
/// }
/// assert_eq!(Msg::Ping(7).answer_link_check().unwrap().role(), Role::Response(7));
/// ```
pub trait Exchange: Sized {
    /// Whether this is a request, a response or neither, with its sequence number.
    fn role(&self) -> Role;

    /// Stamps a request with the sequence number the runtime assigned to it.
    fn set_sequence(&mut self, seq: u32);

    /// The protocol's link-check request (CMPP's ACTIVE_TEST, SMPP's enquire_link) with
    /// sequence number `seq`, if it has one.
    fn link_check(seq: u32) -> Option<Self> {
        let _ = seq;
        None
    }

    /// If this is the peer's link-check request, the response to send back.
    fn answer_link_check(&self) -> Option<Self> {
        None
    }
}
