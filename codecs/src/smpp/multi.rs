//! submit_multi and its response.

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

use super::fields::{Address, address, cstr, put_address, put_cstr, put_time};
use super::sm::{put_short_message, short_message};
use super::tlv::Tlvs;

/// The most destinations one submit_multi carries.
pub const MAX_DESTS: usize = 254;

/// One destination of a submit_multi: an address (dest_flag 1) or a distribution list's
/// name (dest_flag 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// An SME address, C(21).
    Sme(Address),
    /// A distribution list name, C(21).
    List(Bytes),
}

/// A destination the SMSC could not take, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsuccess {
    /// The address, C(21).
    pub dest: Address,
    /// error_status_code: a command_status value.
    pub error_status_code: u32,
}

/// submit_multi: one message to up to 254 destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitMulti {
    /// service_type, C(6).
    pub service_type: Bytes,
    /// source_addr_ton, source_addr_npi, source_addr C(21).
    pub source: Address,
    /// The destinations (1-254).
    pub dests: Vec<Dest>,
    /// esm_class.
    pub esm_class: u8,
    /// protocol_id.
    pub protocol_id: u8,
    /// priority_flag.
    pub priority_flag: u8,
    /// schedule_delivery_time, C(1|17).
    pub schedule_delivery_time: Bytes,
    /// validity_period, C(1|17).
    pub validity_period: Bytes,
    /// registered_delivery.
    pub registered_delivery: u8,
    /// replace_if_present_flag.
    pub replace_if_present_flag: u8,
    /// data_coding.
    pub data_coding: u8,
    /// sm_default_msg_id.
    pub sm_default_msg_id: u8,
    /// short_message.
    pub short_message: Bytes,
    /// Optional parameters.
    pub tlvs: Tlvs,
}

impl SubmitMulti {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        let service_type = cstr!(frame, r, "service_type", 6)?;
        let source = address!(frame, r, "source_addr", 21)?;
        let n = r.u8("number_of_dests")?;
        // each destination is at least 2 bytes: bounded by the body, not by the claim
        let mut dests = Vec::with_capacity(usize::from(n).min(r.remaining() / 2));
        for _ in 0..n {
            let at = r.offset();
            dests.push(match r.u8("dest_flag")? {
                1 => Dest::Sme(address!(frame, r, "dest_address", 21)?),
                2 => Dest::List(cstr!(frame, r, "dl_name", 21)?),
                _ => {
                    return Err(FrameError::malformed(
                        "dest_flag must be 1 (SME) or 2 (list)",
                        at,
                    ));
                }
            });
        }
        let mut m = SubmitMulti {
            service_type,
            source,
            dests,
            esm_class: r.u8("esm_class")?,
            protocol_id: r.u8("protocol_id")?,
            priority_flag: r.u8("priority_flag")?,
            schedule_delivery_time: cstr!(frame, r, "schedule_delivery_time", 17)?,
            validity_period: cstr!(frame, r, "validity_period", 17)?,
            registered_delivery: r.u8("registered_delivery")?,
            replace_if_present_flag: r.u8("replace_if_present_flag")?,
            data_coding: r.u8("data_coding")?,
            sm_default_msg_id: r.u8("sm_default_msg_id")?,
            ..SubmitMulti::default()
        };
        m.short_message = short_message(frame, r)?;
        m.tlvs = Tlvs::load(frame, r)?;
        Ok(m)
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.service_type, "service_type", 6)?;
        put_address!(dst, self.source, "source_addr", 21)?;
        if self.dests.is_empty() || self.dests.len() > MAX_DESTS {
            return Err(EncodeError::Invalid {
                rule: "submit_multi needs 1 to 254 destinations",
            });
        }
        dst.put_u8(self.dests.len() as u8);
        for d in &self.dests {
            match d {
                Dest::Sme(a) => {
                    dst.put_u8(1);
                    put_address!(dst, a, "dest_address", 21)?;
                }
                Dest::List(name) => {
                    dst.put_u8(2);
                    put_cstr!(dst, name, "dl_name", 21)?;
                }
            }
        }
        dst.put_u8(self.esm_class);
        dst.put_u8(self.protocol_id);
        dst.put_u8(self.priority_flag);
        put_time!(dst, self.schedule_delivery_time, "schedule_delivery_time")?;
        put_time!(dst, self.validity_period, "validity_period")?;
        dst.put_u8(self.registered_delivery);
        dst.put_u8(self.replace_if_present_flag);
        dst.put_u8(self.data_coding);
        dst.put_u8(self.sm_default_msg_id);
        put_short_message(dst, &self.short_message, &self.tlvs)?;
        self.tlvs.encode(dst)
    }
}

/// submit_multi_resp: the message id and the destinations that failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitMultiResp {
    /// message_id, C(65).
    pub message_id: Bytes,
    /// The destinations the SMSC could not take.
    pub unsuccess: Vec<Unsuccess>,
}

impl SubmitMultiResp {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        if r.is_empty() {
            return Ok(SubmitMultiResp::default());
        }
        let message_id = cstr!(frame, r, "message_id", 65)?;
        let n = r.u8("no_unsuccess")?;
        let mut unsuccess = Vec::with_capacity(usize::from(n).min(r.remaining() / 7));
        for _ in 0..n {
            unsuccess.push(Unsuccess {
                dest: address!(frame, r, "dest_addr", 21)?,
                error_status_code: r.u32("error_status_code")?,
            });
        }
        Ok(SubmitMultiResp {
            message_id,
            unsuccess,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.message_id, "message_id", 65)?;
        if self.unsuccess.len() > MAX_DESTS {
            return Err(EncodeError::Invalid {
                rule: "no_unsuccess is at most 254",
            });
        }
        dst.put_u8(self.unsuccess.len() as u8);
        for u in &self.unsuccess {
            put_address!(dst, u.dest, "dest_addr", 21)?;
            dst.put_u32(u.error_status_code);
        }
        Ok(())
    }
}
