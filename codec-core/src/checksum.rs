//! Frame checksums: CRC-16/CCITT, CRC-32 and CRC-32C, from the `crc` crate.

use crc::{CRC_16_IBM_3740, CRC_32_ISCSI, CRC_32_ISO_HDLC, Crc};

static CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);
static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);
static CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// A checksum algorithm a frame can carry.
///
/// ```
/// use packwire_core::Checksum;
/// // the standard "123456789" check values
/// assert_eq!(Checksum::Crc16Ccitt.compute(b"123456789"), 0x29b1);
/// assert_eq!(Checksum::Crc32.compute(b"123456789"), 0xcbf4_3926);
/// assert_eq!(Checksum::Crc32c.compute(b"123456789"), 0xe306_9283);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checksum {
    /// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), 2 bytes.
    Crc16Ccitt,
    /// CRC-32 (ISO-HDLC, as in zlib and Ethernet), 4 bytes.
    Crc32,
    /// CRC-32C (Castagnoli, as in iSCSI and SCTP), 4 bytes.
    Crc32c,
}

impl Checksum {
    /// How many bytes the checksum takes on the wire.
    pub fn width(self) -> usize {
        match self {
            Checksum::Crc16Ccitt => 2,
            Checksum::Crc32 | Checksum::Crc32c => 4,
        }
    }

    /// The checksum of `data`.
    pub fn compute(self, data: &[u8]) -> u64 {
        self.compute_parts(&[data])
    }

    /// The checksum of the concatenation of `parts`, without concatenating them.
    ///
    /// ```
    /// use packwire_core::Checksum;
    /// let c = Checksum::Crc32c;
    /// assert_eq!(c.compute_parts(&[b"1234", b"", b"56789"]), c.compute(b"123456789"));
    /// ```
    pub fn compute_parts(self, parts: &[&[u8]]) -> u64 {
        match self {
            Checksum::Crc16Ccitt => {
                let mut d = CRC16.digest();
                parts.iter().for_each(|p| d.update(p));
                u64::from(d.finalize())
            }
            Checksum::Crc32 | Checksum::Crc32c => {
                let crc = if self == Checksum::Crc32 {
                    &CRC32
                } else {
                    &CRC32C
                };
                let mut d = crc.digest();
                parts.iter().for_each(|p| d.update(p));
                u64::from(d.finalize())
            }
        }
    }
}
