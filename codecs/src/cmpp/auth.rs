//! The login authenticators and the MMDDHHMMSS timestamp (sans-IO: no clock; pass the time).

use md5::{Digest, Md5};

use super::Version;

/// The CONNECT Timestamp: month, day, hour, minute and second as the decimal number
/// MMDDHHMMSS (local time of the SP).
///
/// ```
/// use packwire_codecs::cmpp::timestamp;
/// assert_eq!(timestamp(10, 21, 8, 5, 10), 1021080510);
/// assert_eq!(timestamp(1, 2, 15, 4, 5), 102150405);
/// ```
pub fn timestamp(month: u32, day: u32, hour: u32, minute: u32, second: u32) -> u32 {
    (((month * 100 + day) * 100 + hour) * 100 + minute) * 100 + second
}

/// AuthenticatorSource = MD5(Source_Addr as its 6-byte field + 9 zero bytes + secret +
/// the timestamp as 10 ASCII digits).
///
/// ```
/// use packwire_codecs::cmpp::authenticator_source;
/// let a = authenticator_source(b"900001", b"888888", 1021080510);
/// assert_eq!(a[..4], [0x90, 0xd0, 0x0c, 0x1d]);
/// ```
pub fn authenticator_source(source_addr: &[u8], secret: &[u8], timestamp: u32) -> [u8; 16] {
    let mut field = [0u8; 6];
    let n = source_addr.len().min(6);
    field[..n].copy_from_slice(&source_addr[..n]);
    let mut h = Md5::new();
    h.update(field);
    h.update([0u8; 9]);
    h.update(secret);
    h.update(format!("{timestamp:010}"));
    h.finalize().into()
}

/// AuthenticatorISMG = MD5(Status + AuthenticatorSource + secret), with Status as wide as
/// its field in `version` (1 byte in 2.0, 4 in 3.0) — what a server must send.
pub fn authenticator_ismg(
    status: u32,
    authenticator_source: &[u8; 16],
    secret: &[u8],
    version: Version,
) -> [u8; 16] {
    let mut h = Md5::new();
    if version.is_v3() {
        h.update(status.to_be_bytes());
    } else {
        h.update([status as u8]);
    }
    h.update(authenticator_source);
    h.update(secret);
    h.finalize().into()
}

/// Checks an AuthenticatorISMG leniently, as a client should: either status width is
/// accepted (SMSGate servers hash 4 bytes even in 2.0).
pub fn verify_ismg(
    got: &[u8; 16],
    status: u32,
    authenticator_source: &[u8; 16],
    secret: &[u8],
) -> bool {
    [Version::V20, Version::V30]
        .iter()
        .any(|&v| &authenticator_ismg(status, authenticator_source, secret, v) == got)
}
