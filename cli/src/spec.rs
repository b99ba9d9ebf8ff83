//! `--codec SPEC`: a codec name and `key=value` options, e.g. `length:size=2,strip=2`.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use packwire_codecs::cmpp::{CmppCodec, Version};
use packwire_codecs::smpp::SmppCodec;
use packwire_codecs::{DelimiterCodec, FixedLengthCodec, LengthFieldCodec, LineCodec, VarintCodec};
use packwire_core::wire::Endian;
use packwire_core::{FrameError, Limits};
use serde_json::{Value, json};
use tokio_util::codec::{Decoder, Encoder};

use crate::cmpp_json::CmppJson;
use crate::http_json::{Requests, Responses};
use crate::smpp_json::SmppJson;

/// The SPEC grammar, for `--help`.
pub(crate) const SPEC_HELP: &str = "\
SPEC is NAME or NAME:KEY=VALUE,KEY=VALUE (unknown keys are an error):
  length:offset=0,size=4,adjust=0,strip=header,endian=be,max=8388608,min=0
      size is 1, 2, 3, 4, 8 or varint; endian is be or le; adjust is Netty's
      lengthAdjustment (frame = field + adjust + offset + size); max and min are
      compared to the whole frame on the wire; strip leading bytes from each item
      (header: up to the end of the length field, as LengthFieldCodec::new(); 0 keeps
      the whole frame)
  lines | lines:max=8192,keep=false
      lines ending in \\n or \\r\\n; max excludes the delimiter
  delimiter:hex=0d0a/2c2c,max=8192,keep=false
      any of several delimiters given in hex, separated by /; the earliest wins
  fixed:size=N
  varint:max=8388608
      protobuf varint length prefix; max bounds the payload
  http-request
      HTTP/1.1 requests, one JSON object per whole message
  http-response | http-response:methods=HEAD/GET
      HTTP/1.1 responses; methods are the requests' methods in order (1xx responses use
      none; the last applies to the rest; default GET)
  cmpp2 | cmpp3 | cmpp3:max=4096
      CMPP 2.0 / 3.0 PDUs in that version's layout (status reports by their length)
  smpp | smpp:max=73728
      SMPP 3.4 PDUs, TLVs by name
  websocket:role=server | websocket:role=client,max=16777216
      WebSocket messages after the handshake, as the server (masked frames) or the
      client (unmasked) reads them; max bounds a frame";

/// A decoder that prints its items as JSON.
pub(crate) trait JsonDecoder {
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError>;
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError>;
}

/// One of the framing codecs, chosen at run time.
#[derive(Debug, Clone)]
pub(crate) enum Framing {
    Length(LengthFieldCodec),
    Lines(LineCodec),
    Delimiter(DelimiterCodec),
    Fixed(FixedLengthCodec),
    Varint(VarintCodec),
}

macro_rules! each {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            Framing::Length($c) => $e,
            Framing::Lines($c) => $e,
            Framing::Delimiter($c) => $e,
            Framing::Fixed($c) => $e,
            Framing::Varint($c) => $e,
        }
    };
}

impl Decoder for Framing {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        each!(self, c => c.decode(src))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        each!(self, c => c.decode_eof(src))
    }
}

impl Encoder<Bytes> for Framing {
    type Error = packwire_core::EncodeError;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut BytesMut,
    ) -> Result<(), packwire_core::EncodeError> {
        each!(self, c => c.encode(item, dst))
    }
}

/// Any framing: items print as `{"len": N, "hex": "..."}`.
struct Frames<D>(D);

fn frame_json(f: Bytes) -> Value {
    json!({ "len": f.len(), "hex": hex(&f) })
}

pub(crate) fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

impl<D: Decoder<Item = Bytes, Error = FrameError>> JsonDecoder for Frames<D> {
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode(src)?.map(frame_json))
    }
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Value>, FrameError> {
        Ok(self.0.decode_eof(src)?.map(frame_json))
    }
}

struct Opts<'a> {
    codec: &'a str,
    map: BTreeMap<&'a str, &'a str>,
}

impl<'a> Opts<'a> {
    fn parse(codec: &'a str, rest: Option<&'a str>) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for kv in rest
            .into_iter()
            .flat_map(|r| r.split(','))
            .filter(|s| !s.is_empty())
        {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("{codec}: option {kv:?} is not KEY=VALUE"))?;
            if map.insert(k, v).is_some() {
                return Err(format!("{codec}: option {k:?} given twice"));
            }
        }
        Ok(Opts { codec, map })
    }

    fn take(&mut self, key: &str) -> Option<&'a str> {
        self.map.remove(key)
    }

    fn num<T: std::str::FromStr>(&mut self, key: &str, default: T) -> Result<T, String> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("{}: {key}={v} is not a valid number", self.codec)),
        }
    }

    fn flag(&mut self, key: &str) -> Result<bool, String> {
        match self.take(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(format!("{}: {key}={v} must be true or false", self.codec)),
        }
    }

    fn done(self) -> Result<(), String> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!("{}: unknown option {k:?}", self.codec)),
        }
    }
}

/// Builds the decoder a SPEC names.
pub(crate) fn parse(spec: &str) -> Result<Box<dyn JsonDecoder>, String> {
    let (name, rest) = match spec.split_once(':') {
        Some((n, r)) => (n, Some(r)),
        None => (spec, None),
    };
    if let Some(f) = framing(spec)? {
        return Ok(Box::new(Frames(f)));
    }
    let mut o = Opts::parse(name, rest)?;
    let dec: Box<dyn JsonDecoder> = match name {
        "http-request" => Box::new(Requests::new()),
        "http-response" => {
            let methods: Vec<String> = o
                .take("methods")
                .map(|m| {
                    m.split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            Box::new(Responses::new(&methods))
        }
        "cmpp2" | "cmpp3" => {
            let v = if name == "cmpp3" {
                Version::V30
            } else {
                Version::V20
            };
            let max = o.num("max", CmppCodec::DEFAULT_MAX_PDU)?;
            Box::new(CmppJson(CmppCodec::with_max_pdu(v, max)))
        }
        "smpp" => {
            let max = o.num("max", SmppCodec::DEFAULT_MAX_PDU)?;
            Box::new(SmppJson(SmppCodec::with_max_pdu(max)))
        }
        "websocket" => {
            let role = match o.take("role") {
                Some("server") => packwire_codecs::websocket::Role::Server,
                Some("client") => packwire_codecs::websocket::Role::Client,
                other => {
                    return Err(format!(
                        "websocket: role={} must be server or client",
                        other.unwrap_or("")
                    ));
                }
            };
            let mut cfg = packwire_codecs::websocket::Config::default();
            cfg.max_frame = o.num("max", cfg.max_frame)?;
            Box::new(crate::ws_json::WsJson(
                packwire_codecs::websocket::WebSocketCodec::with_config(role, cfg),
            ))
        }
        other => {
            return Err(format!(
                "unknown codec {other:?}: expected length, lines, delimiter, fixed, varint, http-request, http-response, cmpp2, cmpp3, smpp or websocket"
            ));
        }
    };
    o.done()?;
    Ok(dec)
}

/// Builds the framing codec a SPEC names (`None` for a protocol name).
pub(crate) fn framing(spec: &str) -> Result<Option<Framing>, String> {
    let (name, rest) = match spec.split_once(':') {
        Some((n, r)) => (n, Some(r)),
        None => (spec, None),
    };
    let mut o = Opts::parse(name, rest)?;
    let cfg = |e: packwire_core::ConfigError| format!("{name}: {e}");
    let codec = match name {
        "length" => {
            let mut b = LengthFieldCodec::builder()
                .offset(o.num("offset", 0)?)
                .length_adjustment(o.num("adjust", 0)?)
                .strip_header()
                .max_frame(o.num("max", Limits::DEFAULT_MAX_FRAME)?)
                .min_frame(o.num("min", 0)?);
            b = match o.take("strip") {
                None | Some("header") => b,
                Some(n) => b.strip(n.parse().map_err(|_| {
                    format!("length: strip={n} must be a number of bytes or header")
                })?),
            };
            b = match o.take("size") {
                Some("varint") => b.varint(),
                Some(n) => b
                    .width(n.parse().map_err(|_| {
                        format!("length: size={n} must be 1, 2, 3, 4, 8 or varint")
                    })?),
                None => b.width(4),
            };
            b = match o.take("endian") {
                None | Some("be") => b.endian(Endian::Big),
                Some("le") => b.endian(Endian::Little),
                Some(v) => return Err(format!("length: endian={v} must be be or le")),
            };
            Framing::Length(b.build().map_err(cfg)?)
        }
        "lines" => {
            let c = LineCodec::new()
                .max_length(o.num("max", Limits::DEFAULT_MAX_LINE)?)
                .keep_delimiter(o.flag("keep")?);
            Framing::Lines(c)
        }
        "delimiter" => {
            let hexes = o.take("hex").ok_or("delimiter: hex=... is required")?;
            let delims = hexes
                .split('/')
                .map(unhex)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("delimiter: {e}"))?;
            let c = DelimiterCodec::new(delims)
                .map_err(cfg)?
                .max_length(o.num("max", Limits::DEFAULT_MAX_LINE)?)
                .keep_delimiter(o.flag("keep")?);
            Framing::Delimiter(c)
        }
        "fixed" => {
            let size = o.take("size").ok_or("fixed: size=N is required")?;
            let size = size
                .parse()
                .map_err(|_| format!("fixed: size={size} is not a number"))?;
            Framing::Fixed(FixedLengthCodec::new(size).map_err(cfg)?)
        }
        "varint" => Framing::Varint(VarintCodec::new(o.num("max", Limits::DEFAULT_MAX_FRAME)?)),
        _ => return Ok(None),
    };
    o.done()?;
    Ok(Some(codec))
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() || s.len() % 2 != 0 {
        return Err(format!("{s:?} is not an even number of hex digits"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("{s:?} is not hex")))
        .collect()
}
