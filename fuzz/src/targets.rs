//! What every fuzz target does, in one place: build a codec, run the test kit's oracles on
//! the fuzzer's bytes, panic with the kit's reproducer on any finding.
//!
//! This file is compiled twice: into the `packwire-fuzz` crate for cargo-fuzz, and into
//! `packwire-codecs`' test suite (`tests/replay.rs`), which replays every committed corpus
//! and regression input through the same oracles on the stable toolchain.

use std::fmt::Debug;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use packwire_codecs::cmpp::{CmppCodec, Version};
use packwire_codecs::http1::{
    BodyKind, ClientCodec, Collect, Event, Message, RequestHead, ServerCodec,
};
use packwire_codecs::length::Oversize;
use packwire_codecs::smpp::SmppCodec;
use packwire_codecs::websocket::{self, Role, WebSocketCodec};
use packwire_codecs::{DelimiterCodec, FixedLengthCodec, LengthFieldCodec, LineCodec, VarintCodec};
use packwire_core::testkit::{ErrorClass, Kit, Run};
use packwire_core::wire::Endian;
use packwire_core::{Checksum, FrameError};
use tokio_util::codec::{Decoder, Encoder};

/// The largest input the targets look at (the fuzzer's `-max_len`).
pub const MAX_INPUT: usize = 4096;

/// The targets, by name: decoders first, then the encoder round trips.
pub const TARGETS: &[&str] = &[
    "length",
    "line",
    "delimiter",
    "fixed",
    "varint",
    "cmpp2",
    "cmpp3",
    "smpp",
    "websocket_server",
    "websocket_client",
    "websocket_deflate",
    "http_request",
    "http_response",
    "http_head_differential",
    "encode_length",
    "encode_line",
    "encode_varint",
];

/// Runs the target `name` on `data`; panics with a reproducer on a finding.
///
/// # Panics
/// On any oracle failure, or for an unknown target name.
pub fn run(name: &str, data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    match name {
        "length" => length(data),
        "line" => line(data),
        "delimiter" => delimiter(data),
        "fixed" => fixed(data),
        "varint" => drop(decode_target(|| VarintCodec::new(1024), data, true)),
        "cmpp2" => cmpp(Version::V20, data),
        "cmpp3" => cmpp(Version::V30, data),
        "smpp" => drop(decode_target(SmppCodec::new, data, true)),
        "websocket_server" => websocket(Role::Server, data),
        "websocket_client" => websocket(Role::Client, data),
        "websocket_deflate" => websocket_deflate(data),
        "http_request" => http_request(data),
        "http_response" => http_response(data),
        "http_head_differential" => http_head_differential(data),
        "encode_length" => encode_length(data),
        "encode_line" => encode_target(LineCodec::new, data),
        "encode_varint" => encode_target(|| VarintCodec::new(300), data),
        other => panic!("unknown fuzz target {other:?}"),
    }
}

/// Cut points for `input`, drawn from `seed` (a splitmix64 stream): the fuzzer controls
/// the seed byte, so it explores chunkings as well as contents.
fn cuts(seed: u8, len: usize) -> Vec<usize> {
    let mut s = u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let n = usize::from(seed % 8);
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as usize % (len + 1)
        })
        .collect()
}

/// Decodes `data[1..]` whole, cut where `data[0]` says and byte at a time (the same items
/// and the same end, no contract violation), then re-encodes every item that the encoder
/// accepts and checks it decodes back to itself.
fn decode_target<D, F>(make: F, data: &[u8], reencode: bool) -> Option<Run<D::Item>>
where
    F: Fn() -> D,
    D: Decoder + Encoder<<D as Decoder>::Item>,
    <D as Decoder>::Item: PartialEq + Debug + Clone,
    <D as Decoder>::Error: ErrorClass,
    <D as Encoder<<D as Decoder>::Item>>::Error: std::fmt::Display,
{
    let (&seed, input) = data.split_first()?;
    let kit = Kit::new(make).random_cases(0);
    let run = kit
        .check_chunking_equivalence(input, &cuts(seed, input.len()))
        .unwrap_or_else(|f| panic!("{f}"));
    if reencode {
        if let Err(f) = kit.check_reencode(&run.items) {
            panic!("{f}");
        }
    }
    Some(run)
}

/// CMPP in one version, and the same input through a codec that follows the login's
/// version ([`CmppCodec::following_connect`]): its layout switches at a CONNECT or
/// CONNECT_RESP, which must not depend on how the stream was cut. (No re-encode check for
/// the following codec: it reads a CONNECT_RESP's layout by length but writes it by the
/// Version field, as an ISMG sets it, so a mismatching pair from the fuzzer would not
/// round-trip by design.)
fn cmpp(v: Version, data: &[u8]) {
    decode_target(|| CmppCodec::new(v), data, true);
    decode_target(|| CmppCodec::new(v).following_connect(), data, false);
}

/// WebSocket for one role: chunking equivalence, then what was decoded goes back the way
/// it came (encoded by the other role, decoded by this one) unchanged.
fn websocket(role: Role, data: &[u8]) {
    let mut cfg = websocket::Config::default();
    cfg.max_frame = 4096;
    cfg.max_message = 8192;
    let make = move || WebSocketCodec::with_config(role, cfg);
    let Some(run) = decode_target(make, data, false) else {
        return;
    };
    let other = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let mut enc = WebSocketCodec::new(other);
    let mut wire = bytes::BytesMut::new();
    for m in &run.items {
        enc.encode(m.clone(), &mut wire)
            .unwrap_or_else(|e| panic!("a decoded message does not encode: {e} ({m:?})"));
    }
    let mut dec = make();
    let mut again = Vec::new();
    while let Some(m) = dec.decode(&mut wire).expect("what was encoded decodes") {
        again.push(m);
    }
    assert_eq!(again, run.items, "a message changed on its way back");
}

/// permessage-deflate, with parameters from the first byte: the fuzzer's bytes as
/// frames to a server that agreed to compression (hostile compressed payloads: chunking
/// equivalence, no panic, no message past the limit), then the rest split at `0xff`
/// into messages compressed by each side and inflated by the other, unchanged.
fn websocket_deflate(data: &[u8]) {
    let Some((&p, rest)) = data.split_first() else {
        return;
    };
    let params = websocket::DeflateParams {
        server_no_context_takeover: p & 1 != 0,
        client_no_context_takeover: p & 2 != 0,
        server_max_window_bits: 9 + (p >> 2) % 7,
        client_max_window_bits: 9 + (p >> 5) % 7,
    };
    let mut cfg = websocket::Config::default();
    cfg.max_frame = 8192;
    cfg.max_message = 8192;
    let codec = move |role| {
        let mut c = WebSocketCodec::with_config(role, cfg);
        c.set_deflate(params, u32::from(p % 10));
        c
    };
    if let Some(run) = decode_target(move || codec(Role::Server), rest, false) {
        for m in &run.items {
            if let websocket::Message::Text(b) | websocket::Message::Binary(b) = m {
                assert!(b.len() <= cfg.max_message, "a message past the limit");
            }
        }
    }
    let messages: Vec<websocket::Message> = rest
        .split(|&b| b == 0xff)
        .map(|m| match std::str::from_utf8(m) {
            Ok(_) => websocket::Message::Text(Bytes::copy_from_slice(m)),
            Err(_) => websocket::Message::Binary(Bytes::copy_from_slice(m)),
        })
        .collect();
    for (from, to) in [(Role::Server, Role::Client), (Role::Client, Role::Server)] {
        let (mut enc, mut dec) = (codec(from), codec(to));
        let mut wire = bytes::BytesMut::new();
        for m in &messages {
            enc.encode(m.clone(), &mut wire)
                .unwrap_or_else(|e| panic!("a message does not encode: {e} ({m:?})"));
        }
        let mut got = Vec::new();
        while let Some(m) = dec.decode(&mut wire).expect("what was compressed inflates") {
            got.push(m);
        }
        assert_eq!(
            got, messages,
            "a message changed through deflate ({from:?} to {to:?})"
        );
    }
}

/// A length codec configured by the first input bytes.
fn length(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let width = [1, 2, 3, 4, 8, 0][usize::from(cfg % 6)];
    let mut b = LengthFieldCodec::builder().max_frame(2048);
    b = if width == 0 {
        b.varint()
    } else {
        b.width(width)
    };
    if cfg & 0x08 != 0 {
        b = b.endian(Endian::Little);
    }
    b = match (cfg >> 4) % 4 {
        0 => b.payload_length(),
        1 => b.frame_length(),
        2 => b.length_adjustment(-2),
        _ => b.length_adjustment(3),
    };
    let strip_header = cfg & 0x40 == 0;
    if strip_header {
        b = b.strip_header();
    } else {
        b = b.strip(usize::from(cfg % 5));
    }
    if cfg & 0x80 != 0 {
        b = b
            .magic(*b"\xa5")
            .offset(1)
            .checksum(Checksum::Crc16Ccitt, 0);
        if cfg & 0x01 != 0 {
            b = b.resync(64);
        }
    } else if cfg & 0x01 != 0 {
        b = b.oversize(Oversize::Skip);
    }
    if b.clone().build().is_err() {
        return;
    }
    let make = || b.clone().build().expect("built once already");
    decode_target(make, rest, strip_header);
}

fn line(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let make = || {
        LineCodec::new()
            .max_length(usize::from(cfg % 64) + 1)
            .keep_delimiter(cfg & 0x40 != 0)
            .discard_overlong(cfg & 0x80 != 0)
    };
    decode_target(make, rest, cfg & 0x40 == 0);
}

fn delimiter(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let sets: [&[&[u8]]; 4] = [
        &[b"\r\n"],
        &[b"||", b"\n"],
        &[b"\r\n\r\n", b"\r", b"ab"],
        &[b"\0"],
    ];
    let set = sets[usize::from(cfg % 4)];
    let make = || {
        DelimiterCodec::new(set)
            .expect("non-empty delimiters")
            .max_length(usize::from(cfg >> 2 & 0x1f) + 1)
            .discard_overlong(cfg & 0x80 != 0)
    };
    decode_target(make, rest, true);
}

fn fixed(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(cfg % 16) + 1;
    decode_target(|| FixedLengthCodec::new(n).expect("n >= 1"), rest, true);
}

/// Frames generated from the input, encoded, cut where the input says, decoded back.
fn encode_target<D, F>(make: F, data: &[u8])
where
    F: Fn() -> D,
    D: Decoder<Item = Bytes, Error = FrameError> + Encoder<Bytes>,
    <D as Encoder<Bytes>>::Error: std::fmt::Display,
{
    let mut u = Unstructured::new(data);
    let Ok((frames, cuts)) = <(Vec<Vec<u8>>, Vec<u16>)>::arbitrary(&mut u) else {
        return;
    };
    // frames the encoder refuses (a delimiter inside, too long) are left out: refusing
    // them is the encoder's job
    let frames: Vec<Bytes> = frames
        .into_iter()
        .map(Bytes::from)
        .filter(|f| {
            make()
                .encode(f.clone(), &mut bytes::BytesMut::new())
                .is_ok()
        })
        .collect();
    let cuts: Vec<usize> = cuts.into_iter().map(usize::from).collect();
    if let Err(f) = Kit::new(make).check_round_trip_once(&frames, &cuts) {
        panic!("{f}");
    }
}

fn encode_length(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let width = [1, 2, 3, 4, 8, 0][usize::from(cfg % 6)];
    let make = || {
        let b = LengthFieldCodec::builder().max_frame(512).strip_header();
        let b = if width == 0 {
            b.varint()
        } else {
            b.width(width)
        };
        let b = if cfg & 0x80 != 0 { b.frame_length() } else { b };
        b.build().expect("a valid configuration")
    };
    encode_target(make, rest);
}

/// At the end of the stream, the bytes after an upgrade (101, CONNECT) belong to the next
/// protocol, not to HTTP: take them out of the buffer so the kit does not count them as a
/// leftover the decoder failed to classify.
struct Handoff<C> {
    inner: C,
    upgraded: fn(&C) -> bool,
}

impl<C: Decoder<Error = FrameError>> Decoder for Handoff<C> {
    type Item = C::Item;
    type Error = FrameError;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<C::Item>, FrameError> {
        self.inner.decode(src)
    }

    fn decode_eof(&mut self, src: &mut bytes::BytesMut) -> Result<Option<C::Item>, FrameError> {
        let r = self.inner.decode_eof(src)?;
        if r.is_none() && (self.upgraded)(&self.inner) {
            src.clear();
        }
        Ok(r)
    }
}

fn server_handoff() -> Handoff<Collect<ServerCodec, RequestHead>> {
    Handoff {
        inner: Collect::new(ServerCodec::new(), 1 << 16),
        upgraded: |c| c.inner().is_upgraded(),
    }
}

/// Requests: chunking equivalence on whole messages, then every decoded request re-encoded
/// by the client encoder decodes on a fresh server to the same message.
fn http_request(data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let kit = Kit::new(server_handoff).random_cases(0);
    let run = kit
        .check_chunking_equivalence(input, &cuts(seed, input.len()))
        .unwrap_or_else(|f| panic!("{f}"));
    for m in run.items {
        let wire = encode_request(&m);
        let back = kit
            .run(&wire, &[])
            .unwrap_or_else(|v| panic!("re-encoded request broke the contract: {v}"));
        if m.head.upgrade {
            continue; // the stream ends after it; the message itself was compared above
        }
        assert_eq!(
            back.items,
            vec![m],
            "a request re-encoded to {:?} decodes differently",
            String::from_utf8_lossy(&wire)
        );
    }
}

fn encode_request(m: &Message<RequestHead>) -> Vec<u8> {
    let mut enc = ClientCodec::new();
    let mut wire = bytes::BytesMut::new();
    let mut head = m.head.clone();
    if head.body == BodyKind::Empty && !m.body.is_empty() {
        head.body = BodyKind::Length(m.body.len() as u64);
    }
    let ok = enc.encode(Event::Head(head), &mut wire).is_ok()
        && enc.encode(Event::Data(m.body.clone()), &mut wire).is_ok()
        && (m.trailers.is_empty()
            || enc
                .encode(Event::Trailers(m.trailers.clone()), &mut wire)
                .is_ok())
        && enc.encode(Event::End, &mut wire).is_ok();
    assert!(ok, "a decoded request could not be re-encoded");
    wire.to_vec()
}

/// Responses, with the request methods chosen by the first byte.
fn http_response(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let Some((&seed, input)) = rest.split_first() else {
        return;
    };
    let methods: Vec<&'static str> = (0..4)
        .map(|i| ["GET", "HEAD", "CONNECT", "POST"][usize::from(cfg >> (2 * i) & 3)])
        .collect();
    // the last method applies to every later response, as in `packwire decode`
    let make = || {
        let mut c = ClientCodec::new().with_default_method(methods[methods.len() - 1]);
        for m in &methods {
            c.expect_response_to(*m);
        }
        Handoff {
            inner: Collect::new(c, 1 << 16),
            upgraded: |c| c.inner().is_upgraded(),
        }
    };
    // a response read until close ends cleanly at EOF without consuming: allowed
    let run = Kit::new(make)
        .random_cases(0)
        .allow_empty_items()
        .check_chunking_equivalence(input, &cuts(seed, input.len()))
        .unwrap_or_else(|f| panic!("{f}"));
    // round trip: each response re-encoded by the server encoder decodes, for the same
    // request method, to the same message (framing headers the encoder adds aside)
    let mut final_index = 0;
    for m in run.items {
        let interim = (100..200).contains(&m.head.status) && m.head.status != 101;
        let method = methods
            .get(final_index)
            .copied()
            .unwrap_or(methods[methods.len() - 1]);
        if !interim {
            final_index += 1;
        }
        if m.head.upgrade {
            continue;
        }
        let mut enc = ServerCodec::new();
        if method == "HEAD" {
            let mut req = bytes::BytesMut::from(&b"HEAD / HTTP/1.1\r\n\r\n"[..]);
            while let Ok(Some(_)) = enc.decode(&mut req) {}
        }
        let mut wire = bytes::BytesMut::new();
        let ok = enc.encode(Event::Head(m.head.clone()), &mut wire).is_ok()
            && enc.encode(Event::Data(m.body.clone()), &mut wire).is_ok()
            && (m.trailers.is_empty()
                || enc
                    .encode(Event::Trailers(m.trailers.clone()), &mut wire)
                    .is_ok())
            && enc.encode(Event::End, &mut wire).is_ok();
        assert!(ok, "a decoded response could not be re-encoded");
        let mut dec = Collect::new(ClientCodec::new().with_default_method(method), 1 << 16);
        let back = match dec.decode(&mut wire) {
            Ok(Some(b)) => b,
            Ok(None) => dec
                .decode_eof(&mut wire)
                .ok()
                .flatten()
                .expect("the re-encoded response decodes"),
            Err(e) => panic!("the re-encoded response fails: {e}"),
        };
        let framing = |n: &[u8]| {
            n.eq_ignore_ascii_case(b"content-length")
                || n.eq_ignore_ascii_case(b"transfer-encoding")
        };
        let fields = |h: &packwire_codecs::http1::Headers| {
            h.iter()
                .filter(|(n, _)| !framing(n))
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            (back.head.status, back.head.reason(), back.head.version),
            (m.head.status, m.head.reason(), m.head.version),
            "status line"
        );
        assert_eq!(
            fields(back.head.headers()),
            fields(m.head.headers()),
            "header fields"
        );
        assert_eq!(back.body, m.body, "body");
        assert_eq!(back.trailers, m.trailers, "trailers");
    }
}

/// Request heads that both httparse and packwire accept must agree on method, target,
/// version and header fields; and every head packwire accepts must pass an independent
/// strict reading of RFC 9112's grammar.
fn http_head_differential(data: &[u8]) {
    let mut c = ServerCodec::new();
    let mut buf = bytes::BytesMut::from(data);
    let Ok(Some(Event::Head(ours))) = c.decode(&mut buf) else {
        return;
    };
    let head_len = data.len() - buf.len();
    let head = &data[..head_len];
    assert!(
        strict_request_head(head),
        "packwire accepted a head a strict RFC 9112 reading refuses: {:?}",
        String::from_utf8_lossy(head)
    );
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut theirs = httparse::Request::new(&mut fields);
    if let Ok(httparse::Status::Complete(_)) = theirs.parse(head) {
        assert_eq!(
            theirs.method.map(str::as_bytes),
            Some(ours.method()),
            "method"
        );
        assert_eq!(
            theirs.path.map(str::as_bytes),
            Some(ours.target()),
            "target"
        );
        let v = if ours.version == packwire_codecs::http1::Version::Http11 {
            1
        } else {
            0
        };
        assert_eq!(theirs.version, Some(v), "version");
        assert_eq!(theirs.headers.len(), ours.headers().len(), "header count");
        for (t, (n, v)) in theirs.headers.iter().zip(ours.headers().iter()) {
            assert_eq!(t.name.as_bytes(), n, "header name");
            assert_eq!(t.value.trim_ascii(), v, "header value");
        }
    }
}

/// An independent reading of RFC 9112 §3 and §5 for a request head (leading empty lines
/// allowed; lines may end in CRLF or, per §2.2, LF): request-line = method SP
/// request-target SP HTTP-version; field-line = field-name ":" OWS field-value OWS.
fn strict_request_head(head: &[u8]) -> bool {
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest = head;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..i];
        lines.push(line.strip_suffix(b"\r").unwrap_or(line));
        rest = &rest[i + 1..];
    }
    if !rest.is_empty() {
        return false;
    }
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let lines = &lines[start..];
    let Some((request_line, fields)) = lines.split_first() else {
        return false;
    };
    let Some((last, fields)) = fields.split_last() else {
        return false;
    };
    let tchar = |b: &u8| b"!#$%&'*+-.^_`|~".contains(b) || b.is_ascii_alphanumeric();
    let parts: Vec<&[u8]> = request_line.split(|&b| b == b' ').collect();
    let [method, target, version] = parts[..] else {
        return false;
    };
    let ok_line = !method.is_empty()
        && method.iter().all(tchar)
        && !target.is_empty()
        && target.iter().all(|b| (0x21..=0x7e).contains(b))
        && (version == b"HTTP/1.1" || version == b"HTTP/1.0");
    ok_line
        && last.is_empty()
        && fields.iter().all(|f| {
            let Some(colon) = f.iter().position(|&b| b == b':') else {
                return false;
            };
            let (name, value) = (&f[..colon], &f[colon + 1..]);
            !name.is_empty()
                && name.iter().all(tchar)
                && value
                    .iter()
                    .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
        })
}
