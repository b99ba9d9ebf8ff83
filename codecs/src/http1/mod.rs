//! HTTP/1.1 (RFC 9112): an incremental, zero-copy, strict codec for servers and clients.
//!
//! Items are events, so bodies of any size stream without being buffered:
//!
//! ```text
//! INPUT (one buffer, two pipelined requests)          EVENTS
//! "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"  Head(POST /a), Data("hello"), End
//! "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"                  Head(GET /b), End
//! ```
//!
//! A head's method, target, reason and fields are spans of the one zero-copy `Bytes` it
//! arrived in (borrowed as `&[u8]`, or as `Bytes` with [`Headers::get_bytes`]), with
//! optional whitespace around values removed. Each line is parsed once, when its line end
//! has arrived, and the reader remembers what it parsed, so a head fed one byte at a time
//! costs O(n) in total (httparse, used the simple way, reparses from byte 0 on every
//! call). Body
//! framing follows RFC 9112 §6.3 and is decided before the head is handed out
//! ([`BodyKind`]).
//!
//! # Strict by default
//!
//! Rejected, each as [`FrameError::Malformed`](packwire_core::FrameError) naming the rule
//! and the stream offset: a bare CR anywhere; a bare LF inside chunked framing (the
//! chunk-size line, after chunk data, trailers); whitespace between a field name and its
//! colon; obs-fold; both Content-Length and Transfer-Encoding (unless
//! [`Config::te_overrides_cl`]: then Transfer-Encoding wins and the connection is not
//! kept alive); differing Content-Length values; a Content-Length that is not plain digits
//! or overflows; a request whose final transfer coding is not chunked; chunked applied
//! twice; a chunk size that overflows; malformed chunk extensions; a method or field name
//! that is not a token; a control character in a field value; a version other than
//! HTTP/1.0 and HTTP/1.1. Over a limit ([`Config`]) is
//! [`FrameError::TooLarge`](packwire_core::FrameError).
//!
//! Accepted: empty lines before a request line; whitespace around field values; obs-text
//! in values; extension methods; lines ending in a bare LF in the head (RFC 9112 §2.2);
//! responses whose Transfer-Encoding does not end in chunked (read until close). A missing
//! Host header is the application's business, not the codec's.
//!
//! # Upgrade and CONNECT
//!
//! After a request with `Connection: upgrade` or the CONNECT method (server side), or a
//! 101 or a 2xx answer to CONNECT (client side), the codec ends the HTTP stream: it hands
//! out the message's End, then returns `Ok(None)` and leaves every following byte in the
//! buffer for the new protocol (take it with `FramedParts`). A server that refuses the
//! upgrade calls `resume()`.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use packwire_codecs::http1::{Event, ServerCodec};
//! use tokio_util::codec::Decoder;
//!
//! let mut codec = ServerCodec::new();
//! let mut buf = BytesMut::from("GET /hello HTTP/1.1\r\nHost: example.com\r\n\r\n");
//! let Some(Event::Head(head)) = codec.decode(&mut buf)? else { panic!() };
//! assert_eq!(head.method(), b"GET");
//! assert_eq!(head.target(), b"/hello");
//! assert_eq!(head.header("host").unwrap(), "example.com");
//! assert!(matches!(codec.decode(&mut buf)?, Some(Event::End)));
//! # Ok::<(), packwire_core::FrameError>(())
//! ```

mod conn;
mod encode;
mod fields;
mod head;
mod scan;

pub use fields::Headers;

use std::collections::VecDeque;
use std::fmt;

use bytes::{Bytes, BytesMut};
use packwire_core::{EncodeError, FrameError};
use tokio_util::codec::{Decoder, Encoder};

use conn::Reader;
use encode::{Writer, version_str};
use head::{Asked, Requests, Responses};

/// The protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// How a message's body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// No body.
    Empty,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Chunked transfer coding, possibly with trailers.
    Chunked,
    /// Everything until the connection closes (responses only).
    UntilClose,
}

/// A request head. The method, target and fields are spans of the one buffer the head
/// arrived in: handing a head out costs no copy and one reference count.
#[derive(Clone)]
#[non_exhaustive]
pub struct RequestHead {
    /// the fields, and the buffer the method and target live in too
    headers: Headers,
    method: [u32; 2],
    target: [u32; 2],
    /// The version.
    pub version: Version,
    /// How the body is framed.
    pub body: BodyKind,
    /// Whether the connection stays open after this message.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a 100 before sending the body.
    pub expect_continue: bool,
    /// CONNECT or `Connection: upgrade`: the stream may stop being HTTP after this message.
    pub upgrade: bool,
}

impl RequestHead {
    /// A request head to encode; the body framing header is written from `body`.
    pub fn new(
        method: impl AsRef<[u8]>,
        target: impl AsRef<[u8]>,
        headers: impl Into<Headers>,
        body: BodyKind,
    ) -> Self {
        let (headers, [method, target]) = headers
            .into()
            .with_parts([method.as_ref(), target.as_ref()]);
        RequestHead {
            headers,
            method,
            target,
            version: Version::Http11,
            body,
            keep_alive: true,
            expect_continue: false,
            upgrade: false,
        }
    }

    /// The method, as sent (methods are case-sensitive).
    #[inline]
    pub fn method(&self) -> &[u8] {
        self.headers.raw(self.method)
    }

    /// The request target, as sent.
    #[inline]
    pub fn target(&self) -> &[u8] {
        self.headers.raw(self.target)
    }

    /// The request target as a zero-copy `Bytes`.
    pub fn target_bytes(&self) -> Bytes {
        self.headers.raw_bytes(self.target)
    }

    /// The header fields.
    #[inline]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of a header, by case-insensitive name (a zero-copy slice).
    pub fn header(&self, name: &str) -> Option<Bytes> {
        self.headers.get_bytes(name)
    }
}

impl PartialEq for RequestHead {
    fn eq(&self, o: &RequestHead) -> bool {
        self.method() == o.method()
            && self.target() == o.target()
            && self.headers == o.headers
            && (self.version, self.body, self.keep_alive) == (o.version, o.body, o.keep_alive)
            && (self.expect_continue, self.upgrade) == (o.expect_continue, o.upgrade)
    }
}

impl Eq for RequestHead {}

impl fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", &String::from_utf8_lossy(self.method()))
            .field("target", &String::from_utf8_lossy(self.target()))
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("keep_alive", &self.keep_alive)
            .field("expect_continue", &self.expect_continue)
            .field("upgrade", &self.upgrade)
            .finish()
    }
}

/// A response head. The reason phrase and fields are spans of the buffer the head arrived
/// in.
#[derive(Clone)]
#[non_exhaustive]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    reason: [u32; 2],
    /// The version.
    pub version: Version,
    headers: Headers,
    /// How the body is framed (already decided from the status and the request method).
    pub body: BodyKind,
    /// Whether the connection stays open after this message.
    pub keep_alive: bool,
    /// A 101, or a 2xx to CONNECT: the stream stops being HTTP after this head.
    pub upgrade: bool,
}

impl ResponseHead {
    /// A response head to encode; the body framing header is written from `body`.
    pub fn new(
        status: u16,
        reason: impl AsRef<[u8]>,
        headers: impl Into<Headers>,
        body: BodyKind,
    ) -> Self {
        let (headers, [reason]) = headers.into().with_parts([reason.as_ref()]);
        ResponseHead {
            status,
            reason,
            version: Version::Http11,
            headers,
            body,
            keep_alive: true,
            upgrade: false,
        }
    }

    /// The reason phrase, as sent.
    #[inline]
    pub fn reason(&self) -> &[u8] {
        self.headers.raw(self.reason)
    }

    /// The header fields.
    #[inline]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of a header, by case-insensitive name (a zero-copy slice).
    pub fn header(&self, name: &str) -> Option<Bytes> {
        self.headers.get_bytes(name)
    }
}

impl PartialEq for ResponseHead {
    fn eq(&self, o: &ResponseHead) -> bool {
        (self.status, self.reason(), self.version) == (o.status, o.reason(), o.version)
            && self.headers == o.headers
            && (self.body, self.keep_alive, self.upgrade) == (o.body, o.keep_alive, o.upgrade)
    }
}

impl Eq for ResponseHead {}

impl fmt::Debug for ResponseHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseHead")
            .field("status", &self.status)
            .field("reason", &String::from_utf8_lossy(self.reason()))
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("keep_alive", &self.keep_alive)
            .field("upgrade", &self.upgrade)
            .finish()
    }
}

/// One piece of a message: its head, body data as it arrives, trailers, its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<H> {
    /// The head; its `body` says what follows.
    Head(H),
    /// Body bytes (chunk boundaries are not preserved: data comes as it arrives).
    Data(Bytes),
    /// The trailer section of a chunked body.
    Trailers(Headers),
    /// The message is complete.
    End,
}

/// Limits and leniency options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The longest request line or status line. Default 8 KiB.
    pub max_request_line: usize,
    /// The longest head (start line and header section). Default 64 KiB.
    pub max_head: usize,
    /// The most header (and trailer) fields. Default 100.
    pub max_headers: usize,
    /// Chunk-extension bytes allowed per message. Default 16 KiB.
    pub max_chunk_ext: usize,
    /// The longest trailer section. Default 16 KiB.
    pub max_trailers: usize,
    /// The largest body [`Collect`] gathers. Default 1 MiB.
    pub max_body: usize,
    /// Accept a message with both Content-Length and Transfer-Encoding: Transfer-Encoding
    /// wins and the connection is not kept alive (RFC 9112 §6.3 item 3). Default: reject.
    pub te_overrides_cl: bool,
    /// Accept a bare LF as the end of a line in the head (start line and header fields),
    /// as RFC 9112 §2.2 lets a recipient do, for peers that need it. Default: reject —
    /// when a proxy in front ends lines only at CRLF, a bare LF lets a request carry a
    /// field (`X: a\nTransfer-Encoding: chunked`) that one side sees and the other does
    /// not: request smuggling. Never accepted inside chunked framing.
    pub allow_bare_lf: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_request_line: 8 * 1024,
            max_head: 64 * 1024,
            max_headers: 100,
            max_chunk_ext: 16 * 1024,
            max_trailers: 16 * 1024,
            max_body: 1024 * 1024,
            te_overrides_cl: false,
            allow_bare_lf: false,
        }
    }
}

/// The server side: decodes requests, encodes responses.
#[derive(Debug)]
pub struct ServerCodec {
    reader: Reader,
    writer: Writer,
    /// requests decoded and final responses encoded so far
    requests: u64,
    responses: u64,
    /// the numbers of the HEAD requests not answered yet (their responses have no body)
    heads: VecDeque<u64>,
}

impl Default for ServerCodec {
    fn default() -> Self {
        Self::new()
    }
}

/// The same [`Config`] and a fresh state (no request in progress, nothing counted): what
/// each new connection needs from a prototype, as in `move || codec.clone()`.
impl Clone for ServerCodec {
    fn clone(&self) -> Self {
        Self::with_config(self.reader.cfg)
    }
}

impl ServerCodec {
    /// A codec with the default [`Config`].
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// A codec with the given limits and options.
    pub fn with_config(cfg: Config) -> Self {
        ServerCodec {
            reader: Reader::new(cfg),
            writer: Writer::new(),
            requests: 0,
            responses: 0,
            heads: VecDeque::new(),
        }
    }

    /// Whether the stream stopped being HTTP (after CONNECT or an upgrade request).
    #[inline]
    pub fn is_upgraded(&self) -> bool {
        self.reader.is_upgraded()
    }

    /// Goes on parsing HTTP after the server refused an upgrade or a CONNECT.
    pub fn resume(&mut self) {
        self.reader.resume();
    }

    /// Counts a decoded request head, remembering HEAD requests.
    #[inline]
    fn saw(&mut self, r: &Result<Option<Event<RequestHead>>, FrameError>) {
        if let Ok(Some(Event::Head(h))) = r {
            // the length first: most methods are not four bytes long
            if h.method[1] - h.method[0] == 4 && h.method() == b"HEAD" {
                self.heads.push_back(self.requests);
            }
            self.requests += 1;
        }
    }
}

impl Decoder for ServerCodec {
    type Item = Event<RequestHead>;
    type Error = FrameError;

    #[inline(always)]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, FrameError> {
        if self.reader.end_due() {
            return Ok(Some(Event::End));
        }
        if self.reader.head_pending(src) {
            return Ok(None);
        }
        let r = self.reader.decode(src, &Requests);
        self.saw(&r);
        r
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, FrameError> {
        let r = self.reader.decode_eof(src, &Requests);
        self.saw(&r);
        r
    }
}

impl Encoder<Event<ResponseHead>> for ServerCodec {
    type Error = EncodeError;

    fn encode(&mut self, ev: Event<ResponseHead>, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match ev {
            Event::Head(h) => {
                if !h.reason().iter().all(|&b| scan::is_field_value_byte(b)) {
                    return Err(EncodeError::Invalid {
                        rule: "a reason phrase must not contain CR, LF or other control characters",
                    });
                }
                let interim = (100..200).contains(&h.status);
                let mut to_head = false;
                if !interim {
                    to_head = self.heads.front() == Some(&self.responses);
                    if to_head {
                        self.heads.pop_front();
                    }
                    self.responses += 1;
                }
                let no_body = interim || h.status == 204 || h.status == 304 || to_head;
                let mut start = format!("{} {:03} ", version_str(h.version), h.status).into_bytes();
                start.extend_from_slice(h.reason());
                self.writer.head(
                    dst,
                    &start,
                    &h.headers,
                    if no_body { BodyKind::Empty } else { h.body },
                    !no_body,
                    true,
                )
            }
            Event::Data(d) => self.writer.data(dst, &d),
            Event::Trailers(t) => self.writer.trailers(dst, &t),
            Event::End => self.writer.end(dst),
        }
    }
}

/// The client side: encodes requests, decodes responses. It remembers each request's
/// method, because HEAD and CONNECT change how the response body is framed.
#[derive(Debug)]
pub struct ClientCodec {
    reader: Reader,
    writer: Writer,
    methods: VecDeque<Asked>,
    /// the method used for a response when no request was recorded
    default_method: Asked,
}

impl Default for ClientCodec {
    fn default() -> Self {
        Self::new()
    }
}

/// The same [`Config`] and default method, and a fresh state (no response in progress,
/// no request methods remembered).
impl Clone for ClientCodec {
    fn clone(&self) -> Self {
        ClientCodec {
            default_method: self.default_method,
            ..Self::with_config(self.reader.cfg)
        }
    }
}

impl ClientCodec {
    /// A codec with the default [`Config`].
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// A codec with the given limits and options.
    pub fn with_config(cfg: Config) -> Self {
        ClientCodec {
            reader: Reader::new(cfg),
            writer: Writer::new(),
            methods: VecDeque::new(),
            default_method: Asked::Other,
        }
    }

    /// The method assumed for a response when no request method was recorded (for reading
    /// captures). Default GET.
    pub fn with_default_method(mut self, method: impl AsRef<[u8]>) -> Self {
        self.default_method = Asked::of(method.as_ref());
        self
    }

    /// Records the method of a request sent some other way, so the response to it is
    /// framed right (the encoder records its own requests).
    pub fn expect_response_to(&mut self, method: impl AsRef<[u8]>) {
        self.methods.push_back(Asked::of(method.as_ref()));
    }

    /// Whether the stream stopped being HTTP (after a 101 or a 2xx to CONNECT).
    #[inline]
    pub fn is_upgraded(&self) -> bool {
        self.reader.is_upgraded()
    }

    /// Decodes with the method of the request the next response answers.
    fn next(
        &mut self,
        src: &mut BytesMut,
        eof: bool,
    ) -> Result<Option<Event<ResponseHead>>, FrameError> {
        let role = Responses(*self.methods.front().unwrap_or(&self.default_method));
        let ev = if eof {
            self.reader.decode_eof(src, &role)?
        } else {
            self.reader.decode(src, &role)?
        };
        Ok(self.event(ev))
    }

    fn event(&mut self, ev: Option<Event<ResponseHead>>) -> Option<Event<ResponseHead>> {
        if let Some(Event::Head(h)) = &ev {
            if !(100..200).contains(&h.status) || h.status == 101 {
                self.methods.pop_front();
            }
        }
        ev
    }
}

impl Decoder for ClientCodec {
    type Item = Event<ResponseHead>;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, FrameError> {
        if self.reader.head_pending(src) {
            return Ok(None);
        }
        self.next(src, false)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, FrameError> {
        self.next(src, true)
    }
}

impl Encoder<Event<RequestHead>> for ClientCodec {
    type Error = EncodeError;

    fn encode(&mut self, ev: Event<RequestHead>, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match ev {
            Event::Head(h) => {
                let (method, target) = (h.method(), h.target());
                if method.is_empty() || !method.iter().all(|&b| scan::is_tchar(b)) {
                    return Err(EncodeError::Invalid {
                        rule: "the method must be a token",
                    });
                }
                if target.is_empty() || !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
                    return Err(EncodeError::Invalid {
                        rule: "the request target must not contain spaces or control characters",
                    });
                }
                if h.body == BodyKind::UntilClose {
                    return Err(EncodeError::Invalid {
                        rule: "a request body cannot be framed by closing the connection",
                    });
                }
                let mut start = Vec::with_capacity(method.len() + target.len() + 10);
                start.extend_from_slice(method);
                start.push(b' ');
                start.extend_from_slice(target);
                start.push(b' ');
                start.extend_from_slice(version_str(h.version).as_bytes());
                self.writer
                    .head(dst, &start, &h.headers, h.body, true, false)?;
                self.methods.push_back(Asked::of(h.method()));
                Ok(())
            }
            Event::Data(d) => self.writer.data(dst, &d),
            Event::Trailers(t) => self.writer.trailers(dst, &t),
            Event::End => self.writer.end(dst),
        }
    }
}

/// A whole message gathered by [`Collect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<H> {
    /// The head.
    pub head: H,
    /// The whole body.
    pub body: Bytes,
    /// The trailers, if the body was chunked and had any.
    pub trailers: Headers,
}

/// Collects each message's events into one [`Message`], refusing bodies over
/// [`Config::max_body`] — a convenience for small APIs.
///
/// ```
/// use bytes::BytesMut;
/// use packwire_codecs::http1::{Collect, ServerCodec};
/// use tokio_util::codec::Decoder;
///
/// let mut codec = Collect::new(ServerCodec::new(), 1024);
/// let mut buf = BytesMut::from("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
/// let msg = codec.decode(&mut buf)?.unwrap();
/// assert_eq!(msg.head.target(), b"/a");
/// assert_eq!(msg.body, "abc");
/// # Ok::<(), packwire_core::FrameError>(())
/// ```
#[derive(Debug)]
pub struct Collect<C, H> {
    inner: C,
    max_body: usize,
    partial: Option<(H, BytesMut, Headers)>,
}

/// A clone of the wrapped codec (fresh state) with the same body limit, and no message
/// being collected.
impl<C: Clone, H> Clone for Collect<C, H> {
    fn clone(&self) -> Self {
        Collect::new(self.inner.clone(), self.max_body)
    }
}

impl<C, H> Collect<C, H> {
    /// Wraps a server or client codec; bodies over `max_body` bytes are an error.
    pub fn new(inner: C, max_body: usize) -> Self {
        Collect {
            inner,
            max_body,
            partial: None,
        }
    }

    /// The wrapped codec.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    fn step(&mut self, ev: Event<H>) -> Result<Option<Message<H>>, FrameError> {
        match ev {
            Event::Head(h) => self.partial = Some((h, BytesMut::new(), Headers::new())),
            Event::Data(d) => {
                if let Some((_, body, _)) = &mut self.partial {
                    if body.len() + d.len() > self.max_body {
                        return Err(FrameError::TooLarge {
                            declared: (body.len() + d.len()) as u64,
                            max: self.max_body as u64,
                        });
                    }
                    body.extend_from_slice(&d);
                }
            }
            Event::Trailers(t) => {
                if let Some((_, _, tr)) = &mut self.partial {
                    *tr = t;
                }
            }
            Event::End => {
                if let Some((head, body, trailers)) = self.partial.take() {
                    return Ok(Some(Message {
                        head,
                        body: body.freeze(),
                        trailers,
                    }));
                }
            }
        }
        Ok(None)
    }
}

impl<C: Decoder<Item = Event<H>, Error = FrameError>, H> Decoder for Collect<C, H> {
    type Item = Message<H>;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message<H>>, FrameError> {
        while let Some(ev) = self.inner.decode(src)? {
            if let Some(m) = self.step(ev)? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message<H>>, FrameError> {
        while let Some(ev) = self.inner.decode_eof(src)? {
            if let Some(m) = self.step(ev)? {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }
}

impl<C, H: Clone> Encoder<Message<H>> for Collect<C, H>
where
    C: Encoder<Event<H>, Error = EncodeError>,
{
    type Error = EncodeError;

    fn encode(&mut self, m: Message<H>, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.inner.encode(Event::Head(m.head), dst)?;
        self.inner.encode(Event::Data(m.body), dst)?;
        if !m.trailers.is_empty() {
            self.inner.encode(Event::Trailers(m.trailers), dst)?;
        }
        self.inner.encode(Event::End, dst)
    }
}
