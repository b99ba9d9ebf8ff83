//! Parsing a complete message head (found by the resumable scan in `conn.rs`) once.

use bytes::Bytes;
use packwire_core::FrameError;

use super::{BodyKind, Config, Headers, RequestHead, ResponseHead, Version};

macro_rules! table {
    ($f:ident) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = $f(i as u8);
            i += 1;
        }
        t
    }};
}

const fn tchar(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
    ) || b.is_ascii_alphanumeric()
}

const fn value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (b >= 0x21 && b <= 0x7e) || b >= 0x80
}

/// Byte classes as lookup tables: one load per byte on the hot path.
static TCHAR: [bool; 256] = table!(tchar);
static VALUE: [bool; 256] = table!(value_byte);

/// The index of the first byte at or after `pos` that is not a field-value byte. Eight
/// bytes at a time while no byte is below 0x20 or equal to 0x7f (SWAR), then byte by byte.
#[inline]
fn skip_value(h: &[u8], mut pos: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = h.get(pos..pos + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let y = x ^ (ONES * 0x7f);
        let del = y.wrapping_sub(ONES) & !y & HIGH;
        if below_space | del != 0 {
            break;
        }
        pos += 8;
    }
    while pos < h.len() && VALUE[usize::from(h[pos])] {
        pos += 1;
    }
    pos
}

/// RFC 9110 §5.6.2: tchar.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// RFC 9110 §5.5: field-value bytes (VCHAR, obs-text, SP, HTAB).
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    VALUE[usize::from(b)]
}

/// A rule broken at `offset` bytes into the stream.
pub(crate) fn bad(rule: &'static str, offset: u64) -> FrameError {
    FrameError::malformed(rule, offset)
}

fn version(v: &[u8], at: u64) -> Result<Version, FrameError> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        _ => Err(bad("the HTTP version is not HTTP/1.0 or HTTP/1.1", at)),
    }
}

/// Parses field lines from `pos` up to the empty line that ends the block, in one pass
/// that finds line ends and checks every byte by table. Head lines may end in CRLF or LF
/// (RFC 9112 §2.2); trailer lines (inside chunked framing) only in CRLF.
pub(crate) fn field_lines(
    buf: &Bytes,
    mut pos: usize,
    base: u64,
    max: usize,
    trailers: bool,
) -> Result<Headers, FrameError> {
    let h = &buf[..];
    let mut out = Headers::in_buffer(buf.clone());
    let line_end_rule = if trailers {
        "bare LF in chunked framing"
    } else {
        ""
    };
    let bare_cr = if trailers {
        "bare CR in chunked framing"
    } else {
        "bare CR in the message head"
    };
    loop {
        let at = base + pos as u64;
        match h.get(pos) {
            Some(b'\r') if h.get(pos + 1) == Some(&b'\n') => return Ok(out),
            Some(b'\n') if trailers => return Err(bad(line_end_rule, at)),
            Some(b'\n') | None => return Ok(out),
            Some(b' ' | b'\t') => {
                return Err(bad("obs-fold (a field line starting with whitespace)", at));
            }
            _ => {}
        }
        let ns = pos;
        while pos < h.len() && TCHAR[usize::from(h[pos])] {
            pos += 1;
        }
        let name = ns..pos;
        match h.get(pos) {
            Some(b':') if pos > ns => pos += 1,
            Some(b' ' | b'\t') if pos > ns => {
                return Err(bad(
                    "whitespace between the field name and the colon",
                    base + pos as u64,
                ));
            }
            _ if pos == ns => return Err(bad("a field name must be a token", at)),
            _ => {
                return Err(bad(
                    "a field name must be a token followed by a colon",
                    base + pos as u64,
                ));
            }
        }
        while matches!(h.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        let vs = pos;
        pos = skip_value(h, pos);
        let mut ve = pos;
        while ve > vs && matches!(h[ve - 1], b' ' | b'\t') {
            ve -= 1;
        }
        match (h.get(pos), h.get(pos + 1)) {
            (Some(b'\r'), Some(b'\n')) => pos += 2,
            (Some(b'\r'), _) => return Err(bad(bare_cr, base + pos as u64)),
            (Some(b'\n'), _) if trailers => return Err(bad(line_end_rule, base + pos as u64)),
            (Some(b'\n'), _) => pos += 1,
            _ => {
                return Err(bad(
                    "a control character in a field value",
                    base + pos as u64,
                ));
            }
        }
        if out.len() == max {
            return Err(bad(
                if trailers {
                    "more trailer fields than the limit"
                } else {
                    "more header fields than the limit"
                },
                at,
            ));
        }
        out.push_span(name, vs..ve);
    }
}

/// The end of the start line at `pos` (the index of its line ending) and the index of the
/// next line; a CR not followed by LF is a bare CR.
fn line_end(h: &[u8], pos: usize, base: u64) -> Result<(usize, usize), FrameError> {
    let nl = pos + memchr::memchr(b'\n', &h[pos..]).unwrap_or(h.len() - pos);
    let end = if nl > pos && h[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    if let Some(cr) = memchr::memchr(b'\r', &h[pos..end]) {
        return Err(bad("bare CR in the message head", base + (pos + cr) as u64));
    }
    Ok((end, nl + 1))
}

/// The framing and connection facts a head's fields decide.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub(crate) content_length: Option<u64>,
    /// the transfer codings, in order, lower-cased names only
    pub(crate) chunked_last: bool,
    pub(crate) has_te: bool,
    pub(crate) close: bool,
    pub(crate) keep_alive: bool,
    pub(crate) upgrade: bool,
    pub(crate) expect_continue: bool,
}

fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(|e| e.trim_ascii())
        .filter(|e| !e.is_empty())
}

pub(crate) fn facts(headers: &Headers, base: u64, request: bool) -> Result<Facts, FrameError> {
    let mut f = Facts::default();
    let mut chunked_count = 0;
    for (name, value) in headers.iter() {
        if name.eq_ignore_ascii_case(b"content-length") {
            for e in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if e.is_empty() || !e.iter().all(u8::is_ascii_digit) {
                    return Err(bad("Content-Length is not a plain decimal number", base));
                }
                let n = e
                    .iter()
                    .try_fold(0u64, |acc, &d| {
                        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                    })
                    .ok_or_else(|| bad("Content-Length overflows", base))?;
                match f.content_length {
                    Some(prev) if prev != n => {
                        return Err(bad("differing Content-Length values", base));
                    }
                    _ => f.content_length = Some(n),
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            for coding in list(value) {
                f.has_te = true;
                let is_chunked = coding.eq_ignore_ascii_case(b"chunked");
                if is_chunked {
                    chunked_count += 1;
                }
                f.chunked_last = is_chunked;
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for opt in list(value) {
                if opt.eq_ignore_ascii_case(b"close") {
                    f.close = true;
                } else if opt.eq_ignore_ascii_case(b"keep-alive") {
                    f.keep_alive = true;
                } else if opt.eq_ignore_ascii_case(b"upgrade") {
                    f.upgrade = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") && request {
            f.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    if chunked_count > 1 {
        return Err(bad("chunked applied more than once", base));
    }
    if request && f.has_te && !f.chunked_last {
        return Err(bad(
            "a request Transfer-Encoding whose final coding is not chunked",
            base,
        ));
    }
    Ok(f)
}

fn keep_alive(v: Version, f: &Facts) -> bool {
    match v {
        Version::Http11 => !f.close,
        Version::Http10 => f.keep_alive && !f.close,
    }
}

/// Decides how a message's body is framed (RFC 9112 §6.3) given the TE/CL facts.
fn framing(f: &Facts, v: Version, cfg: &Config, base: u64) -> Result<(BodyKind, bool), FrameError> {
    let mut ka = keep_alive(v, f);
    if f.has_te {
        if f.content_length.is_some() {
            if !cfg.te_overrides_cl {
                return Err(bad("both Content-Length and Transfer-Encoding", base));
            }
            ka = false; // framing was ambiguous: close after this message
        }
        if v == Version::Http10 {
            ka = false; // RFC 9112 §6.1: faulty framing in HTTP/1.0
        }
        return Ok((
            if f.chunked_last {
                BodyKind::Chunked
            } else {
                BodyKind::UntilClose
            },
            ka,
        ));
    }
    Ok((
        match f.content_length {
            Some(0) => BodyKind::Empty,
            Some(n) => BodyKind::Length(n),
            None => BodyKind::Empty,
        },
        ka,
    ))
}

/// Parses a request head (`buf` holds exactly the head, final empty line included).
pub(crate) fn request(buf: &Bytes, base: u64, cfg: &Config) -> Result<RequestHead, FrameError> {
    let h = &buf[..];
    let (e, next) = line_end(h, 0, base)?;
    if e > cfg.max_request_line {
        return Err(FrameError::TooLarge {
            declared: e as u64,
            max: cfg.max_request_line as u64,
        });
    }
    let mut i = 0;
    while i < e && TCHAR[usize::from(h[i])] {
        i += 1;
    }
    if i == 0 || h.get(i) != Some(&b' ') || i >= e {
        return Err(bad(
            if i < e && h[i] != b' ' || i == 0 {
                "the method must be a token"
            } else {
                "the request line has no target"
            },
            base,
        ));
    }
    let method = 0..i;
    let ts = i + 1;
    let mut j = ts;
    while j < e && (0x21..=0x7e).contains(&h[j]) {
        j += 1;
    }
    if j == ts || j >= e || h[j] != b' ' {
        return Err(bad(
            if j >= e {
                "the request line has no version"
            } else {
                "the request target has a space or a control character"
            },
            base + ts as u64,
        ));
    }
    let version = version(&h[j + 1..e], base + (j + 1) as u64)?;
    let headers = field_lines(buf, next, base, cfg.max_headers, false)?;
    let f = facts(&headers, base, true)?;
    let (body, keep_alive) = framing(&f, version, cfg, base)?;
    let is_connect = &h[method.clone()] == b"CONNECT";
    Ok(RequestHead {
        method: buf.slice(method),
        target: buf.slice(ts..j),
        version,
        headers,
        body: if is_connect { BodyKind::Empty } else { body },
        keep_alive,
        expect_continue: f.expect_continue,
        upgrade: is_connect || f.upgrade,
    })
}

/// Parses a response head; `method` is the request's method (HEAD and CONNECT change the
/// body framing).
pub(crate) fn response(
    buf: &Bytes,
    base: u64,
    cfg: &Config,
    method: &[u8],
) -> Result<ResponseHead, FrameError> {
    let (e, next) = line_end(buf, 0, base)?;
    let s = 0;
    let line = &buf[..e];
    if line.len() > cfg.max_request_line {
        return Err(FrameError::TooLarge {
            declared: line.len() as u64,
            max: cfg.max_request_line as u64,
        });
    }
    let version = version(line.get(..8).unwrap_or(line), base)?;
    if line.get(8) != Some(&b' ') {
        return Err(bad(
            "the status line needs a space after the version",
            base + 8,
        ));
    }
    let code = line
        .get(9..12)
        .filter(|c| c.iter().all(u8::is_ascii_digit))
        .ok_or_else(|| bad("the status code must be 3 digits", base + 9))?;
    let status = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
    let reason = match line.get(12) {
        None => Bytes::new(),
        Some(b' ') => {
            let r = &line[13..];
            if let Some(i) = r.iter().position(|&b| !is_field_value_byte(b)) {
                return Err(bad(
                    "a control character in the reason phrase",
                    base + 13 + i as u64,
                ));
            }
            buf.slice(s + 13..e)
        }
        Some(_) => return Err(bad("the status code must be 3 digits", base + 9)),
    };
    let headers = field_lines(buf, next, base, cfg.max_headers, false)?;
    let f = facts(&headers, base, false)?;
    let (mut body, keep_alive) = framing(&f, version, cfg, base)?;
    let upgrade = status == 101 || (method == b"CONNECT" && (200..300).contains(&status));
    if (100..200).contains(&status)
        || status == 204
        || status == 304
        || method == b"HEAD"
        || upgrade
    {
        body = BodyKind::Empty;
    } else if !f.has_te && f.content_length.is_none() {
        body = BodyKind::UntilClose;
    }
    Ok(ResponseHead {
        status,
        reason,
        version,
        headers,
        body,
        keep_alive: keep_alive && body != BodyKind::UntilClose,
        upgrade,
    })
}
