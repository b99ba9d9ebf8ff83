//! Turn a nom parser into the message half of a protocol.

use std::fmt;
use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use nom::IResult;

use crate::{EncodeError, FrameError, MessageCodec};

/// A [`MessageCodec`] made of a nom parser and an encode function.
///
/// The parser gets the whole frame. Its errors become [`FrameError::Malformed`] with the
/// nom error kind as the rule and the frame offset where it failed; `Incomplete` (the
/// frame is shorter than the grammar needs) becomes [`FrameError::Malformed`] with the
/// rule `"frame ends before the message does"`; bytes the parser leaves unread are
/// reported as `"trailing bytes after the message"`, never ignored.
///
/// # Examples
///
/// A private protocol whose frames hold a one-byte kind, a big-endian `u16` id and the
/// rest as payload:
///
/// ```
/// use bytes::{BufMut, Bytes};
/// use nom::{IResult, Parser, number::complete::{be_u16, u8}, combinator::rest};
/// use packwire_core::{FrameError, MessageCodec, NomMessage};
///
/// #[derive(Debug, PartialEq)]
/// struct Msg { kind: u8, id: u16, payload: Vec<u8> }
///
/// fn parse(i: &[u8]) -> IResult<&[u8], Msg> {
///     let (i, (kind, id, payload)) = (u8, be_u16, rest).parse(i)?;
///     Ok((i, Msg { kind, id, payload: payload.to_vec() }))
/// }
///
/// let mut codec = NomMessage::new(parse, |m: Msg, dst: &mut bytes::BytesMut| {
///     dst.put_u8(m.kind);
///     dst.put_u16(m.id);
///     dst.put_slice(&m.payload);
///     Ok(())
/// });
///
/// let msg = codec.load(Bytes::from_static(b"\x07\x00\x2ahi"))?;
/// assert_eq!(msg, Msg { kind: 7, id: 42, payload: b"hi".to_vec() });
///
/// // two bytes cannot hold kind + id: a typed error, not a panic
/// let err = codec.load(Bytes::from_static(b"\x07\x00")).unwrap_err();
/// assert!(matches!(err, FrameError::Malformed { .. }));
///
/// let mut out = bytes::BytesMut::new();
/// codec.encode(msg, &mut out).unwrap();
/// assert_eq!(&out[..], b"\x07\x00\x2ahi");
/// # Ok::<(), FrameError>(())
/// ```
///
/// Stack it on a framing with [`crate::Protocol::new`] to get a full
/// `tokio_util::codec::{Decoder, Encoder}`.
///
/// # Zero-copy fields
///
/// [`NomMessage::zero_copy`] hands the parser the frame's `Bytes` instead of a slice, so a
/// field can be cut out of it without a copy (`frame.slice_ref(part)`, where `part` is a
/// slice the parser got from the frame):
///
/// ```
/// use bytes::{BufMut, Bytes};
/// use nom::{IResult, Parser, number::complete::u8, combinator::rest};
/// use packwire_core::{MessageCodec, NomMessage};
///
/// #[derive(Debug, PartialEq)]
/// struct Msg { kind: u8, payload: Bytes }
///
/// fn parse(frame: &Bytes) -> IResult<&[u8], Msg> {
///     let (i, (kind, payload)) = (u8, rest).parse(&frame[..])?;
///     Ok((i, Msg { kind, payload: frame.slice_ref(payload) }))
/// }
///
/// let mut codec = NomMessage::zero_copy(parse, |m: Msg, dst: &mut bytes::BytesMut| {
///     dst.put_u8(m.kind);
///     dst.put_slice(&m.payload);
///     Ok(())
/// });
/// let frame = Bytes::from_static(b"\x07hello");
/// let msg = codec.load(frame.clone())?;
/// assert_eq!(msg.payload, "hello");
/// // the payload is the frame's own memory
/// assert_eq!(msg.payload.as_ptr(), frame[1..].as_ptr());
/// # Ok::<(), packwire_core::FrameError>(())
/// ```
pub struct NomMessage<M, P, E> {
    parse: P,
    encode: E,
    _message: PhantomData<fn() -> M>,
}

impl<M, P, E> NomMessage<M, P, E>
where
    P: FnMut(&[u8]) -> IResult<&[u8], M>,
    E: FnMut(M, &mut BytesMut) -> Result<(), EncodeError>,
{
    /// A message codec from a parser and an encoder.
    pub fn new(parse: P, encode: E) -> Self {
        NomMessage {
            parse,
            encode,
            _message: PhantomData,
        }
    }
}

/// A parser over the frame's `Bytes` (see [`NomMessage::zero_copy`]).
#[derive(Debug, Clone, Copy)]
pub struct ZeroCopy<P>(P);

impl<M, P, E> NomMessage<M, ZeroCopy<P>, E>
where
    P: FnMut(&Bytes) -> IResult<&[u8], M>,
    E: FnMut(M, &mut BytesMut) -> Result<(), EncodeError>,
{
    /// A message codec whose parser gets the frame's `Bytes`, to slice fields out of it
    /// without copying them. Errors map as for [`NomMessage::new`].
    pub fn zero_copy(parse: P, encode: E) -> Self {
        NomMessage {
            parse: ZeroCopy(parse),
            encode,
            _message: PhantomData,
        }
    }
}

impl<M, P, E> MessageCodec for NomMessage<M, ZeroCopy<P>, E>
where
    P: FnMut(&Bytes) -> IResult<&[u8], M>,
    E: FnMut(M, &mut BytesMut) -> Result<(), EncodeError>,
{
    type Message = M;

    fn load(&mut self, frame: Bytes) -> Result<M, FrameError> {
        nom_result(&frame, (self.parse.0)(&frame))
    }

    fn encode(&mut self, msg: M, dst: &mut BytesMut) -> Result<(), EncodeError> {
        (self.encode)(msg, dst)
    }
}

impl<M, P, E> fmt::Debug for NomMessage<M, P, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NomMessage")
            .field("message", &std::any::type_name::<M>())
            .finish_non_exhaustive()
    }
}

impl<M, P, E> MessageCodec for NomMessage<M, P, E>
where
    P: FnMut(&[u8]) -> IResult<&[u8], M>,
    E: FnMut(M, &mut BytesMut) -> Result<(), EncodeError>,
{
    type Message = M;

    fn load(&mut self, frame: Bytes) -> Result<M, FrameError> {
        nom_result(&frame, (self.parse)(&frame))
    }

    fn encode(&mut self, msg: M, dst: &mut BytesMut) -> Result<(), EncodeError> {
        (self.encode)(msg, dst)
    }
}

/// Maps the result of a nom parser run over `input` to a [`FrameError`]: errors name the
/// nom rule and the offset, `Incomplete` is a short frame, unread bytes are an error.
///
/// Use it in hand-written [`MessageCodec`]s that call nom parsers.
///
/// # Errors
/// [`FrameError::Malformed`] as described on [`NomMessage`].
pub fn nom_result<M>(input: &[u8], result: IResult<&[u8], M>) -> Result<M, FrameError> {
    match result {
        Ok((&[], m)) => Ok(m),
        Ok((rest, _)) => Err(FrameError::malformed(
            "trailing bytes after the message",
            (input.len() - rest.len()) as u64,
        )),
        Err(nom::Err::Incomplete(_)) => Err(FrameError::malformed(
            "frame ends before the message does",
            input.len() as u64,
        )),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let offset = input.len().saturating_sub(e.input.len()) as u64;
            let rule = if e.input.is_empty() || e.code == nom::error::ErrorKind::Eof {
                "frame ends before the message does"
            } else {
                kind_rule(e.code)
            };
            Err(FrameError::malformed(rule, offset))
        }
    }
}

/// A static name for a nom error kind (the `rule` of the [`FrameError`]).
fn kind_rule(kind: nom::error::ErrorKind) -> &'static str {
    use nom::error::ErrorKind as K;
    match kind {
        K::Tag => "Tag",
        K::Char => "Char",
        K::Verify => "Verify",
        K::MapRes => "MapRes",
        K::MapOpt => "MapOpt",
        K::Alt => "Alt",
        K::Switch => "Switch",
        K::Count => "Count",
        K::Many0 | K::Many1 | K::ManyTill | K::ManyMN => "Many",
        K::LengthValue => "LengthValue",
        K::TakeUntil => "TakeUntil",
        K::TakeWhile1 | K::TakeWhileMN | K::TakeTill1 => "TakeWhile",
        K::IsA | K::IsNot => "IsA",
        K::Digit | K::HexDigit | K::OctDigit | K::AlphaNumeric | K::Alpha => "Digit",
        K::Fail => "Fail",
        _ => "nom parser rejected the frame",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nom::Parser;
    use nom::bytes::complete::tag;
    use nom::number::complete::be_u32;

    fn magic_then_u32(i: &[u8]) -> IResult<&[u8], u32> {
        let (i, (_, v)) = (tag(&b"PW"[..]), be_u32).parse(i)?;
        Ok((i, v))
    }

    #[test]
    fn trailing_bytes_are_reported_with_their_offset() {
        let err = nom_result(b"PW\0\0\0\x01zz", magic_then_u32(b"PW\0\0\0\x01zz")).unwrap_err();
        assert_eq!(err.rule(), Some("trailing bytes after the message"));
        assert!(matches!(err, FrameError::Malformed { offset: 6, .. }));
    }

    #[test]
    fn a_failed_tag_names_the_nom_rule_and_offset() {
        let input = b"XW\0\0\0\x01";
        let err = nom_result(input, magic_then_u32(input)).unwrap_err();
        assert!(
            matches!(err, FrameError::Malformed { offset: 0, .. }),
            "{err:?}"
        );
        assert_eq!(err.rule(), Some("Tag"));
    }

    #[test]
    fn a_short_frame_is_a_malformed_frame() {
        let input = b"PW\0\0";
        let err = nom_result(input, magic_then_u32(input)).unwrap_err();
        assert_eq!(err.rule(), Some("frame ends before the message does"));
    }
}
