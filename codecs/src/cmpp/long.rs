//! Long messages: splitting text into concatenated parts (GSM 03.40 user data header) and
//! reassembling received parts. Sans-IO: the caller passes the time.
//!
//! ```text
//! UDH, 8-bit reference:   05 00 03 RR TT NN      (UDHL, IEI 0x00, length 3, ref, total, number)
//! UDH, 16-bit reference:  06 08 04 RH RL TT NN   (UDHL, IEI 0x08, length 4)
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::EncodeError;

use super::text::{decode_text, encode_text};
use super::{MsgFmt, udhi};

/// The concatenation reference written in each part's user data header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdhRef {
    /// An 8-bit reference (6-byte header): 134 bytes of payload per part.
    Eight(u8),
    /// A 16-bit reference (7-byte header): 133 bytes of payload per part.
    Sixteen(u16),
}

impl UdhRef {
    fn header(self, total: u8, number: u8) -> Vec<u8> {
        match self {
            UdhRef::Eight(r) => vec![0x05, 0x00, 0x03, r, total, number],
            UdhRef::Sixteen(r) => {
                let [h, l] = r.to_be_bytes();
                vec![0x06, 0x08, 0x04, h, l, total, number]
            }
        }
    }

    fn len(self) -> usize {
        match self {
            UdhRef::Eight(_) => 6,
            UdhRef::Sixteen(_) => 7,
        }
    }
}

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
    let mut chunks: Vec<Vec<u8>> = vec![Vec::new()];
    for u in &units {
        if u.len() > room {
            return Err(EncodeError::Invalid {
                rule: "the signature leaves no room for the text",
            });
        }
        if chunks.last().is_some_and(|c| c.len() + u.len() > room) {
            chunks.push(Vec::new());
        }
        if let Some(c) = chunks.last_mut() {
            c.extend_from_slice(u);
        }
    }
    let n = u8::try_from(chunks.len()).map_err(|_| EncodeError::Invalid {
        rule: "the text needs more than 255 parts",
    })?;
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

/// The concatenation information in a user data header: (reference, total, number) and
/// the header's length; `None` if the content has no concatenation element.
fn concat_info(content: &[u8]) -> Option<(u16, u8, u8, usize)> {
    let udhl = usize::from(*content.first()?);
    let udh = content.get(1..1 + udhl)?;
    let mut i = 0;
    while i + 2 <= udh.len() {
        let (iei, len) = (udh[i], usize::from(udh[i + 1]));
        let ie = udh.get(i + 2..i + 2 + len)?;
        match (iei, ie) {
            (0x00, &[r, t, n]) => return Some((u16::from(r), t, n, 1 + udhl)),
            (0x08, &[h, l, t, n]) => return Some((u16::from_be_bytes([h, l]), t, n, 1 + udhl)),
            _ => i += 2 + len,
        }
    }
    None
}

/// A message put back together from its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// The text, each part decoded with its own Msg_Fmt; `None` for binary parts.
    pub text: Option<String>,
    /// Each part's payload (user data header removed), in order.
    pub parts: Vec<Bytes>,
}

#[derive(Debug)]
struct Pending {
    first_seen: Instant,
    total: u8,
    parts: Vec<Option<(MsgFmt, Bytes)>>,
}

type Key = (Bytes, Bytes, u16, u8);

/// Puts long messages back together from their parts, keyed by source, destination,
/// reference and total. Parts may arrive out of order, twice, or with different Msg_Fmt;
/// incomplete messages expire after a timeout the caller chooses, and at most
/// `max_pending` are kept (the oldest is dropped to make room).
#[derive(Debug)]
pub struct Reassembler {
    pending: HashMap<Key, Pending>,
    timeout: Duration,
    max_pending: usize,
    dropped: u64,
}

impl Reassembler {
    /// A reassembler that keeps incomplete messages for `timeout` (SMSGate keeps them 2 h),
    /// at most `max_pending` of them.
    pub fn new(timeout: Duration, max_pending: usize) -> Self {
        Reassembler {
            pending: HashMap::new(),
            timeout,
            max_pending: max_pending.max(1),
            dropped: 0,
        }
    }

    /// Incomplete messages held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Incomplete messages dropped so far (expired or evicted).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Drops incomplete messages older than the timeout; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.pending.len();
        let timeout = self.timeout;
        self.pending
            .retain(|_, p| now.saturating_duration_since(p.first_seen) < timeout);
        let n = before - self.pending.len();
        self.dropped += n as u64;
        n
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
        let Some((reference, total, number, hlen)) =
            info.filter(|&(_, t, n, _)| t > 0 && n >= 1 && n <= t)
        else {
            let payload = match (udhi(tp_udhi), content.first()) {
                (true, Some(&l)) => content.slice((1 + usize::from(l)).min(content.len())..),
                _ => content.clone(),
            };
            return Some(Reassembled {
                text: decode_text(fmt, &payload),
                parts: vec![payload],
            });
        };
        let payload = content.slice(hlen..);
        if total == 1 {
            return Some(Reassembled {
                text: decode_text(fmt, &payload),
                parts: vec![payload],
            });
        }
        self.expire(now);
        let key = (
            Bytes::copy_from_slice(src),
            Bytes::copy_from_slice(dest),
            reference,
            total,
        );
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_pending {
            if let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.first_seen)
                .map(|(k, _)| k.clone())
            {
                self.pending.remove(&oldest);
                self.dropped += 1;
            }
        }
        let entry = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            first_seen: now,
            total,
            parts: vec![None; usize::from(total)],
        });
        let slot = &mut entry.parts[usize::from(number) - 1];
        if slot.is_none() {
            *slot = Some((fmt, payload));
        }
        if entry.parts.iter().any(Option::is_none) {
            return None;
        }
        let done = self.pending.remove(&key)?;
        let _ = done.total;
        let parts: Vec<(MsgFmt, Bytes)> = done.parts.into_iter().flatten().collect();
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
