//! permessage-deflate (RFC 7692): the negotiation of its parameters in the opening
//! handshake, and the compression of messages (DEFLATE with a sync flush, the trailing
//! `00 00 ff ff` left out) with or without context takeover. Inflation stops at the
//! message limit, so no compressed message can grow past [`super::Config::max_message`].
//! flate2 on zlib-rs: pure Rust, and unlike miniz_oxide it honours the window sizes the
//! peers agree on.

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use packwire_core::FrameError;

use super::Role;

/// The parameters both ends agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server starts each message with an empty window.
    pub server_no_context_takeover: bool,
    /// The client starts each message with an empty window.
    pub client_no_context_takeover: bool,
    /// The server's window, 9-15 bits.
    pub server_max_window_bits: u8,
    /// The client's window, 9-15 bits.
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// What a server is willing to agree to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Always compress without context takeover (less memory per connection, worse
    /// ratio), even if the client did not ask.
    pub server_no_context_takeover: bool,
    /// The compression level, 0-9. Default 6 (Netty's).
    pub level: u32,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            level: 6,
        }
    }
}

/// One offer's parameters, or `None` for an offer the server cannot take (an unknown or
/// repeated parameter, a window size out of range or of 8 bits, which zlib cannot make).
fn parse_offer(params: &[&str]) -> Option<(DeflateParams, Option<u8>)> {
    let mut p = DeflateParams::default();
    let mut client_bits = None;
    let mut seen = Vec::new();
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (param.trim(), None),
        };
        if seen.contains(&name) {
            return None;
        }
        seen.push(name);
        let bits = |v: Option<&str>| {
            v.and_then(|v| v.parse::<u8>().ok())
                .filter(|b| (9..=15).contains(b))
        };
        match (name, value) {
            ("server_no_context_takeover", None) => p.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => p.client_no_context_takeover = true,
            ("server_max_window_bits", v) => p.server_max_window_bits = bits(v)?,
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", v) => {
                let b = bits(v)?;
                p.client_max_window_bits = b;
                client_bits = Some(b);
            }
            _ => return None,
        }
    }
    Some((p, client_bits))
}

/// The first offer of `permessage-deflate` in a `Sec-WebSocket-Extensions` value that
/// the server takes, with the header value that accepts it.
pub(crate) fn negotiate(offers: &[u8], cfg: &DeflateConfig) -> Option<(DeflateParams, String)> {
    let offers = std::str::from_utf8(offers).ok()?;
    for offer in offers.split(',') {
        let mut parts = offer.split(';').map(str::trim);
        if parts.next() != Some("permessage-deflate") {
            continue;
        }
        let params: Vec<&str> = parts.filter(|p| !p.is_empty()).collect();
        let Some((mut p, client_bits)) = parse_offer(&params) else {
            continue;
        };
        p.server_no_context_takeover |= cfg.server_no_context_takeover;
        let mut answer = String::from("permessage-deflate");
        if p.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if p.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        if p.server_max_window_bits < 15 {
            answer.push_str(&format!(
                "; server_max_window_bits={}",
                p.server_max_window_bits
            ));
        }
        if let Some(b) = client_bits {
            answer.push_str(&format!("; client_max_window_bits={b}"));
        }
        return Some((p, answer));
    }
    None
}

/// What a server's `Sec-WebSocket-Extensions` answer agreed to, for a client that offered
/// plain `permessage-deflate`; `None` for an answer it cannot take.
pub(crate) fn accepted(answer: &[u8]) -> Option<DeflateParams> {
    let answer = std::str::from_utf8(answer).ok()?;
    let mut parts = answer.split(';').map(str::trim);
    if parts.next() != Some("permessage-deflate") || answer.contains(',') {
        return None;
    }
    let params: Vec<&str> = parts.filter(|p| !p.is_empty()).collect();
    parse_offer(&params).map(|(p, _)| p)
}

/// The trailer a sync flush ends with, left off on the wire.
const TRAILER: [u8; 4] = [0, 0, 0xff, 0xff];

/// One end's compressor and decompressor.
pub(crate) struct Deflater {
    compress: Compress,
    decompress: Decompress,
    /// start each sent message with a fresh window
    reset_out: bool,
    /// start each received message with a fresh window
    reset_in: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("reset_out", &self.reset_out)
            .field("reset_in", &self.reset_in)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    pub(crate) fn new(role: Role, p: DeflateParams, level: u32) -> Self {
        let (bits, reset_out, reset_in) = match role {
            Role::Server => (
                p.server_max_window_bits,
                p.server_no_context_takeover,
                p.client_no_context_takeover,
            ),
            Role::Client => (
                p.client_max_window_bits,
                p.client_no_context_takeover,
                p.server_no_context_takeover,
            ),
        };
        Deflater {
            compress: Compress::new_with_window_bits(Compression::new(level), false, bits),
            // a window of 15 bits inflates what any smaller one deflated
            decompress: Decompress::new_with_window_bits(false, 15),
            reset_out,
            reset_in,
        }
    }

    /// `data` compressed as one message's payload.
    pub(crate) fn deflate(&mut self, data: &[u8]) -> Bytes {
        // zlib writes straight into the message's own buffer: no staging copy, and only
        // the room it is given is initialised (a small message touches a few bytes)
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(64));
            }
            let (in0, out0) = (self.compress.total_in(), self.compress.total_out());
            // compressing into a buffer with room does not fail; no progress ends the loop
            let _ = self
                .compress
                .compress_vec(&data[pos..], &mut out, FlushCompress::Sync);
            let read = (self.compress.total_in() - in0) as usize;
            let wrote = (self.compress.total_out() - out0) as usize;
            pos += read;
            // a full buffer may leave flushed bytes pending in zlib: go round again
            if (pos == data.len() && out.len() < out.capacity()) || (read == 0 && wrote == 0) {
                break;
            }
        }
        if out.ends_with(&TRAILER) {
            out.truncate(out.len() - TRAILER.len());
        }
        if out.is_empty() {
            // nothing new since the last flush, so zlib wrote no empty block: the
            // message is that block's first byte (RFC 7692 7.2.3.6), which the peer
            // completes with the four it appends
            out.push(0x00);
        }
        if self.reset_out {
            // a fresh window for the next message, in the state already allocated
            self.compress.reset();
        }
        Bytes::from(out)
    }

    /// A message's payload inflated, at most `max` bytes of it.
    ///
    /// # Errors
    /// [`FrameError::TooLarge`] as soon as it would pass `max` (a zip bomb stops there,
    /// having been given room for `max + 1` bytes at most); a malformed error for data
    /// that is not DEFLATE.
    pub(crate) fn inflate(
        &mut self,
        data: &[u8],
        max: usize,
        at: u64,
    ) -> Result<Bytes, FrameError> {
        let limit = max.saturating_add(1);
        let mut out = Vec::with_capacity((data.len() * 2).clamp(64, limit));
        for input in [data, &TRAILER[..]] {
            let mut pos = 0;
            loop {
                if out.len() == out.capacity() {
                    out.reserve_exact(out.len().max(64).min(limit - out.len()));
                }
                let (in0, out0) = (self.decompress.total_in(), self.decompress.total_out());
                let status = self
                    .decompress
                    .decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync)
                    .map_err(|_| {
                        FrameError::malformed("a compressed message is not valid DEFLATE", at)
                    })?;
                let read = (self.decompress.total_in() - in0) as usize;
                let wrote = (self.decompress.total_out() - out0) as usize;
                pos += read;
                if out.len() > max {
                    return Err(FrameError::TooLarge {
                        declared: out.len() as u64,
                        max: max as u64,
                    });
                }
                let drained = pos == input.len() && out.len() < out.capacity();
                if status == Status::StreamEnd || drained || (read == 0 && wrote == 0) {
                    break;
                }
            }
        }
        if self.reset_in {
            self.decompress.reset(false);
        }
        Ok(Bytes::from(out))
    }
}
