//! Msg_Content text: ASCII, UCS2 (UTF-16BE) and GBK / GB18030.

use encoding_rs::{GB18030, GBK};
use packwire_core::EncodeError;

use super::MsgFmt;

/// Decodes Msg_Content (without its user data header) as text, or `None` for a format that
/// is not text (binary, SIM, GSM DCS). Undecodable bytes become U+FFFD.
///
/// ```
/// use packwire_codecs::cmpp::{decode_text, MsgFmt};
/// assert_eq!(decode_text(MsgFmt::UCS2, &[0x6d, 0x4b, 0x8b, 0xd5]).unwrap(), "测试");
/// assert_eq!(decode_text(MsgFmt::GBK, &[0xb2, 0xe2, 0xca, 0xd4]).unwrap(), "测试");
/// assert!(decode_text(MsgFmt::BINARY, b"\x01").is_none());
/// ```
pub fn decode_text(fmt: MsgFmt, content: &[u8]) -> Option<String> {
    match fmt {
        MsgFmt::ASCII => Some(content.iter().map(|&b| char::from(b)).collect()),
        MsgFmt::UCS2 => {
            let units = content.chunks(2).map(|c| match c {
                [a, b] => u16::from_be_bytes([*a, *b]),
                _ => 0xfffd,
            });
            Some(
                char::decode_utf16(units)
                    .map(|r| r.unwrap_or('\u{fffd}'))
                    .collect(),
            )
        }
        MsgFmt::GBK => Some(GB18030.decode_without_bom_handling(content).0.into_owned()),
        _ => None,
    }
}

/// Encodes text for a Msg_Fmt: ASCII (every char below 0x80), UCS2 (UTF-16BE, astral
/// characters as surrogate pairs) or GBK.
///
/// # Errors
/// When the text does not fit the format (a non-ASCII char for ASCII, a char GBK lacks).
pub fn encode_text(fmt: MsgFmt, text: &str) -> Result<Vec<u8>, EncodeError> {
    match fmt {
        MsgFmt::ASCII if text.is_ascii() => Ok(text.as_bytes().to_vec()),
        MsgFmt::ASCII => Err(EncodeError::Invalid {
            rule: "the text is not ASCII",
        }),
        MsgFmt::UCS2 => Ok(text.encode_utf16().flat_map(u16::to_be_bytes).collect()),
        MsgFmt::GBK => {
            let (bytes, _, unmappable) = GBK.encode(text);
            if unmappable {
                Err(EncodeError::Invalid {
                    rule: "the text has characters GBK cannot encode",
                })
            } else {
                Ok(bytes.into_owned())
            }
        }
        _ => Err(EncodeError::Invalid {
            rule: "the format does not carry text",
        }),
    }
}

/// The format that carries `text` most compactly: ASCII if it is ASCII, otherwise UCS2.
pub fn pick_format(text: &str) -> MsgFmt {
    if text.is_ascii() {
        MsgFmt::ASCII
    } else {
        MsgFmt::UCS2
    }
}
