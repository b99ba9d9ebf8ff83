//! Msg_Id: the 64-bit message id an ISMG assigns ([CMPP3] §8.4.3.2).

use std::fmt;

/// A Msg_Id: month (4 bits), day (5), hour (5), minute (6), second (6), ISMG code (22),
/// sequence (16), most significant first.
///
/// Peers treat it as an opaque `u64`: it prints as a decimal number, and as the 22-digit
/// `MMDDHHMMSS` + gateway (7) + sequence (5) string with [`MsgId::to_digits`].
///
/// ```
/// use packwire_codecs::cmpp::MsgId;
/// let id = MsgId(0xb2b9da8000010000);
/// let p = id.parts();
/// assert_eq!((p.month, p.day, p.hour, p.minute, p.second, p.gateway, p.sequence), (11, 5, 14, 29, 42, 1, 0));
/// assert_eq!(MsgId::from_parts(p), id);
/// assert_eq!(id.to_digits(), "1105142942000000100000");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MsgId(pub u64);

/// The fields packed in a [`MsgId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsgIdParts {
    /// 1-12 (4 bits).
    pub month: u8,
    /// 1-31 (5 bits).
    pub day: u8,
    /// 0-23 (5 bits).
    pub hour: u8,
    /// 0-59 (6 bits).
    pub minute: u8,
    /// 0-59 (6 bits).
    pub second: u8,
    /// The ISMG code (22 bits).
    pub gateway: u32,
    /// The sequence (16 bits, wraps).
    pub sequence: u16,
}

impl MsgId {
    /// Unpacks the fields.
    pub fn parts(self) -> MsgIdParts {
        let v = self.0;
        MsgIdParts {
            month: (v >> 60) as u8 & 0x0f,
            day: (v >> 55) as u8 & 0x1f,
            hour: (v >> 50) as u8 & 0x1f,
            minute: (v >> 44) as u8 & 0x3f,
            second: (v >> 38) as u8 & 0x3f,
            gateway: (v >> 16) as u32 & 0x3f_ffff,
            sequence: v as u16,
        }
    }

    /// Packs the fields; each is masked to its width.
    pub fn from_parts(p: MsgIdParts) -> MsgId {
        MsgId(
            (u64::from(p.month) & 0x0f) << 60
                | (u64::from(p.day) & 0x1f) << 55
                | (u64::from(p.hour) & 0x1f) << 50
                | (u64::from(p.minute) & 0x3f) << 44
                | (u64::from(p.second) & 0x3f) << 38
                | (u64::from(p.gateway) & 0x3f_ffff) << 16
                | u64::from(p.sequence),
        )
    }

    /// The 22-digit form: `MMDDHHMMSS`, the gateway in 7 digits, the sequence in 5.
    pub fn to_digits(self) -> String {
        let p = self.parts();
        format!(
            "{:02}{:02}{:02}{:02}{:02}{:07}{:05}",
            p.month, p.day, p.hour, p.minute, p.second, p.gateway, p.sequence
        )
    }

    /// The ids of a group send to `n` numbers: `self`, `self + 1`, ... `self + n - 1`
    /// (CMPP appendix 1), each wrapping within the 16-bit sequence.
    pub fn group(self, n: usize) -> impl Iterator<Item = MsgId> {
        let base = self.0 & !0xffff;
        let seq = self.0 as u16;
        (0..n).map(move |i| MsgId(base | u64::from(seq.wrapping_add(i as u16))))
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
