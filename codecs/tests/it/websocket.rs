//! The WebSocket codec through the test kit (every split of the stream, byte at a time),
//! the tests named after the Autobahn|Testsuite case groups they stand in for (it needs
//! Python 2.7, which these machines cannot install). Frames are written here by hand,
//! not by the codec's encoder.

use bytes::{Bytes, BytesMut};
use packwire_codecs::websocket::{CloseCode, Config, Message, Role, WebSocketCodec, close_code};
use packwire_core::testkit::Kit;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame: FIN, RSV bits (0-7), opcode, payload, masked with `KEY` when `mask`.
fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let m = if mask { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => f.push(m | n as u8),
        n @ 126..=65_535 => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        f.extend_from_slice(&KEY);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// A frame from a client (masked).
fn c(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, payload, true)
}

fn server() -> Kit<impl Fn() -> WebSocketCodec> {
    Kit::new(|| WebSocketCodec::new(Role::Server))
}

fn text(s: &str) -> Message {
    Message::text(s)
}

fn bin(b: &[u8]) -> Message {
    Message::Binary(Bytes::copy_from_slice(b))
}

#[test]
fn case_1_framing_text_and_binary_of_every_length_form() {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for n in [0usize, 1, 125, 126, 127, 128, 1000] {
        let t = "a".repeat(n);
        wire.extend(c(true, 1, t.as_bytes()));
        expected.push(text(&t));
        let b: Vec<u8> = (0..n).map(|i| i as u8).collect();
        wire.extend(c(true, 2, &b));
        expected.push(bin(&b));
    }
    server().allow_empty_items().decodes(&wire, &expected);
    // the 16-bit form's largest and the 64-bit form's smallest, in random cuts
    let (mut wire, mut expected) = (Vec::new(), Vec::new());
    for n in [65_535usize, 65_536] {
        let b: Vec<u8> = (0..n).map(|i| i as u8).collect();
        wire.extend(c(true, 2, &b));
        expected.push(bin(&b));
    }
    server().every_split_max(0).decodes(&wire, &expected);
    // a client reads unmasked frames
    let wire = frame(true, 0, 1, b"hi", false);
    Kit::new(|| WebSocketCodec::new(Role::Client)).decodes(&wire, &[text("hi")]);
}

#[test]
fn case_1_masking_is_required_one_way_and_refused_the_other() {
    server().rejects(
        &frame(true, 0, 1, b"hi", false),
        &[],
        "malformed: a client's frames must be masked",
    );
    Kit::new(|| WebSocketCodec::new(Role::Client)).rejects(
        &c(true, 1, b"hi"),
        &[],
        "malformed: a server's frames must not be masked",
    );
}

#[test]
fn case_1_lengths_in_their_shortest_form_only_unless_configured() {
    // 5 bytes written with the 16-bit length
    let mut f = vec![0x81, 0x80 | 126, 0, 5];
    f.extend_from_slice(&KEY);
    f.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    server().rejects(
        &f,
        &[],
        "malformed: a length below 126 must use the 7-bit form",
    );
    let mut lenient = Config::default();
    lenient.minimal_lengths = false;
    Kit::new(move || WebSocketCodec::with_config(Role::Server, lenient))
        .decodes(&f, &[text("hello")]);
    // the 64-bit length's top bit
    let mut f = vec![0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
    f.extend_from_slice(&KEY);
    server().rejects(&f, &[], "malformed: the 64-bit length's top bit must be 0");
}

#[test]
fn case_2_pings_and_pongs_with_payloads_up_to_125_bytes() {
    let mut wire = c(true, 9, b"");
    wire.extend(c(true, 9, &[0xfe; 125]));
    wire.extend(c(true, 10, b"unsolicited"));
    server().allow_empty_items().decodes(
        &wire,
        &[
            Message::Ping(Bytes::new()),
            Message::Ping(Bytes::from(vec![0xfe; 125])),
            Message::Pong(Bytes::from_static(b"unsolicited")),
        ],
    );
    // 2.5: a ping of 126 bytes fails as soon as its length is read
    let mut wire = c(true, 1, b"first");
    wire.extend(c(true, 9, &[0; 126]));
    server().rejects(
        &wire,
        &[text("first")],
        "malformed: a control frame carries at most 125",
    );
}

#[test]
fn case_3_reserved_bits_fail_the_connection() {
    for rsv in 1..8 {
        let mut wire = c(true, 1, b"ok");
        wire.extend(frame(true, rsv, 1, b"hello", true));
        wire.extend(c(true, 1, b"never"));
        server().rejects(&wire, &[text("ok")], "malformed: RSV bits must be 0");
    }
}

#[test]
fn case_4_reserved_opcodes_fail_the_connection() {
    for op in (3..=7).chain(0xb..=0xf) {
        let mut wire = c(true, 1, b"ok");
        wire.extend(c(true, op, b""));
        server().rejects(&wire, &[text("ok")], "malformed: a reserved opcode");
    }
}

#[test]
fn case_5_fragments_with_control_frames_between_them() {
    let mut wire = c(false, 1, b"frag");
    wire.extend(c(true, 9, b"mid"));
    wire.extend(c(false, 0, b"men"));
    wire.extend(c(true, 10, b""));
    wire.extend(c(true, 0, b"ted"));
    wire.extend(c(false, 2, &[1, 2]));
    wire.extend(c(true, 0, &[3]));
    // (a stream that ends between fragments is truncated: no clean end there)
    server().without_eof_check().allow_empty_items().decodes(
        &wire,
        &[
            Message::Ping(Bytes::from_static(b"mid")),
            Message::Pong(Bytes::new()),
            text("fragmented"),
            bin(&[1, 2, 3]),
        ],
    );
}

#[test]
fn case_5_fragmentation_out_of_order_fails() {
    server().rejects(
        &c(true, 0, b"x"),
        &[],
        "malformed: a continuation frame without a message to continue",
    );
    let mut wire = c(false, 1, b"a");
    wire.extend(c(true, 1, b"b"));
    server().rejects(
        &wire,
        &[],
        "malformed: a new data message before the fragmented one ended",
    );
    server().rejects(
        &c(false, 9, b"p"),
        &[],
        "malformed: a control frame must not be fragmented",
    );
}

#[test]
fn case_6_utf8_is_checked_across_fragments_and_cut_characters() {
    let s = "κόσμε 你好 🎉";
    let b = s.as_bytes();
    // every cut of the text into two fragments, characters cut too
    for cut in 0..=b.len() {
        let mut wire = c(false, 1, &b[..cut]);
        wire.extend(c(true, 0, &b[cut..]));
        server().decodes(&wire, &[text(s)]);
    }
    // invalid at the end of the message: a cut character never completed
    let mut wire = c(false, 1, &b[..b.len() - 1]);
    wire.extend(c(true, 0, b""));
    server().rejects(&wire, &[], "malformed: a text message must be valid UTF-8");
    // invalid sequences
    for bad in [
        &[0xc0, 0x80][..],
        &[0xed, 0xa0, 0x80],
        &[0xf4, 0x90, 0x80, 0x80],
        &[0xff],
    ] {
        server().rejects(
            &c(true, 1, bad),
            &[],
            "malformed: a text message must be valid UTF-8",
        );
    }
    // binary is not text
    server().decodes(&c(true, 2, &[0xff]), &[bin(&[0xff])]);
}

#[test]
fn case_6_4_an_invalid_byte_fails_before_the_rest_of_its_frame_arrives() {
    // 6.4.1: a text frame whose first bytes are valid, then F4 90 (beyond U+10FFFF); the
    // frame claims 1,000 bytes and only 20 have come
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend([0xf4, 0x90, 0x80, 0x80]);
    payload.resize(1000, b'a');
    let wire = c(true, 1, &payload);
    let mut codec = WebSocketCodec::new(Role::Server);
    let mut buf = BytesMut::from(&wire[..2 + 2 + 4 + 11]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None, "valid so far");
    buf.extend_from_slice(&wire[19..21]);
    let e = codec.decode(&mut buf).unwrap_err();
    assert_eq!(close_code(&e), CloseCode::INVALID_DATA);
    // and across fragments: the first fragment whole and valid, the second fails early
    let mut codec = WebSocketCodec::new(Role::Server);
    let mut wire = c(false, 1, "κόσμε".as_bytes());
    wire.extend(c(true, 0, &payload[10..]));
    let mut buf = BytesMut::from(&wire[..wire.len() - 900]);
    let e = codec.decode(&mut buf).unwrap_err();
    assert_eq!(e.rule(), Some("a text message must be valid UTF-8"));
}

fn streaming() -> Kit<impl Fn() -> WebSocketCodec> {
    let mut cfg = Config::default();
    cfg.streaming = true;
    Kit::new(move || WebSocketCodec::with_config(Role::Server, cfg))
}

fn frag(text: bool, first: bool, last: bool, data: &[u8]) -> Message {
    Message::Fragment(packwire_codecs::websocket::Fragment {
        text,
        first,
        last,
        data: Bytes::copy_from_slice(data),
    })
}

/// Streaming (`Config::streaming`): a fragmented message comes frame by frame, control
/// frames between its fragments, UTF-8 checked as it comes; an unfragmented one whole.
#[test]
fn case_5_streaming_hands_out_each_fragment_as_it_comes() {
    let s = "κόσμε 你好";
    let b = s.as_bytes();
    let mut wire = c(false, 1, &b[..3]); // cut inside a character
    wire.extend(c(true, 9, b"mid"));
    wire.extend(c(false, 0, &b[3..9]));
    wire.extend(c(true, 0, &b[9..]));
    wire.extend(c(true, 2, &[7]));
    wire.extend(c(false, 2, &[1, 2]));
    wire.extend(c(true, 0, &[]));
    streaming().without_eof_check().allow_empty_items().decodes(
        &wire,
        &[
            frag(true, true, false, &b[..3]),
            Message::Ping(Bytes::from_static(b"mid")),
            frag(true, false, false, &b[3..9]),
            frag(true, false, true, &b[9..]),
            bin(&[7]),
            frag(false, true, false, &[1, 2]),
            frag(false, false, true, &[]),
        ],
    );
    // fail-fast: an invalid byte in the second fragment, before the message's end
    let mut wire = c(false, 1, b"ok");
    wire.extend(c(false, 0, &[b'a', 0xff]));
    streaming().rejects(
        &wire,
        &[frag(true, true, false, b"ok")],
        "malformed: a text message must be valid UTF-8",
    );
    // a text whose last fragment ends mid-character
    let mut wire = c(false, 1, &b[..1]);
    wire.extend(c(true, 0, b""));
    streaming().rejects(
        &wire,
        &[frag(true, true, false, &b[..1])],
        "malformed: a text message must be valid UTF-8",
    );
    // the order rules hold as when assembling
    let mut wire = c(false, 1, b"a");
    wire.extend(c(true, 2, b"b"));
    streaming().rejects(
        &wire,
        &[frag(true, true, false, b"a")],
        "malformed: a new data message before the fragmented one ended",
    );
}

/// Fragments encode as frames of one message, which an assembling peer reads whole.
#[test]
fn fragments_encode_as_one_message_in_parts() {
    let mut client = WebSocketCodec::new(Role::Client);
    let mut wire = BytesMut::new();
    for m in [
        frag(true, true, false, "κό".as_bytes()),
        Message::Ping(Bytes::from_static(b"p")),
        frag(true, false, false, &"σμε".as_bytes()[..1]),
        frag(true, false, true, &"σμε".as_bytes()[1..]),
    ] {
        client.encode(m, &mut wire).unwrap();
    }
    let mut server = WebSocketCodec::new(Role::Server);
    assert_eq!(
        server.decode(&mut wire).unwrap(),
        Some(Message::Ping(Bytes::from_static(b"p")))
    );
    assert_eq!(server.decode(&mut wire).unwrap(), Some(text("κόσμε")));
    assert!(wire.is_empty());
}

#[test]
fn case_7_close_frames_carry_nothing_or_a_sendable_code_and_a_utf8_reason() {
    let mut reason = 1000u16.to_be_bytes().to_vec();
    reason.extend_from_slice("bye 👋".as_bytes());
    let mut wire = c(true, 8, b"");
    wire.extend(c(true, 8, &reason));
    for code in [
        1001u16, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999,
    ] {
        wire.extend(c(true, 8, &code.to_be_bytes()));
    }
    let mut expected = vec![
        Message::Close(None),
        Message::Close(Some((CloseCode(1000), Bytes::from("bye 👋")))),
    ];
    for code in [
        1001u16, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999,
    ] {
        expected.push(Message::Close(Some((CloseCode(code), Bytes::new()))));
    }
    server().decodes(&wire, &expected);
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65_535] {
        server().rejects(
            &c(true, 8, &code.to_be_bytes()),
            &[],
            "malformed: a close code that may not be sent",
        );
    }
    server().rejects(
        &c(true, 8, &[3]),
        &[],
        "malformed: a close frame's payload is empty",
    );
    server().rejects(
        &c(true, 8, &[0x03, 0xe8, 0xff]),
        &[],
        "malformed: a close reason must be valid UTF-8",
    );
}

#[test]
fn case_9_limits_are_checked_at_the_header_and_memory_follows_what_arrives() {
    let mut small = Config::default();
    small.max_frame = 1000;
    small.max_message = 1500;
    let kit = Kit::new(move || WebSocketCodec::with_config(Role::Server, small));
    kit.rejects(&c(true, 2, &[0; 1001]), &[], "too_large");
    let mut wire = c(false, 2, &[0; 1000]);
    wire.extend(c(true, 0, &[0; 501]));
    kit.rejects(&wire, &[], "too_large");
    let e = {
        let mut codec = WebSocketCodec::with_config(Role::Server, small);
        codec
            .decode(&mut BytesMut::from(&c(true, 2, &[0; 1001])[..4]))
            .unwrap_err()
    };
    assert_eq!(
        close_code(&e),
        CloseCode::TOO_BIG,
        "known from the header alone"
    );
    // a header claiming 16 MiB reserves no more than 64 KiB ahead
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(16u64 << 20).to_be_bytes());
    header.extend_from_slice(&KEY);
    server().bounded_memory(&header, 64 * 1024 + 64);
}

#[test]
fn the_encoder_is_strict() {
    let mut codec = WebSocketCodec::new(Role::Server);
    let mut out = BytesMut::new();
    assert!(
        codec
            .encode(Message::Ping(Bytes::from(vec![0; 126])), &mut out)
            .is_err()
    );
    assert!(
        codec
            .encode(Message::Text(Bytes::from_static(&[0xff])), &mut out)
            .is_err()
    );
    assert!(
        codec
            .encode(Message::close(CloseCode(1005), ""), &mut out)
            .is_err()
    );
    assert!(out.is_empty(), "nothing written for a refused message");
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        ".{0,200}".prop_map(Message::text),
        proptest::collection::vec(any::<u8>(), 0..70_000).prop_map(|v| Message::Binary(v.into())),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(|v| Message::Ping(v.into())),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(|v| Message::Pong(v.into())),
        (1000u16..1004, ".{0,20}").prop_map(|(c, r)| Message::close(CloseCode(c), &r)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// What either end encodes, the other decodes, however the bytes are cut.
    #[test]
    fn both_ends_read_what_the_other_writes(msgs in proptest::collection::vec(message(), 1..6), cut in any::<prop::sample::Index>()) {
        for (from, to) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
            let mut enc = WebSocketCodec::new(from);
            let mut wire = BytesMut::new();
            for m in &msgs {
                enc.encode(m.clone(), &mut wire).unwrap();
            }
            let at = cut.index(wire.len() + 1);
            let mut dec = WebSocketCodec::new(to);
            let mut buf = BytesMut::from(&wire[..at]);
            let mut got = Vec::new();
            while let Some(m) = dec.decode(&mut buf).unwrap() {
                got.push(m);
            }
            buf.extend_from_slice(&wire[at..]);
            while let Some(m) = dec.decode(&mut buf).unwrap() {
                got.push(m);
            }
            prop_assert_eq!(&got, &msgs);
        }
    }
}

#[cfg(feature = "websocket")]
mod handshake {
    use bytes::BytesMut;
    use packwire_codecs::http1::{ClientCodec, Event, RequestHead, ResponseHead, ServerCodec};
    use packwire_codecs::websocket::{
        ClientHandshake, HandshakeError, Message, Role, ServerHandshake, WebSocketCodec,
    };
    use tokio_util::codec::{Decoder, Encoder};

    const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

    fn head(wire: &[u8]) -> (RequestHead, ServerCodec, BytesMut) {
        let mut codec = ServerCodec::new();
        let mut buf = BytesMut::from(wire);
        let Some(Event::Head(h)) = codec.decode(&mut buf).unwrap() else {
            panic!("a head")
        };
        (h, codec, buf)
    }

    fn encoded(resp: ResponseHead) -> String {
        let mut out = BytesMut::new();
        ServerCodec::new()
            .encode(Event::Head(resp), &mut out)
            .unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn the_rfcs_request_is_answered_with_its_accept_key_and_the_stream_goes_on_as_frames() {
        // the request, then a masked "Hello" frame in the same read
        let mut wire = RFC_REQUEST.to_vec();
        wire.extend([
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        let (req, mut http, mut buf) = head(&wire);
        let server = ServerHandshake {
            protocols: vec!["superchat".into(), "chat".into()],
            origins: Some(vec!["http://example.com".into()]),
            ..ServerHandshake::default()
        };
        let ok = server.accept(&req).unwrap();
        assert_eq!(
            ok.protocol.as_deref(),
            Some("superchat"),
            "the server's preference"
        );
        let text = encoded(ok.response);
        assert!(
            text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Sec-WebSocket-Protocol: superchat\r\n"),
            "{text}"
        );
        // the http1 codec hands out the End and stops; the frame is still in the buffer
        assert!(matches!(http.decode(&mut buf).unwrap(), Some(Event::End)));
        assert!(http.is_upgraded());
        let mut ws = WebSocketCodec::new(Role::Server);
        assert_eq!(ws.decode(&mut buf).unwrap(), Some(Message::text("Hello")));
    }

    #[test]
    fn a_bad_upgrade_is_refused_with_an_http_response_that_says_why() {
        let server = ServerHandshake::default();
        let cases: [(&str, &str, u16, &str); 6] = [
            (
                "GET /chat",
                "Upgrade: websocket",
                400,
                "Connection: upgrade is missing",
            ),
            ("POST /chat", "", 400, "a WebSocket upgrade must be a GET"),
            (
                "GET /chat",
                "Connection: keep-alive, Upgrade",
                400,
                "Upgrade: websocket is missing",
            ),
            (
                "GET /chat",
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8",
                426,
                "Sec-WebSocket-Version must be 13",
            ),
            (
                "GET /chat",
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=",
                400,
                "Sec-WebSocket-Key must be 16 bytes in base64",
            ),
            (
                "GET /chat",
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13",
                400,
                "Sec-WebSocket-Key must be 16 bytes in base64",
            ),
        ];
        for (line, fields, status, reason) in cases {
            let wire = format!(
                "{line} HTTP/1.1\r\nHost: x\r\n{fields}{}\r\n",
                if fields.is_empty() { "" } else { "\r\n" }
            );
            let (req, _, _) = head(wire.as_bytes());
            let refused = server.accept(&req).unwrap_err();
            assert_eq!(
                (refused.response.status, refused.reason),
                (status, reason),
                "{wire}"
            );
            let text = encoded(refused.response.clone());
            if status == 426 {
                assert!(text.contains("Sec-WebSocket-Version: 13\r\n"), "{text}");
            }
            assert_eq!(&refused.body()[..], reason.as_bytes());
        }
        // an origin not on the list
        let only = ServerHandshake {
            origins: Some(vec!["https://app.example".into()]),
            ..ServerHandshake::default()
        };
        let (req, _, _) = head(RFC_REQUEST);
        assert_eq!(only.accept(&req).unwrap_err().response.status, 403);
    }

    #[test]
    fn a_client_builds_the_request_and_checks_the_answer() {
        let client = ClientHandshake::new("example.com", "/ws", [7; 16], &["chat"]);
        let mut wire = BytesMut::new();
        ClientCodec::new()
            .encode(Event::Head(client.request.clone()), &mut wire)
            .unwrap();
        let (req, _, _) = head(&wire);
        let server = ServerHandshake {
            protocols: vec!["chat".into()],
            ..ServerHandshake::default()
        };
        let ok = server.accept(&req).unwrap();
        // through the wire and back
        let mut resp_wire = BytesMut::new();
        ServerCodec::new()
            .encode(Event::Head(ok.response), &mut resp_wire)
            .unwrap();
        let mut cc = ClientCodec::new();
        cc.expect_response_to("GET");
        let Some(Event::Head(resp)) = cc.decode(&mut resp_wire).unwrap() else {
            panic!("a response head")
        };
        let agreed = client.check(&resp).unwrap();
        assert_eq!(
            (agreed.protocol.as_deref(), agreed.deflate),
            (Some("chat"), None)
        );
        // another client's key does not match
        let other = ClientHandshake::new("example.com", "/ws", [8; 16], &["chat"]);
        assert!(matches!(
            other.check(&resp),
            Err(HandshakeError::Invalid(_))
        ));
    }

    #[test]
    fn one_codec_reads_the_opening_request_then_frames_however_the_bytes_come() {
        use packwire_codecs::websocket::{Incoming, Outgoing, ServerConnCodec};
        let mut wire = RFC_REQUEST.to_vec();
        wire.extend(super::c(false, 1, b"Hel"));
        wire.extend(super::c(true, 9, b"p"));
        wire.extend(super::c(true, 0, b"lo"));
        for step in [1, 2, 7, wire.len()] {
            let mut codec = ServerConnCodec::new();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in wire.chunks(step) {
                buf.extend_from_slice(chunk);
                while let Some(i) = codec.decode(&mut buf).unwrap() {
                    got.push(i);
                }
            }
            assert!(
                matches!(&got[0], Incoming::Upgrade { request, answer } if request.target() == b"/chat" && answer.is_ok())
            );
            let msgs: Vec<&Message> = got[1..]
                .iter()
                .map(|i| match i {
                    Incoming::Message(m) => m,
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                msgs,
                [&Message::Ping("p".into()), &Message::text("Hello")],
                "step {step}"
            );
            assert_eq!(msgs[0].reply(), Some(Message::Pong("p".into())));
        }
        // a plain GET is handed out, and nothing after it is read as frames
        let mut codec = ServerConnCodec::new();
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\x81\x00"[..]);
        let Some(Incoming::Upgrade { answer, .. }) = codec.decode(&mut buf).unwrap() else {
            panic!()
        };
        assert!(codec.decode(&mut buf).unwrap().is_none());
        let refused = (*answer).unwrap_err();
        let mut out = BytesMut::new();
        codec
            .encode(Outgoing::Refuse(Box::new(refused)), &mut out)
            .unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.ends_with("Upgrade: websocket is missing"), "{text}");
    }
}

/// permessage-deflate (RFC 7692), as Autobahn's groups 12 (payloads) and 13 (parameters).
#[cfg(feature = "websocket")]
mod deflate {
    use bytes::{Bytes, BytesMut};
    use packwire_codecs::http1::{Event, ServerCodec};
    use packwire_codecs::websocket::{
        ClientHandshake, Config, DeflateConfig, DeflateParams, Message, Role, ServerHandshake,
        WebSocketCodec,
    };
    use tokio_util::codec::{Decoder, Encoder};

    fn offer(ext: &str) -> Option<String> {
        let wire = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Extensions: {ext}\r\n\r\n"
        );
        let mut buf = BytesMut::from(wire.as_bytes());
        let Some(Event::Head(req)) = ServerCodec::new().decode(&mut buf).unwrap() else {
            panic!()
        };
        let hs = ServerHandshake {
            deflate: Some(DeflateConfig::default()),
            ..ServerHandshake::default()
        };
        let a = hs.accept(&req).unwrap();
        a.response
            .header("sec-websocket-extensions")
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    }

    #[test]
    fn case_13_parameters_are_negotiated_and_bad_offers_passed_over() {
        assert_eq!(
            offer("permessage-deflate").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            offer("permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(
            offer("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12").as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12")
        );
        // an unknown parameter, a repeated one, 8 bits (zlib cannot), out of range: the
        // next offer is taken, or none
        assert_eq!(
            offer("permessage-deflate; foo, permessage-deflate; server_max_window_bits=9")
                .as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
        assert_eq!(offer("permessage-deflate; server_max_window_bits=8"), None);
        assert_eq!(offer("permessage-deflate; server_max_window_bits=16"), None);
        assert_eq!(
            offer("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            None
        );
        assert_eq!(offer("x-webkit-deflate-frame"), None);
    }

    fn pair(params: DeflateParams) -> (WebSocketCodec, WebSocketCodec) {
        let mut c = WebSocketCodec::new(Role::Client);
        let mut s = WebSocketCodec::new(Role::Server);
        c.set_deflate(params, 6);
        s.set_deflate(params, 6);
        (c, s)
    }

    fn through(
        from: &mut WebSocketCodec,
        to: &mut WebSocketCodec,
        msgs: &[Message],
    ) -> (Vec<Message>, usize) {
        let mut wire = BytesMut::new();
        for m in msgs {
            from.encode(m.clone(), &mut wire).unwrap();
        }
        let size = wire.len();
        let mut got = Vec::new();
        // byte at a time
        let mut buf = BytesMut::new();
        for b in wire.iter() {
            buf.extend_from_slice(&[*b]);
            while let Some(m) = to.decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        (got, size)
    }

    #[test]
    fn case_12_messages_compress_both_ways_with_and_without_context_takeover() {
        let text = "the quick brown fox jumps over the lazy dog. ".repeat(40);
        let msgs: Vec<Message> = (0..5)
            .map(|i| Message::text(format!("{i}: {text}")))
            .chain([
                Message::Binary(Bytes::from(vec![7u8; 3000])),
                Message::text(""),
                Message::Ping("p".into()),
            ])
            .collect();
        let raw: usize = msgs
            .iter()
            .map(|m| match m {
                Message::Text(b) | Message::Binary(b) | Message::Ping(b) => b.len(),
                _ => 0,
            })
            .sum();
        for takeover in [true, false] {
            let params = DeflateParams {
                server_no_context_takeover: !takeover,
                client_no_context_takeover: !takeover,
                ..DeflateParams::default()
            };
            let (mut c, mut s) = pair(params);
            let (got, size) = through(&mut c, &mut s, &msgs);
            assert_eq!(got, msgs, "client to server, takeover {takeover}");
            assert!(size < raw / 4, "{size} of {raw} bytes");
            let (got, _) = through(&mut s, &mut c, &msgs);
            assert_eq!(got, msgs, "server to client, takeover {takeover}");
        }
    }

    /// RFC 7692 7.2.3.6: an empty message compresses to the single byte 0x00 (the header
    /// of the empty block whose other four bytes are left out). Sending no byte at all
    /// put the peer's inflater four bytes out of step, and the next message came out as
    /// garbage (found by the `websocket_deflate` fuzz target's first seed).
    #[test]
    fn an_empty_message_keeps_the_stream_in_step_at_every_level() {
        let msgs = [
            Message::text("\u{3}hello"),
            Message::text(""),
            Message::text("{\"a\":1}"),
            Message::Binary(Bytes::new()),
            Message::text("after"),
        ];
        for level in 0..=9 {
            for takeover in [true, false] {
                let params = DeflateParams {
                    server_no_context_takeover: !takeover,
                    client_no_context_takeover: !takeover,
                    ..DeflateParams::default()
                };
                let mut c = WebSocketCodec::new(Role::Client);
                let mut s = WebSocketCodec::new(Role::Server);
                c.set_deflate(params, level);
                s.set_deflate(params, level);
                let (got, _) = through(&mut s, &mut c, &msgs);
                assert_eq!(got, msgs, "level {level}, takeover {takeover}");
                let (got, _) = through(&mut c, &mut s, &msgs);
                assert_eq!(got, msgs, "level {level}, takeover {takeover}");
            }
        }
    }

    #[test]
    fn a_compressed_message_may_come_in_fragments_and_rsv1_only_on_its_first() {
        let (mut c, mut s) = pair(DeflateParams::default());
        let mut one = BytesMut::new();
        c.encode(
            Message::text("fragmented and compressed ".repeat(20)),
            &mut one,
        )
        .unwrap();
        // take the single compressed frame apart into two: RSV1 stays on the first
        let mut client = WebSocketCodec::new(Role::Server);
        client.set_deflate(DeflateParams::default(), 6);
        let payload = {
            // the frame's payload, unmasked by hand
            let len = usize::from(one[1] & 0x7f);
            let (hdr, len) = if len == 126 {
                (8, usize::from(u16::from_be_bytes([one[2], one[3]])))
            } else {
                (6, len)
            };
            let key = [one[hdr - 4], one[hdr - 3], one[hdr - 2], one[hdr - 1]];
            one[hdr..hdr + len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect::<Vec<u8>>()
        };
        let (a, b) = payload.split_at(payload.len() / 2);
        let mut wire = super::frame(false, 4, 1, a, true);
        wire.extend(super::frame(true, 0, 0, b, true));
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(
            s.decode(&mut buf)
                .unwrap()
                .and_then(|m| m.as_text().map(str::to_owned)),
            Some("fragmented and compressed ".repeat(20))
        );
        // RSV1 on a continuation or a control frame
        let mut wire = super::frame(false, 4, 1, a, true);
        wire.extend(super::frame(true, 4, 0, b, true));
        assert!(client.decode(&mut BytesMut::from(&wire[..])).is_err());
        let mut fresh = WebSocketCodec::new(Role::Server);
        fresh.set_deflate(DeflateParams::default(), 6);
        assert!(
            fresh
                .decode(&mut BytesMut::from(
                    &super::frame(true, 4, 9, b"", true)[..]
                ))
                .is_err()
        );
    }

    /// The payload of one unmasked frame the server wrote, inflated by a decoder that has
    /// only a `bits`-bit window; `None` when the data reaches back further.
    fn inflate_in(wire: &[u8], bits: u8) -> Option<Vec<u8>> {
        let (hdr, len) = match wire[1] & 0x7f {
            126 => (4, usize::from(u16::from_be_bytes([wire[2], wire[3]]))),
            n => (2, usize::from(n)),
        };
        let mut data = wire[hdr..hdr + len].to_vec();
        data.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut d = flate2::Decompress::new_with_window_bits(false, bits);
        // a few bytes out at a time, so that every match is copied from the decoder's
        // own window rather than from the output of the same call
        let mut out = Vec::new();
        let mut chunk = [0u8; 16];
        while (d.total_in() as usize) < data.len() {
            let before = d.total_out();
            d.decompress(
                &data[d.total_in() as usize..],
                &mut chunk,
                flate2::FlushDecompress::Sync,
            )
            .ok()?;
            out.extend_from_slice(&chunk[..(d.total_out() - before) as usize]);
        }
        Some(out)
    }

    /// A server that agreed `server_max_window_bits=9` and no context takeover starts
    /// every message afresh in a 512-byte window, the one the client inflates with (a
    /// reset that fell back to 32 KiB would reach past it from the second message on).
    #[test]
    fn an_agreed_small_window_holds_for_every_message_after_the_reset() {
        // a block of 600 letters, 1,000 others, then the block again: 1,600 bytes back
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut letters = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b'a' + (seed % 26) as u8
                })
                .collect()
        };
        let block = letters(600);
        let mut payload = block.clone();
        payload.extend(letters(1000));
        payload.extend(&block);
        let payload = Bytes::from(payload);
        // the data does reach back: a full window's output is refused by a 9-bit one
        let mut wide = WebSocketCodec::new(Role::Server);
        wide.set_deflate(DeflateParams::default(), 9);
        let mut wire = BytesMut::new();
        wide.encode(Message::Binary(payload.clone()), &mut wire)
            .unwrap();
        assert_eq!(inflate_in(&wire, 15).as_deref(), Some(&payload[..]));
        assert_eq!(inflate_in(&wire, 9), None);
        let params = DeflateParams {
            server_no_context_takeover: true,
            server_max_window_bits: 9,
            ..DeflateParams::default()
        };
        let mut s = WebSocketCodec::new(Role::Server);
        s.set_deflate(params, 9);
        for i in 0..3 {
            let mut wire = BytesMut::new();
            s.encode(Message::Binary(payload.clone()), &mut wire)
                .unwrap();
            assert_eq!(
                inflate_in(&wire, 9).as_deref(),
                Some(&payload[..]),
                "message {i}"
            );
        }
    }

    #[test]
    fn a_zip_bomb_stops_at_the_message_limit() {
        let (mut c, _) = pair(DeflateParams::default());
        let mut wire = BytesMut::new();
        c.encode(Message::Binary(Bytes::from(vec![0u8; 8 << 20])), &mut wire)
            .unwrap();
        assert!(
            wire.len() < 64 * 1024,
            "8 MiB of zeros compress to {} bytes",
            wire.len()
        );
        let mut cfg = Config::default();
        cfg.max_message = 1 << 20;
        let mut s = WebSocketCodec::with_config(Role::Server, cfg);
        s.set_deflate(DeflateParams::default(), 6);
        let e = s.decode(&mut wire).unwrap_err();
        assert!(
            matches!(e, packwire_core::FrameError::TooLarge { max, .. } if max == 1 << 20),
            "{e}"
        );
        assert_eq!(packwire_codecs::websocket::close_code(&e).0, 1009);
    }

    #[test]
    fn a_client_offers_and_the_server_agrees() {
        let client = ClientHandshake::with_deflate("a", "/", [1; 16], &[], true);
        let mut wire = BytesMut::new();
        packwire_codecs::http1::ClientCodec::new()
            .encode(Event::Head(client.request.clone()), &mut wire)
            .unwrap();
        let Some(Event::Head(req)) = ServerCodec::new().decode(&mut wire).unwrap() else {
            panic!()
        };
        let hs = ServerHandshake {
            deflate: Some(DeflateConfig::default()),
            ..ServerHandshake::default()
        };
        let ok = hs.accept(&req).unwrap();
        assert_eq!(ok.deflate, Some(DeflateParams::default()));
        assert_eq!(
            client.check(&ok.response).unwrap().deflate,
            Some(DeflateParams::default())
        );
        // a client that offered nothing refuses an extension in the answer
        let plain = ClientHandshake::new("a", "/", [1; 16], &[]);
        assert!(plain.check(&ok.response).is_err());
    }
}
