//! The user data header's concatenation element (GSM 03.40 §9.2.3.24.1 and .8).
//!
//! ```text
//! 8-bit reference:   05 00 03 RR TT NN      (UDHL, IEI 0x00, length 3, ref, total, number)
//! 16-bit reference:  06 08 04 RH RL TT NN   (UDHL, IEI 0x08, length 4)
//! ```

/// The concatenation reference written in each part's user data header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdhRef {
    /// An 8-bit reference (6-byte header).
    Eight(u8),
    /// A 16-bit reference (7-byte header).
    Sixteen(u16),
}

impl UdhRef {
    /// The header (its length byte included) for part `number` of `total`.
    pub fn header(self, total: u8, number: u8) -> Vec<u8> {
        match self {
            UdhRef::Eight(r) => vec![0x05, 0x00, 0x03, r, total, number],
            UdhRef::Sixteen(r) => {
                let [h, l] = r.to_be_bytes();
                vec![0x06, 0x08, 0x04, h, l, total, number]
            }
        }
    }

    /// The header's length.
    pub fn len(self) -> usize {
        match self {
            UdhRef::Eight(_) => 6,
            UdhRef::Sixteen(_) => 7,
        }
    }

    /// Never: a header always has bytes (for clippy's `len` without `is_empty`).
    pub fn is_empty(self) -> bool {
        false
    }
}

/// Where a part belongs: the message's reference, how many parts it has, and which one
/// this is (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concat {
    /// The reference shared by the parts (8 or 16 bits).
    pub reference: u16,
    /// How many parts.
    pub total: u8,
    /// This part's number, from 1.
    pub number: u8,
}

impl Concat {
    /// Whether the numbers make sense (a total of at least 1, the number within it).
    pub fn is_valid(self) -> bool {
        self.total > 0 && self.number >= 1 && self.number <= self.total
    }
}

/// The concatenation element of the user data header that starts `content`, and the
/// header's length (its length byte included); `None` when there is no header or it has
/// no concatenation element. A header that runs past `content` or has a malformed
/// element yields `None`, never a panic.
///
/// ```
/// use packwire_codecs::sms::{concat_info, Concat};
/// let part = [0x05, 0x00, 0x03, 0x2a, 0x02, 0x01, b'h', b'i'];
/// assert_eq!(concat_info(&part), Some((Concat { reference: 0x2a, total: 2, number: 1 }, 6)));
/// ```
pub fn concat_info(content: &[u8]) -> Option<(Concat, usize)> {
    let udhl = usize::from(*content.first()?);
    let udh = content.get(1..1 + udhl)?;
    let mut i = 0;
    while i + 2 <= udh.len() {
        let (iei, len) = (udh[i], usize::from(udh[i + 1]));
        let ie = udh.get(i + 2..i + 2 + len)?;
        let c = |reference, total, number| Concat {
            reference,
            total,
            number,
        };
        match (iei, ie) {
            (0x00, &[r, t, n]) => return Some((c(u16::from(r), t, n), 1 + udhl)),
            (0x08, &[h, l, t, n]) => return Some((c(u16::from_be_bytes([h, l]), t, n), 1 + udhl)),
            _ => i += 2 + len,
        }
    }
    None
}

/// `content` without its user data header (all of it when the header claims more bytes
/// than there are).
pub fn strip_udh(content: &[u8]) -> &[u8] {
    match content.first() {
        Some(&l) => content.get(1 + usize::from(l)..).unwrap_or_default(),
        None => content,
    }
}
