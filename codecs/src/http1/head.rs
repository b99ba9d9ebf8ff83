//! Parsing message heads line by line: the start line of each role, field lines in one
//! pass each, and what the fields decide (framing, keep-alive, upgrade).

use bytes::Bytes;
use packwire_core::FrameError;

use super::fields::Spans;
use super::scan::{eq_folded, is_field_value_byte, is_tchar, skip_token, skip_value, skip_vchar};
use super::{BodyKind, Config, Headers, RequestHead, ResponseHead, Version};

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

/// What one step of the field-line parser found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// The empty line that ends the block; the next line starts at this index.
    End(usize),
    /// A field: name start, name end, value start, value end; then the next line's start.
    Field([u32; 4], usize),
    /// The buffer ends inside this line.
    More,
    /// The line breaks this rule at this index (the caller adds the stream offset).
    Bad(&'static str, usize),
}

/// Parses the field line at `pos` in one pass that finds its end and checks every byte.
/// Lines end in CRLF; head lines also in a bare LF when `bare_lf` (RFC 9112 §2.2,
/// [`Config::allow_bare_lf`]), trailer lines (inside chunked framing) never. An error may
/// be found before the line is complete; callers report it only once the line's LF has
/// arrived, so the result does not depend on how the stream was cut.
#[inline]
pub(crate) fn field_line(h: &[u8], pos: usize, trailers: bool, bare_lf: bool) -> Line {
    let ns = pos;
    match h.get(pos) {
        None => return Line::More,
        Some(&b) if !is_tchar(b) => return not_a_field(h, pos, trailers, bare_lf),
        Some(_) => {}
    }
    let ne = skip_token(h, pos + 1);
    let mut pos = ne;
    match h.get(pos) {
        Some(b':') => pos += 1,
        None => return Line::More,
        Some(b' ' | b'\t') => {
            return Line::Bad("whitespace between the field name and the colon", pos);
        }
        Some(_) => return Line::Bad("a field name must be a token followed by a colon", pos),
    }
    // one space after the colon is the rule; more, or a tab, the exception
    if h.get(pos) == Some(&b' ') {
        pos += 1;
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
    let next = if h.get(pos..pos + 2) == Some(b"\r\n") {
        pos + 2
    } else {
        match line_end(h, pos, trailers, bare_lf) {
            Ok(next) => next,
            Err(line) => return line,
        }
    };
    Line::Field([ns as u32, ne as u32, vs as u32, ve as u32], next)
}

/// The rule a bare CR breaks, in a head or in chunked framing.
fn bare_cr(trailers: bool) -> &'static str {
    if trailers {
        "bare CR in chunked framing"
    } else {
        "bare CR in the message head"
    }
}

/// A line that does not start with a field name: the empty line, or a broken rule.
fn not_a_field(h: &[u8], pos: usize, trailers: bool, bare_lf: bool) -> Line {
    match h.get(pos) {
        None => Line::More,
        Some(b'\r') => match h.get(pos + 1) {
            Some(b'\n') => Line::End(pos + 2),
            None => Line::More,
            Some(_) => Line::Bad(bare_cr(trailers), pos),
        },
        Some(b'\n') if trailers => Line::Bad("bare LF in chunked framing", pos),
        Some(b'\n') if !bare_lf => Line::Bad(BARE_LF_HEAD, pos),
        Some(b'\n') => Line::End(pos + 1),
        Some(b' ' | b'\t') => Line::Bad("obs-fold (a field line starting with whitespace)", pos),
        Some(_) => Line::Bad("a field name must be a token", pos),
    }
}

/// A field value stopped at `pos` on something other than CRLF: the next line's start
/// after a permitted bare LF, or what the line still needs or breaks.
#[cold]
fn line_end(h: &[u8], pos: usize, trailers: bool, bare_lf: bool) -> Result<usize, Line> {
    match (h.get(pos), h.get(pos + 1)) {
        (None, _) | (Some(b'\r'), None) => Err(Line::More),
        (Some(b'\r'), Some(b'\n')) => Ok(pos + 2),
        (Some(b'\r'), _) => Err(Line::Bad(bare_cr(trailers), pos)),
        (Some(b'\n'), _) if trailers => Err(Line::Bad("bare LF in chunked framing", pos)),
        (Some(b'\n'), _) if !bare_lf => Err(Line::Bad(BARE_LF_HEAD, pos)),
        (Some(b'\n'), _) => Ok(pos + 1),
        _ => Err(Line::Bad("a control character in a field value", pos)),
    }
}

/// Parses a complete trailer section (it ends in its empty line).
pub(crate) fn trailer_lines(buf: Bytes, base: u64, max: usize) -> Result<Headers, FrameError> {
    let mut spans = Spans::default();
    let mut pos = 0;
    loop {
        match field_line(&buf, pos, true, false) {
            Line::Bad(rule, at) => return Err(bad(rule, base + at as u64)),
            Line::Field(span, next) => {
                if spans.len() == max {
                    return Err(bad("more trailer fields than the limit", base + pos as u64));
                }
                spans.push(span);
                pos = next;
            }
            Line::End(_) | Line::More => return Ok(Headers::from_spans(buf, spans)),
        }
    }
}

/// A parsed start line: spans into the head's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Start {
    /// request: the method; response: unused
    pub(crate) a: [u32; 2],
    /// request: the target; response: the reason phrase
    pub(crate) b: [u32; 2],
    pub(crate) version: Version,
    pub(crate) status: u16,
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

/// A field name's length and lower-cased first letter, as `facts` compares them.
const fn key(name: &[u8]) -> usize {
    let first = if name.is_empty() { 0 } else { name[0] | 0x20 };
    name.len() << 8 | first as usize
}
const CONTENT_LENGTH: usize = key(b"content-length");
const TRANSFER_ENCODING: usize = key(b"transfer-encoding");
const CONNECTION: usize = key(b"connection");
const EXPECT: usize = key(b"expect");

/// Whether a field with this name may be one `facts` reads: the length and first letter
/// of one (a compare each; a `match` on the length became an indirect jump per field).
#[inline]
fn may_matter(name: &[u8]) -> bool {
    const LENGTHS: u32 = 1 << 6 | 1 << 10 | 1 << 14 | 1 << 17;
    if name.len() >= 32 || LENGTHS & (1 << name.len()) == 0 {
        return false;
    }
    let k = key(name);
    k == CONTENT_LENGTH || k == TRANSFER_ENCODING || k == CONNECTION || k == EXPECT
}

/// The fields `facts` must read, marked while the head is parsed, so that deciding the
/// framing does not walk every field again: bit `i` for field `i`, bit 63 for field 63
/// and every later one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marks(u64);

impl Marks {
    /// Notes field `index` if its name may matter.
    #[inline]
    pub(crate) fn note(&mut self, index: usize, name: &[u8]) {
        if may_matter(name) {
            self.0 |= 1 << index.min(63);
        }
    }

    /// The indices of the fields to read, in order, for a head of `len` fields.
    fn fields(self, len: usize) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            let i = bits.trailing_zeros() as usize;
            (bits != 0).then(|| {
                bits &= bits - 1;
                if i == 63 { 63..len } else { i..i + 1 }
            })
        })
        .flatten()
    }
}

/// What the marked fields of a head decide.
#[inline]
pub(crate) fn facts(
    headers: &Headers,
    marks: Marks,
    base: u64,
    request: bool,
) -> Result<Facts, FrameError> {
    let mut f = Facts::default();
    if marks == Marks::default() {
        return Ok(f);
    }
    let mut chunked_count = 0;
    for (name, value) in marks.fields(headers.len()).map(|i| headers.field(i)) {
        if !may_matter(name) {
            continue;
        }
        if eq_folded(name, b"content-length") {
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
        } else if eq_folded(name, b"transfer-encoding") {
            if list(value).next().is_none() {
                // a recipient that skips it and one that fails on it frame differently
                return Err(bad("an empty Transfer-Encoding", base));
            }
            for coding in list(value) {
                f.has_te = true;
                let is_chunked = eq_folded(coding, b"chunked");
                if is_chunked {
                    chunked_count += 1;
                }
                f.chunked_last = is_chunked;
            }
        } else if eq_folded(name, b"connection") {
            for opt in list(value) {
                if eq_folded(opt, b"close") {
                    f.close = true;
                } else if eq_folded(opt, b"keep-alive") {
                    f.keep_alive = true;
                } else if eq_folded(opt, b"upgrade") {
                    f.upgrade = true;
                }
            }
        } else if eq_folded(name, b"expect") && request {
            f.expect_continue = eq_folded(value, b"100-continue");
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

/// What differs between the two roles' heads: the start line and what the fields mean.
pub(crate) trait Role {
    /// The head type handed out.
    type Head;

    /// Parses the start line at the front of `h` once its LF is in `h` (`Ok(None)` before),
    /// returning it and the index of the next line.
    fn start_line(h: &[u8], base: u64, cfg: &Config) -> Result<Option<(Start, usize)>, FrameError>;

    /// Builds the head once its fields are parsed, deciding its body framing.
    fn finish(
        &self,
        headers: Headers,
        marks: Marks,
        start: Start,
        base: u64,
        cfg: &Config,
    ) -> Result<Self::Head, FrameError>;

    /// How the body of this head is framed, and whether the stream stops being HTTP after
    /// the message.
    fn framing(head: &Self::Head) -> (BodyKind, bool);
}

/// The start line ends at the first LF; `None` until it is buffered. Checks bare CRs and
/// the start-line limit.
/// The rule a bare LF in the head breaks (strict by default).
pub(crate) const BARE_LF_HEAD: &str = "bare LF in the message head (lines end in CRLF)";

fn start_line_end(h: &[u8], base: u64, cfg: &Config) -> Result<Option<(usize, usize)>, FrameError> {
    let Some(nl) = memchr::memchr(b'\n', h) else {
        return Ok(None);
    };
    let e = if nl > 0 && h[nl - 1] == b'\r' {
        nl - 1
    } else if cfg.allow_bare_lf {
        nl
    } else {
        return Err(bad(BARE_LF_HEAD, base + nl as u64));
    };
    if let Some(cr) = memchr::memchr(b'\r', &h[..e]) {
        return Err(bad("bare CR in the message head", base + cr as u64));
    }
    if e > cfg.max_request_line {
        return Err(FrameError::TooLarge {
            declared: e as u64,
            max: cfg.max_request_line as u64,
        });
    }
    Ok(Some((e, nl + 1)))
}

fn span(r: std::ops::Range<usize>) -> [u32; 2] {
    [r.start as u32, r.end as u32]
}

/// A well-formed request line, recognised in one pass without looking for its end first;
/// `None` for anything else (incomplete, malformed, too long), which the careful path then
/// sorts out.
#[inline]
fn request_line_fast(h: &[u8], cfg: &Config) -> Option<(Start, usize)> {
    let i = skip_token(h, 0);
    if i == 0 || h.get(i) != Some(&b' ') {
        return None;
    }
    let ts = i + 1;
    let j = skip_vchar(h, ts);
    if j == ts || h.get(j) != Some(&b' ') {
        return None;
    }
    // the version as one word: two compares instead of a byte-string match
    let v = u64::from_le_bytes(h.get(j + 1..j + 9)?.try_into().ok()?);
    let version = if v == u64::from_le_bytes(*b"HTTP/1.1") {
        Version::Http11
    } else if v == u64::from_le_bytes(*b"HTTP/1.0") {
        Version::Http10
    } else {
        return None;
    };
    let e = j + 9;
    let next = match h.get(e..e + 2)? {
        [b'\r', b'\n'] => e + 2,
        [b'\n', _] if cfg.allow_bare_lf => e + 1,
        _ => return None,
    };
    if e > cfg.max_request_line {
        return None;
    }
    let start = Start {
        a: span(0..i),
        b: span(ts..j),
        version,
        status: 0,
    };
    Some((start, next))
}

/// The server's role: request heads.
#[derive(Debug)]
pub(crate) struct Requests;

impl Role for Requests {
    type Head = RequestHead;

    #[inline]
    fn start_line(h: &[u8], base: u64, cfg: &Config) -> Result<Option<(Start, usize)>, FrameError> {
        if let Some(found) = request_line_fast(h, cfg) {
            return Ok(Some(found));
        }
        let Some((e, next)) = start_line_end(h, base, cfg)? else {
            return Ok(None);
        };
        let mut i = 0;
        while i < e && is_tchar(h[i]) {
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
        let start = Start {
            a: span(0..i),
            b: span(ts..j),
            version,
            status: 0,
        };
        Ok(Some((start, next)))
    }

    #[inline]
    fn finish(
        &self,
        headers: Headers,
        marks: Marks,
        s: Start,
        base: u64,
        cfg: &Config,
    ) -> Result<RequestHead, FrameError> {
        let f = facts(&headers, marks, base, true)?;
        if f.has_te && s.version == Version::Http10 {
            // RFC 9112 §6.1: the framing of an HTTP/1.0 request with Transfer-Encoding is
            // faulty (a 1.0 hop ignores the field and frames by Content-Length or nothing)
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request", base));
        }
        let (body, keep_alive) = framing(&f, s.version, cfg, base)?;
        let is_connect = headers.raw(s.a) == b"CONNECT";
        let body = if is_connect { BodyKind::Empty } else { body };
        let upgrade = is_connect || f.upgrade;
        Ok(RequestHead {
            headers,
            method: s.a,
            target: s.b,
            version: s.version,
            body,
            keep_alive,
            expect_continue: f.expect_continue,
            upgrade,
        })
    }

    #[inline]
    fn framing(h: &RequestHead) -> (BodyKind, bool) {
        (h.body, h.upgrade)
    }
}

/// The method of the request a response answers, as far as framing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    /// HEAD: the response has no body.
    Head,
    /// CONNECT: a 2xx ends the HTTP stream.
    Connect,
    /// Any other method.
    Other,
}

impl Asked {
    pub(crate) fn of(method: &[u8]) -> Asked {
        match method {
            b"HEAD" => Asked::Head,
            b"CONNECT" => Asked::Connect,
            _ => Asked::Other,
        }
    }
}

/// The client's role: response heads to a request with this method.
#[derive(Debug)]
pub(crate) struct Responses(pub(crate) Asked);

impl Role for Responses {
    type Head = ResponseHead;

    #[inline]
    fn start_line(h: &[u8], base: u64, cfg: &Config) -> Result<Option<(Start, usize)>, FrameError> {
        let Some((e, next)) = start_line_end(h, base, cfg)? else {
            return Ok(None);
        };
        let line = &h[..e];
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
            None => span(e..e),
            Some(b' ') => {
                if let Some(i) = line[13..].iter().position(|&b| !is_field_value_byte(b)) {
                    return Err(bad(
                        "a control character in the reason phrase",
                        base + 13 + i as u64,
                    ));
                }
                span(13..e)
            }
            Some(_) => return Err(bad("the status code must be 3 digits", base + 9)),
        };
        let start = Start {
            a: span(0..0),
            b: reason,
            version,
            status,
        };
        Ok(Some((start, next)))
    }

    #[inline]
    fn finish(
        &self,
        headers: Headers,
        marks: Marks,
        s: Start,
        base: u64,
        cfg: &Config,
    ) -> Result<ResponseHead, FrameError> {
        let f = facts(&headers, marks, base, false)?;
        let (mut body, keep_alive) = framing(&f, s.version, cfg, base)?;
        let status = s.status;
        let upgrade = status == 101 || (self.0 == Asked::Connect && (200..300).contains(&status));
        if (100..200).contains(&status)
            || status == 204
            || status == 304
            || self.0 == Asked::Head
            || upgrade
        {
            body = BodyKind::Empty;
        } else if !f.has_te && f.content_length.is_none() {
            body = BodyKind::UntilClose;
        }
        Ok(ResponseHead {
            status,
            reason: s.b,
            version: s.version,
            headers,
            body,
            keep_alive: keep_alive && body != BodyKind::UntilClose,
            upgrade,
        })
    }

    #[inline]
    fn framing(h: &ResponseHead) -> (BodyKind, bool) {
        (h.body, h.upgrade)
    }
}
