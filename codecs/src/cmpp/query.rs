//! CMPP_QUERY / _RESP ([CMPP3] §8.4.3.5) and CMPP_CANCEL / _RESP (§8.4.3.6).

use bytes::{BufMut, Bytes, BytesMut};
use packwire_core::wire::Reader;
use packwire_core::{EncodeError, FrameError};

use super::MsgId;
use super::fields::{octets, put_octets, put_status, status};

/// CMPP_QUERY: the SP asks for traffic totals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// YYYYMMDD (8 bytes).
    pub time: Bytes,
    /// 0 totals, 1 by Service_Id.
    pub query_type: u8,
    /// The Service_Id when `query_type` is 1 (10 bytes).
    pub query_code: Bytes,
    /// Reserve (8 bytes).
    pub reserve: Bytes,
}

impl Query {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(Query {
            time: octets(frame, r, "Time", 8)?,
            query_type: r.u8("Query_Type")?,
            query_code: octets(frame, r, "Query_Code", 10)?,
            reserve: octets(frame, r, "Reserve", 8)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_octets(dst, &self.time, 8)?;
        dst.put_u8(self.query_type);
        put_octets(dst, &self.query_code, 10)?;
        put_octets(dst, &self.reserve, 8)
    }
}

/// CMPP_QUERY_RESP: the totals.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryResp {
    /// YYYYMMDD.
    pub time: Bytes,
    /// 0 totals, 1 by Service_Id.
    pub query_type: u8,
    /// The Service_Id queried.
    pub query_code: Bytes,
    /// Messages from the SP.
    pub mt_tl_msg: u32,
    /// Users reached.
    pub mt_tl_usr: u32,
    /// Forwarded successfully.
    pub mt_scs: u32,
    /// Waiting to be forwarded.
    pub mt_wt: u32,
    /// Failed.
    pub mt_fl: u32,
    /// MO delivered to the SP.
    pub mo_scs: u32,
    /// MO waiting.
    pub mo_wt: u32,
    /// MO failed.
    pub mo_fl: u32,
}

impl QueryResp {
    pub(crate) fn load(frame: &Bytes, r: &mut Reader<'_>) -> Result<Self, FrameError> {
        Ok(QueryResp {
            time: octets(frame, r, "Time", 8)?,
            query_type: r.u8("Query_Type")?,
            query_code: octets(frame, r, "Query_Code", 10)?,
            mt_tl_msg: r.u32("MT_TLMsg")?,
            mt_tl_usr: r.u32("MT_Tlusr")?,
            mt_scs: r.u32("MT_Scs")?,
            mt_wt: r.u32("MT_WT")?,
            mt_fl: r.u32("MT_FL")?,
            mo_scs: r.u32("MO_Scs")?,
            mo_wt: r.u32("MO_WT")?,
            mo_fl: r.u32("MO_FL")?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        put_octets(dst, &self.time, 8)?;
        dst.put_u8(self.query_type);
        put_octets(dst, &self.query_code, 10)?;
        for v in [
            self.mt_tl_msg,
            self.mt_tl_usr,
            self.mt_scs,
            self.mt_wt,
            self.mt_fl,
            self.mo_scs,
            self.mo_wt,
            self.mo_fl,
        ] {
            dst.put_u32(v);
        }
        Ok(())
    }
}

/// CMPP_CANCEL: the SP withdraws a message not delivered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancel {
    /// The message's Msg_Id.
    pub msg_id: MsgId,
}

/// CMPP_CANCEL_RESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CancelResp {
    /// 0 success, 1 failure (1 byte in 2.0, 4 in 3.0).
    pub success_id: u32,
}

impl CancelResp {
    pub(crate) fn load(r: &mut Reader<'_>, v3: bool) -> Result<Self, FrameError> {
        Ok(CancelResp {
            success_id: status(r, "Success_Id", v3)?,
        })
    }

    pub(crate) fn encode(&self, dst: &mut BytesMut, v3: bool) -> Result<(), EncodeError> {
        put_status(dst, self.success_id, v3)
    }
}
