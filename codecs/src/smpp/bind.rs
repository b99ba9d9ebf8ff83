//! bind_transmitter / bind_receiver / bind_transceiver, their responses, and outbind.

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

use super::fields::{cstr, put_cstr};
use super::tlv::Tlvs;

/// What a bind asks for (its command says which kind: transmitter, receiver, transceiver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// system_id, C(16): the ESME's account.
    pub system_id: Bytes,
    /// password, C(9).
    pub password: Bytes,
    /// system_type, C(13).
    pub system_type: Bytes,
    /// interface_version: 0x34 for 3.4 (0x33 and below: 3.3).
    pub interface_version: u8,
    /// addr_ton.
    pub addr_ton: u8,
    /// addr_npi.
    pub addr_npi: u8,
    /// address_range, C(41): the addresses the ESME serves (a regular expression).
    pub address_range: Bytes,
}

impl Bind {
    /// A 3.4 bind for `system_id` with `password`, the other fields empty.
    pub fn new(system_id: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        Bind {
            system_id: system_id.into(),
            password: password.into(),
            system_type: Bytes::new(),
            interface_version: 0x34,
            addr_ton: 0,
            addr_npi: 0,
            address_range: Bytes::new(),
        }
    }

    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(Bind {
            system_id: cstr!(frame, r, "system_id", 16)?,
            password: cstr!(frame, r, "password", 9)?,
            system_type: cstr!(frame, r, "system_type", 13)?,
            interface_version: r.u8("interface_version")?,
            addr_ton: r.u8("addr_ton")?,
            addr_npi: r.u8("addr_npi")?,
            address_range: cstr!(frame, r, "address_range", 41)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.system_id, "system_id", 16)?;
        put_cstr!(dst, self.password, "password", 9)?;
        put_cstr!(dst, self.system_type, "system_type", 13)?;
        dst.put_u8(self.interface_version);
        dst.put_u8(self.addr_ton);
        dst.put_u8(self.addr_npi);
        put_cstr!(dst, self.address_range, "address_range", 41)
    }
}

/// A bind's answer: the SMSC's system_id and (3.4) its sc_interface_version TLV. Its body
/// is left out when the status is not 0, and may be missing on decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindResp {
    /// system_id, C(16): the SMSC's.
    pub system_id: Bytes,
    /// Optional parameters (sc_interface_version).
    pub tlvs: Tlvs,
}

impl BindResp {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        if r.is_empty() {
            return Ok(BindResp::default());
        }
        Ok(BindResp {
            system_id: cstr!(frame, r, "system_id", 16)?,
            tlvs: Tlvs::load(frame, r)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.system_id, "system_id", 16)?;
        self.tlvs.encode(dst)
    }
}

/// outbind: the SMSC asks the ESME to bind as a receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbind {
    /// system_id, C(16).
    pub system_id: Bytes,
    /// password, C(9).
    pub password: Bytes,
}

impl Outbind {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(Outbind {
            system_id: cstr!(frame, r, "system_id", 16)?,
            password: cstr!(frame, r, "password", 9)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.system_id, "system_id", 16)?;
        put_cstr!(dst, self.password, "password", 9)
    }
}
