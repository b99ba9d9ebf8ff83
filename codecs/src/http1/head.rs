//! Parsing a complete message head (found by the resumable scan in `conn.rs`) once.

use bytes::Bytes;
use packwire_core::FrameError;

use super::{BodyKind, Config, Headers, RequestHead, ResponseHead, Version};

/// RFC 9110 §5.6.2: tchar.
pub(crate) fn is_tchar(b: u8) -> bool {
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

/// RFC 9110 §5.5: field-value bytes (VCHAR, obs-text, SP, HTAB).
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// A rule broken at `offset` bytes into the stream.
pub(crate) fn bad(rule: &'static str, offset: u64) -> FrameError {
    FrameError::malformed(rule, offset)
}

/// The lines of a head, each without its line ending, with their offsets. A bare CR
/// anywhere is an error; a line may end in CRLF or, leniently (RFC 9112 §2.2), LF.
fn lines(head: &[u8], base: u64) -> Result<Vec<(usize, usize)>, FrameError> {
    let mut out = Vec::new();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', head) {
        let end = if nl > start && head[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        if let Some(cr) = memchr::memchr(b'\r', &head[start..end]) {
            return Err(bad(
                "bare CR in the message head",
                base + (start + cr) as u64,
            ));
        }
        out.push((start, end));
        start = nl + 1;
    }
    Ok(out)
}

fn version(v: &[u8], at: u64) -> Result<Version, FrameError> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        _ => Err(bad("the HTTP version is not HTTP/1.0 or HTTP/1.1", at)),
    }
}

/// Parses the header field lines `lines` of `buf` (all but the start line and the final
/// empty line).
pub(crate) fn fields(
    buf: &Bytes,
    lines: &[(usize, usize)],
    base: u64,
    max: usize,
    trailers: bool,
) -> Result<Headers, FrameError> {
    if lines.len() > max {
        return Err(bad(
            if trailers {
                "more trailer fields than the limit"
            } else {
                "more header fields than the limit"
            },
            base,
        ));
    }
    let mut out = Vec::with_capacity(lines.len());
    for &(s, e) in lines {
        let line = &buf[s..e];
        let at = base + s as u64;
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(bad("obs-fold (a field line starting with whitespace)", at));
        }
        let name_len = line
            .iter()
            .position(|&b| !is_tchar(b))
            .unwrap_or(line.len());
        if name_len == 0 {
            return Err(bad("a field name must be a token", at));
        }
        match line.get(name_len) {
            Some(b':') => {}
            Some(b' ' | b'\t') => {
                return Err(bad(
                    "whitespace between the field name and the colon",
                    at + name_len as u64,
                ));
            }
            _ => {
                return Err(bad(
                    "a field name must be a token followed by a colon",
                    at + name_len as u64,
                ));
            }
        }
        let mut v = &line[name_len + 1..];
        let mut vs = s + name_len + 1;
        while let [b' ' | b'\t', rest @ ..] = v {
            v = rest;
            vs += 1;
        }
        while let [rest @ .., b' ' | b'\t'] = v {
            v = rest;
        }
        if let Some(i) = v.iter().position(|&b| !is_field_value_byte(b)) {
            return Err(bad(
                "a control character in a field value",
                base + (vs + i) as u64,
            ));
        }
        out.push((buf.slice(s..s + name_len), buf.slice(vs..vs + v.len())));
    }
    Ok(out)
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
    for (name, value) in headers {
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
    let ls = lines(buf, base)?;
    let (s, e) = ls[0];
    let line = &buf[s..e];
    if line.len() > cfg.max_request_line {
        return Err(FrameError::TooLarge {
            declared: line.len() as u64,
            max: cfg.max_request_line as u64,
        });
    }
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| bad("the request line has no target", base))?;
    let method = &line[..sp1];
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad("the method must be a token", base));
    }
    let rest = &line[sp1 + 1..];
    let sp2 = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| bad("the request line has no version", base))?;
    let target = &rest[..sp2];
    if target.is_empty() || !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(bad(
            "the request target has a space or a control character",
            base + sp1 as u64 + 1,
        ));
    }
    let v_at = base + (sp1 + sp2 + 2) as u64;
    let version = version(&rest[sp2 + 1..], v_at)?;
    let headers = fields(buf, &ls[1..ls.len() - 1], base, cfg.max_headers, false)?;
    let f = facts(&headers, base, true)?;
    let (body, keep_alive) = framing(&f, version, cfg, base)?;
    let is_connect = method == b"CONNECT";
    Ok(RequestHead {
        method: buf.slice(s..s + sp1),
        target: buf.slice(s + sp1 + 1..s + sp1 + 1 + sp2),
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
    let ls = lines(buf, base)?;
    let (s, e) = ls[0];
    let line = &buf[s..e];
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
    let headers = fields(buf, &ls[1..ls.len() - 1], base, cfg.max_headers, false)?;
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
