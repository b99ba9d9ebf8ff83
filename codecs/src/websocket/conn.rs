//! A WebSocket server connection in one codec: the HTTP/1.1 opening request, then frames.
//! It drops into any tokio server (a `Framed`, packwire's runtime) like every codec.

use bytes::BytesMut;
use packwire_core::{EncodeError, FrameError};
use tokio_util::codec::{Decoder, Encoder};

use super::{Accepted, Config, Message, Refused, Role, ServerHandshake, WebSocketCodec};
use crate::http1::{Event, RequestHead, ResponseHead, ServerCodec};

/// What a WebSocket server connection receives.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// The opening request and the codec's [`ServerHandshake`]'s answer to it: send the
    /// accepted response ([`Outgoing::Accept`]) or the refusal ([`Outgoing::Refuse`],
    /// then close). What it agreed (permessage-deflate) is already in effect.
    Upgrade {
        /// The request.
        request: Box<RequestHead>,
        /// The handshake's answer.
        answer: Box<Result<Accepted, Refused>>,
    },
    /// A message or control frame (after the handshake).
    Message(Message),
}

/// What a WebSocket server connection sends.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// The 101 that accepts the opening request.
    Accept(Box<ResponseHead>),
    /// A refusal (its response and body); close the connection after it.
    Refuse(Box<Refused>),
    /// A message or control frame.
    Message(Message),
}

#[derive(Debug)]
enum Phase {
    /// reading the opening request
    Http(Option<Box<RequestHead>>),
    /// frames
    Frames,
    /// the opening request was not an upgrade: nothing more is read
    Done,
}

/// The server side of a WebSocket connection: decodes the opening request
/// ([`Incoming::Upgrade`]) and then messages, encodes the handshake's answer and then
/// messages. The frames after an upgrade request are decoded even before the answer is
/// written (a client may send them in the same packet).
///
/// ```
/// use bytes::BytesMut;
/// use packwire_codecs::websocket::{Incoming, Message, Outgoing, ServerConnCodec};
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = ServerConnCodec::new();
/// let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
/// Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"[..]);
/// let Some(Incoming::Upgrade { answer, .. }) = codec.decode(&mut buf)? else { panic!() };
/// let accepted = (*answer).expect("a valid upgrade");
/// let mut out = BytesMut::new();
/// codec.encode(Outgoing::Accept(Box::new(accepted.response)), &mut out)?;
/// assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerConnCodec {
    http: ServerCodec,
    ws: WebSocketCodec,
    phase: Phase,
    handshake: std::sync::Arc<ServerHandshake>,
}

impl Default for ServerConnCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerConnCodec {
    /// The default handshake (any origin, no subprotocol, no compression) and limits.
    pub fn new() -> Self {
        Self::with_handshake(
            std::sync::Arc::new(ServerHandshake::default()),
            Config::default(),
        )
    }

    /// Answers opening requests with `handshake` (shared by the connections of a server)
    /// and reads frames within `cfg` (HTTP's defaults for the opening request).
    pub fn with_handshake(handshake: std::sync::Arc<ServerHandshake>, cfg: Config) -> Self {
        ServerConnCodec {
            http: ServerCodec::new(),
            ws: WebSocketCodec::with_config(Role::Server, cfg),
            phase: Phase::Http(None),
            handshake,
        }
    }
}

impl Decoder for ServerConnCodec {
    type Item = Incoming;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Incoming>, FrameError> {
        loop {
            match &mut self.phase {
                Phase::Frames => return Ok(self.ws.decode(src)?.map(Incoming::Message)),
                Phase::Done => return Ok(None),
                Phase::Http(head) => match self.http.decode(src)? {
                    None => return Ok(None),
                    Some(Event::Head(h)) => *head = Some(Box::new(h)),
                    // a body on the opening request is read and dropped (the handshake
                    // refuses anything but a GET)
                    Some(Event::Data(_) | Event::Trailers(_)) => {}
                    Some(Event::End) => {
                        let Some(h) = head.take() else {
                            return Err(FrameError::malformed(
                                "a request ended before its head",
                                0,
                            ));
                        };
                        let answer = self.handshake.accept(&h);
                        self.phase = match &answer {
                            Ok(a) => {
                                if let Some(p) = a.deflate {
                                    let level = self.handshake.deflate.map_or(6, |d| d.level);
                                    self.ws.set_deflate(p, level);
                                }
                                Phase::Frames
                            }
                            // nothing after a refused request is read
                            Err(_) => Phase::Done,
                        };
                        return Ok(Some(Incoming::Upgrade {
                            request: h,
                            answer: Box::new(answer),
                        }));
                    }
                },
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Incoming>, FrameError> {
        match self.phase {
            Phase::Frames => Ok(self.ws.decode_eof(src)?.map(Incoming::Message)),
            Phase::Done => Ok(None),
            Phase::Http(_) => match self.decode(src)? {
                Some(i) => Ok(Some(i)),
                None => self.http.decode_eof(src).map(|_| None),
            },
        }
    }
}

impl Encoder<Outgoing> for ServerConnCodec {
    type Error = EncodeError;

    fn encode(&mut self, out: Outgoing, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match out {
            Outgoing::Accept(resp) => self.http.encode(Event::Head(*resp), dst),
            Outgoing::Refuse(r) => {
                let body = r.body();
                self.http.encode(Event::Head(r.response), dst)?;
                self.http.encode(Event::Data(body), dst)?;
                self.http.encode(Event::End, dst)
            }
            Outgoing::Message(m) => self.ws.encode(m, dst),
        }
    }
}

impl Message {
    /// The answer the protocol itself requires, if any: a pong with a ping's payload; for
    /// a close frame, the close frame that completes the closing handshake (its code
    /// echoed, 1000 for one without).
    pub fn reply(&self) -> Option<Message> {
        match self {
            Message::Ping(p) => Some(Message::Pong(p.clone())),
            Message::Close(Some((code, _))) => {
                Some(Message::Close(Some((*code, bytes::Bytes::new()))))
            }
            Message::Close(None) => Some(Message::Close(None)),
            _ => None,
        }
    }
}

/// What a WebSocket client connection receives.
#[derive(Debug, Clone)]
pub enum ClientIncoming {
    /// The server's answer to the opening request: what it agreed, or why the
    /// handshake failed (then close). Frames follow an agreement.
    Upgraded(Result<super::Agreed, super::HandshakeError>),
    /// A message or control frame.
    Message(Message),
}

/// What a WebSocket client connection sends.
#[derive(Debug, Clone)]
pub enum ClientOutgoing {
    /// The opening request (send it first, once connected; the codec writes its own, with
    /// a fresh key).
    Open,
    /// A message or control frame.
    Message(Message),
}

#[derive(Debug)]
enum ClientPhase {
    Http,
    Frames,
    Done,
}

/// The client side of a WebSocket connection: writes the opening request
/// ([`ClientOutgoing::Open`]) with a key of its own, checks the server's answer
/// ([`ClientIncoming::Upgraded`]) and then reads and writes messages (masked).
#[derive(Debug)]
pub struct ClientConnCodec {
    http: crate::http1::ClientCodec,
    ws: WebSocketCodec,
    handshake: super::ClientHandshake,
    phase: ClientPhase,
}

impl ClientConnCodec {
    /// A connection to `target` (a path) at `host`, offering `protocols` and, when
    /// `deflate`, permessage-deflate; frames within `cfg`.
    pub fn new(host: &str, target: &str, protocols: &[&str], deflate: bool, cfg: Config) -> Self {
        use std::hash::{BuildHasher, Hasher};
        let s = std::collections::hash_map::RandomState::new();
        let mut nonce = [0u8; 16];
        for (i, half) in nonce.chunks_mut(8).enumerate() {
            let mut h = s.build_hasher();
            h.write_usize(i);
            half.copy_from_slice(&h.finish().to_ne_bytes());
        }
        let mut http = crate::http1::ClientCodec::new();
        http.expect_response_to("GET");
        ClientConnCodec {
            http,
            ws: WebSocketCodec::with_config(Role::Client, cfg),
            handshake: super::ClientHandshake::with_deflate(
                host, target, nonce, protocols, deflate,
            ),
            phase: ClientPhase::Http,
        }
    }
}

impl Decoder for ClientConnCodec {
    type Item = ClientIncoming;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<ClientIncoming>, FrameError> {
        loop {
            match self.phase {
                ClientPhase::Frames => {
                    return Ok(self.ws.decode(src)?.map(ClientIncoming::Message));
                }
                ClientPhase::Done => return Ok(None),
                ClientPhase::Http => match self.http.decode(src)? {
                    None => return Ok(None),
                    Some(Event::Head(resp)) => {
                        let agreed = self.handshake.check(&resp);
                        self.phase = match &agreed {
                            Ok(a) => {
                                if let Some(p) = a.deflate {
                                    self.ws.set_deflate(p, 6);
                                }
                                ClientPhase::Frames
                            }
                            Err(_) => ClientPhase::Done,
                        };
                        return Ok(Some(ClientIncoming::Upgraded(agreed)));
                    }
                    // a refusal's body and end are not the client's concern
                    Some(_) => {}
                },
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<ClientIncoming>, FrameError> {
        match self.phase {
            ClientPhase::Frames => Ok(self.ws.decode_eof(src)?.map(ClientIncoming::Message)),
            ClientPhase::Done => Ok(None),
            ClientPhase::Http => match self.decode(src)? {
                Some(i) => Ok(Some(i)),
                None => self.http.decode_eof(src).map(|_| None),
            },
        }
    }
}

impl Encoder<ClientOutgoing> for ClientConnCodec {
    type Error = EncodeError;

    fn encode(&mut self, out: ClientOutgoing, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match out {
            ClientOutgoing::Open => self
                .http
                .encode(Event::Head(self.handshake.request.clone()), dst),
            ClientOutgoing::Message(m) => self.ws.encode(m, dst),
        }
    }
}
