//! A CMPP gateway pair on the runtime: [`SpClient`] (an SP's connection to an ISMG) and
//! [`Ismg`] (an ISMG simulator an SMS application can be tested against). Both use
//! [`Conn::call`](packwire_net::Conn::call) for every request (window 16, T = 60 s, N = 3 by
//! default), answer ACTIVE_TEST automatically and send their own when the link is idle.
//!
//! ```no_run
//! use packwire_sms::cmpp::{Account, Ismg, IsmgConfig, SpClient, SpConfig, Outgoing};
//! use packwire_codecs::cmpp::Version;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let ismg = Ismg::bind("127.0.0.1:0", IsmgConfig::new(vec![Account::new("901234", "secret")])).await?;
//! let sp = SpClient::connect(SpConfig::new(ismg.local_addr(), "901234", "secret", Version::V30)).await?;
//! let ids = sp.submit(&Outgoing::text("13800138000", "你好, packwire")).await?;
//! println!("Msg_Id(s): {ids:?}");
//! sp.terminate().await;
//! # Ok(()) }
//! ```

mod ismg;
mod sp;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use packwire_codecs::cmpp::{CmppCodec, Pdu};
use packwire_core::{EncodeError, FrameError};
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};

pub use ismg::{Account, Ismg, IsmgConfig, IsmgEvent};
pub use sp::{Delivery, Outgoing, SpClient, SpConfig, SpError};

/// Traced PDUs (and ISMG events) that may wait unread before new ones are dropped.
pub const TRACE_BUFFER: usize = 10_000;

/// Which way a traced PDU went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Decoded from the peer.
    In,
    /// Encoded for the peer.
    Out,
}

/// A [`CmppCodec`] that also reports every PDU it decodes or encodes (for `--trace`).
/// At most [`TRACE_BUFFER`] wait unread; later ones are dropped.
#[derive(Debug)]
pub(crate) struct Traced {
    pub(crate) inner: CmppCodec,
    /// bounded: a trace nobody reads drops PDUs rather than grow
    pub(crate) trace: Option<mpsc::Sender<(Direction, Pdu)>>,
}

impl Decoder for Traced {
    type Item = Pdu;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Pdu>, FrameError> {
        let r = self.inner.decode(src)?;
        if let (Some(t), Some(p)) = (&self.trace, &r) {
            let _ = t.try_send((Direction::In, p.clone()));
        }
        Ok(r)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Pdu>, FrameError> {
        let r = self.inner.decode_eof(src)?;
        if let (Some(t), Some(p)) = (&self.trace, &r) {
            let _ = t.try_send((Direction::In, p.clone()));
        }
        Ok(r)
    }
}

impl Encoder<Pdu> for Traced {
    type Error = EncodeError;

    fn encode(&mut self, pdu: Pdu, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.inner.encode(&pdu, dst)?;
        if let Some(t) = &self.trace {
            let _ = t.try_send((Direction::Out, pdu));
        }
        Ok(())
    }
}

/// Beijing time now (CMPP's timestamps and Msg_Ids use it): year, month, day, hour,
/// minute, second.
pub(crate) fn beijing_now() -> (i64, u32, u32, u32, u32, u32) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 8 * 3600;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
