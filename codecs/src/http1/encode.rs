//! Writing heads, bodies and trailers: the framing header follows from the head's
//! [`BodyKind`], and nothing a caller passes can inject CR or LF.

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::EncodeError;

use super::scan::{is_field_value_byte, is_tchar};
use super::{BodyKind, Headers, Version};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Idle,
    Empty,
    Length(u64),
    Chunked { trailers_written: bool },
    UntilClose,
}

#[derive(Debug)]
pub(crate) struct Writer {
    body: Body,
}

fn invalid(rule: &'static str) -> EncodeError {
    EncodeError::Invalid { rule }
}

fn has(headers: &Headers, name: &[u8]) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

pub(crate) fn check_fields(headers: &Headers) -> Result<(), EncodeError> {
    for (n, v) in headers.iter() {
        if n.is_empty() || !n.iter().all(|&b| is_tchar(b)) {
            return Err(invalid("a header name must be a token"));
        }
        if !v.iter().all(|&b| is_field_value_byte(b)) {
            return Err(invalid(
                "a header value must not contain CR, LF or other control characters",
            ));
        }
    }
    Ok(())
}

fn put_fields(dst: &mut BytesMut, headers: &Headers) {
    for (n, v) in headers.iter() {
        dst.put_slice(n);
        dst.put_slice(b": ");
        dst.put_slice(v);
        dst.put_slice(b"\r\n");
    }
}

impl Writer {
    pub(crate) fn new() -> Self {
        Writer { body: Body::Idle }
    }

    /// Writes a head whose start line is already in `start`; `may_have_body` is false for
    /// responses that never carry one (1xx, 204, 304, answers to HEAD).
    pub(crate) fn head(
        &mut self,
        dst: &mut BytesMut,
        start: &[u8],
        headers: &Headers,
        body: BodyKind,
        may_have_body: bool,
        is_response: bool,
    ) -> Result<(), EncodeError> {
        if self.body != Body::Idle {
            return Err(invalid("the previous message is not finished"));
        }
        check_fields(headers)?;
        dst.reserve(
            start.len()
                + 64
                + headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 4)
                    .sum::<usize>(),
        );
        dst.put_slice(start);
        dst.put_slice(b"\r\n");
        put_fields(dst, headers);
        self.body = match body {
            BodyKind::Length(n) => {
                if !has(headers, b"content-length") {
                    dst.put_slice(format!("content-length: {n}\r\n").as_bytes());
                }
                Body::Length(n)
            }
            BodyKind::Chunked => {
                if !has(headers, b"transfer-encoding") {
                    dst.put_slice(b"transfer-encoding: chunked\r\n");
                }
                Body::Chunked {
                    trailers_written: false,
                }
            }
            BodyKind::UntilClose => Body::UntilClose,
            BodyKind::Empty => {
                if is_response && may_have_body && !has(headers, b"content-length") {
                    dst.put_slice(b"content-length: 0\r\n");
                }
                Body::Empty
            }
        };
        dst.put_slice(b"\r\n");
        Ok(())
    }

    pub(crate) fn data(&mut self, dst: &mut BytesMut, data: &Bytes) -> Result<(), EncodeError> {
        match &mut self.body {
            Body::Length(rem) => {
                if data.len() as u64 > *rem {
                    return Err(invalid("more body bytes than the Content-Length"));
                }
                *rem -= data.len() as u64;
                dst.put_slice(data);
            }
            Body::Chunked {
                trailers_written: false,
            } => {
                if !data.is_empty() {
                    dst.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
                    dst.put_slice(data);
                    dst.put_slice(b"\r\n");
                }
            }
            Body::UntilClose => dst.put_slice(data),
            Body::Empty if data.is_empty() => {}
            _ => return Err(invalid("this message has no body to write to")),
        }
        Ok(())
    }

    pub(crate) fn trailers(
        &mut self,
        dst: &mut BytesMut,
        trailers: &Headers,
    ) -> Result<(), EncodeError> {
        let Body::Chunked {
            trailers_written: false,
        } = self.body
        else {
            return Err(invalid("trailers need a chunked body"));
        };
        check_fields(trailers)?;
        dst.put_slice(b"0\r\n");
        put_fields(dst, trailers);
        dst.put_slice(b"\r\n");
        self.body = Body::Chunked {
            trailers_written: true,
        };
        Ok(())
    }

    pub(crate) fn end(&mut self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match self.body {
            Body::Length(rem) if rem > 0 => {
                return Err(invalid("fewer body bytes than the Content-Length"));
            }
            Body::Chunked {
                trailers_written: false,
            } => dst.put_slice(b"0\r\n\r\n"),
            Body::Idle => return Err(invalid("no message to end")),
            _ => {}
        }
        self.body = Body::Idle;
        Ok(())
    }
}

pub(crate) fn version_str(v: Version) -> &'static str {
    match v {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    }
}
