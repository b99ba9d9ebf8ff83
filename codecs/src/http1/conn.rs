//! The resumable decoder both roles share: parse a head line by line as its lines arrive
//! (never twice once complete), then frame the body by Content-Length, chunked coding or
//! the end of the stream.

use bytes::{Buf, BytesMut};
use packwire_core::{FrameError, Phase};

use super::fields::Spans;
use super::head::{Line, Marks, Role, Start, bad, field_line, trailer_lines};
use super::scan::is_tchar;
use super::{BodyKind, Config, Event, Headers};

#[derive(Debug, Clone, Copy)]
enum Chunk {
    /// scanning the chunk-size line: bytes searched so far
    Size { scanned: usize },
    /// chunk data still to come
    Data(u64),
    /// the CRLF after chunk data
    Crlf,
    /// the trailer section: bytes searched, start of the current line
    Trailers { scanned: usize, line: usize },
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// reading a head (its progress is in `Reader::head`)
    Head,
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    /// the message is complete: emit End next
    End {
        upgrade: bool,
    },
    /// the stream is no longer HTTP (Upgrade, CONNECT): bytes are left untouched
    Upgraded,
}

/// How far the head at the front of the buffer has been read.
#[derive(Debug, Default)]
struct HeadProgress {
    /// bytes already searched for a line end (a trickling peer's bytes are looked at once)
    scanned: usize,
    /// where the first line not yet parsed starts
    parsed: usize,
    /// the start line, once parsed
    start: Option<Start>,
    /// the fields parsed so far
    spans: Spans,
    /// which of them decide the framing
    marks: Marks,
    /// the buffer may grow to this before a limit is passed (the request line's while it
    /// has not ended, the head's then), kept by `more` for `head_pending`
    limit: usize,
}

#[derive(Debug)]
pub(crate) struct Reader {
    state: State,
    head: HeadProgress,
    /// stream offset of the first byte in the buffer
    consumed: u64,
    /// chunk-extension bytes seen in this message
    ext: usize,
    failed: bool,
    pub(crate) cfg: Config,
}

impl Reader {
    pub(crate) fn new(cfg: Config) -> Self {
        Reader {
            state: State::Head,
            head: HeadProgress::default(),
            consumed: 0,
            ext: 0,
            failed: false,
            cfg,
        }
    }

    pub(crate) fn is_upgraded(&self) -> bool {
        matches!(self.state, State::Upgraded)
    }

    /// Goes back to parsing HTTP after an upgrade the server refused.
    pub(crate) fn resume(&mut self) {
        if self.is_upgraded() {
            self.state = State::Head;
        }
    }

    #[inline]
    fn take(&mut self, src: &mut BytesMut, n: usize) -> bytes::Bytes {
        self.consumed += n as u64;
        src.split_to(n).freeze()
    }

    #[inline]
    fn skip(&mut self, src: &mut BytesMut, n: usize) {
        self.consumed += n as u64;
        src.advance(n);
    }

    #[inline]
    pub(crate) fn decode<R: Role>(
        &mut self,
        src: &mut BytesMut,
        role: &R,
    ) -> Result<Option<Event<R::Head>>, FrameError> {
        if self.failed {
            return Err(bad("the stream already failed", self.consumed));
        }
        let r = self.step(src, role);
        if r.is_err() {
            self.failed = true;
            self.head.limit = 0;
        }
        r
    }

    #[inline]
    fn step<R: Role>(
        &mut self,
        src: &mut BytesMut,
        role: &R,
    ) -> Result<Option<Event<R::Head>>, FrameError> {
        loop {
            match self.state {
                State::Head => {
                    let Some(end) = self.parse_head::<R>(src)? else {
                        return Ok(None);
                    };
                    let base = self.consumed;
                    let start = self
                        .head
                        .start
                        .take()
                        .expect("a complete head has a start line");
                    let spans = self.head.spans.take();
                    let marks = std::mem::take(&mut self.head.marks);
                    (self.head.scanned, self.head.parsed) = (0, 0);
                    let headers = Headers::from_spans(self.take(src, end), spans);
                    let h = role.finish(headers, marks, start, base, &self.cfg)?;
                    let (body, upgrade) = R::framing(&h);
                    self.ext = 0;
                    self.state = match body {
                        BodyKind::Empty => State::End { upgrade },
                        BodyKind::Length(n) => State::Length(n),
                        BodyKind::Chunked => State::Chunked(Chunk::Size { scanned: 0 }),
                        BodyKind::UntilClose => State::UntilClose,
                    };
                    return Ok(Some(Event::Head(h)));
                }
                State::Length(rem) => {
                    if src.is_empty() {
                        return Ok(None);
                    }
                    let n = rem.min(src.len() as u64);
                    let data = self.take(src, n as usize);
                    self.state = if n == rem {
                        State::End { upgrade: false }
                    } else {
                        State::Length(rem - n)
                    };
                    return Ok(Some(Event::Data(data)));
                }
                State::UntilClose => {
                    if src.is_empty() {
                        return Ok(None);
                    }
                    let n = src.len();
                    return Ok(Some(Event::Data(self.take(src, n))));
                }
                State::End { upgrade } => {
                    self.state = if upgrade {
                        State::Upgraded
                    } else {
                        State::Head
                    };
                    return Ok(Some(Event::End));
                }
                State::Upgraded => return Ok(None),
                State::Chunked(c) => match self.chunk(src, c)? {
                    Some(ev) => return Ok(Some(ev)),
                    None if matches!(self.state, State::Chunked(now) if same(now, c)) => {
                        return Ok(None);
                    }
                    None => {}
                },
            }
        }
    }

    /// The hot path of a message without a body: its `End` right after its head. Says
    /// whether it was due (and moves on to the next head).
    #[inline]
    pub(crate) fn end_due(&mut self) -> bool {
        // (a failed stream yields nothing more, whatever state it stopped in)
        let due = !self.failed && matches!(self.state, State::End { upgrade: false });
        if due {
            self.state = State::Head;
        }
        due
    }

    /// The hot path of a trickling head: says whether the head is surely still incomplete,
    /// without building (and copying around) a decode result, from the bytes that arrived
    /// since the last call. The start line is parsed as soon as it ends; the field lines
    /// only once the empty line that ends the head (or a limit) has arrived, so a head
    /// that comes in many pieces is parsed in one go, not line by line. Anything else is
    /// left to `decode`.
    #[inline]
    pub(crate) fn head_pending(&mut self, src: &BytesMut) -> bool {
        let scanned = self.head.scanned;
        // (`scanned` is 0 outside a head, and `limit` 0 on a failed stream)
        if scanned == 0 || src.len() > self.head.limit || !matches!(self.state, State::Head) {
            return false;
        }
        let Some(new) = src.get(scanned..) else {
            return false;
        };
        let pending = match find_lf(new) {
            None => true,
            Some(_) if self.head.start.is_none() => false,
            Some(i) => !ends_head(src, scanned + i),
        };
        if pending {
            self.head.scanned = src.len();
        }
        pending
    }

    /// Parses the lines of the head that have arrived, resuming at the first line not yet
    /// parsed; the index just past the head once its empty line is parsed.
    fn parse_head<R: Role>(&mut self, src: &mut BytesMut) -> Result<Option<usize>, FrameError> {
        if self.head.scanned > src.len() {
            // the caller took bytes from the buffer between calls (outside the decoder
            // contract): start the head over rather than index past the end
            self.head = HeadProgress::default();
        }
        if self.head.start.is_none() && self.head.parsed == 0 {
            // RFC 9112 §2.2: empty lines before the start line are ignored
            loop {
                match &src[..] {
                    [b'\n', ..] if self.cfg.allow_bare_lf => self.skip(src, 1),
                    [b'\n', ..] => return Err(bad(super::head::BARE_LF_HEAD, self.consumed)),
                    [b'\r', b'\n', ..] => self.skip(src, 2),
                    [b'\r'] => return Ok(None),
                    _ => break,
                }
            }
        }
        let base = self.consumed;
        let len = src.len();
        // Continuing a head: parse only up to the last line end that arrived, so a line
        // still arriving is not parsed in part only to be parsed again.
        let parsed = self.head.parsed;
        let h = match self.head.scanned {
            0 => &src[..],
            _ => match memchr::memrchr(b'\n', &src[parsed..]) {
                Some(i) => &src[..parsed + i + 1],
                None => return self.more(len, parsed),
            },
        };
        let mut pos = self.head.parsed;
        if self.head.start.is_none() {
            match R::start_line(h, base, &self.cfg)? {
                Some((start, next)) => {
                    self.head.start = Some(start);
                    pos = next;
                }
                None => return self.more(len, 0),
            }
        }
        loop {
            match field_line(h, pos, false, self.cfg.allow_bare_lf) {
                Line::Bad(rule, at) => {
                    return self.line_error(h, len, pos, bad(rule, base + at as u64));
                }
                Line::Field(span, next) => {
                    if next > self.cfg.max_head {
                        return Err(self.head_too_large(next));
                    }
                    if self.head.spans.len() == self.cfg.max_headers {
                        return Err(bad("more header fields than the limit", base + pos as u64));
                    }
                    let name = &h[span[0] as usize..span[1] as usize];
                    self.head.marks.note(self.head.spans.len(), name);
                    self.head.spans.push(span);
                    pos = next;
                }
                Line::End(next) => {
                    self.within_head(next)?;
                    return Ok(Some(next));
                }
                Line::More => return self.more(len, pos),
            }
        }
    }

    /// A line ending just before `next` must lie within the head limit.
    #[inline]
    fn within_head(&self, next: usize) -> Result<(), FrameError> {
        if next > self.cfg.max_head {
            return Err(self.head_too_large(next));
        }
        Ok(())
    }

    /// The error for a head line that ends past the head limit, at `next`.
    #[cold]
    fn head_too_large(&self, next: usize) -> FrameError {
        FrameError::TooLarge {
            declared: next as u64,
            max: self.cfg.max_head as u64,
        }
    }

    /// The buffer (`len` bytes) ends inside the line at `pos`: wait for more, unless a
    /// limit is already passed.
    fn more(&mut self, len: usize, pos: usize) -> Result<Option<usize>, FrameError> {
        if self.head.start.is_none() && len > self.cfg.max_request_line + 1 {
            return Err(FrameError::TooLarge {
                declared: len as u64,
                max: self.cfg.max_request_line as u64,
            });
        }
        if len > self.cfg.max_head {
            return Err(FrameError::TooLarge {
                declared: len as u64,
                max: self.cfg.max_head as u64,
            });
        }
        self.head.parsed = pos;
        self.head.scanned = len;
        self.head.limit = match self.head.start {
            None => self.cfg.max_head.min(self.cfg.max_request_line + 1),
            Some(_) => self.cfg.max_head,
        };
        Ok(None)
    }

    /// A field line at `pos` broke a rule. It is reported once the line has ended within
    /// the head limit, so where the stream was cut cannot change the error.
    #[cold]
    fn line_error(
        &mut self,
        h: &[u8],
        len: usize,
        pos: usize,
        e: FrameError,
    ) -> Result<Option<usize>, FrameError> {
        match memchr::memchr(b'\n', &h[pos..]) {
            Some(i) => {
                self.within_head(pos + i + 1)?;
                Err(e)
            }
            None => self.more(len, pos),
        }
    }

    fn chunk<H>(&mut self, src: &mut BytesMut, c: Chunk) -> Result<Option<Event<H>>, FrameError> {
        match c {
            Chunk::Size { scanned } => {
                // (a buffer that shrank between calls is searched again from its start)
                let scanned = if scanned > src.len() { 0 } else { scanned };
                let Some(i) = memchr::memchr(b'\n', &src[scanned..]) else {
                    if src.len() > self.cfg.max_chunk_ext + 64 {
                        return Err(FrameError::TooLarge {
                            declared: src.len() as u64,
                            max: self.cfg.max_chunk_ext as u64,
                        });
                    }
                    self.state = State::Chunked(Chunk::Size { scanned: src.len() });
                    return Ok(None);
                };
                let nl = scanned + i;
                let size = self.chunk_size(&src[..nl])?;
                self.skip(src, nl + 1);
                self.state = State::Chunked(if size == 0 {
                    Chunk::Trailers {
                        scanned: 0,
                        line: 0,
                    }
                } else {
                    Chunk::Data(size)
                });
                Ok(None)
            }
            Chunk::Data(rem) => {
                if src.is_empty() {
                    return Ok(None);
                }
                let n = rem.min(src.len() as u64);
                let data = self.take(src, n as usize);
                self.state = State::Chunked(if n == rem {
                    Chunk::Crlf
                } else {
                    Chunk::Data(rem - n)
                });
                Ok(Some(Event::Data(data)))
            }
            Chunk::Crlf => match &src[..] {
                [] | [b'\r'] => Ok(None),
                [b'\r', b'\n', ..] => {
                    self.skip(src, 2);
                    self.state = State::Chunked(Chunk::Size { scanned: 0 });
                    Ok(None)
                }
                [b'\n', ..] => Err(bad("bare LF in chunked framing", self.consumed)),
                [b'\r', ..] => Err(bad("bare CR in chunked framing", self.consumed)),
                _ => Err(bad("chunk data must be followed by CRLF", self.consumed)),
            },
            Chunk::Trailers {
                mut scanned,
                mut line,
            } => {
                if scanned > src.len() {
                    (scanned, line) = (0, 0);
                }
                while let Some(i) = memchr::memchr(b'\n', &src[scanned..]) {
                    let nl = scanned + i;
                    if nl == line || src[nl - 1] != b'\r' {
                        return Err(bad("bare LF in chunked framing", self.consumed + nl as u64));
                    }
                    if nl == line + 1 {
                        // the empty line: the message ends
                        let base = self.consumed;
                        let section = self.take(src, nl + 1);
                        self.state = State::End { upgrade: false };
                        if line == 0 {
                            return Ok(None);
                        }
                        let trailers = trailer_lines(section, base, self.cfg.max_headers)?;
                        return Ok(Some(Event::Trailers(trailers)));
                    }
                    line = nl + 1;
                    scanned = nl + 1;
                }
                if src.len() > self.cfg.max_trailers {
                    return Err(FrameError::TooLarge {
                        declared: src.len() as u64,
                        max: self.cfg.max_trailers as u64,
                    });
                }
                self.state = State::Chunked(Chunk::Trailers {
                    scanned: src.len(),
                    line,
                });
                Ok(None)
            }
        }
    }

    /// Parses a chunk-size line (without its LF): `1*HEXDIG *( BWS ";" BWS name [ BWS "="
    /// BWS ( token / quoted-string ) ] ) CR`.
    fn chunk_size(&mut self, line: &[u8]) -> Result<u64, FrameError> {
        let at = self.consumed;
        let Some((b'\r', line)) = line.split_last() else {
            return Err(bad("bare LF in chunked framing", at + line.len() as u64));
        };
        if let Some(cr) = memchr::memchr(b'\r', line) {
            return Err(bad("bare CR in chunked framing", at + cr as u64));
        }
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return Err(bad("the chunk size is not hexadecimal", at));
        }
        // BWS belongs to an extension (`BWS ";"`): whitespace after the size with no
        // extension is read differently by different parsers
        let rest = &line[digits..];
        let ws = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if ws > 0 && rest.get(ws) != Some(&b';') {
            return Err(bad(
                "whitespace after the chunk size without an extension",
                at + digits as u64,
            ));
        }
        let mut size = 0u64;
        for &d in &line[..digits] {
            let v = u64::from((d as char).to_digit(16).unwrap_or(0));
            size = size
                .checked_mul(16)
                .and_then(|s| s.checked_add(v))
                .ok_or_else(|| bad("the chunk size overflows", at))?;
        }
        let ext = &line[digits..];
        self.ext += ext.len();
        if self.ext > self.cfg.max_chunk_ext {
            return Err(FrameError::TooLarge {
                declared: self.ext as u64,
                max: self.cfg.max_chunk_ext as u64,
            });
        }
        if !valid_extensions(ext) {
            return Err(bad("a malformed chunk extension", at + digits as u64));
        }
        Ok(size)
    }

    pub(crate) fn decode_eof<R: Role>(
        &mut self,
        src: &mut BytesMut,
        role: &R,
    ) -> Result<Option<Event<R::Head>>, FrameError> {
        if let Some(ev) = self.decode(src, role)? {
            return Ok(Some(ev));
        }
        match self.state {
            State::Head if src.is_empty() => Ok(None),
            State::Head => Err(FrameError::Truncated {
                phase: Phase::MidHeader,
                have: src.len(),
                need: None,
            }),
            State::UntilClose => {
                // the end of the stream is the end of this body
                self.state = State::Head;
                Ok(Some(Event::End))
            }
            State::Upgraded => Ok(None),
            State::Length(rem) => Err(FrameError::Truncated {
                phase: Phase::MidFrame,
                have: src.len(),
                need: Some(src.len() + rem as usize),
            }),
            State::Chunked(_) | State::End { .. } => Err(FrameError::Truncated {
                phase: Phase::MidFrame,
                have: src.len(),
                need: None,
            }),
        }
    }
}

/// Whether an empty line ends among the bytes from `first_lf` (the first LF among those
/// not searched before) on: the LF that ends it is one of them (it is what completes the
/// line), so only their LFs are looked at, each with the one or two bytes before it.
fn ends_head(src: &[u8], first_lf: usize) -> bool {
    let mut at = first_lf;
    while let Some(i) = src.get(at..).and_then(find_lf) {
        let lf = at + i;
        let empty = matches!(src.get(..lf), Some([.., b'\n'] | [.., b'\n', b'\r']));
        if empty {
            return true;
        }
        at = lf + 1;
    }
    false
}

/// `memchr` for `\n`; for the few bytes a trickling peer adds per read, a plain loop
/// (under 16) or eight bytes a step (up to 64), cheaper there than `memchr`'s call.
#[inline]
fn find_lf(hay: &[u8]) -> Option<usize> {
    if hay.len() < 16 {
        hay.iter().position(|&b| b == b'\n')
    } else if hay.len() <= 64 {
        super::scan::find_short(hay, b'\n')
    } else {
        memchr::memchr(b'\n', hay)
    }
}

fn same(a: Chunk, b: Chunk) -> bool {
    match (a, b) {
        (Chunk::Size { scanned: x }, Chunk::Size { scanned: y }) => x == y,
        (Chunk::Data(x), Chunk::Data(y)) => x == y,
        (Chunk::Crlf, Chunk::Crlf) => true,
        (
            Chunk::Trailers {
                scanned: x,
                line: l,
            },
            Chunk::Trailers {
                scanned: y,
                line: m,
            },
        ) => x == y && l == m,
        _ => false,
    }
}

/// RFC 9112 §7.1.1 chunk extensions.
fn valid_extensions(mut s: &[u8]) -> bool {
    fn bws(s: &[u8]) -> &[u8] {
        let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        &s[n..]
    }
    fn token(s: &[u8]) -> Option<&[u8]> {
        let n = s.iter().take_while(|&&b| is_tchar(b)).count();
        (n > 0).then(|| &s[n..])
    }
    fn quoted(s: &[u8]) -> Option<&[u8]> {
        let mut i = 1;
        while i < s.len() {
            match s[i] {
                b'"' => return Some(&s[i + 1..]),
                b'\\' => {
                    let c = *s.get(i + 1)?;
                    if !(c == b'\t' || c == b' ' || (0x21..=0x7e).contains(&c) || c >= 0x80) {
                        return None;
                    }
                    i += 2;
                }
                c if c == b'\t'
                    || c == b' '
                    || c == 0x21
                    || (0x23..=0x5b).contains(&c)
                    || (0x5d..=0x7e).contains(&c)
                    || c >= 0x80 =>
                {
                    i += 1
                }
                _ => return None,
            }
        }
        None
    }
    loop {
        s = bws(s);
        if s.is_empty() {
            return true;
        }
        let Some(rest) = s.strip_prefix(b";") else {
            return false;
        };
        let Some(rest) = token(bws(rest)) else {
            return false;
        };
        s = bws(rest);
        if let Some(rest) = s.strip_prefix(b"=") {
            let rest = bws(rest);
            let after = if rest.first() == Some(&b'"') {
                quoted(rest)
            } else {
                token(rest)
            };
            match after {
                Some(a) => s = a,
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ends_head, valid_extensions};

    #[test]
    fn chunk_extension_grammar() {
        for ok in [&b""[..], b";a", b"; a=b", b";a=\"x y\\\"z\";b", b" ;a = b"] {
            assert!(valid_extensions(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b";"[..],
            b"a",
            b";a=",
            b";a=\"open",
            b";a=b c",
            b";=b",
            b";a=\"\x01\"",
        ] {
            assert!(!valid_extensions(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// The empty line is found from the first new LF whatever bytes came before it, with
    /// CRLF or bare LF line ends, and nothing else counts as one.
    #[test]
    fn the_end_of_a_head_is_found_from_its_last_lf() {
        let head = b"GET / HTTP/1.1\r\nA: b\r\n\r\n";
        let lfs: Vec<usize> = (0..head.len()).filter(|&i| head[i] == b'\n').collect();
        assert!(ends_head(head, lfs[0]), "from the first LF on");
        assert!(ends_head(head, *lfs.last().unwrap()), "from the last");
        assert!(
            !ends_head(&head[..head.len() - 1], lfs[1]),
            "its LF not arrived"
        );
        assert!(ends_head(b"A: b\n\n", 4) && ends_head(b"A: b\r\n\n", 5));
        assert!(!ends_head(b"A: b\r\nC: d\r\n", 5));
        assert!(
            !ends_head(b"A: b\r\n \r\n", 5),
            "a line of one space is not empty"
        );
    }
}
