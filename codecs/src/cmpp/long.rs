//! Long messages: splitting text into concatenated parts (GSM 03.40 user data header,
//! [`crate::sms::concat_info`]) and reassembling received parts. Sans-IO: the caller passes the
//! time.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::EncodeError;

use super::text::{decode_text, encode_text};
use super::{MsgFmt, udhi};
use crate::sms::{Parts, UdhRef, concat_info};

/// One SUBMIT's worth of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Msg_Content: the user data header (for a multi-part message) and the payload.
    pub content: Bytes,
    /// TP_udhi: 1 when `content` starts with a user data header.
    pub tp_udhi: u8,
    /// Pk_total.
    pub pk_total: u8,
    /// Pk_number (from 1).
    pub pk_number: u8,
}

/// How to split a text.
#[derive(Debug, Clone)]
pub struct Split<'a> {
    /// The format: ASCII, UCS2 or GBK.
    pub fmt: MsgFmt,
    /// The reference for the parts' headers.
    pub reference: UdhRef,
    /// A signature (such as `【签名】`) put at the head of every part, so that each part
    /// shows it.
    pub signature: Option<&'a str>,
}

/// The most bytes of content one SMS carries, and the most an ASCII one carries (< 160).
const SINGLE_MAX: usize = 140;
const SINGLE_MAX_ASCII: usize = 159;

/// Splits `text` into parts that each fit one SUBMIT: one part without a header if it
/// fits a single message, otherwise parts with a concatenation header. A character is
/// never cut: UCS2 surrogate pairs and GBK's multi-byte characters stay whole.
///
/// # Errors
/// When the text cannot be encoded in the format, or needs more than 255 parts.
///
/// ```
/// use packwire_codecs::cmpp::{split_text, MsgFmt, Split, UdhRef};
/// let split = Split { fmt: MsgFmt::UCS2, reference: UdhRef::Eight(7), signature: None };
/// assert_eq!(split_text(&"好".repeat(70), &split)?.len(), 1);
/// let parts = split_text(&"好".repeat(71), &split)?;
/// assert_eq!(parts.len(), 2);
/// assert_eq!(&parts[0].content[..6], &[0x05, 0x00, 0x03, 7, 2, 1]);
/// assert_eq!(parts[0].content.len(), 6 + 67 * 2);
/// # Ok::<(), packwire_core::EncodeError>(())
/// ```
pub fn split_text(text: &str, split: &Split<'_>) -> Result<Vec<Part>, EncodeError> {
    let sig = match split.signature {
        Some(s) => encode_text(split.fmt, s)?,
        None => Vec::new(),
    };
    // each character's bytes, so that no part boundary falls inside one
    let mut units: Vec<Vec<u8>> = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        units.push(encode_text(split.fmt, c.encode_utf8(&mut buf))?);
    }
    let total: usize = units.iter().map(Vec::len).sum::<usize>() + sig.len();
    let single = if split.fmt == MsgFmt::ASCII {
        SINGLE_MAX_ASCII
    } else {
        SINGLE_MAX
    };
    if total <= single {
        let mut content = sig.clone();
        units.iter().for_each(|u| content.extend_from_slice(u));
        return Ok(vec![Part {
            content: Bytes::from(content),
            tp_udhi: 0,
            pk_total: 1,
            pk_number: 1,
        }]);
    }
    let room = SINGLE_MAX - split.reference.len() - sig.len();
    // UCS2 payloads stay a whole number of code units
    let room = if split.fmt == MsgFmt::UCS2 {
        room & !1
    } else {
        room
    };
    let chunks = crate::sms::pack_parts(&units, room)?;
    let n = chunks.len() as u8;
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let number = i as u8 + 1;
            let mut content = BytesMut::with_capacity(SINGLE_MAX);
            content.put_slice(&split.reference.header(n, number));
            content.put_slice(&sig);
            content.put_slice(&chunk);
            Part {
                content: content.freeze(),
                tp_udhi: 1,
                pk_total: n,
                pk_number: number,
            }
        })
        .collect())
}

/// A message put back together from its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// The text, each part decoded with its own Msg_Fmt; `None` for binary parts.
    pub text: Option<String>,
    /// Each part's payload (user data header removed), in order.
    pub parts: Vec<Bytes>,
}

/// Puts long messages back together from their parts, keyed by source, destination,
/// reference and total. Parts may arrive out of order, twice, or with different Msg_Fmt;
/// incomplete messages expire after a timeout the caller chooses, and at most
/// `max_pending` are kept (the oldest is dropped to make room).
#[derive(Debug)]
pub struct Reassembler {
    parts: Parts<MsgFmt>,
}

impl Reassembler {
    /// A reassembler that keeps incomplete messages for `timeout` (SMSGate keeps them 2 h),
    /// at most `max_pending` of them.
    pub fn new(timeout: Duration, max_pending: usize) -> Self {
        Reassembler {
            parts: Parts::new(timeout, max_pending),
        }
    }

    /// Incomplete messages held.
    pub fn pending(&self) -> usize {
        self.parts.pending()
    }

    /// Incomplete messages dropped so far (expired or evicted).
    pub fn dropped(&self) -> u64 {
        self.parts.dropped()
    }

    /// Drops incomplete messages older than the timeout; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.parts.expire(now)
    }

    /// Takes one received part (a DELIVER's or SUBMIT's content): returns the whole message
    /// once every part is in. Content without a concatenation header is a whole message.
    pub fn push(
        &mut self,
        now: Instant,
        src: &[u8],
        dest: &[u8],
        msg_fmt: u8,
        tp_udhi: u8,
        content: &Bytes,
    ) -> Option<Reassembled> {
        let fmt = MsgFmt(msg_fmt);
        let info = if udhi(tp_udhi) {
            concat_info(content)
        } else {
            None
        };
        let Some((at, hlen)) = info.filter(|(c, _)| c.is_valid()) else {
            let payload = match (udhi(tp_udhi), content.first()) {
                (true, Some(&l)) => content.slice((1 + usize::from(l)).min(content.len())..),
                _ => content.clone(),
            };
            return Some(Reassembled {
                text: decode_text(fmt, &payload),
                parts: vec![payload],
            });
        };
        let parts = self
            .parts
            .push(now, src, dest, at, fmt, content.slice(hlen..))?;
        let text = parts
            .iter()
            .map(|(f, p)| decode_text(*f, p))
            .collect::<Option<Vec<String>>>()
            .map(|v| v.concat());
        Some(Reassembled {
            text,
            parts: parts.into_iter().map(|(_, p)| p).collect(),
        })
    }
}
