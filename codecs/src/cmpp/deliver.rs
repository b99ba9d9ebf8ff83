//! CMPP_DELIVER / CMPP_DELIVER_RESP and the status report ([CMPP3] §8.4.3.4).
//!
//! | field | 2.0 | 3.0 |
//! |---|---|---|
//! | Msg_Id | 8 | 8 |
//! | Dest_Id | 21 | 21 |
//! | Service_Id | 10 | 10 |
//! | TP_pid, TP_udhi, Msg_Fmt | 1 each | 1 each |
//! | Src_terminal_Id | 21 | 32 |
//! | Src_terminal_type | — | 1 |
//! | Registered_Delivery | 1 (0 MO, 1 report) | 1 |
//! | Msg_Length, Msg_Content | 1, n | 1, n |
//! | Reserved / LinkID | 8 | 20 |
//!
//! The status report (Msg_Content when Registered_Delivery is 1) is 60 bytes in 2.0 and
//! 71 in 3.0; its layout is chosen by its length, never by the version alone, because 3.0
//! gateways send 2.0 reports too.

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

use super::fields::{octets, put_octets, put_status, status};
use super::{MsgId, Version};

/// CMPP_DELIVER: an MO message or a status report, ISMG to SP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deliver {
    /// The ISMG's id for this delivery.
    pub msg_id: MsgId,
    /// The number the user texted (21 bytes).
    pub dest_id: Bytes,
    /// The business code (10 bytes).
    pub service_id: Bytes,
    /// GSM 03.40 TP-PID.
    pub tp_pid: u8,
    /// GSM 03.40 TP-UDHI.
    pub tp_udhi: u8,
    /// The content's format.
    pub msg_fmt: u8,
    /// The sender; for a report, the original destination (21 bytes in 2.0, 32 in 3.0).
    pub src_terminal_id: Bytes,
    /// 3.0 only: 0 real, 1 pseudo.
    pub src_terminal_type: u8,
    /// 0 an MO message, 1 a status report.
    pub registered_delivery: u8,
    /// The message, or the report bytes ([`Deliver::report`]).
    pub msg_content: Bytes,
    /// 2.0: Reserved (8 bytes); 3.0: LinkID (20 bytes). Read as far as it goes: some
    /// gateways send it short.
    pub link_id: Bytes,
}

impl Deliver {
    /// The status report, if this DELIVER carries one (Registered_Delivery = 1).
    ///
    /// # Errors
    /// When the content is too short for a 2.0 report (60 bytes).
    pub fn report(&self) -> Option<Result<Report, FrameError>> {
        (self.registered_delivery == 1).then(|| Report::load(&self.msg_content))
    }

    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>, v: Version) -> Result<Self, FrameError> {
        let v3 = v.is_v3();
        let mut d = Deliver {
            msg_id: MsgId(r.u64("Msg_Id")?),
            dest_id: octets(frame, r, "Dest_Id", 21)?,
            service_id: octets(frame, r, "Service_Id", 10)?,
            tp_pid: r.u8("TP_pid")?,
            tp_udhi: r.u8("TP_udhi")?,
            msg_fmt: r.u8("Msg_Fmt")?,
            src_terminal_id: octets(frame, r, "Src_terminal_Id", v.terminal_id_len())?,
            ..Deliver::default()
        };
        if v3 {
            d.src_terminal_type = r.u8("Src_terminal_type")?;
        }
        d.registered_delivery = r.u8("Registered_Delivery")?;
        let at = r.offset();
        let len = usize::from(r.u8("Msg_Length")?);
        if len > r.remaining() {
            return Err(FrameError::malformed(
                "Msg_Length runs past the end of the PDU",
                at,
            ));
        }
        d.msg_content = frame.slice_ref(r.bytes("Msg_Content", len)?);
        let tail = r.remaining().min(if v3 { 20 } else { 8 });
        d.link_id = octets(frame, r, "LinkID", tail)?;
        Ok(d)
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut, v: Version) -> Result<(), EncodeError> {
        let v3 = v.is_v3();
        let len = u8::try_from(self.msg_content.len()).map_err(|_| EncodeError::Invalid {
            rule: "Msg_Content is longer than 255 bytes",
        })?;
        dst.reserve(if v3 { 97 } else { 73 } + self.msg_content.len());
        dst.put_u64(self.msg_id.0);
        put_octets(dst, &self.dest_id, 21)?;
        put_octets(dst, &self.service_id, 10)?;
        dst.put_slice(&[self.tp_pid, self.tp_udhi, self.msg_fmt]);
        put_octets(dst, &self.src_terminal_id, v.terminal_id_len())?;
        if v3 {
            dst.put_u8(self.src_terminal_type);
        }
        dst.put_u8(self.registered_delivery);
        dst.put_u8(len);
        dst.put_slice(&self.msg_content);
        put_octets(dst, &self.link_id, if v3 { 20 } else { 8 })
    }
}

/// A status report: the fate of a submitted message.
///
/// | field | 2.0 | 3.0 |
/// |---|---|---|
/// | Msg_Id (of the SUBMIT_RESP) | 8 | 8 |
/// | Stat | 7 | 7 |
/// | Submit_time, Done_time (YYMMDDHHMM) | 10, 10 | 10, 10 |
/// | Dest_terminal_Id | 21 | 32 |
/// | SMSC_sequence | 4 | 4 |
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// The Msg_Id the SUBMIT_RESP gave the submitted message.
    pub msg_id: MsgId,
    /// DELIVRD, EXPIRED, UNDELIV, ... (7 bytes).
    pub stat: Bytes,
    /// YYMMDDHHMM.
    pub submit_time: Bytes,
    /// YYMMDDHHMM.
    pub done_time: Bytes,
    /// The destination of the submitted message.
    pub dest_terminal_id: Bytes,
    /// The SMSC's sequence number.
    pub smsc_sequence: u32,
}

impl Report {
    /// The 2.0 report length.
    pub const LEN_V2: usize = 60;
    /// The 3.0 report length.
    pub const LEN_V3: usize = 71;

    /// Reads a report, choosing the layout by its length: 71 bytes or more is 3.0, 60 to 70
    /// is 2.0.
    ///
    /// # Errors
    /// [`FrameError::Short`] when the content is under 60 bytes.
    pub fn load(content: &Bytes) -> Result<Self, FrameError> {
        let tid = if content.len() >= Self::LEN_V3 {
            32
        } else {
            21
        };
        let mut r = Reader::new(content);
        Ok(Report {
            msg_id: MsgId(r.u64("Msg_Id")?),
            stat: octets(content, &mut r, "Stat", 7)?,
            submit_time: octets(content, &mut r, "Submit_time", 10)?,
            done_time: octets(content, &mut r, "Done_time", 10)?,
            dest_terminal_id: octets(content, &mut r, "Dest_terminal_Id", tid)?,
            smsc_sequence: r.u32("SMSC_sequence")?,
        })
    }

    /// The report as Msg_Content in the version's layout.
    ///
    /// # Errors
    /// When a field is longer than its width.
    pub fn encode(&self, v: Version) -> Result<Bytes, EncodeError> {
        let mut dst = BytesMut::with_capacity(Self::LEN_V3);
        dst.put_u64(self.msg_id.0);
        put_octets(&mut dst, &self.stat, 7)?;
        put_octets(&mut dst, &self.submit_time, 10)?;
        put_octets(&mut dst, &self.done_time, 10)?;
        put_octets(&mut dst, &self.dest_terminal_id, v.terminal_id_len())?;
        dst.put_u32(self.smsc_sequence);
        Ok(dst.freeze())
    }
}

/// CMPP_DELIVER_RESP: the SP acknowledges a DELIVER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliverResp {
    /// The DELIVER's Msg_Id.
    pub msg_id: MsgId,
    /// 0 ok, 8 flow control, ... (the same codes as SUBMIT_RESP's).
    pub result: super::SubmitResult,
}

impl DeliverResp {
    pub(crate) fn load(r: &mut Reader<'_>, v3: bool) -> Result<Self, FrameError> {
        Ok(DeliverResp {
            msg_id: MsgId(r.u64("Msg_Id")?),
            result: super::SubmitResult(status(r, "Result", v3)?),
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut, v3: bool) -> Result<(), EncodeError> {
        dst.put_u64(self.msg_id.0);
        put_status(dst, self.result.0, v3)
    }
}
