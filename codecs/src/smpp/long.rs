//! Texts longer than one short message, and the data codings SMPP names.

use bytes::Bytes;
use packwire_core::EncodeError;

use super::sm::{ESM_UDHI, Sm};
use super::tlv::{Tag, Tlvs};
use crate::sms::{self, UdhRef, gsm7};

/// A data_coding that carries text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// 0: the SMSC default alphabet, GSM 03.38 septets one per byte (as most SMSCs take
    /// them over SMPP).
    Gsm7,
    /// 1: IA5 / ASCII.
    Ascii,
    /// 3: ISO 8859-1.
    Latin1,
    /// 8: UCS2 (UTF-16BE).
    Ucs2,
}

impl Coding {
    /// Its data_coding value.
    pub fn data_coding(self) -> u8 {
        match self {
            Coding::Gsm7 => 0,
            Coding::Ascii => 1,
            Coding::Latin1 => 3,
            Coding::Ucs2 => 8,
        }
    }

    /// The coding a data_coding value names, if it is one of these (the message class
    /// range 0xF0-0xF3 with the default alphabet as `Gsm7`, 0xF4-0xF7 is 8-bit data).
    pub fn from_data_coding(dc: u8) -> Option<Coding> {
        match dc {
            0 => Some(Coding::Gsm7),
            1 => Some(Coding::Ascii),
            3 => Some(Coding::Latin1),
            8 => Some(Coding::Ucs2),
            0xf0..=0xf3 => Some(Coding::Gsm7),
            _ => None,
        }
    }

    /// The most compact coding that carries `text`: GSM 7-bit, else UCS2.
    pub fn pick(text: &str) -> Coding {
        if gsm7::is_gsm7(text) {
            Coding::Gsm7
        } else {
            Coding::Ucs2
        }
    }

    /// `text` in this coding.
    ///
    /// # Errors
    /// When a character does not exist in the coding.
    pub fn encode(self, text: &str) -> Result<Vec<u8>, EncodeError> {
        let lacks = |rule| EncodeError::Invalid { rule };
        match self {
            Coding::Gsm7 => gsm7::encode(text),
            Coding::Ascii if text.is_ascii() => Ok(text.as_bytes().to_vec()),
            Coding::Ascii => Err(lacks("the text is not ASCII")),
            Coding::Latin1 => {
                sms::encode_latin1(text).ok_or(lacks("the text has characters Latin-1 lacks"))
            }
            Coding::Ucs2 => Ok(sms::encode_ucs2(text)),
        }
    }

    /// Bytes in this coding as text.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Coding::Gsm7 => gsm7::decode(bytes),
            Coding::Ascii | Coding::Latin1 => sms::decode_latin1(bytes),
            Coding::Ucs2 => sms::decode_ucs2(bytes),
        }
    }

    /// The most units of this coding one message carries whole, and with a
    /// concatenation header of `header` bytes (GSM: septets; the others: bytes).
    fn room(self, header: usize) -> usize {
        match self {
            Coding::Gsm7 => 160 - (header * 8).div_ceil(7),
            Coding::Ascii | Coding::Latin1 | Coding::Ucs2 => 140 - header,
        }
    }
}

/// How a long text travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongMode {
    /// Parts with a user data header (esm_class UDHI), the default.
    Udh(UdhRef),
    /// Parts with the SAR parameters (sar_msg_ref_num, sar_total_segments,
    /// sar_segment_seqnum); the SMSC builds the headers.
    Sar(u16),
    /// One PDU with the whole text in `message_payload`.
    Payload,
}

/// Splits `text` into the submit_sm bodies that carry it from `template` (its addresses,
/// registered_delivery and the rest are copied into every part): one PDU when it fits one
/// message, otherwise parts as `mode` says. A character is never cut: a GSM extension
/// character's two septets and a UCS2 surrogate pair stay in one part.
///
/// # Errors
/// When the text cannot be encoded in `coding`, or needs more than 255 parts.
///
/// ```
/// use packwire_codecs::sms::UdhRef;
/// use packwire_codecs::smpp::{split_sm, Address, Coding, LongMode, Sm};
/// let template = Sm::new(Address::new("10086"), Address::new("13800138000"), 0, "");
/// let parts = split_sm(&"a".repeat(200), Coding::Gsm7, LongMode::Udh(UdhRef::Eight(9)), &template)?;
/// assert_eq!(parts.len(), 2);
/// assert_eq!(&parts[0].short_message[..6], &[0x05, 0x00, 0x03, 9, 2, 1]);
/// assert_eq!(parts[0].short_message.len(), 6 + 153);
/// assert!(parts[0].udhi());
/// # Ok::<(), packwire_core::EncodeError>(())
/// ```
pub fn split_sm(
    text: &str,
    coding: Coding,
    mode: LongMode,
    template: &Sm,
) -> Result<Vec<Sm>, EncodeError> {
    let mut units: Vec<Vec<u8>> = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        units.push(coding.encode(c.encode_utf8(&mut buf))?);
    }
    let total: usize = units.iter().map(Vec::len).sum();
    let with = |short_message: Vec<u8>, esm: u8, tlvs: Tlvs| Sm {
        data_coding: coding.data_coding(),
        esm_class: template.esm_class | esm,
        short_message: Bytes::from(short_message),
        tlvs,
        ..template.clone()
    };
    if total <= coding.room(0) {
        return Ok(vec![with(units.concat(), 0, template.tlvs.clone())]);
    }
    if mode == LongMode::Payload {
        let mut tlvs = template.tlvs.clone();
        tlvs.push(Tag::MESSAGE_PAYLOAD, units.concat());
        return Ok(vec![with(Vec::new(), 0, tlvs)]);
    }
    let header = match mode {
        LongMode::Udh(r) => r.len(),
        _ => 6, // the SMSC's own header
    };
    let room = match coding.room(header) {
        r if coding == Coding::Ucs2 => r & !1,
        r => r,
    };
    let chunks = sms::pack_parts(&units, room)?;
    let n = chunks.len() as u8;
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let number = i as u8 + 1;
            match mode {
                LongMode::Udh(r) => {
                    let mut m = r.header(n, number);
                    m.extend_from_slice(&chunk);
                    with(m, ESM_UDHI, template.tlvs.clone())
                }
                LongMode::Sar(r) => {
                    let mut tlvs = template.tlvs.clone();
                    tlvs.push(Tag::SAR_MSG_REF_NUM, r.to_be_bytes().to_vec());
                    tlvs.push(Tag::SAR_TOTAL_SEGMENTS, vec![n]);
                    tlvs.push(Tag::SAR_SEGMENT_SEQNUM, vec![number]);
                    with(chunk, 0, tlvs)
                }
                LongMode::Payload => unreachable!("handled above"),
            }
        })
        .collect())
}

/// Where a received short message belongs among the parts of a long one — from its user
/// data header (esm_class UDHI) or its SAR parameters (a PDU carrying both is taken by
/// its header, the SAR parameters ignored) — and its payload without the header.
/// `None` for a whole message.
pub fn part_of(sm: &Sm) -> (Option<sms::Concat>, Bytes) {
    let payload = sm.payload();
    if sm.udhi() {
        let stripped = payload.slice_ref(sms::strip_udh(payload));
        let at = sms::concat_info(payload).map(|(c, _)| c);
        return (at, stripped);
    }
    let at = sm.tlvs.sar().map(|(reference, total, number)| sms::Concat {
        reference,
        total,
        number,
    });
    (at, payload.clone())
}
