//! CMPP_SUBMIT / CMPP_SUBMIT_RESP ([CMPP3] §8.4.3.3).
//!
//! | # | field | 2.0 | 3.0 |
//! |---|---|---|---|
//! | 1 | Msg_Id | 8 | 8 |
//! | 2-5 | Pk_total, Pk_number, Registered_Delivery, Msg_level | 1 each | 1 each |
//! | 6 | Service_Id | 10 | 10 |
//! | 7 | Fee_UserType | 1 | 1 |
//! | 8 | Fee_terminal_Id | 21 | 32 |
//! | 9 | Fee_terminal_type | — | 1 |
//! | 10-12 | TP_pId, TP_udhi, Msg_Fmt | 1 each | 1 each |
//! | 13 | Msg_src | 6 | 6 |
//! | 14-15 | FeeType, FeeCode | 2, 6 | 2, 6 |
//! | 16-17 | ValId_Time, At_Time | 17, 17 | 17, 17 |
//! | 18 | Src_Id | 21 | 21 |
//! | 19 | DestUsr_tl | 1 (1-99) | 1 (1-99) |
//! | 20 | Dest_terminal_Id | 21 × n | 32 × n |
//! | 21 | Dest_terminal_type | — | 1 |
//! | 22-23 | Msg_Length, Msg_Content | 1, n | 1, n |
//! | 24 | Reserve / LinkID | 8 | 20 |

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

use super::fields::{octets, put_octets, put_status, status};
use super::{MsgId, Version};

/// The most destinations one SUBMIT may carry (DestUsr_tl < 100).
pub const MAX_DESTINATIONS: usize = 99;

/// CMPP_SUBMIT: the SP sends a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Submit {
    /// Filled by the ISMG; an SP sends 0.
    pub msg_id: MsgId,
    /// Parts of a long message (from 1).
    pub pk_total: u8,
    /// This part's number (from 1).
    pub pk_number: u8,
    /// 0 no status report, 1 report (2.0 also 2: billing only).
    pub registered_delivery: u8,
    /// Priority.
    pub msg_level: u8,
    /// The business code (10 bytes).
    pub service_id: Bytes,
    /// Who pays: 0 destination, 1 source, 2 SP, 3 `fee_terminal_id`.
    pub fee_user_type: u8,
    /// The charged number (21 bytes in 2.0, 32 in 3.0).
    pub fee_terminal_id: Bytes,
    /// 3.0 only: 0 real number, 1 pseudo number (not on the wire in 2.0).
    pub fee_terminal_type: u8,
    /// GSM 03.40 TP-PID.
    pub tp_pid: u8,
    /// GSM 03.40 TP-UDHI: the content starts with a user data header (spec 1; real
    /// gateways send 0x40 — see [`super::udhi`]).
    pub tp_udhi: u8,
    /// 0 ASCII, 4 binary, 8 UCS2, 15 GBK, ... ([`super::MsgFmt`]).
    pub msg_fmt: u8,
    /// The SP id (6 bytes).
    pub msg_src: Bytes,
    /// "01" free, "02" per message, "03" monthly, ...
    pub fee_type: Bytes,
    /// The fee in fen (6 bytes).
    pub fee_code: Bytes,
    /// Validity, SMPP 3.3 time format (17 bytes).
    pub valid_time: Bytes,
    /// Scheduled delivery time, same format (17 bytes).
    pub at_time: Bytes,
    /// The number shown as the sender (21 bytes).
    pub src_id: Bytes,
    /// The destination numbers (1 to 99; 21 bytes each in 2.0, 32 in 3.0).
    pub dest_terminal_ids: Vec<Bytes>,
    /// 3.0 only: 0 real, 1 pseudo.
    pub dest_terminal_type: u8,
    /// The message, user data header included when `tp_udhi` says so (at most 255 bytes).
    pub msg_content: Bytes,
    /// 2.0: Reserve (8 bytes); 3.0: LinkID (20 bytes).
    pub link_id: Bytes,
}

impl Submit {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>, v: Version) -> Result<Self, FrameError> {
        let v3 = v.is_v3();
        let tid = v.terminal_id_len();
        let mut s = Submit {
            msg_id: MsgId(r.u64("Msg_Id")?),
            pk_total: r.u8("Pk_total")?,
            pk_number: r.u8("Pk_number")?,
            registered_delivery: r.u8("Registered_Delivery")?,
            msg_level: r.u8("Msg_level")?,
            service_id: octets(frame, r, "Service_Id", 10)?,
            fee_user_type: r.u8("Fee_UserType")?,
            fee_terminal_id: octets(frame, r, "Fee_terminal_Id", tid)?,
            ..Submit::default()
        };
        if v3 {
            s.fee_terminal_type = r.u8("Fee_terminal_type")?;
        }
        s.tp_pid = r.u8("TP_pId")?;
        s.tp_udhi = r.u8("TP_udhi")?;
        s.msg_fmt = r.u8("Msg_Fmt")?;
        s.msg_src = octets(frame, r, "Msg_src", 6)?;
        s.fee_type = octets(frame, r, "FeeType", 2)?;
        s.fee_code = octets(frame, r, "FeeCode", 6)?;
        s.valid_time = octets(frame, r, "ValId_Time", 17)?;
        s.at_time = octets(frame, r, "At_Time", 17)?;
        s.src_id = octets(frame, r, "Src_Id", 21)?;
        let at = r.offset();
        let n = usize::from(r.u8("DestUsr_tl")?);
        if n == 0 || n > MAX_DESTINATIONS {
            return Err(FrameError::malformed("DestUsr_tl must be 1 to 99", at));
        }
        s.dest_terminal_ids = (0..n)
            .map(|_| octets(frame, r, "Dest_terminal_Id", tid))
            .collect::<Result<_, _>>()?;
        if v3 {
            s.dest_terminal_type = r.u8("Dest_terminal_type")?;
        }
        let len = usize::from(r.u8("Msg_Length")?);
        s.msg_content = frame.slice_ref(r.bytes("Msg_Content", len)?);
        // tolerant: a short or missing Reserve / LinkID is read as far as it goes
        let tail = r.remaining().min(if v3 { 20 } else { 8 });
        s.link_id = octets(frame, r, "LinkID", tail)?;
        Ok(s)
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut, v: Version) -> Result<(), EncodeError> {
        let v3 = v.is_v3();
        let tid = v.terminal_id_len();
        let n = self.dest_terminal_ids.len();
        if n == 0 || n > MAX_DESTINATIONS {
            return Err(EncodeError::Invalid {
                rule: "a SUBMIT needs 1 to 99 destinations",
            });
        }
        let len = u8::try_from(self.msg_content.len()).map_err(|_| EncodeError::Invalid {
            rule: "Msg_Content is longer than 255 bytes",
        })?;
        dst.reserve(if v3 { 163 + 32 * n } else { 138 + 21 * n } + self.msg_content.len());
        dst.put_u64(self.msg_id.0);
        dst.put_slice(&[
            self.pk_total,
            self.pk_number,
            self.registered_delivery,
            self.msg_level,
        ]);
        put_octets(dst, &self.service_id, 10)?;
        dst.put_u8(self.fee_user_type);
        put_octets(dst, &self.fee_terminal_id, tid)?;
        if v3 {
            dst.put_u8(self.fee_terminal_type);
        }
        dst.put_slice(&[self.tp_pid, self.tp_udhi, self.msg_fmt]);
        put_octets(dst, &self.msg_src, 6)?;
        put_octets(dst, &self.fee_type, 2)?;
        put_octets(dst, &self.fee_code, 6)?;
        put_octets(dst, &self.valid_time, 17)?;
        put_octets(dst, &self.at_time, 17)?;
        put_octets(dst, &self.src_id, 21)?;
        dst.put_u8(n as u8);
        for d in &self.dest_terminal_ids {
            put_octets(dst, d, tid)?;
        }
        if v3 {
            dst.put_u8(self.dest_terminal_type);
        }
        dst.put_u8(len);
        dst.put_slice(&self.msg_content);
        put_octets(dst, &self.link_id, if v3 { 20 } else { 8 })
    }
}

/// CMPP_SUBMIT_RESP: the ISMG's Msg_Id for the submit, and its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubmitResp {
    /// The id the ISMG assigned (the first of a group send's range).
    pub msg_id: MsgId,
    /// 0 ok, 8 flow control (resend later), ...
    pub result: super::SubmitResult,
}

impl SubmitResp {
    pub(crate) fn load(r: &mut Reader<'_>, v3: bool) -> Result<Self, FrameError> {
        Ok(SubmitResp {
            msg_id: MsgId(r.u64("Msg_Id")?),
            result: super::SubmitResult(status(r, "Result", v3)?),
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut, v3: bool) -> Result<(), EncodeError> {
        dst.put_u64(self.msg_id.0);
        put_status(dst, self.result.0, v3)
    }
}
