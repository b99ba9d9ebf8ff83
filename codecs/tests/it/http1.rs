//! HTTP/1.1: every strictness rule accepted or rejected, the kit on pipelined streams,
//! round trips through the client encoder and the server decoder, and back.

use bytes::{Bytes, BytesMut};
use packwire_codecs::http1::*;
use packwire_core::FrameError;
use packwire_core::testkit::Kit;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

fn server() -> Collect<ServerCodec, RequestHead> {
    Collect::new(ServerCodec::new(), 1 << 20)
}

fn client(methods: &'static [&'static str]) -> impl Fn() -> Collect<ClientCodec, ResponseHead> {
    move || {
        let mut c = ClientCodec::new();
        for m in methods {
            c.expect_response_to(*m);
        }
        Collect::new(c, 1 << 20)
    }
}

/// Decodes a whole stream of requests (panics on error).
fn requests(input: &[u8]) -> Vec<Message<RequestHead>> {
    let mut c = server();
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    while let Some(m) = c.decode(&mut buf).unwrap() {
        out.push(m);
    }
    assert!(c.decode_eof(&mut buf).unwrap().is_none());
    out
}

fn reject(input: &[u8]) -> FrameError {
    let mut c = ServerCodec::new();
    let mut buf = BytesMut::from(input);
    loop {
        match c.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => match c.decode_eof(&mut buf) {
                Err(e) => return e,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("accepted a {}-byte input", input.len()),
            },
            Err(e) => return e,
        }
    }
}

macro_rules! rejects {
    ($($name:ident: $input:expr => $rule:expr;)*) => {$(
        #[test]
        fn $name() {
            let e = reject($input);
            assert_eq!(e.rule(), Some($rule), "{e}");
            // and the same way in every chunking
            Kit::new(server).random_cases(8).rejects($input, &[], "malformed");
        }
    )*};
}

rejects! {
    reject_bare_cr_in_the_head: b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n" => "bare CR in the message head";
    // issue #14.6: framing a smuggler can use
    reject_a_bare_lf_field_line_mixed_with_crlf: b"POST / HTTP/1.1\r\nX: a\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n" => "bare LF in the message head (lines end in CRLF)";
    reject_a_bare_lf_request_line: b"GET / HTTP/1.1\nHost: a\r\n\r\n" => "bare LF in the message head (lines end in CRLF)";
    reject_a_bare_lf_empty_line: b"GET / HTTP/1.1\r\nHost: a\r\n\n" => "bare LF in the message head (lines end in CRLF)";
    reject_te_on_an_http_1_0_request: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => "Transfer-Encoding in an HTTP/1.0 request";
    reject_an_empty_transfer_encoding: b"POST / HTTP/1.1\r\nTransfer-Encoding:\r\nContent-Length: 3\r\n\r\nabc" => "an empty Transfer-Encoding";
    reject_a_comma_only_transfer_encoding: b"POST / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n" => "an empty Transfer-Encoding";
    reject_a_space_after_the_chunk_size: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n" => "whitespace after the chunk size without an extension";
    reject_spaces_after_a_hex_chunk_size: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFf   \r\nx\r\n0\r\n\r\n" => "whitespace after the chunk size without an extension";
    reject_whitespace_before_the_colon: b"GET / HTTP/1.1\r\nHost : a\r\n\r\n" => "whitespace between the field name and the colon";
    reject_obs_fold: b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n" => "obs-fold (a field line starting with whitespace)";
    reject_cl_and_te: b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" => "both Content-Length and Transfer-Encoding";
    reject_differing_content_lengths: b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd" => "differing Content-Length values";
    reject_differing_content_length_list: b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd" => "differing Content-Length values";
    reject_signed_content_length: b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc" => "Content-Length is not a plain decimal number";
    reject_hex_content_length: b"POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\nabc" => "Content-Length is not a plain decimal number";
    reject_overflowing_content_length: b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n" => "Content-Length overflows";
    reject_request_te_not_ending_in_chunked: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" => "a request Transfer-Encoding whose final coding is not chunked";
    reject_chunked_twice: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" => "chunked applied more than once";
    reject_chunk_size_overflow: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n" => "the chunk size overflows";
    reject_bare_lf_after_chunk_size: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n" => "bare LF in chunked framing";
    reject_bare_lf_after_chunk_data: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n" => "bare LF in chunked framing";
    reject_bare_lf_in_trailers: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n" => "bare LF in chunked framing";
    reject_junk_after_chunk_data: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n" => "chunk data must be followed by CRLF";
    reject_bad_chunk_extension: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b c\r\nabc\r\n0\r\n\r\n" => "a malformed chunk extension";
    reject_non_hex_chunk_size: b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" => "the chunk size is not hexadecimal";
    reject_non_token_method: b"G(T / HTTP/1.1\r\n\r\n" => "the method must be a token";
    reject_non_token_field_name: b"GET / HTTP/1.1\r\nHo[st: a\r\n\r\n" => "a field name must be a token followed by a colon";
    reject_ctl_in_field_value: b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n" => "a control character in a field value";
    reject_http_2_0: b"GET / HTTP/2.0\r\n\r\n" => "the HTTP version is not HTTP/1.0 or HTTP/1.1";
    reject_http_1_2: b"GET / HTTP/1.2\r\n\r\n" => "the HTTP version is not HTTP/1.0 or HTTP/1.1";
    reject_space_in_target: b"GET /a b HTTP/1.1\r\n\r\n" => "the HTTP version is not HTTP/1.0 or HTTP/1.1";
}

#[test]
fn accept_what_rfc_9112_allows() {
    let input = b"\r\n\r\nPURGE /x HTTP/1.1\r\nX-Padded:   spaced value \t\r\nX-Latin: caf\xe9\r\nContent-Length: 2, 2\r\n\r\nok";
    let m = &requests(input)[0];
    assert_eq!(m.head.method(), b"PURGE");
    assert_eq!(m.head.header("x-padded").unwrap(), "spaced value");
    assert_eq!(m.head.header("X-LATIN").unwrap(), &b"caf\xe9"[..]);
    assert_eq!(m.body, "ok");
    // no Host: not the codec's business
    assert_eq!(requests(b"GET / HTTP/1.1\r\n\r\n").len(), 1);
}

#[test]
fn bare_lf_heads_are_accepted_only_when_asked_and_never_in_chunked_framing() {
    let mut cfg = Config::default();
    cfg.allow_bare_lf = true;
    let lenient = || Collect::new(ServerCodec::with_config(cfg), 1 << 20);
    let mut c = lenient();
    let mut buf = BytesMut::from(&b"\nGET / HTTP/1.1\nHost: a\n\n"[..]);
    let m = c.decode(&mut buf).unwrap().unwrap();
    assert_eq!(m.head.header("host").unwrap(), "a");
    // the same in every chunking
    let run = Kit::new(lenient)
        .random_cases(8)
        .check_chunking_equivalence(
            b"GET / HTTP/1.1\nHost: a\nContent-Length: 2\n\nok",
            &[3, 17],
        )
        .unwrap();
    assert_eq!(run.items.len(), 1);
    let mut c = lenient();
    let mut buf =
        BytesMut::from(&b"POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\r\n0\r\n\r\n"[..]);
    let e = loop {
        match c.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("accepted"),
            Err(e) => break e,
        }
    };
    assert_eq!(e.rule(), Some("bare LF in chunked framing"));
}

#[test]
fn te_may_override_cl_when_asked_and_then_the_connection_closes() {
    let mut cfg = Config::default();
    cfg.te_overrides_cl = true;
    let mut c = Collect::new(ServerCodec::with_config(cfg), 1024);
    let mut buf = BytesMut::from(&b"POST / HTTP/1.1\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"[..]);
    let m = c.decode(&mut buf).unwrap().unwrap();
    assert_eq!(m.body, "hi");
    assert!(!m.head.keep_alive);
}

#[test]
fn keep_alive_and_expect_continue() {
    let m = requests(b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\nPUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
    let ka: Vec<bool> = m.iter().map(|m| m.head.keep_alive).collect();
    assert_eq!(ka, vec![false, true, false, true]);
    assert!(m[3].head.expect_continue);
    assert_eq!(m[0].head.version, Version::Http10);
}

fn pipelined() -> (Vec<u8>, usize) {
    let wire = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 9\r\n\r\n\
DELETE /d HTTP/1.0\r\n\r\n"
        .to_vec();
    (wire, 4)
}

#[test]
fn pipelined_requests_decode_the_same_in_every_chunking() {
    let (wire, n) = pipelined();
    let expected = requests(&wire);
    assert_eq!(expected.len(), n);
    assert_eq!(expected[2].body, "abc0123456789abcdef");
    assert_eq!(
        expected[2].trailers,
        vec![(Bytes::from_static(b"X-Sum"), Bytes::from_static(b"9"))]
    );
    Kit::new(server).random_cases(32).decodes(&wire, &expected);
}

#[test]
fn events_make_progress_on_every_call() {
    // the event stream itself, with End events that consume nothing allowed
    let (wire, _) = pipelined();
    let mut c = ServerCodec::new();
    let mut buf = BytesMut::from(&wire[..]);
    let mut events = Vec::new();
    while let Some(e) = c.decode(&mut buf).unwrap() {
        events.push(e);
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::Head(_) => "head",
            Event::Data(_) => "data",
            Event::Trailers(_) => "trailers",
            Event::End => "end",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "head", "end", "head", "data", "end", "head", "data", "data", "trailers", "end",
            "head", "end"
        ]
    );
}

#[test]
fn a_head_fed_one_byte_at_a_time_is_scanned_once() {
    // 20 000 header bytes trickled in: each call only searches the new byte, so this
    // completes in linear time (a quadratic rescan would be 2e8 byte visits)
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..1000 {
        head.extend_from_slice(format!("X-H{i:04}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut cfg = Config::default();
    cfg.max_headers = 2000;
    let mut c = ServerCodec::with_config(cfg);
    let mut buf = BytesMut::new();
    let mut got = None;
    for &b in &head {
        buf.extend_from_slice(&[b]);
        if let Some(ev) = c.decode(&mut buf).unwrap() {
            got = Some(ev);
        }
    }
    let Some(Event::Head(h)) = got else {
        panic!("no head")
    };
    assert_eq!(h.headers().len(), 1000);
}

#[test]
fn limits_are_enforced() {
    let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
    assert!(matches!(
        reject(long_line.as_bytes()),
        FrameError::TooLarge { max: 8192, .. }
    ));
    let many: String = (0..101).map(|i| format!("X{i}: v\r\n")).collect();
    let e = reject(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert_eq!(e.rule(), Some("more header fields than the limit"));
    let big: String = (0..100)
        .map(|i| format!("X{i}: {}\r\n", "v".repeat(700)))
        .collect();
    assert!(matches!(
        reject(format!("GET / HTTP/1.1\r\n{big}\r\n").as_bytes()),
        FrameError::TooLarge { max: 65536, .. }
    ));
    // the collecting convenience bounds the body
    let mut c = Collect::new(ServerCodec::new(), 4);
    let mut buf = BytesMut::from(&b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"[..]);
    assert!(matches!(
        c.decode(&mut buf),
        Err(FrameError::TooLarge { max: 4, .. })
    ));
    // chunk extensions are bounded per message
    let ext = format!(
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\na\r\n",
        "e=1;".repeat(5000)
    );
    assert!(matches!(
        reject(ext.as_bytes()),
        FrameError::TooLarge { .. }
    ));
}

#[test]
fn a_truncated_message_is_an_error_at_eof() {
    Kit::new(server).rejects(
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel",
        &[],
        "truncated",
    );
    Kit::new(server).rejects(b"GET / HTTP/1.1\r\nHost", &[], "truncated");
}

#[test]
fn connect_and_upgrade_hand_back_the_rest_untouched() {
    let mut c = ServerCodec::new();
    let mut buf = BytesMut::from(
        &b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01tls bytes"
            [..],
    );
    assert!(matches!(c.decode(&mut buf).unwrap(), Some(Event::Head(_))));
    assert!(matches!(c.decode(&mut buf).unwrap(), Some(Event::End)));
    assert_eq!(c.decode(&mut buf).unwrap(), None);
    assert!(c.is_upgraded());
    assert_eq!(&buf[..], b"\x16\x03\x01tls bytes");
    // a refused upgrade goes back to HTTP
    let mut c = ServerCodec::new();
    let mut buf = BytesMut::from(&b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\n\r\n"[..]);
    while c.decode(&mut buf).unwrap().is_some() {}
    assert!(c.is_upgraded());
    c.resume();
    let Some(Event::Head(h)) = c.decode(&mut buf).unwrap() else {
        panic!()
    };
    assert_eq!(h.target(), b"/next");

    // client side: a 101 ends HTTP
    let mut c = ClientCodec::new();
    let mut buf = BytesMut::from(
        &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"[..],
    );
    assert!(matches!(c.decode(&mut buf).unwrap(), Some(Event::Head(_))));
    assert!(matches!(c.decode(&mut buf).unwrap(), Some(Event::End)));
    assert_eq!(c.decode(&mut buf).unwrap(), None);
    assert_eq!(&buf[..], b"\x81\x05hello");
}

#[test]
fn response_bodies_follow_the_request_method_and_status() {
    let wire = b"HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil close";
    // the 100 uses no method; HEAD makes the first 200 bodiless despite its Content-Length
    let mk = client(&["HEAD", "GET", "GET", "GET", "GET"]);
    let mut c = mk();
    let mut buf = BytesMut::from(&wire[..]);
    let mut got = Vec::new();
    while let Some(m) = c.decode(&mut buf).unwrap() {
        got.push(m);
    }
    while let Some(m) = c.decode_eof(&mut buf).unwrap() {
        got.push(m);
    }
    let summary: Vec<(u16, &[u8])> = got.iter().map(|m| (m.head.status, &m.body[..])).collect();
    assert_eq!(
        summary,
        vec![
            (100, &b""[..]),
            (200, b""),
            (204, b""),
            (304, b""),
            (200, b"ok"),
            (200, b"until close")
        ]
    );
    assert_eq!(got[5].head.body, BodyKind::UntilClose);
    // the last message ends at EOF without consuming anything more: allow that item
    Kit::new(mk)
        .without_eof_check()
        .allow_empty_items()
        .random_cases(16)
        .decodes(wire, &got);
}

#[test]
fn the_encoder_refuses_injection() {
    let mut c = ServerCodec::new();
    let mut dst = BytesMut::new();
    let bad_value = ResponseHead::new(
        200,
        "OK",
        vec![(
            Bytes::from_static(b"X"),
            Bytes::from_static(b"a\r\nSet-Cookie: evil"),
        )],
        BodyKind::Empty,
    );
    assert!(c.encode(Event::Head(bad_value), &mut dst).is_err());
    let bad_name = ResponseHead::new(
        200,
        "OK",
        vec![(Bytes::from_static(b"X\r\nY"), Bytes::from_static(b"a"))],
        BodyKind::Empty,
    );
    assert!(c.encode(Event::Head(bad_name), &mut dst).is_err());
    let bad_reason = ResponseHead::new(200, "OK\r\nX: y", Headers::new(), BodyKind::Empty);
    assert!(c.encode(Event::Head(bad_reason), &mut dst).is_err());
    assert!(dst.is_empty());
    let mut cl = ClientCodec::new();
    assert!(
        cl.encode(
            Event::Head(RequestHead::new(
                "GET",
                "/a b",
                Headers::new(),
                BodyKind::Empty
            )),
            &mut dst
        )
        .is_err()
    );
}

#[test]
fn the_encoder_frames_bodies_and_trailers() {
    let mut c = ServerCodec::new();
    let mut dst = BytesMut::new();
    // the server answers two requests: the first was HEAD
    let mut r = BytesMut::from(&b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"[..]);
    while c.decode(&mut r).unwrap().is_some() {}
    c.encode(
        Event::Head(ResponseHead::new(
            200,
            "OK",
            Headers::new(),
            BodyKind::Length(5),
        )),
        &mut dst,
    )
    .unwrap();
    c.encode(Event::End, &mut dst).unwrap();
    c.encode(
        Event::Head(ResponseHead::new(
            200,
            "OK",
            Headers::new(),
            BodyKind::Chunked,
        )),
        &mut dst,
    )
    .unwrap();
    c.encode(Event::Data(Bytes::from_static(b"hello")), &mut dst)
        .unwrap();
    c.encode(
        Event::Trailers(Headers::from(vec![(
            Bytes::from_static(b"x-sum"),
            Bytes::from_static(b"1"),
        )])),
        &mut dst,
    )
    .unwrap();
    c.encode(Event::End, &mut dst).unwrap();
    assert_eq!(
        &dst[..],
        &b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-sum: 1\r\n\r\n"[..]
    );
    // Content-Length is held to its word
    let mut c = ClientCodec::new();
    let mut dst = BytesMut::new();
    c.encode(
        Event::Head(RequestHead::new(
            "POST",
            "/",
            Headers::new(),
            BodyKind::Length(3),
        )),
        &mut dst,
    )
    .unwrap();
    assert!(
        c.encode(Event::Data(Bytes::from_static(b"abcd")), &mut dst)
            .is_err()
    );
    c.encode(Event::Data(Bytes::from_static(b"ab")), &mut dst)
        .unwrap();
    assert!(c.encode(Event::End, &mut dst).is_err());
}

fn token() -> impl Strategy<Value = Bytes> {
    "[A-Za-z][A-Za-z0-9-]{0,10}".prop_map(Bytes::from)
}

fn value() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(prop_oneof![0x21u8..0x7f, 0x80u8..=0xff, Just(b' ')], 0..20).prop_map(
        |mut v| {
            while v.last() == Some(&b' ') {
                v.pop();
            }
            while v.first() == Some(&b' ') {
                v.remove(0);
            }
            Bytes::from(v)
        },
    )
}

fn fields() -> impl Strategy<Value = Headers> {
    proptest::collection::vec((token(), value()), 0..5).prop_map(|v| {
        v.into_iter()
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                !matches!(
                    &n[..],
                    b"content-length"
                        | b"transfer-encoding"
                        | b"connection"
                        | b"expect"
                        | b"upgrade"
                )
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Requests written by the client encoder decode to the same heads and bodies on the
    /// server, under random chunking.
    #[test]
    fn requests_round_trip_client_to_server(
        reqs in proptest::collection::vec((token(), "/[a-z0-9/]{0,12}", fields(), proptest::collection::vec(any::<u8>(), 0..60), any::<bool>(), proptest::collection::vec(0usize..60, 0..3)), 1..4),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut enc = ClientCodec::new();
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for (method, target, headers, body, chunked, splits) in reqs {
            let kind = if chunked { BodyKind::Chunked } else { BodyKind::Length(body.len() as u64) };
            enc.encode(Event::Head(RequestHead::new(method.clone(), target.clone(), headers.clone(), kind)), &mut wire).unwrap();
            let mut rest = &body[..];
            for s in splits {
                let (a, b) = rest.split_at(s.min(rest.len()));
                enc.encode(Event::Data(Bytes::copy_from_slice(a)), &mut wire).unwrap();
                rest = b;
            }
            enc.encode(Event::Data(Bytes::copy_from_slice(rest)), &mut wire).unwrap();
            enc.encode(Event::End, &mut wire).unwrap();
            expected.push((method, Bytes::from(target), headers, body));
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        let run = Kit::new(server).run(&wire, &cuts).map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assert_eq!(run.items.len(), expected.len());
        for (m, (method, target, headers, body)) in run.items.iter().zip(expected) {
            prop_assert_eq!(m.head.method(), &method[..]);
            prop_assert_eq!(m.head.target(), &target[..]);
            let got: Headers = m.head.headers().iter().filter(|(n, _)| !n.eq_ignore_ascii_case(b"content-length") && !n.eq_ignore_ascii_case(b"transfer-encoding")).collect();
            prop_assert_eq!(got, headers);
            prop_assert_eq!(&m.body[..], &body[..]);
        }
    }

    /// Any bytes either decode or fail with a typed error; never a panic.
    #[test]
    fn any_bytes_decode_or_fail_cleanly(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Kit::new(server).random_cases(0).check_chunking_equivalence(&data, &[data.len() / 2]).map_err(|f| TestCaseError::fail(f.to_string()))?;
    }
}

#[test]
fn a_claimed_huge_body_or_chunk_reserves_nothing() {
    // the raw event codec: a body the head claims is never reserved ahead of its bytes
    Kit::new(ServerCodec::new)
        .allow_empty_items()
        .bounded_memory(
            b"POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n",
            4096,
        );
    Kit::new(ServerCodec::new)
        .allow_empty_items()
        .bounded_memory(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\n",
            4096,
        );
}

/// A field line is parsed as soon as it arrives, but a rule it breaks is reported only once
/// the line has ended within the head limit: otherwise a whole buffer (parsed at once)
/// and a trickle (waiting for the line end, then over the limit) would end differently.
#[test]
fn a_broken_line_is_judged_when_it_ends_so_chunking_cannot_change_the_error() {
    let small = || {
        let mut cfg = Config::default();
        cfg.max_head = 64;
        Collect::new(ServerCodec::with_config(cfg), 1024)
    };
    // a control byte early in a line that ends within the limit: the named rule
    let ends = b"GET / HTTP/1.1\r\nX\x01: y\r\n\r\n";
    Kit::new(small).random_cases(16).rejects(
        ends,
        &[],
        "malformed: a field name must be a token followed by a colon",
    );
    // the same byte in a line that runs past the limit before it ends: too large
    let mut long = b"GET / HTTP/1.1\r\nX\x01: ".to_vec();
    long.extend([b'y'; 80]);
    long.extend(b"\r\n\r\n");
    Kit::new(small)
        .random_cases(16)
        .rejects(&long, &[], "too_large");
}

/// A caller that empties the buffer between calls (outside the decode contract) gets a
/// fresh start, not a panic from an index past the end.
#[test]
fn a_buffer_that_shrank_between_calls_starts_the_head_over() {
    let mut c = ServerCodec::new();
    let mut buf = BytesMut::from("GET /partial-request-line-that-is-long HT");
    assert!(c.decode(&mut buf).unwrap().is_none());
    buf.clear();
    buf.extend_from_slice(b"GET /x HTTP/1.1\r\n\r\n");
    let Some(Event::Head(h)) = c.decode(&mut buf).unwrap() else {
        panic!("no head")
    };
    assert_eq!(h.target(), b"/x");
    assert!(matches!(c.decode(&mut buf).unwrap(), Some(Event::End)));

    // the same inside chunked framing: a chunk-size line and a trailer section
    buf.extend_from_slice(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(matches!(c.decode(&mut buf).unwrap(), Some(Event::Head(_))));
    buf.extend_from_slice(b"5;long-extension-name-here");
    assert!(c.decode(&mut buf).unwrap().is_none());
    buf.clear();
    buf.extend_from_slice(b"2\r\nok\r\n0\r\nXYZ: abcd"); // 19 bytes: fewer than scanned
    assert_eq!(
        c.decode(&mut buf).unwrap(),
        Some(Event::Data(Bytes::from("ok")))
    );
    assert!(c.decode(&mut buf).unwrap().is_none());
    buf.clear();
    buf.extend_from_slice(b"T: 1\r\n\r\n"); // 8 bytes: fewer than the 9 scanned
    assert!(matches!(c.decode(&mut buf).unwrap(), Some(Event::Trailers(t)) if t.len() == 1));
    assert!(matches!(c.decode(&mut buf).unwrap(), Some(Event::End)));
}

#[test]
fn a_clone_keeps_the_config_and_starts_fresh() {
    let mut cfg = Config::default();
    cfg.allow_bare_lf = true;
    let mut proto = ServerCodec::with_config(cfg);
    // the prototype is in the middle of a request when it is cloned
    let mut buf = BytesMut::from(&b"GET /a HTTP/1.1\r\nHost: x\r\n"[..]);
    assert!(proto.decode(&mut buf).unwrap().is_none());
    let mut fresh = proto.clone();
    // a whole request with bare LF line ends: the clone has the prototype's config and
    // none of its half-read head
    let mut other = BytesMut::from(&b"GET /b HTTP/1.1\nHost: y\n\n"[..]);
    match fresh.decode(&mut other).unwrap() {
        Some(Event::Head(h)) => assert_eq!(h.target(), b"/b"),
        e => panic!("expected the head of /b, got {e:?}"),
    }
    // the default config refuses the same bytes
    let mut strict = ServerCodec::new().clone();
    let mut other = BytesMut::from(&b"GET /b HTTP/1.1\nHost: y\n\n"[..]);
    assert!(strict.decode(&mut other).is_err());
    // and the collected form clones too
    let mut collect = Collect::new(ServerCodec::new(), 1024).clone();
    let mut whole = BytesMut::from(&b"POST /c HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"[..]);
    let msg = collect.decode(&mut whole).unwrap().unwrap();
    assert_eq!(msg.body, "hi");
    let _client = ClientCodec::new().with_default_method("HEAD").clone();
}

/// The fields that frame a message are found wherever they stand: among the first 63
/// fields and after them, alone and with look-alikes (same length and first letter) around
/// them, and a contradiction is caught at any position.
#[test]
fn framing_fields_count_at_any_position() {
    for at in [0usize, 1, 5, 62, 63, 64, 90] {
        let mut fields: Vec<String> = (0..95).map(|i| format!("X-{i}: v")).collect();
        // same length and first letter as Content-Length and Connection
        fields.insert(0, "Content-Lengtx: 9".into());
        fields.insert(0, "Connectiox: close".into());
        fields.insert(at, "Content-Length: 5".into());
        let head = format!("POST / HTTP/1.1\r\n{}\r\n\r\nhello", fields.join("\r\n"));
        let got = requests(head.as_bytes());
        assert_eq!(got.len(), 1, "Content-Length at {at}");
        assert_eq!(&got[0].body[..], b"hello", "Content-Length at {at}");
        assert!(got[0].head.keep_alive, "the look-alike is not Connection");

        let mut twice = fields.clone();
        twice.insert(at.min(70) + 3, "Content-Length: 6".into());
        let head = format!("POST / HTTP/1.1\r\n{}\r\n\r\nhello!", twice.join("\r\n"));
        let e = reject(head.as_bytes());
        assert_eq!(e.rule(), Some("differing Content-Length values"), "at {at}");

        fields[at] = "Transfer-Encoding: chunked".into();
        let head = format!(
            "POST / HTTP/1.1\r\n{}\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            fields.join("\r\n")
        );
        let got = requests(head.as_bytes());
        assert_eq!(&got[0].body[..], b"hello", "Transfer-Encoding at {at}");
    }
}

/// A bad trailer fails the stream for good: the End that would have followed the message
/// is not handed out on the next call (the fuzzer found it coming after the error).
#[test]
fn nothing_follows_a_bad_trailer() {
    let mut c = ServerCodec::new();
    let mut buf = BytesMut::from(
        &b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX\xb7: 1\r\n\r\n"
            [..],
    );
    let mut saw_error = false;
    for _ in 0..8 {
        match c.decode(&mut buf) {
            Ok(Some(ev)) => assert!(!saw_error, "{ev:?} after the error"),
            Ok(None) => break,
            Err(e) => {
                let first = "a field name must be a token followed by a colon";
                let again = "the stream already failed";
                let want = if saw_error { again } else { first };
                assert_eq!(e.rule(), Some(want));
                saw_error = true;
            }
        }
    }
    assert!(saw_error);
}
