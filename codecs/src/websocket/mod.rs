//! WebSocket frames and messages (RFC 6455), sans-IO: [`WebSocketCodec`] decodes the byte
//! stream after the opening handshake into [`Message`]s and encodes messages as frames.
//!
//! Strict where the RFC says MUST: a server refuses unmasked frames and a client masked
//! ones; RSV bits and reserved opcodes are refused (no extension claims them yet);
//! control frames carry at most 125 bytes and are never fragmented, but may arrive
//! between the fragments of a message; lengths use their shortest encoding (configurable)
//! and the 64-bit one has its top bit clear; close frames carry nothing or a code that may
//! be sent (1000-1003, 1007-1014, 3000-4999) and a UTF-8 reason. Text is validated as it
//! arrives and **fails fast**: the first invalid byte is an error even in the middle of a
//! frame whose rest has not arrived (Autobahn 6.4.x). Every error is a typed
//! [`FrameError`] naming the rule; [`close_code`] says which close code answers it (1002,
//! 1007 or 1009).
//!
//! Memory: a claimed length is checked against [`Config::max_frame`] and
//! [`Config::max_message`] before anything is buffered, and at most 64 KiB is reserved
//! ahead of what arrives. A single-frame message is handed out zero-copy (a masked one is
//! unmasked in place in the read buffer); a fragmented one is copied once, into its
//! assembly buffer.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use packwire_codecs::websocket::{Message, Role, WebSocketCodec};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut client = WebSocketCodec::new(Role::Client);
//! let mut server = WebSocketCodec::new(Role::Server);
//! let mut wire = BytesMut::new();
//! client.encode(Message::text("hello"), &mut wire)?; // masked, as a client must
//! assert_eq!(server.decode(&mut wire)?, Some(Message::text("hello")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "websocket")]
mod conn;
#[cfg(feature = "websocket")]
mod deflate;
mod encode;
#[cfg(feature = "websocket")]
mod handshake;
mod utf8;

#[cfg(feature = "websocket")]
pub use conn::{
    ClientConnCodec, ClientIncoming, ClientOutgoing, Incoming, Outgoing, ServerConnCodec,
};
#[cfg(feature = "websocket")]
pub use deflate::{DeflateConfig, DeflateParams};
#[cfg(feature = "websocket")]
pub use handshake::{
    Accepted, Agreed, ClientHandshake, HandshakeError, Refused, ServerHandshake, accept_key,
};

use bytes::{Buf, Bytes, BytesMut};
use packwire_core::FrameError;
use tokio_util::codec::Decoder;

use utf8::Utf8;

/// Which end of the connection the codec is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receives masked frames, sends unmasked ones.
    Server,
    /// Receives unmasked frames, sends masked ones.
    Client,
}

/// Limits and strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The largest frame payload accepted. Default 16 MiB.
    pub max_frame: usize,
    /// The largest message (all its fragments) accepted. Default 64 MiB.
    pub max_message: usize,
    /// Refuse lengths not in their shortest encoding (a 5-byte payload with a 16-bit
    /// length). Default true.
    pub minimal_lengths: bool,
    /// Hand out a fragmented message frame by frame ([`Message::Fragment`]) instead of
    /// assembling it: for messages too large to hold, each frame is one item, zero-copy,
    /// text still validated as it comes (fail-fast). `max_frame` bounds each frame and
    /// `max_message` does not apply. Unfragmented and compressed messages still come
    /// whole (a compressed message is inflated as a whole). Default false.
    pub streaming: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame: 16 << 20,
            max_message: 64 << 20,
            minimal_lengths: true,
            streaming: false,
        }
    }
}

/// A close frame's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: going away (a server shutting down, a page closed).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: a protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a kind of data it cannot take.
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1007: data not consistent with its type (invalid UTF-8 in a text message).
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// 1008: a policy was violated.
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether the code may be sent in a close frame: 1000-1003, 1007-1014 (1012-1014 are
    /// IANA-registered), 3000-4999. 1004-1006 and 1015 never go on the wire.
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// A WebSocket message, or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message; its bytes are valid UTF-8 once decoded (the encoder checks them).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping: answer it with a pong carrying the same bytes.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame: its code and UTF-8 reason, or nothing.
    Close(Option<(CloseCode, Bytes)>),
    /// One frame of a fragmented message, with [`Config::streaming`]; encoded, one frame
    /// of a message sent in parts (the sender keeps the fragments of one message together
    /// and, for text, valid UTF-8 as a whole: a fragment may end mid-character).
    Fragment(Fragment),
}

/// One frame of a fragmented data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The message is text (else binary).
    pub text: bool,
    /// The message's first frame.
    pub first: bool,
    /// The message's last frame.
    pub last: bool,
    /// This frame's payload.
    pub data: Bytes,
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<String>) -> Self {
        Message::Text(Bytes::from(s.into()))
    }

    /// A close frame with `code` and `reason`.
    pub fn close(code: CloseCode, reason: &str) -> Self {
        Message::Close(Some((code, Bytes::copy_from_slice(reason.as_bytes()))))
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

/// The close code that answers a decode error of this codec: 1009 for a frame or
/// message over its limit, 1007 for invalid UTF-8, 1002 for every other rule broken.
pub fn close_code(e: &FrameError) -> CloseCode {
    match e {
        FrameError::TooLarge { .. } => CloseCode::TOO_BIG,
        FrameError::Malformed { rule, .. } if rule.contains("UTF-8") => CloseCode::INVALID_DATA,
        _ => CloseCode::PROTOCOL_ERROR,
    }
}

/// What the frame being received is.
#[derive(Debug, Clone, Copy)]
struct Head {
    fin: bool,
    /// RSV1: the first frame of a compressed message
    rsv1: bool,
    opcode: u8,
    /// header bytes (2 to 14)
    len: usize,
    payload: usize,
    key: Option<[u8; 4]>,
}

/// A message whose later fragments are still to come.
#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    buf: BytesMut,
}

/// The WebSocket frame codec for one end of a connection.
#[derive(Debug)]
pub struct WebSocketCodec {
    role: Role,
    cfg: Config,
    /// the current frame's header, once read
    head: Option<Head>,
    /// payload bytes of the current frame already unmasked (and, for text, validated)
    seen: usize,
    /// the fragmented message being assembled
    partial: Option<Partial>,
    /// text validation across the frames of a text message
    utf8: Utf8,
    /// bytes consumed so far (for error offsets)
    consumed: u64,
    failed: bool,
    /// for masking keys
    keys: std::collections::hash_map::RandomState,
    sent: u64,
    /// permessage-deflate, once agreed
    #[cfg(feature = "websocket")]
    deflate: Option<Box<deflate::Deflater>>,
}

const MAX_CONTROL: usize = 125;
/// The most reserved ahead of what has arrived.
const RESERVE_AHEAD: usize = 64 * 1024;

fn bad(rule: &'static str, offset: u64) -> FrameError {
    FrameError::malformed(rule, offset)
}

/// XORs `data` with `key`, the first byte of `data` being payload byte `at`.
fn unmask(data: &mut [u8], key: [u8; 4], at: usize) {
    let r = at % 4;
    let k = [key[r], key[(r + 1) % 4], key[(r + 2) % 4], key[(r + 3) % 4]];
    let k64 = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ k64;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i % 4];
    }
}

impl WebSocketCodec {
    /// A codec for `role` with the default limits.
    pub fn new(role: Role) -> Self {
        Self::with_config(role, Config::default())
    }

    /// A codec for `role` with `cfg`.
    pub fn with_config(role: Role, cfg: Config) -> Self {
        WebSocketCodec {
            role,
            cfg,
            head: None,
            seen: 0,
            partial: None,
            utf8: Utf8::default(),
            consumed: 0,
            failed: false,
            keys: std::collections::hash_map::RandomState::new(),
            sent: 0,
            #[cfg(feature = "websocket")]
            deflate: None,
        }
    }

    /// Compresses and decompresses messages as `params` agreed (permessage-deflate), at
    /// compression level `level` (0-9).
    #[cfg(feature = "websocket")]
    pub fn set_deflate(&mut self, params: DeflateParams, level: u32) {
        self.deflate = Some(Box::new(deflate::Deflater::new(self.role, params, level)));
    }

    /// Whether permessage-deflate is on.
    fn deflating(&self) -> bool {
        #[cfg(feature = "websocket")]
        return self.deflate.is_some();
        #[cfg(not(feature = "websocket"))]
        false
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Reads a frame header at the front of `src`, checking every rule it can decide.
    fn head(&self, src: &[u8]) -> Result<Option<Head>, FrameError> {
        let at = self.consumed;
        let (Some(&b0), Some(&b1)) = (src.first(), src.get(1)) else {
            // the first byte alone already says enough to refuse a bad one
            if let Some(&b0) = src.first() {
                self.check_first(b0, at)?;
            }
            return Ok(None);
        };
        self.check_first(b0, at)?;
        let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0f);
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => return Err(bad("a client's frames must be masked", at + 1)),
            (Role::Client, true) => {
                return Err(bad("a server's frames must not be masked", at + 1));
            }
            _ => {}
        }
        let len7 = usize::from(b1 & 0x7f);
        let control = opcode >= 8;
        if control && len7 > MAX_CONTROL {
            return Err(bad("a control frame carries at most 125 bytes", at + 1));
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let len = 2 + ext + if masked { 4 } else { 0 };
        if src.len() < 2 + ext {
            return Ok(None);
        }
        let payload = match len7 {
            126 => {
                let n = usize::from(u16::from_be_bytes([src[2], src[3]]));
                if self.cfg.minimal_lengths && n < 126 {
                    return Err(bad("a length below 126 must use the 7-bit form", at + 2));
                }
                n as u64
            }
            127 => {
                let n = u64::from_be_bytes([
                    src[2], src[3], src[4], src[5], src[6], src[7], src[8], src[9],
                ]);
                if n >> 63 != 0 {
                    return Err(bad("the 64-bit length's top bit must be 0", at + 2));
                }
                if self.cfg.minimal_lengths && n < 65_536 {
                    return Err(bad("a length below 65536 must use the 16-bit form", at + 2));
                }
                n
            }
            n => n as u64,
        };
        if payload > self.cfg.max_frame as u64 {
            return Err(FrameError::TooLarge {
                declared: payload,
                max: self.cfg.max_frame as u64,
            });
        }
        let so_far = self.partial.as_ref().map_or(0, |p| p.buf.len()) as u64;
        if !control && so_far + payload > self.cfg.max_message as u64 {
            return Err(FrameError::TooLarge {
                declared: so_far + payload,
                max: self.cfg.max_message as u64,
            });
        }
        if src.len() < len {
            return Ok(None);
        }
        let key = masked.then(|| [src[len - 4], src[len - 3], src[len - 2], src[len - 1]]);
        Ok(Some(Head {
            fin,
            rsv1: b0 & 0x40 != 0,
            opcode,
            len,
            payload: payload as usize,
            key,
        }))
    }

    /// The rules the first byte decides: RSV bits, reserved opcodes, fragmented control
    /// frames, and continuations out of place.
    fn check_first(&self, b0: u8, at: u64) -> Result<(), FrameError> {
        let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0f);
        if b0 & 0x30 != 0 || (b0 & 0x40 != 0 && !self.deflating()) {
            return Err(bad("RSV bits must be 0 (no extension was agreed)", at));
        }
        if b0 & 0x40 != 0 && !matches!(opcode, 1 | 2) {
            return Err(bad(
                "RSV1 is set only on the first frame of a compressed message",
                at,
            ));
        }
        match opcode {
            0 if self.partial.is_none() => Err(bad(
                "a continuation frame without a message to continue",
                at,
            )),
            1 | 2 if self.partial.is_some() => Err(bad(
                "a new data message before the fragmented one ended",
                at,
            )),
            0..=2 => Ok(()),
            8..=10 if !fin => Err(bad("a control frame must not be fragmented", at)),
            8..=10 => Ok(()),
            _ => Err(bad("a reserved opcode", at)),
        }
    }

    /// Whether the frame being received belongs to a compressed message.
    fn is_compressed(&self, head: &Head) -> bool {
        match head.opcode {
            0 => self.partial.as_ref().is_some_and(|p| p.compressed),
            _ => head.rsv1,
        }
    }

    /// Whether the frame being received belongs to a text message.
    fn is_text(&self, head: &Head) -> bool {
        match head.opcode {
            1 => true,
            0 => self.partial.as_ref().is_some_and(|p| p.text),
            _ => false,
        }
    }

    fn step(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        loop {
            let head = match self.head {
                Some(h) => h,
                None => match self.head(src)? {
                    Some(h) => {
                        self.head = Some(h);
                        self.seen = 0;
                        h
                    }
                    None => return Ok(None),
                },
            };
            // unmask (and validate, for text) what has arrived of the payload
            let have = src.len().saturating_sub(head.len).min(head.payload);
            if have > self.seen {
                let new = &mut src[head.len + self.seen..head.len + have];
                if let Some(key) = head.key {
                    unmask(new, key, self.seen);
                }
                // compressed text is checked once inflated
                let plain_text = self.is_text(&head) && !self.is_compressed(&head);
                if plain_text && self.utf8.feed(new).is_err() {
                    return Err(bad(
                        "a text message must be valid UTF-8",
                        self.consumed + (head.len + self.seen) as u64,
                    ));
                }
                self.seen = have;
            }
            if have < head.payload {
                // room for the frame up to 64 KiB, once: not a claim's worth, and no
                // doubling on every call
                let target = head.len + head.payload.min(RESERVE_AHEAD);
                if src.capacity() < target {
                    src.reserve(target - src.len());
                }
                return Ok(None);
            }
            let mut frame = src.split_to(head.len + head.payload);
            self.consumed += frame.len() as u64;
            frame.advance(head.len);
            self.head = None;
            if let Some(m) = self.frame(head, frame)? {
                return Ok(Some(m));
            }
        }
    }

    /// A whole frame: a message, a control frame, or a fragment (`None`).
    fn frame(&mut self, head: Head, payload: BytesMut) -> Result<Option<Message>, FrameError> {
        let at = self.consumed;
        match head.opcode {
            8 => Ok(Some(Message::Close(close_payload(payload.freeze(), at)?))),
            9 => Ok(Some(Message::Ping(payload.freeze()))),
            10 => Ok(Some(Message::Pong(payload.freeze()))),
            op => {
                let text = self.is_text(&head);
                let compressed = self.is_compressed(&head);
                if self.cfg.streaming && !compressed && (!head.fin || self.partial.is_some()) {
                    return self.fragment(op, text, head.fin, payload.freeze());
                }
                if !head.fin {
                    match &mut self.partial {
                        Some(p) => p.buf.extend_from_slice(&payload),
                        None => {
                            self.partial = Some(Partial {
                                text: op == 1,
                                compressed,
                                buf: payload,
                            });
                        }
                    }
                    return Ok(None);
                }
                let whole = match self.partial.take() {
                    Some(mut p) => {
                        p.buf.extend_from_slice(&payload);
                        p.buf.freeze()
                    }
                    None => payload.freeze(),
                };
                #[cfg(feature = "websocket")]
                if compressed {
                    let max = self.cfg.max_message;
                    let d = self
                        .deflate
                        .as_mut()
                        .ok_or_else(|| bad("RSV1 without permessage-deflate", at))?;
                    let whole = d.inflate(&whole, max, at)?;
                    if text && std::str::from_utf8(&whole).is_err() {
                        return Err(bad("a text message must be valid UTF-8", at));
                    }
                    return Ok(Some(if text {
                        Message::Text(whole)
                    } else {
                        Message::Binary(whole)
                    }));
                }
                #[cfg(not(feature = "websocket"))]
                let _ = compressed;
                if text {
                    if !self.utf8.is_complete() {
                        self.utf8 = Utf8::default();
                        return Err(bad(
                            "a text message must be valid UTF-8 (it ends mid-character)",
                            at,
                        ));
                    }
                    Ok(Some(Message::Text(whole)))
                } else {
                    Ok(Some(Message::Binary(whole)))
                }
            }
        }
    }

    /// A frame of a fragmented message handed out as it is ([`Config::streaming`]).
    fn fragment(
        &mut self,
        op: u8,
        text: bool,
        last: bool,
        data: Bytes,
    ) -> Result<Option<Message>, FrameError> {
        let first = self.partial.is_none();
        if first {
            // remembered for the continuation frames; nothing is buffered
            self.partial = Some(Partial {
                text: op == 1,
                compressed: false,
                buf: BytesMut::new(),
            });
        }
        if last {
            self.partial = None;
            if text && !self.utf8.is_complete() {
                self.utf8 = Utf8::default();
                return Err(bad(
                    "a text message must be valid UTF-8 (it ends mid-character)",
                    self.consumed,
                ));
            }
        }
        Ok(Some(Message::Fragment(Fragment {
            text,
            first,
            last,
            data,
        })))
    }
}

/// A close frame's payload: nothing, or a code that may be sent and a UTF-8 reason.
fn close_payload(p: Bytes, at: u64) -> Result<Option<(CloseCode, Bytes)>, FrameError> {
    match p.len() {
        0 => Ok(None),
        1 => Err(bad(
            "a close frame's payload is empty or starts with a 2-byte code",
            at,
        )),
        _ => {
            let code = CloseCode(u16::from_be_bytes([p[0], p[1]]));
            if !code.is_sendable() {
                return Err(bad("a close code that may not be sent", at));
            }
            if std::str::from_utf8(&p[2..]).is_err() {
                return Err(bad("a close reason must be valid UTF-8", at));
            }
            Ok(Some((code, p.slice(2..))))
        }
    }
}

impl Decoder for WebSocketCodec {
    type Item = Message;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        if self.failed {
            return Err(bad("the stream already failed", self.consumed));
        }
        let r = self.step(src);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        match self.decode(src)? {
            Some(m) => Ok(Some(m)),
            None if src.is_empty() && self.partial.is_none() => Ok(None),
            None => Err(FrameError::Truncated {
                phase: if self.head.is_some() {
                    packwire_core::Phase::MidFrame
                } else {
                    packwire_core::Phase::MidHeader
                },
                have: src.len(),
                need: self.head.map(|h| h.len + h.payload),
            }),
        }
    }
}
