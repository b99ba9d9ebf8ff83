//! query_sm, cancel_sm, replace_sm (and their responses) and alert_notification.

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

use super::fields::{Address, address, cstr, put_address, put_cstr, put_time};
use super::sm::{put_short_message, short_message};
use super::tlv::Tlvs;

/// query_sm: the state of a message submitted earlier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuerySm {
    /// message_id, C(65).
    pub message_id: Bytes,
    /// The source address it was submitted with, C(21).
    pub source: Address,
}

impl QuerySm {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(QuerySm {
            message_id: cstr!(frame, r, "message_id", 65)?,
            source: address!(frame, r, "source_addr", 21)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.message_id, "message_id", 65)?;
        put_address!(dst, self.source, "source_addr", 21)
    }
}

/// query_sm_resp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuerySmResp {
    /// message_id, C(65).
    pub message_id: Bytes,
    /// final_date, C(1|17): when it reached its final state.
    pub final_date: Bytes,
    /// message_state (as the TLV of the same name).
    pub message_state: u8,
    /// error_code: the network's.
    pub error_code: u8,
}

impl QuerySmResp {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        if r.is_empty() {
            return Ok(QuerySmResp::default());
        }
        Ok(QuerySmResp {
            message_id: cstr!(frame, r, "message_id", 65)?,
            final_date: cstr!(frame, r, "final_date", 17)?,
            message_state: r.u8("message_state")?,
            error_code: r.u8("error_code")?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.message_id, "message_id", 65)?;
        put_time!(dst, self.final_date, "final_date")?;
        dst.put_u8(self.message_state);
        dst.put_u8(self.error_code);
        Ok(())
    }
}

/// cancel_sm: cancels a message not delivered yet (by id, or every one from a source to
/// a destination).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CancelSm {
    /// service_type, C(6).
    pub service_type: Bytes,
    /// message_id, C(65) (NULL: every matching message).
    pub message_id: Bytes,
    /// source_addr, C(21).
    pub source: Address,
    /// destination_addr, C(21).
    pub dest: Address,
}

impl CancelSm {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(CancelSm {
            service_type: cstr!(frame, r, "service_type", 6)?,
            message_id: cstr!(frame, r, "message_id", 65)?,
            source: address!(frame, r, "source_addr", 21)?,
            dest: address!(frame, r, "destination_addr", 21)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.service_type, "service_type", 6)?;
        put_cstr!(dst, self.message_id, "message_id", 65)?;
        put_address!(dst, self.source, "source_addr", 21)?;
        put_address!(dst, self.dest, "destination_addr", 21)
    }
}

/// replace_sm: replaces a message not delivered yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaceSm {
    /// message_id, C(65).
    pub message_id: Bytes,
    /// source_addr, C(21).
    pub source: Address,
    /// schedule_delivery_time, C(1|17).
    pub schedule_delivery_time: Bytes,
    /// validity_period, C(1|17).
    pub validity_period: Bytes,
    /// registered_delivery.
    pub registered_delivery: u8,
    /// sm_default_msg_id.
    pub sm_default_msg_id: u8,
    /// short_message.
    pub short_message: Bytes,
}

impl ReplaceSm {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(ReplaceSm {
            message_id: cstr!(frame, r, "message_id", 65)?,
            source: address!(frame, r, "source_addr", 21)?,
            schedule_delivery_time: cstr!(frame, r, "schedule_delivery_time", 17)?,
            validity_period: cstr!(frame, r, "validity_period", 17)?,
            registered_delivery: r.u8("registered_delivery")?,
            sm_default_msg_id: r.u8("sm_default_msg_id")?,
            short_message: short_message(frame, r)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_cstr!(dst, self.message_id, "message_id", 65)?;
        put_address!(dst, self.source, "source_addr", 21)?;
        put_time!(dst, self.schedule_delivery_time, "schedule_delivery_time")?;
        put_time!(dst, self.validity_period, "validity_period")?;
        dst.put_u8(self.registered_delivery);
        dst.put_u8(self.sm_default_msg_id);
        put_short_message(dst, &self.short_message, &Tlvs::default())
    }
}

/// alert_notification: the SMSC says a mobile has become available (no response).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertNotification {
    /// source_addr, C(65): the mobile.
    pub source: Address,
    /// esme_addr, C(65): the ESME that asked to be alerted.
    pub esme: Address,
    /// Optional parameters (ms_availability_status).
    pub tlvs: Tlvs,
}

impl AlertNotification {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(AlertNotification {
            source: address!(frame, r, "source_addr", 65)?,
            esme: address!(frame, r, "esme_addr", 65)?,
            tlvs: Tlvs::load(frame, r)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_address!(dst, self.source, "source_addr", 65)?;
        put_address!(dst, self.esme, "esme_addr", 65)?;
        self.tlvs.encode(dst)
    }
}
