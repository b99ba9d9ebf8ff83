//! `--codec websocket:role=server|client`: WebSocket messages as JSON.

use bytes::BytesMut;
use packwire_codecs::websocket::{Message, WebSocketCodec};
use packwire_core::FrameError;
use serde_json::{Value, json};
use tokio_util::codec::Decoder;

use crate::spec::{JsonDecoder, hex};

/// The WebSocket codec, printing each message.
pub(crate) struct WsJson(pub(crate) WebSocketCodec);

fn message(m: &Message) -> Value {
    match m {
        Message::Text(t) => {
            json!({"type": "text", "len": t.len(), "text": String::from_utf8_lossy(t)})
        }
        Message::Binary(b) => json!({"type": "binary", "len": b.len(), "hex": hex(b)}),
        Message::Ping(b) => json!({"type": "ping", "len": b.len(), "hex": hex(b)}),
        Message::Pong(b) => json!({"type": "pong", "len": b.len(), "hex": hex(b)}),
        Message::Close(None) => json!({"type": "close"}),
        Message::Close(Some((code, reason))) => {
            json!({"type": "close", "code": code.0, "reason": String::from_utf8_lossy(reason)})
        }
        Message::Fragment(f) => json!({
            "type": "fragment", "text": f.text, "first": f.first, "last": f.last,
            "len": f.data.len(), "hex": hex(&f.data),
        }),
    }
}

impl JsonDecoder for WsJson {
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode(src)?.as_ref().map(message))
    }
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode_eof(src)?.as_ref().map(message))
    }
}
