//! The opening handshake (RFC 6455 section 4) on top of [`crate::http1`], sans-IO: a
//! server checks an Upgrade request and answers 101 (or refuses with an HTTP response
//! that says why); a client builds the request and checks the answer. After a 101 the
//! rest of the stream belongs to [`super::WebSocketCodec`] (the http1 codec stops at an
//! upgrade and leaves the bytes after the head in the buffer).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use sha1::{Digest, Sha1};

use super::deflate::{self, DeflateConfig, DeflateParams};
use crate::http1::{BodyKind, RequestHead, ResponseHead, Version};

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// ```
/// // RFC 6455 section 1.3
/// assert_eq!(
///     packwire_codecs::websocket::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID);
    STANDARD.encode(h.finalize())
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
fn has_token(value: Option<&[u8]>, token: &str) -> bool {
    value.is_some_and(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// The tokens of a comma-separated header value.
fn tokens(value: Option<&[u8]>) -> Vec<String> {
    value
        .map(|v| {
            v.split(|&b| b == b',')
                .map(|t| String::from_utf8_lossy(t.trim_ascii()).into_owned())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// What a server accepts.
#[derive(Debug, Clone, Default)]
pub struct ServerHandshake {
    /// The subprotocols it speaks, most preferred first; the first the client also offers
    /// is chosen.
    pub protocols: Vec<String>,
    /// The origins it accepts (`None`: any, as for non-browser clients).
    pub origins: Option<Vec<String>>,
    /// permessage-deflate, agreed when a client offers it (`None`: never).
    pub deflate: Option<DeflateConfig>,
}

/// A request the server refused: the response to send (then close), and why.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The rule the request broke.
    pub reason: &'static str,
    /// The answer: 400, 403 or 426 (with `Sec-WebSocket-Version: 13`), the reason in the
    /// body.
    pub response: ResponseHead,
}

/// An accepted request: the 101 to send, and what was agreed.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The `101 Switching Protocols` response.
    pub response: ResponseHead,
    /// The subprotocol chosen, if any.
    pub protocol: Option<String>,
    /// permessage-deflate's parameters, when agreed.
    pub deflate: Option<DeflateParams>,
}

fn refuse(status: u16, reason: &'static str) -> Refused {
    let title: &[u8] = match status {
        403 => b"Forbidden",
        426 => b"Upgrade Required",
        _ => b"Bad Request",
    };
    let mut headers: Vec<(&[u8], &[u8])> = vec![(b"Connection", b"close")];
    if status == 426 {
        headers.push((b"Sec-WebSocket-Version", b"13"));
    }
    let mut response = ResponseHead::new(
        status,
        title,
        headers,
        BodyKind::Length(reason.len() as u64),
    );
    response.keep_alive = false;
    Refused { reason, response }
}

impl ServerHandshake {
    /// Checks `req` (method GET, HTTP/1.1, `Upgrade: websocket`, `Connection: upgrade`, a
    /// `Sec-WebSocket-Key` of 16 bytes in base64, `Sec-WebSocket-Version: 13`, the origin)
    /// and answers it.
    ///
    /// # Errors
    /// The [`Refused`] response, naming the rule, for a request that is not a valid
    /// WebSocket upgrade (send its body: the reason as `text/plain`).
    pub fn accept(&self, req: &RequestHead) -> Result<Accepted, Refused> {
        if req.method() != b"GET" {
            return Err(refuse(400, "a WebSocket upgrade must be a GET"));
        }
        if req.version != Version::Http11 {
            return Err(refuse(400, "a WebSocket upgrade needs HTTP/1.1"));
        }
        let h = req.headers();
        if !has_token(h.get("upgrade"), "websocket") {
            return Err(refuse(400, "Upgrade: websocket is missing"));
        }
        if !has_token(h.get("connection"), "upgrade") {
            return Err(refuse(400, "Connection: upgrade is missing"));
        }
        if h.get("sec-websocket-version").map(<[u8]>::trim_ascii) != Some(b"13") {
            return Err(refuse(426, "Sec-WebSocket-Version must be 13"));
        }
        let key = h
            .get("sec-websocket-key")
            .map(<[u8]>::trim_ascii)
            .filter(|k| STANDARD.decode(k).is_ok_and(|d| d.len() == 16))
            .ok_or_else(|| refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64"))?;
        if let Some(allowed) = &self.origins {
            let origin = h
                .get("origin")
                .map(|o| String::from_utf8_lossy(o).into_owned());
            if !origin.is_some_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(&o))) {
                return Err(refuse(403, "the Origin is not allowed"));
            }
        }
        let offered = tokens(h.get("sec-websocket-protocol"));
        let protocol = self
            .protocols
            .iter()
            .find(|p| offered.iter().any(|o| o == *p))
            .cloned();
        let agreed = self
            .deflate
            .as_ref()
            .and_then(|cfg| deflate::negotiate(h.get("sec-websocket-extensions")?, cfg));
        let accept = accept_key(key);
        let mut headers: Vec<(&[u8], &[u8])> = vec![
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", accept.as_bytes()),
        ];
        if let Some(p) = &protocol {
            headers.push((b"Sec-WebSocket-Protocol", p.as_bytes()));
        }
        if let Some((_, answer)) = &agreed {
            headers.push((b"Sec-WebSocket-Extensions", answer.as_bytes()));
        }
        let mut response = ResponseHead::new(101, "Switching Protocols", headers, BodyKind::Empty);
        response.upgrade = true;
        Ok(Accepted {
            response,
            protocol,
            deflate: agreed.map(|(p, _)| p),
        })
    }
}

/// A client's opening request and the key it must see answered.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    /// The request to send.
    pub request: RequestHead,
    key: String,
    protocols: Vec<String>,
    deflate: bool,
}

/// What a server's 101 agreed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreed {
    /// The subprotocol it chose.
    pub protocol: Option<String>,
    /// permessage-deflate's parameters, when it took the offer.
    pub deflate: Option<DeflateParams>,
}

/// Why a server's answer does not complete the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Not a 101.
    #[error("the server answered {0}, not 101")]
    Status(u16),
    /// A 101 without the upgrade headers or with the wrong accept key.
    #[error("the server's 101 is not a WebSocket upgrade: {0}")]
    Invalid(&'static str),
}

impl ClientHandshake {
    /// The request for `target` (a path, `/chat`) at `host`, with a fresh key from
    /// `nonce` (16 random bytes) and the subprotocols offered.
    pub fn new(host: &str, target: &str, nonce: [u8; 16], protocols: &[&str]) -> Self {
        Self::with_deflate(host, target, nonce, protocols, false)
    }

    /// As [`ClientHandshake::new`], offering permessage-deflate when `deflate`.
    pub fn with_deflate(
        host: &str,
        target: &str,
        nonce: [u8; 16],
        protocols: &[&str],
        deflate: bool,
    ) -> Self {
        let key = STANDARD.encode(nonce);
        let offered = protocols.join(", ");
        let mut headers: Vec<(&[u8], &[u8])> = vec![
            (b"Host", host.as_bytes()),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", key.as_bytes()),
            (b"Sec-WebSocket-Version", b"13"),
        ];
        if !protocols.is_empty() {
            headers.push((b"Sec-WebSocket-Protocol", offered.as_bytes()));
        }
        if deflate {
            headers.push((b"Sec-WebSocket-Extensions", b"permessage-deflate"));
        }
        let request = RequestHead::new("GET", target, headers, BodyKind::Empty);
        ClientHandshake {
            request,
            key,
            protocols: protocols.iter().map(|p| (*p).to_owned()).collect(),
            deflate,
        }
    }

    /// Checks the server's answer: what it agreed to.
    ///
    /// # Errors
    /// A [`HandshakeError`] for anything but a valid 101 to this request.
    pub fn check(&self, resp: &ResponseHead) -> Result<Agreed, HandshakeError> {
        if resp.status != 101 {
            return Err(HandshakeError::Status(resp.status));
        }
        let h = resp.headers();
        if !has_token(h.get("upgrade"), "websocket") {
            return Err(HandshakeError::Invalid("Upgrade: websocket is missing"));
        }
        if !has_token(h.get("connection"), "upgrade") {
            return Err(HandshakeError::Invalid("Connection: upgrade is missing"));
        }
        let accept = h.get("sec-websocket-accept").map(<[u8]>::trim_ascii);
        if accept != Some(accept_key(self.key.as_bytes()).as_bytes()) {
            return Err(HandshakeError::Invalid(
                "Sec-WebSocket-Accept does not match the key",
            ));
        }
        let protocol = match h.get("sec-websocket-protocol") {
            None => None,
            Some(p) => {
                let p = String::from_utf8_lossy(p.trim_ascii()).into_owned();
                if !self.protocols.contains(&p) {
                    return Err(HandshakeError::Invalid(
                        "a subprotocol that was not offered",
                    ));
                }
                Some(p)
            }
        };
        let deflate = match h.get("sec-websocket-extensions") {
            None => None,
            Some(_) if !self.deflate => {
                return Err(HandshakeError::Invalid("an extension that was not offered"));
            }
            Some(e) => Some(deflate::accepted(e).ok_or(HandshakeError::Invalid(
                "a permessage-deflate answer the client cannot take",
            ))?),
        };
        Ok(Agreed { protocol, deflate })
    }
}

/// The body of a refusal: its reason.
impl Refused {
    /// The body to send after [`Refused::response`].
    pub fn body(&self) -> Bytes {
        Bytes::from_static(self.reason.as_bytes())
    }
}
