//! submit_sm, deliver_sm, data_sm and their responses.

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

use super::fields::{Address, address, cstr, put_address, put_cstr, put_time};
use super::tlv::{Tag, Tlvs};

/// esm_class bit: the short message starts with a user data header.
pub const ESM_UDHI: u8 = 0x40;
/// esm_class message type (deliver_sm): an SMSC delivery receipt.
pub const ESM_DELIVERY_RECEIPT: u8 = 0x04;

/// A short message: submit_sm's and deliver_sm's body (the same layout; in a deliver_sm
/// several fields are NULL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sm {
    /// service_type, C(6).
    pub service_type: Bytes,
    /// source_addr_ton, source_addr_npi, source_addr C(21).
    pub source: Address,
    /// dest_addr_ton, dest_addr_npi, destination_addr C(21).
    pub dest: Address,
    /// esm_class: mode, type ([`ESM_DELIVERY_RECEIPT`]) and GSM features ([`ESM_UDHI`]).
    pub esm_class: u8,
    /// protocol_id.
    pub protocol_id: u8,
    /// priority_flag (0-3).
    pub priority_flag: u8,
    /// schedule_delivery_time, C(1|17).
    pub schedule_delivery_time: Bytes,
    /// validity_period, C(1|17).
    pub validity_period: Bytes,
    /// registered_delivery: bit 0 asks for a delivery receipt.
    pub registered_delivery: u8,
    /// replace_if_present_flag.
    pub replace_if_present_flag: u8,
    /// data_coding: 0 SMSC default (GSM 03.38), 1 IA5, 3 Latin-1, 8 UCS2, ...
    pub data_coding: u8,
    /// sm_default_msg_id.
    pub sm_default_msg_id: u8,
    /// short_message (0-254 octets; empty when the message is in `message_payload`).
    pub short_message: Bytes,
    /// Optional parameters.
    pub tlvs: Tlvs,
}

impl Sm {
    /// A message from `source` to `dest` with `short_message` in `data_coding`.
    pub fn new(
        source: Address,
        dest: Address,
        data_coding: u8,
        short_message: impl Into<Bytes>,
    ) -> Self {
        Sm {
            source,
            dest,
            data_coding,
            short_message: short_message.into(),
            ..Sm::default()
        }
    }

    /// Whether `short_message` starts with a user data header.
    pub fn udhi(&self) -> bool {
        self.esm_class & ESM_UDHI != 0
    }

    /// Whether this (deliver_sm) is a delivery receipt.
    pub fn is_receipt(&self) -> bool {
        self.esm_class & 0x3c == ESM_DELIVERY_RECEIPT
    }

    /// The message's bytes: `short_message`, or `message_payload` when that is present.
    pub fn payload(&self) -> &Bytes {
        self.tlvs.message_payload().unwrap_or(&self.short_message)
    }

    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        let mut sm = Sm {
            service_type: cstr!(frame, r, "service_type", 6)?,
            source: address!(frame, r, "source_addr", 21)?,
            dest: address!(frame, r, "destination_addr", 21)?,
            esm_class: r.u8("esm_class")?,
            protocol_id: r.u8("protocol_id")?,
            priority_flag: r.u8("priority_flag")?,
            schedule_delivery_time: cstr!(frame, r, "schedule_delivery_time", 17)?,
            validity_period: cstr!(frame, r, "validity_period", 17)?,
            registered_delivery: r.u8("registered_delivery")?,
            replace_if_present_flag: r.u8("replace_if_present_flag")?,
            data_coding: r.u8("data_coding")?,
            sm_default_msg_id: r.u8("sm_default_msg_id")?,
            ..Sm::default()
        };
        sm.short_message = short_message(frame, r)?;
        sm.tlvs = Tlvs::load(frame, r)?;
        Ok(sm)
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.service_type, "service_type", 6)?;
        put_address!(dst, self.source, "source_addr", 21)?;
        put_address!(dst, self.dest, "destination_addr", 21)?;
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

/// sm_length and short_message.
pub(crate) fn short_message(frame: &Bytes, r: &mut Reader<'_>) -> Result<Bytes, FrameError> {
    let n = usize::from(r.u8("sm_length")?);
    let s = r.bytes("short_message", n)?;
    Ok(if n == 0 {
        Bytes::new()
    } else {
        frame.slice_ref(s)
    })
}

/// sm_length and short_message, strictly: at most 254 octets, and none when the message
/// travels in `message_payload`.
pub(crate) fn put_short_message(
    dst: &mut BytesMut,
    sm: &[u8],
    tlvs: &Tlvs,
) -> Result<(), EncodeError> {
    if sm.len() > 254 {
        return Err(EncodeError::Invalid {
            rule: "short_message is longer than 254 octets (use message_payload)",
        });
    }
    if !sm.is_empty() && tlvs.get(Tag::MESSAGE_PAYLOAD).is_some() {
        return Err(EncodeError::Invalid {
            rule: "short_message and message_payload must not both carry the message",
        });
    }
    dst.put_u8(sm.len() as u8);
    dst.put_slice(sm);
    Ok(())
}

/// The answer to submit_sm, deliver_sm and data_sm: the message id (NULL in a
/// deliver_sm_resp) and, for data_sm_resp, optional parameters. The body is left out of
/// a submit_sm_resp whose status is not 0, and may be missing on decoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmResp {
    /// message_id, C(65): the SMSC's id for the message.
    pub message_id: Bytes,
    /// Optional parameters (data_sm_resp only).
    pub tlvs: Tlvs,
}

impl SmResp {
    /// An answer with `message_id`.
    pub fn new(message_id: impl Into<Bytes>) -> Self {
        SmResp {
            message_id: message_id.into(),
            tlvs: Tlvs::default(),
        }
    }

    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>, tlvs: bool) -> Result<Self, FrameError> {
        if r.is_empty() {
            return Ok(SmResp::default());
        }
        let message_id = cstr!(frame, r, "message_id", 65)?;
        let tlvs = if tlvs {
            Tlvs::load(frame, r)?
        } else {
            Tlvs::default()
        };
        Ok(SmResp { message_id, tlvs })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut, tlvs: bool) -> Result<(), EncodeError> {
        put_cstr!(dst, self.message_id, "message_id", 65)?;
        if tlvs {
            self.tlvs.encode(dst)
        } else if self.tlvs.is_empty() {
            Ok(())
        } else {
            Err(EncodeError::Invalid {
                rule: "only data_sm_resp carries optional parameters",
            })
        }
    }
}

/// data_sm: a message whose content is in TLVs (`message_payload`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataSm {
    /// service_type, C(6).
    pub service_type: Bytes,
    /// source_addr_ton, source_addr_npi, source_addr C(65).
    pub source: Address,
    /// dest_addr_ton, dest_addr_npi, destination_addr C(65).
    pub dest: Address,
    /// esm_class.
    pub esm_class: u8,
    /// registered_delivery.
    pub registered_delivery: u8,
    /// data_coding.
    pub data_coding: u8,
    /// Optional parameters (`message_payload` and the rest).
    pub tlvs: Tlvs,
}

impl DataSm {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(DataSm {
            service_type: cstr!(frame, r, "service_type", 6)?,
            source: address!(frame, r, "source_addr", 65)?,
            dest: address!(frame, r, "destination_addr", 65)?,
            esm_class: r.u8("esm_class")?,
            registered_delivery: r.u8("registered_delivery")?,
            data_coding: r.u8("data_coding")?,
            tlvs: Tlvs::load(frame, r)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.service_type, "service_type", 6)?;
        put_address!(dst, self.source, "source_addr", 65)?;
        put_address!(dst, self.dest, "destination_addr", 65)?;
        dst.put_u8(self.esm_class);
        dst.put_u8(self.registered_delivery);
        dst.put_u8(self.data_coding);
        self.tlvs.encode(dst)
    }
}
