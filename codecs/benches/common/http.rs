//! What the HTTP benches share: the requests, packwire's side of a keep-alive connection,
//! and httparse driven the way servers drive it.

use std::hint::black_box;

use bytes::BytesMut;
use packwire_codecs::http1::{Event, ServerCodec};
use tokio_util::codec::Decoder;

/// A minimal GET (27 B of head fields).
pub(crate) const SMALL: &[u8] = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";

/// What a browser sends for a script (546 B, 14 fields).
pub(crate) fn browser() -> Vec<u8> {
    let r = b"GET /static/app/main.3f9a2c.js?v=20261124 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/dashboard\r\n\
Connection: keep-alive\r\n\
Cookie: session=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Priority: u=0, i\r\n\r\n";
    r.to_vec()
}

/// packwire: decodes every request in `buf` (whole requests), counting one at each `End`;
/// returns the requests and the fields seen.
pub(crate) fn ours_pipelined(codec: &mut ServerCodec, buf: &mut BytesMut) -> (usize, usize) {
    let (mut requests, mut fields) = (0, 0);
    while let Some(ev) = codec.decode(buf).expect("valid request") {
        match ev {
            Event::Head(h) => fields += h.headers().len(),
            Event::End => requests += 1,
            _ => {}
        }
    }
    (requests, fields)
}

/// packwire: feeds one request in `chunk`-byte pieces and decodes until its `End`.
pub(crate) fn ours_chunked(
    codec: &mut ServerCodec,
    buf: &mut BytesMut,
    input: &[u8],
    chunk: usize,
) -> usize {
    buf.clear();
    let mut fields = 0;
    for c in input.chunks(chunk) {
        buf.extend_from_slice(c);
        while let Some(ev) = codec.decode(buf).expect("valid request") {
            match ev {
                Event::Head(h) => fields = h.headers().len(),
                Event::End => return fields,
                _ => {}
            }
        }
    }
    unreachable!("the request is complete")
}

/// httparse on the front of `buf` into a 32-field array, then the Content-Length framing:
/// the head and body length and the field count once the head is complete.
pub(crate) fn httparse_once(buf: &[u8]) -> Option<(usize, usize)> {
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(buf).expect("valid request") {
        httparse::Status::Complete(n) => {
            let len = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(0);
            black_box(req.method);
            Some((n + len, req.headers.len()))
        }
        httparse::Status::Partial => None,
    }
}

/// httparse: parses every request in `buf` one after the other, as `ours_pipelined`.
pub(crate) fn httparse_pipelined(buf: &[u8]) -> (usize, usize) {
    let (mut at, mut requests, mut fields) = (0, 0, 0);
    while let Some((n, f)) = httparse_once(&buf[at..]) {
        at += n;
        requests += 1;
        fields += f;
        if at == buf.len() {
            break;
        }
    }
    (requests, fields)
}

/// httparse re-parsing the accumulated buffer after every chunk.
pub(crate) fn naive(buf: &mut BytesMut, input: &[u8], chunk: usize) -> usize {
    buf.clear();
    for c in input.chunks(chunk) {
        buf.extend_from_slice(c);
        if let Some((_, f)) = httparse_once(buf) {
            return f;
        }
    }
    unreachable!()
}

/// httparse parsing only once `\r\n\r\n` has arrived, searching only the new bytes (how
/// hyper drives it since 2024).
pub(crate) fn gated(buf: &mut BytesMut, input: &[u8], chunk: usize) -> usize {
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    buf.clear();
    for c in input.chunks(chunk) {
        let searched = buf.len().saturating_sub(3);
        buf.extend_from_slice(c);
        if finder.find(&buf[searched..]).is_some() {
            return httparse_once(buf).expect("a whole head").1;
        }
    }
    unreachable!()
}
