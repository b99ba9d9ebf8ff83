//! The GSM 03.38 default alphabet and its extension table, as septets one per byte
//! (what SMPP's `data_coding` 0 carries on most SMSCs) or packed seven bits each (what
//! the air interface and some SMSCs carry).

use packwire_core::EncodeError;

/// The basic table: septet value -> character (0x1b is the escape to the extension).
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: the septet after 0x1b -> character.
const EXTENSION: [(u8, char); 10] = [
    (0x0a, '\u{0c}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2f, '\\'),
    (0x3c, '['),
    (0x3d, '~'),
    (0x3e, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

const ESC: u8 = 0x1b;

/// The septets of `c`: one from the basic table, or the escape and one from the
/// extension table; `None` for a character the alphabet lacks.
fn septets(c: char) -> Option<(u8, Option<u8>)> {
    if c != '\u{1b}' {
        if let Some(i) = BASIC.iter().position(|&b| b == c) {
            return Some((i as u8, None));
        }
    }
    EXTENSION
        .iter()
        .find(|(_, e)| *e == c)
        .map(|(s, _)| (ESC, Some(*s)))
}

/// Whether every character of `text` is in the alphabet (with its extension).
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| septets(c).is_some())
}

/// How many septets `text` takes (an extension character takes two).
pub fn septet_len(text: &str) -> Option<usize> {
    text.chars()
        .map(|c| septets(c).map(|(_, e)| 1 + usize::from(e.is_some())))
        .sum()
}

/// `text` as septets, one per byte.
///
/// # Errors
/// When `text` has a character the alphabet lacks.
///
/// ```
/// use packwire_codecs::sms::gsm7;
/// assert_eq!(gsm7::encode("@£€").unwrap(), [0x00, 0x01, 0x1b, 0x65]);
/// assert_eq!(gsm7::decode(&[0x00, 0x01, 0x1b, 0x65]), "@£€");
/// ```
pub fn encode(text: &str) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let (s, e) = septets(c).ok_or(EncodeError::Invalid {
            rule: "the text has characters the GSM 7-bit alphabet lacks",
        })?;
        out.push(s);
        out.extend(e);
    }
    Ok(out)
}

/// Septets (one per byte; the high bit ignored) as text. An escape followed by a septet
/// the extension table lacks reads as that septet's basic character, as 03.38 says a
/// receiver should; a trailing escape reads as a space.
pub fn decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut i = 0;
    while i < septets.len() {
        let s = septets[i] & 0x7f;
        if s == ESC {
            match septets.get(i + 1).map(|n| n & 0x7f) {
                Some(n) => {
                    let c = EXTENSION
                        .iter()
                        .find(|(k, _)| *k == n)
                        .map_or(BASIC[usize::from(n)], |(_, c)| *c);
                    out.push(if c == '\u{1b}' { ' ' } else { c });
                    i += 2;
                }
                None => {
                    out.push(' ');
                    i += 1;
                }
            }
            continue;
        }
        out.push(BASIC[usize::from(s)]);
        i += 1;
    }
    out
}

/// Packs septets seven bits each, least significant first, after `fill` zero bits (the
/// fill that aligns the first septet after a user data header: see [`fill_bits`]).
///
/// ```
/// use packwire_codecs::sms::gsm7;
/// // "hellohello", the 03.38 example
/// let septets = gsm7::encode("hellohello").unwrap();
/// assert_eq!(gsm7::pack(&septets, 0), [0xe8, 0x32, 0x9b, 0xfd, 0x46, 0x97, 0xd9, 0xec, 0x37]);
/// assert_eq!(gsm7::unpack(&gsm7::pack(&septets, 0), 0, septets.len()), septets);
/// ```
pub fn pack(septets: &[u8], fill: u8) -> Vec<u8> {
    let bits = usize::from(fill) + septets.len() * 7;
    let mut out = vec![0u8; bits.div_ceil(8)];
    let mut at = usize::from(fill);
    for &s in septets {
        let v = u16::from(s & 0x7f) << (at % 8);
        out[at / 8] |= v as u8;
        if let Some(next) = out.get_mut(at / 8 + 1) {
            *next |= (v >> 8) as u8;
        }
        at += 7;
    }
    out
}

/// Unpacks `count` septets from `packed` after `fill` bits (fewer when `packed` ends
/// first).
pub fn unpack(packed: &[u8], fill: u8, count: usize) -> Vec<u8> {
    let available = (packed.len() * 8).saturating_sub(usize::from(fill)) / 7;
    let count = count.min(available);
    let mut out = Vec::with_capacity(count);
    let mut at = usize::from(fill);
    for _ in 0..count {
        let lo = u16::from(packed[at / 8]);
        let hi = u16::from(packed.get(at / 8 + 1).copied().unwrap_or(0));
        out.push((((hi << 8) | lo) >> (at % 8)) as u8 & 0x7f);
        at += 7;
    }
    out
}

/// The fill bits after a user data header of `udh_len` bytes (its length byte included)
/// that start the text on a septet boundary.
pub fn fill_bits(udh_len: usize) -> u8 {
    ((7 - (udh_len * 8) % 7) % 7) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_round_trips_and_the_extension_takes_two_septets() {
        let all: String = BASIC
            .iter()
            .filter(|&&c| c != '\u{1b}')
            .chain(EXTENSION.iter().map(|(_, c)| c))
            .collect();
        let s = encode(&all).unwrap();
        assert_eq!(s.len(), 127 + 2 * EXTENSION.len());
        assert_eq!(decode(&s), all);
        assert_eq!(septet_len("a€"), Some(3));
        assert_eq!(septet_len("a好"), None);
        assert!(encode("好").is_err());
        assert!(!is_gsm7("\u{1b}"), "the escape is not a character");
    }

    #[test]
    fn unknown_escapes_and_a_trailing_escape_read_tolerantly() {
        assert_eq!(decode(&[0x1b, 0x41]), "A");
        assert_eq!(decode(&[0x41, 0x1b]), "A ");
        assert_eq!(decode(&[0xc1]), "A", "the high bit is ignored");
    }

    #[test]
    fn packing_with_fill_bits_round_trips_at_every_alignment() {
        let septets = encode("The quick brown fox {jumps} over €").unwrap();
        for fill in 0..7 {
            let p = pack(&septets, fill);
            assert_eq!(unpack(&p, fill, septets.len()), septets, "fill {fill}");
        }
        // a 6-byte UDH (48 bits) needs 1 fill bit to reach 49 = 7 septets
        assert_eq!(fill_bits(6), 1);
        assert_eq!(fill_bits(7), 0);
        assert_eq!(unpack(&[0xff], 0, 10).len(), 1, "bounded by the bytes");
    }
}
