//! `--codec http-request` / `http-response[:methods=HEAD/GET/...]`: whole HTTP messages as
//! JSON, names and values shown losslessly (each byte as the Latin-1 character).

use base64::Engine;
use bytes::{Bytes, BytesMut};
use packwire_codecs::http1::{
    ClientCodec, Collect, Headers, Message, RequestHead, ResponseHead, ServerCodec, Version,
};
use packwire_core::FrameError;
use serde_json::{Map, Value, json};
use tokio_util::codec::Decoder;

use crate::spec::JsonDecoder;

fn latin1(b: &[u8]) -> Value {
    Value::String(b.iter().map(|&c| char::from(c)).collect())
}

fn headers(h: &Headers) -> Value {
    Value::Array(
        h.iter()
            .map(|(n, v)| json!([latin1(n), latin1(v)]))
            .collect(),
    )
}

fn version(v: Version) -> &'static str {
    match v {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    }
}

fn finish(mut o: Map<String, Value>, body: &Bytes, trailers: &Headers) -> Value {
    o.insert(
        "body_b64".into(),
        json!(base64::engine::general_purpose::STANDARD.encode(body)),
    );
    if !trailers.is_empty() {
        o.insert("trailers".into(), headers(trailers));
    }
    Value::Object(o)
}

fn request(m: Message<RequestHead>) -> Value {
    let mut o = Map::new();
    o.insert("method".into(), latin1(m.head.method()));
    o.insert("target".into(), latin1(m.head.target()));
    o.insert("version".into(), json!(version(m.head.version)));
    o.insert("headers".into(), headers(m.head.headers()));
    finish(o, &m.body, &m.trailers)
}

fn response(m: Message<ResponseHead>) -> Value {
    let mut o = Map::new();
    o.insert("status".into(), json!(m.head.status));
    o.insert("reason".into(), latin1(m.head.reason()));
    o.insert("version".into(), json!(version(m.head.version)));
    o.insert("headers".into(), headers(m.head.headers()));
    finish(o, &m.body, &m.trailers)
}

/// The largest body the CLI collects.
const MAX_BODY: usize = 64 * 1024 * 1024;

pub(crate) struct Requests(Collect<ServerCodec, RequestHead>);

impl Requests {
    pub(crate) fn new() -> Self {
        Requests(Collect::new(ServerCodec::new(), MAX_BODY))
    }
}

impl JsonDecoder for Requests {
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode(src)?.map(request))
    }
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode_eof(src)?.map(request))
    }
}

pub(crate) struct Responses(Collect<ClientCodec, ResponseHead>);

impl Responses {
    /// `methods`: the request method of each final response in order; the last one applies
    /// to the rest.
    pub(crate) fn new(methods: &[String]) -> Self {
        let last = methods.last().cloned().unwrap_or_else(|| "GET".into());
        let mut c = ClientCodec::new().with_default_method(Bytes::from(last));
        for m in methods {
            c.expect_response_to(Bytes::from(m.clone()));
        }
        Responses(Collect::new(c, MAX_BODY))
    }
}

impl JsonDecoder for Responses {
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode(src)?.map(response))
    }
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode_eof(src)?.map(response))
    }
}
