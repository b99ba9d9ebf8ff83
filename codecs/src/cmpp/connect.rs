//! CMPP_CONNECT / CMPP_CONNECT_RESP ([CMPP3] §8.4.3.1).
//!
//! | CONNECT field | bytes |
//! |---|---|
//! | Source_Addr | 6 |
//! | AuthenticatorSource | 16 |
//! | Version | 1 |
//! | Timestamp | 4 (MMDDHHMMSS as a decimal integer) |
//!
//! | CONNECT_RESP field | 2.0 | 3.0 |
//! |---|---|---|
//! | Status | 1 | 4 |
//! | AuthenticatorISMG | 16 | 16 |
//! | Version | 1 | 1 |

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

use super::Version;
use super::fields::{octets, put_octets, put_status, status};

/// CMPP_CONNECT: the SP logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The SP id (6 bytes).
    pub source_addr: Bytes,
    /// MD5(Source_Addr + 9 zero bytes + secret + timestamp); see
    /// [`super::authenticator_source`].
    pub authenticator_source: [u8; 16],
    /// The version the SP speaks.
    pub version: Version,
    /// MMDDHHMMSS as a decimal integer.
    pub timestamp: u32,
}

impl Connect {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(Connect {
            source_addr: octets(frame, r, "Source_Addr", 6)?,
            authenticator_source: r.array("AuthenticatorSource")?,
            version: Version(r.u8("Version")?),
            timestamp: r.u32("Timestamp")?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_octets(dst, &self.source_addr, 6)?;
        dst.put_slice(&self.authenticator_source);
        dst.put_u8(self.version.0);
        dst.put_u32(self.timestamp);
        Ok(())
    }
}

/// CMPP_CONNECT_RESP: the ISMG's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResp {
    /// 0 ok, 1 structure error, 2 illegal source address, 3 authentication error, 4 version
    /// too high, 5+ other.
    pub status: super::ConnectStatus,
    /// MD5(Status + AuthenticatorSource + secret); zero-filled on failure.
    pub authenticator_ismg: [u8; 16],
    /// The highest version the ISMG supports.
    pub version: Version,
}

impl ConnectResp {
    /// Decodes by the body's length, whatever version the codec was told: 18 bytes is the
    /// 2.0 layout (1-byte Status), 21 bytes the 3.0 layout; other lengths by `v3`.
    pub(crate) fn load(r: &mut Reader<'_>, v3: bool) -> Result<Self, FrameError> {
        let wide = match r.remaining() {
            18 => false,
            21 => true,
            _ => v3,
        };
        Ok(ConnectResp {
            status: super::ConnectStatus(status(r, "Status", wide)?),
            authenticator_ismg: r.array("AuthenticatorISMG")?,
            version: Version(r.u8("Version")?),
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut, v3: bool) -> Result<(), EncodeError> {
        put_status(dst, self.status.0, v3)?;
        dst.put_slice(&self.authenticator_ismg);
        dst.put_u8(self.version.0);
        Ok(())
    }
}
