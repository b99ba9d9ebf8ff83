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
        match self {
            Checksum::Crc16Ccitt => u64::from(CRC16.checksum(data)),
            Checksum::Crc32 => u64::from(CRC32.checksum(data)),
            Checksum::Crc32c => u64::from(CRC32C.checksum(data)),
        }
    }
}
