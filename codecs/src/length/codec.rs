use std::sync::{Arc, OnceLock};

use bytes::buf::Chain;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use packwire_core::wire::{Endian, read_uint, write_uint};
use packwire_core::{EncodeError, FrameError, Phase, Recovered, RecoveryLog, eof_leftover};
use tokio_util::codec::{Decoder, Encoder};

use super::builder::{Builder, Meaning, Oversize, Strip, Width};
use crate::varint::{MAX_VARINT_LEN, put_varint, read_varint, varint_len};

/// Precomputed constants of the common layout: a fixed-width field, no magic, no checksum
/// (held in the codec itself, so the hot paths read no shared configuration; small, as
/// every connection holds one).
#[derive(Debug, Clone, Copy)]
struct Fast {
    offset: u32,
    header: u32,
    strip: u32,
    /// the builder's `min_frame`, which the encoder checks
    min_frame: u32,
    width: u8,
    endian: Endian,
    /// frame length = field + add
    add: i64,
    /// the smallest valid frame: max(min_frame, header, strip)
    min: u64,
    max: u64,
}

impl Fast {
    #[inline]
    fn offset(&self) -> usize {
        self.offset as usize
    }
    #[inline]
    fn header(&self) -> usize {
        self.header as usize
    }
    #[inline]
    fn strip(&self) -> usize {
        self.strip as usize
    }
    #[inline]
    fn width(&self) -> usize {
        usize::from(self.width)
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for (the rest of) a header.
    Head,
    /// A header has been read; waiting for the whole frame.
    Body { frame: usize, header: usize },
    /// Skipping the rest of an oversized frame.
    Discard { remaining: u64 },
    /// Hunting for the next magic after corruption.
    Hunt { skipped: u64 },
}

/// A length-field framing; see the [module docs](crate::length) for the frame layout and
/// the meaning of every option.
///
/// Decodes to `Bytes` frames (zero-copy slices of the read buffer) and encodes `Bytes` or
/// `&[u8]` payloads. Build one with [`LengthFieldCodec::builder`].
#[derive(Debug)]
pub struct LengthFieldCodec {
    /// the layout, shared by every codec made from the same builder or cloned from one
    /// (a server keeps one codec per connection: the layout is not worth a copy each)
    cfg: Arc<Builder>,
    trailer: usize,
    state: State,
    /// the fast path's constants, for a fixed-width field with no magic or checksum
    fast: Option<Fast>,
    /// what the recovery options keep, made on the first recovery (most codecs never
    /// recover, and a codec lives as long as its connection)
    recovery: Option<Box<Recovery>>,
}

#[derive(Debug, Default)]
struct Recovery {
    /// why the codec is hunting for a magic
    hunt_cause: Option<FrameError>,
    log: RecoveryLog,
}

impl LengthFieldCodec {
    /// A builder with the defaults: a 4-byte big-endian field at offset 0 counting the
    /// payload, the header stripped from decoded items (as tokio-util's builder; `strip(0)`
    /// keeps it), frames of at most 8 MiB.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// tokio-util's `LengthDelimitedCodec` defaults: a 4-byte big-endian payload length,
    /// header stripped from decoded items, frames of at most 8 MiB on the wire.
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use packwire_codecs::LengthFieldCodec;
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = LengthFieldCodec::new();
    /// let mut buf = BytesMut::from(&b"\0\0\0\x02hi\0\0\0"[..]);
    /// assert_eq!(codec.decode(&mut buf)?, Some(Bytes::from_static(b"hi")));
    /// assert_eq!(codec.decode(&mut buf)?, None); // half a header: wait for more
    /// # Ok::<(), packwire_core::FrameError>(())
    /// ```
    pub fn new() -> Self {
        static DEFAULT: OnceLock<Arc<Builder>> = OnceLock::new();
        let cfg = DEFAULT.get_or_init(|| Arc::new(Builder::default().strip_header()));
        Self::from_builder(cfg.clone())
    }

    pub(crate) fn from_builder(cfg: Arc<Builder>) -> Self {
        let fast = match cfg.width {
            Width::Fixed(width) if cfg.magic.is_empty() && cfg.checksum.is_none() => {
                let header = cfg.offset + width;
                let strip = match cfg.strip {
                    Strip::Bytes(n) => n,
                    Strip::Header => header,
                };
                let add = match cfg.meaning {
                    Meaning::Payload => Some(header as i64),
                    Meaning::Frame => Some(0),
                    Meaning::Adjusted(adj) => adj.checked_add(header as i64),
                };
                let small = |n: usize| u32::try_from(n).ok();
                match (
                    add,
                    small(cfg.offset),
                    small(header),
                    small(strip),
                    small(cfg.min_frame),
                ) {
                    (Some(add), Some(offset), Some(head), Some(strip32), Some(min_frame)) => {
                        Some(Fast {
                            offset,
                            header: head,
                            strip: strip32,
                            min_frame,
                            width: width as u8,
                            endian: cfg.endian,
                            add,
                            min: cfg.min_frame.max(header).max(strip) as u64,
                            max: cfg.max_frame as u64,
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        LengthFieldCodec {
            fast,
            trailer: cfg.checksum.map_or(0, |(c, _)| c.width()),
            cfg,
            state: State::Head,
            recovery: None,
        }
    }

    /// The maximum frame length on the wire.
    pub fn max_frame(&self) -> usize {
        self.cfg.max_frame
    }

    /// The oldest recovery event not read yet (oversized frames skipped, corrupt bytes
    /// passed over). At most 64 are kept.
    pub fn take_recovered(&mut self) -> Option<Recovered> {
        self.recovery.as_mut()?.log.take()
    }

    /// How many times the codec recovered since it was built.
    pub fn recovered_count(&self) -> u64 {
        self.recovery.as_ref().map_or(0, |r| r.log.total())
    }

    fn rec(&mut self) -> &mut Recovery {
        self.recovery.get_or_insert_with(Box::default)
    }

    /// Reads a header at the start of `src`: `(frame length, header length)`.
    fn parse_head(&self, src: &[u8]) -> Result<Option<(usize, usize)>, FrameError> {
        let cfg = &self.cfg;
        if !cfg.magic.is_empty() {
            let m = cfg.magic.len().min(src.len());
            if src[..m] != cfg.magic[..m] {
                return Err(FrameError::BadMagic {
                    found: src[..m].to_vec(),
                });
            }
        }
        let Some(field) = src.get(cfg.offset..) else {
            return Ok(None);
        };
        let (raw, width) = match cfg.width {
            // the common widths read directly; the rest through the generic reader
            Width::Fixed(4) => match field.first_chunk::<4>() {
                Some(b) if cfg.endian == Endian::Big => (u64::from(u32::from_be_bytes(*b)), 4),
                Some(b) => (u64::from(u32::from_le_bytes(*b)), 4),
                None => return Ok(None),
            },
            Width::Fixed(w) => match read_uint(field, w, cfg.endian) {
                Some(v) => (v, w),
                None => return Ok(None),
            },
            Width::Varint => match read_varint(field)? {
                Some(v) => v,
                None => return Ok(None),
            },
        };
        let header = cfg.offset + width;
        let frame: i128 = match cfg.meaning {
            Meaning::Payload => i128::from(raw) + (header + self.trailer) as i128,
            Meaning::Frame => i128::from(raw),
            Meaning::Adjusted(adj) => i128::from(raw) + i128::from(adj) + header as i128,
        };
        let declared = u64::try_from(frame.max(0)).unwrap_or(u64::MAX);
        let min = cfg.min_frame.max(header + self.trailer);
        if frame < min as i128 {
            return Err(FrameError::TooShort {
                declared,
                min: min as u64,
            });
        }
        if frame > cfg.max_frame as i128 {
            return Err(FrameError::TooLarge {
                declared,
                max: cfg.max_frame as u64,
            });
        }
        let frame = frame as usize;
        let strip = self.strip_len(header);
        if strip + self.trailer > frame {
            return Err(FrameError::TooShort {
                declared,
                min: (strip + self.trailer) as u64,
            });
        }
        Ok(Some((frame, header)))
    }

    fn strip_len(&self, header: usize) -> usize {
        match self.cfg.strip {
            Strip::Bytes(n) => n,
            Strip::Header => header,
        }
    }

    /// Decides what a header error does: skip (oversize), hunt (resync) or fail.
    fn on_bad_head(&mut self, err: FrameError) -> Result<(), FrameError> {
        if let FrameError::TooLarge { declared, .. } = err {
            if self.cfg.oversize == Oversize::Skip {
                self.rec().log.record(err, declared);
                self.state = State::Discard {
                    remaining: declared,
                };
                return Ok(());
            }
        }
        if self.cfg.resync.is_some() {
            self.rec().hunt_cause = Some(err);
            self.state = State::Hunt { skipped: 0 };
            return Ok(());
        }
        Err(err)
    }

    /// Takes one complete frame (header already validated) off `src`.
    fn take_frame(
        &mut self,
        src: &mut BytesMut,
        frame: usize,
        header: usize,
    ) -> Result<Option<Bytes>, FrameError> {
        if let Some((kind, from)) = self.cfg.checksum {
            let end = frame - self.trailer;
            let expected = read_uint(&src[end..frame], self.trailer, Endian::Big).unwrap_or(0);
            let actual = kind.compute(&src[from..end]);
            if expected != actual {
                let err = FrameError::Checksum { expected, actual };
                if self.cfg.resync.is_some() {
                    // the boundary is known: drop exactly this frame
                    src.advance(frame);
                    self.rec().log.record(err, frame as u64);
                    self.state = State::Head;
                    return Ok(None);
                }
                return Err(err);
            }
        }
        self.state = State::Head;
        let strip = self.strip_len(header);
        src.advance(strip);
        let item = src.split_to(frame - strip - self.trailer).freeze();
        src.advance(self.trailer);
        Ok(Some(item))
    }

    /// Skips corrupt bytes up to the next magic.
    fn hunt(&mut self, src: &mut BytesMut) -> Result<bool, FrameError> {
        let max_scan = self.cfg.resync.unwrap_or(0) as u64;
        let State::Hunt { mut skipped } = self.state else {
            return Ok(true);
        };
        let magic = &self.cfg.magic;
        if skipped == 0 && !src.is_empty() {
            // the bad frame start itself
            src.advance(1);
            skipped = 1;
        }
        let found = memchr::memmem::find(src, magic);
        let drop = match found {
            Some(i) => i,
            None => {
                // keep the longest tail that could still begin the magic
                let keep = (1..magic.len().min(src.len() + 1))
                    .rev()
                    .find(|&k| src[src.len() - k..] == magic[..k])
                    .unwrap_or(0);
                src.len() - keep
            }
        };
        src.advance(drop);
        skipped += drop as u64;
        self.state = State::Hunt { skipped };
        if skipped > max_scan {
            return Err(FrameError::BadMagic {
                found: src[..src.len().min(magic.len())].to_vec(),
            });
        }
        if found.is_some() {
            let cause = self
                .rec()
                .hunt_cause
                .take()
                .unwrap_or(FrameError::BadMagic { found: Vec::new() });
            self.rec().log.record(cause, skipped);
            self.state = State::Head;
            return Ok(true);
        }
        Ok(false)
    }

    /// The header for a payload of `len` bytes.
    fn header(&self, len: usize) -> Result<BytesMut, EncodeError> {
        let cfg = &self.cfg;
        let too_large = |n: usize| EncodeError::TooLarge {
            len: n as u64,
            max: cfg.max_frame as u64,
        };
        let width = match cfg.width {
            Width::Fixed(w) => w,
            Width::Varint => (1..=MAX_VARINT_LEN)
                .find(|&l| {
                    let raw = self.raw_for(len, cfg.offset + l);
                    raw.is_some_and(|r| varint_len(r) == l)
                })
                .ok_or_else(|| too_large(len))?,
        };
        let header = cfg.offset + width;
        let frame = header
            .checked_add(len)
            .and_then(|n| n.checked_add(self.trailer))
            .ok_or_else(|| too_large(len))?;
        if frame > cfg.max_frame {
            return Err(too_large(frame));
        }
        if frame < cfg.min_frame {
            return Err(EncodeError::Invalid {
                rule: "frame shorter than the configured minimum",
            });
        }
        let raw = self.raw_for(len, header).ok_or(EncodeError::Invalid {
            rule: "the length adjustment makes the length field negative",
        })?;
        let mut out = BytesMut::with_capacity(header);
        out.put_slice(&cfg.magic);
        match &cfg.prefix {
            Some(p) => out.put_slice(p),
            None => out.put_bytes(0, cfg.offset - cfg.magic.len()),
        }
        match cfg.width {
            Width::Varint => put_varint(raw, &mut out),
            Width::Fixed(w) => {
                let at = out.len();
                out.put_bytes(0, w);
                if !write_uint(&mut out[at..], raw, w, cfg.endian) {
                    return Err(EncodeError::TooLarge {
                        len: raw,
                        max: if w == 8 {
                            u64::MAX
                        } else {
                            (1u64 << (8 * w)) - 1
                        },
                    });
                }
            }
        }
        Ok(out)
    }

    /// The field value for a payload of `len` bytes behind a header of `header` bytes.
    fn raw_for(&self, len: usize, header: usize) -> Option<u64> {
        let (len, header, trailer) = (len as i128, header as i128, self.trailer as i128);
        let raw = match self.cfg.meaning {
            Meaning::Payload => len,
            Meaning::Frame => header + len + trailer,
            Meaning::Adjusted(adj) => len + trailer - i128::from(adj),
        };
        u64::try_from(raw).ok()
    }

    fn trailer_for(&self, header: &[u8], payload: &[u8]) -> Option<(u64, usize)> {
        let (kind, from) = self.cfg.checksum?;
        Some((
            kind.compute_parts(&[&header[from..], payload]),
            kind.width(),
        ))
    }

    /// Encodes `payload` as header, payload and checksum without copying the payload: the
    /// result is a [`Buf`] of three parts to hand to a vectored write
    /// (`AsyncWriteExt::write_all_buf`), the way Netty's `LengthFieldPrepender` emits a
    /// header buffer and the retained payload.
    ///
    /// # Errors
    /// As for the `Encoder` implementation.
    ///
    /// ```
    /// use bytes::{Buf, Bytes};
    /// use packwire_codecs::LengthFieldCodec;
    ///
    /// let codec = LengthFieldCodec::builder().strip(0).width(2).build()?;
    /// let payload = Bytes::from(vec![1u8; 1000]);
    /// let mut parts = codec.encode_parts(payload.clone())?;
    /// assert_eq!(parts.remaining(), 1002);
    /// assert_eq!(parts.chunk(), &[0x03, 0xe8]); // the header alone
    /// assert_eq!(parts.first_ref().last_ref().as_ptr(), payload.as_ptr()); // not copied
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_parts(
        &self,
        payload: Bytes,
    ) -> Result<Chain<Chain<Bytes, Bytes>, Bytes>, EncodeError> {
        let header = self.header(payload.len())?;
        let trailer = match self.trailer_for(&header, &payload) {
            Some((sum, w)) => Bytes::copy_from_slice(&sum.to_be_bytes()[8 - w..]),
            None => Bytes::new(),
        };
        Ok(header.freeze().chain(payload).chain(trailer))
    }

    #[inline]
    fn encode_slice(&self, payload: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
        if let Some(f) = self.fast {
            // the common layout: write the header straight into `dst`
            let frame = payload.len().saturating_add(f.header()) as u64;
            let raw = i64::try_from(frame)
                .ok()
                .and_then(|n| n.checked_sub(f.add))
                .and_then(|r| u64::try_from(r).ok());
            let fits = f.width == 8 || raw.is_some_and(|r| r >> (8 * f.width()) == 0);
            if let (Some(raw), true, true) =
                (raw, fits, frame <= f.max && frame >= u64::from(f.min_frame))
            {
                dst.reserve(f.header() + payload.len());
                if f.offset > 0 {
                    match &self.cfg.prefix {
                        Some(p) => dst.put_slice(p),
                        None => dst.put_bytes(0, f.offset()),
                    }
                }
                match (f.endian, f.width) {
                    // the common header, without put_uint's slicing
                    (Endian::Big, 4) => dst.put_u32(raw as u32),
                    (Endian::Big, w) => dst.put_uint(raw, usize::from(w)),
                    (Endian::Little, w) => dst.put_uint_le(raw, usize::from(w)),
                }
                dst.put_slice(payload);
                return Ok(());
            }
            // otherwise the general path reports the right error
        }
        let header = self.header(payload.len())?;
        dst.reserve(header.len() + payload.len() + self.trailer);
        dst.put_slice(&header);
        dst.put_slice(payload);
        if let Some((sum, w)) = self.trailer_for(&header, payload) {
            dst.put_uint(sum, w);
        }
        Ok(())
    }
}

impl Default for LengthFieldCodec {
    fn default() -> Self {
        Self::new()
    }
}

/// A codec with the same layout and a fresh decoding state (no frame in progress, no
/// recovery log): what each new connection of a server needs.
impl Clone for LengthFieldCodec {
    fn clone(&self) -> Self {
        LengthFieldCodec {
            cfg: self.cfg.clone(),
            trailer: self.trailer,
            state: State::Head,
            fast: self.fast,
            recovery: None,
        }
    }
}

impl LengthFieldCodec {
    /// Room for the rest of a frame whose header passed the checks, up to the builder's
    /// `reserve_ahead`: a claim never reserves more than that.
    #[inline]
    fn reserve_ahead(&self, src: &mut BytesMut, frame: usize) {
        let missing = frame.saturating_sub(src.len());
        src.reserve(missing.min(self.cfg.reserve_ahead));
    }

    /// A header or a whole frame may be there.
    #[inline(never)]
    fn decode_step(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.fast {
            Some(f) => self.decode_fast(f, src),
            None => self.decode_slow(src),
        }
    }

    /// The general decoder: every option, every state, every error.
    #[cold]
    #[inline(never)]
    fn decode_slow(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            match self.state {
                State::Head => {
                    let head = match self.parse_head(src) {
                        Ok(h) => h,
                        Err(e) => {
                            self.on_bad_head(e)?;
                            continue;
                        }
                    };
                    let Some((frame, header)) = head else {
                        return Ok(None);
                    };
                    if src.len() >= frame {
                        match self.take_frame(src, frame, header)? {
                            Some(item) => return Ok(Some(item)),
                            None => continue,
                        }
                    }
                    self.state = State::Body { frame, header };
                    self.reserve_ahead(src, frame);
                    return Ok(None);
                }
                State::Body { frame, header } => {
                    if src.len() < frame {
                        return Ok(None);
                    }
                    match self.take_frame(src, frame, header)? {
                        Some(item) => return Ok(Some(item)),
                        None => continue,
                    }
                }
                State::Discard { remaining } => {
                    let n = remaining.min(src.len() as u64);
                    src.advance(n as usize);
                    if n == remaining {
                        self.state = State::Head;
                    } else {
                        self.state = State::Discard {
                            remaining: remaining - n,
                        };
                        return Ok(None);
                    }
                }
                State::Hunt { .. } => {
                    if !self.hunt(src)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The common layout's hot path; anything unusual (an error, a recovery state) goes
    /// to [`Self::decode_slow`], which decides the same way.
    #[inline]
    fn decode_fast(&mut self, f: Fast, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        let (frame, strip) = match self.state {
            State::Body { frame, .. } => (frame, f.strip()),
            State::Head => {
                let Some(field) = src.get(f.offset()..f.header()) else {
                    return Ok(None);
                };
                let raw = match field.first_chunk::<4>() {
                    Some(b) if f.width == 4 && f.endian == Endian::Big => {
                        u64::from(u32::from_be_bytes(*b))
                    }
                    _ => read_uint(field, f.width(), f.endian).unwrap_or(u64::MAX),
                };
                let frame = i64::try_from(raw).ok().and_then(|r| r.checked_add(f.add));
                match frame.and_then(|n| u64::try_from(n).ok()) {
                    Some(n) if n >= f.min && n <= f.max => {
                        let frame = n as usize;
                        if src.len() < frame {
                            self.state = State::Body {
                                frame,
                                header: f.header(),
                            };
                            self.reserve_ahead(src, frame);
                            return Ok(None);
                        }
                        (frame, f.strip())
                    }
                    _ => return self.decode_slow(src),
                }
            }
            _ => return self.decode_slow(src),
        };
        if src.len() < frame {
            return Ok(None);
        }
        self.state = State::Head;
        src.advance(strip);
        Ok(Some(src.split_to(frame - strip).freeze()))
    }
}

impl Decoder for LengthFieldCodec {
    type Item = Bytes;
    type Error = FrameError;

    /// Inlined into the caller: a call while the body is still arriving (one per read of
    /// a large frame, one per byte for a trickling peer) is two compares and no call.
    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        // still waiting for the body: nothing to do
        if let State::Body { frame, .. } = self.state {
            if src.len() < frame {
                return Ok(None);
            }
        }
        self.decode_step(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        match self.state {
            State::Body { frame, .. } => eof_leftover(src.len(), Phase::MidFrame, Some(frame)),
            State::Head => eof_leftover(src.len(), Phase::MidHeader, None),
            // the rest of a skipped frame, or bytes that did not make a magic: nothing lost
            State::Discard { .. } | State::Hunt { .. } => {
                src.clear();
                Ok(None)
            }
        }
    }
}

impl Encoder<Bytes> for LengthFieldCodec {
    type Error = EncodeError;

    #[inline]
    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode_slice(&item, dst)
    }
}

impl Encoder<&[u8]> for LengthFieldCodec {
    type Error = EncodeError;

    #[inline]
    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode_slice(item, dst)
    }
}

#[cfg(test)]
mod size_tests {
    /// Every connection holds one: the hot-path constants stay compact.
    #[test]
    fn the_codec_stays_small() {
        assert!(std::mem::size_of::<super::LengthFieldCodec>() <= 96);
    }
}
