//! The encoder: messages and fragments to frames, masked from a client, compressed
//! once permessage-deflate is on.

use std::hash::{BuildHasher, Hasher};

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::EncodeError;
use tokio_util::codec::Encoder;

#[cfg(feature = "websocket")]
use super::DeflateParams;
use super::{CloseCode, MAX_CONTROL, Message, Role, WebSocketCodec, unmask};

impl Encoder<Message> for WebSocketCodec {
    type Error = EncodeError;

    fn encode(&mut self, msg: Message, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let (opcode, payload, close) = match msg {
            Message::Text(b) => {
                if std::str::from_utf8(&b).is_err() {
                    return Err(EncodeError::Invalid {
                        rule: "a text message must be valid UTF-8",
                    });
                }
                (1, b, None)
            }
            Message::Binary(b) => (2, b, None),
            Message::Fragment(f) => {
                let op = match (f.first, f.text) {
                    (false, _) => 0,
                    (true, true) => 1,
                    (true, false) => 2,
                };
                return self.put_frame(dst, f.last, 0, op, &f.data, None);
            }
            Message::Ping(b) => (9, b, None),
            Message::Pong(b) => (10, b, None),
            Message::Close(None) => (8, Bytes::new(), None),
            Message::Close(Some((code, reason))) => {
                if !code.is_sendable() {
                    return Err(EncodeError::Invalid {
                        rule: "a close code that may not be sent",
                    });
                }
                if std::str::from_utf8(&reason).is_err() {
                    return Err(EncodeError::Invalid {
                        rule: "a close reason must be valid UTF-8",
                    });
                }
                (8, reason, Some(code))
            }
        };
        let len = payload.len() + if close.is_some() { 2 } else { 0 };
        if opcode >= 8 && len > MAX_CONTROL {
            return Err(EncodeError::Invalid {
                rule: "a control frame carries at most 125 bytes",
            });
        }
        #[allow(unused_mut)]
        let (mut payload, mut rsv1) = (payload, 0);
        #[cfg(feature = "websocket")]
        if let (Some(d), 1 | 2) = (self.deflate.as_mut(), opcode) {
            payload = d.deflate(&payload);
            rsv1 = 0x40;
        }
        self.put_frame(dst, true, rsv1, opcode, &payload, close)
    }
}

impl WebSocketCodec {
    /// One server frame for `msg`, compressed (permessage-deflate without context
    /// takeover, the window of `window_bits`, `level`) or not: the same bytes serve every
    /// connection that agreed to the same parameters, so a broadcast compresses once.
    ///
    /// # Errors
    /// As [`Encoder::encode`].
    #[cfg(feature = "websocket")]
    pub fn server_frame(msg: Message, deflate: Option<(u8, u32)>) -> Result<Bytes, EncodeError> {
        let mut c = WebSocketCodec::new(Role::Server);
        if let Some((bits, level)) = deflate {
            let p = DeflateParams {
                server_no_context_takeover: true,
                server_max_window_bits: bits,
                ..DeflateParams::default()
            };
            c.set_deflate(p, level);
        }
        let mut out = BytesMut::new();
        c.encode(msg, &mut out)?;
        Ok(out.freeze())
    }

    fn next_key(&mut self) -> [u8; 4] {
        let mut h = self.keys.build_hasher();
        h.write_u64(self.sent);
        self.sent += 1;
        (h.finish() as u32).to_ne_bytes()
    }

    /// Writes one frame (masked from a client).
    fn put_frame(
        &mut self,
        dst: &mut BytesMut,
        fin: bool,
        rsv1: u8,
        opcode: u8,
        payload: &[u8],
        close: Option<CloseCode>,
    ) -> Result<(), EncodeError> {
        let len = payload.len() + if close.is_some() { 2 } else { 0 };
        let masked = self.role == Role::Client;
        dst.reserve(len + 14);
        dst.put_u8(if fin { 0x80 } else { 0 } | rsv1 | opcode);
        let mask_bit = if masked { 0x80 } else { 0 };
        match len {
            0..=125 => dst.put_u8(mask_bit | len as u8),
            126..=65_535 => {
                dst.put_u8(mask_bit | 126);
                dst.put_u16(len as u16);
            }
            _ => {
                dst.put_u8(mask_bit | 127);
                dst.put_u64(len as u64);
            }
        }
        let start = dst.len() + if masked { 4 } else { 0 };
        let key = masked.then(|| self.next_key());
        if let Some(k) = key {
            dst.put_slice(&k);
        }
        if let Some(code) = close {
            dst.put_u16(code.0);
        }
        dst.put_slice(payload);
        if let Some(k) = key {
            unmask(&mut dst[start..], k, 0);
        }
        Ok(())
    }
}
