//! Delimiter and line framing: frames end at a delimiter.
//!
//! ```text
//! INPUT                          DECODED (delimiter stripped)
//! "GET a\r\nPUT b\nQUIT\r\n"  ->  "GET a", "PUT b", "QUIT"       (LineCodec)
//! "a,b;;c,"  delimiters , ;;  ->  "a", "b", "c"                  (DelimiterCodec)
//! ```
//!
//! Both codecs search with `memchr` and remember where they stopped, so a frame fed one
//! byte at a time costs O(n) in total (a multi-byte delimiter search resumes at
//! `searched - (longest delimiter - 1)`). Neither scans or buffers past its maximum length:
//! a frame longer than `max` is an error by default, or, with `discard_overlong`, dropped
//! up to the next delimiter, reported as a [`Recovered`] event, and decoding goes on.
//! `decode_eof` hands back a final unterminated frame only when asked to
//! (`eof_frame(true)`); otherwise it is a [`FrameError::Truncated`].
//!
//! Encoders append the delimiter and refuse an item that contains it (or that would run
//! into it, such as a line ending in `\r`), so what is sent decodes to what was given.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use memchr::memmem::Finder;
use packwire_core::{
    ConfigError, EncodeError, FrameError, Limits, Phase, Recovered, RecoveryLog, eof_leftover,
};
use tokio_util::codec::{Decoder, Encoder};

mod search;
use search::{AnyOf, Newline, Search};

/// The engine shared by [`LineCodec`] and [`DelimiterCodec`].
#[derive(Debug)]
struct Splitter<S> {
    search: S,
    write: Bytes,
    keep: bool,
    max: usize,
    discard: bool,
    eof_frame: bool,
    /// bytes of the buffer already searched without finding a delimiter
    searched: usize,
    /// bytes dropped so far from an over-long frame being discarded
    discarding: Option<u64>,
    /// inside decode_eof: no more bytes will come, so a delimiter found is final
    at_eof: bool,
    log: RecoveryLog,
}

/// A clone has the same options and a fresh state (no search in progress, an empty
/// recovery log): what each new connection needs from a prototype codec.
impl<S: Clone> Clone for Splitter<S> {
    fn clone(&self) -> Self {
        Splitter {
            search: self.search.clone(),
            write: self.write.clone(),
            keep: self.keep,
            max: self.max,
            discard: self.discard,
            eof_frame: self.eof_frame,
            searched: 0,
            discarding: None,
            at_eof: false,
            log: RecoveryLog::default(),
        }
    }
}

impl<S: Search> Splitter<S> {
    fn new(search: S, write: Bytes) -> Self {
        Splitter {
            search,
            write,
            keep: false,
            max: Limits::DEFAULT_MAX_LINE,
            discard: false,
            eof_frame: false,
            searched: 0,
            discarding: None,
            at_eof: false,
            log: RecoveryLog::default(),
        }
    }

    /// Where the next search starts.
    fn resume(&self) -> usize {
        self.searched.saturating_sub(self.search.overlap())
    }

    fn overlong(&self, seen: usize) -> FrameError {
        FrameError::TooLarge {
            declared: seen as u64,
            max: self.max as u64,
        }
    }

    /// The hot path: a delimiter found within the limit, or none yet.
    #[inline]
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if self.discarding.is_none() {
            let limit = self.max + self.search.longest();
            let window = src.len().min(limit);
            match self.search.find(&src[..window], self.resume()) {
                Some((start, len)) if !self.final_at(&src[..window], start, len) => {
                    return Ok(None); // a longer delimiter may still win: wait
                }
                Some((start, len)) if start <= self.max => {
                    return Ok(Some(self.cut(src, start, len)));
                }
                None if window < limit => {
                    self.searched = window;
                    return Ok(None);
                }
                _ => {}
            }
        }
        self.decode_slow(src)
    }

    /// Whether a delimiter found at `start` can be acted on now (see [`Search::settled`]).
    fn final_at(&self, hay: &[u8], start: usize, len: usize) -> bool {
        self.at_eof || self.search.settled(hay, start, len)
    }

    fn cut(&mut self, src: &mut BytesMut, start: usize, len: usize) -> Bytes {
        self.searched = 0;
        if self.keep {
            src.split_to(start + len).freeze()
        } else {
            let item = src.split_to(start);
            src.advance(len);
            item.freeze()
        }
    }

    /// Everything else: over-long frames, discarding.
    #[cold]
    #[inline(never)]
    fn decode_slow(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        loop {
            // no frame may be longer than max, so never look further than this (while
            // discarding, look at everything: it is all dropped up to the delimiter)
            let window = match self.discarding {
                Some(_) => src.len(),
                None => src.len().min(self.max + self.search.longest()),
            };
            let found = self.search.find(&src[..window], self.resume());
            if let Some((start, len)) = found {
                if !self.final_at(&src[..window], start, len) {
                    return Ok(None); // a longer delimiter may still win: wait
                }
            }
            if let Some(dropped) = self.discarding {
                match found {
                    Some((start, len)) => {
                        src.advance(start + len);
                        self.log
                            .record(self.overlong(self.max + 1), dropped + (start + len) as u64);
                        self.discarding = None;
                        self.searched = 0;
                        continue;
                    }
                    None => {
                        let keep = self.search.overlap().min(src.len());
                        let drop = src.len() - keep;
                        src.advance(drop);
                        self.discarding = Some(dropped + drop as u64);
                        self.searched = src.len();
                        return Ok(None);
                    }
                }
            }
            match found {
                Some((start, len)) if start <= self.max => {
                    return Ok(Some(self.cut(src, start, len)));
                }
                Some((start, _)) => return self.too_long(start, src),
                None if window >= self.max + self.search.longest() => {
                    return self.too_long(window, src);
                }
                None => {
                    self.searched = window;
                    return Ok(None);
                }
            }
        }
    }

    fn too_long(&mut self, seen: usize, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if !self.discard {
            return Err(self.overlong(seen));
        }
        // no delimiter starts within the first `max` bytes: drop them now
        let drop = self.max.min(src.len());
        src.advance(drop);
        self.discarding = Some(drop as u64);
        self.searched = 0;
        self.decode_slow(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        self.at_eof = true;
        let r = self.decode_eof_inner(src);
        self.at_eof = false;
        r
    }

    fn decode_eof_inner(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        if let Some(dropped) = self.discarding.take() {
            self.log
                .record(self.overlong(self.max + 1), dropped + src.len() as u64);
            src.clear();
            self.searched = 0;
            return Ok(None);
        }
        if self.eof_frame && !src.is_empty() {
            if src.len() > self.max {
                return Err(self.overlong(src.len()));
            }
            self.searched = 0;
            return Ok(Some(src.split().freeze()));
        }
        eof_leftover(src.len(), Phase::MidFrame, None)
    }

    #[inline]
    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
        if item.len() > self.max {
            return Err(EncodeError::TooLarge {
                len: item.len() as u64,
                max: self.max as u64,
            });
        }
        dst.reserve(item.len() + self.write.len());
        if let Some(rule) = self.search.copy_checked(item, &self.write, dst) {
            return Err(EncodeError::Invalid { rule });
        }
        self.put_delimiter(dst);
        Ok(())
    }

    /// The item and the delimiter, without looking for a delimiter in the item.
    #[inline]
    fn encode_unchecked(&mut self, item: &[u8], dst: &mut BytesMut) {
        dst.reserve(item.len() + self.write.len());
        dst.extend_from_slice(item);
        self.put_delimiter(dst);
    }

    #[inline]
    fn put_delimiter(&self, dst: &mut BytesMut) {
        match self.write[..] {
            [b] => dst.put_u8(b),
            ref w => dst.extend_from_slice(w),
        }
    }
}

macro_rules! codec_impls {
    ($t:ty) => {
        impl Decoder for $t {
            type Item = Bytes;
            type Error = FrameError;

            fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
                self.0.decode(src)
            }

            fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
                self.0.decode_eof(src)
            }
        }

        impl Encoder<Bytes> for $t {
            type Error = EncodeError;
            #[inline]
            fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), EncodeError> {
                self.0.encode(&item, dst)
            }
        }

        impl Encoder<&[u8]> for $t {
            type Error = EncodeError;
            #[inline]
            fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), EncodeError> {
                self.0.encode(item, dst)
            }
        }

        impl Encoder<&str> for $t {
            type Error = EncodeError;
            #[inline]
            fn encode(&mut self, item: &str, dst: &mut BytesMut) -> Result<(), EncodeError> {
                self.0.encode(item.as_bytes(), dst)
            }
        }

        impl $t {
            /// Appends `item` and the delimiter to `dst` without the checks of
            /// `encode`: for callers who know `item` holds no delimiter and fits the
            /// maximum (one that holds a delimiter reaches the peer as two frames).
            #[inline]
            pub fn encode_unchecked(&mut self, item: &[u8], dst: &mut BytesMut) {
                self.0.encode_unchecked(item, dst)
            }

            /// Keeps the delimiter at the end of each decoded item. Default: stripped.
            pub fn keep_delimiter(mut self, keep: bool) -> Self {
                self.0.keep = keep;
                self
            }

            /// The longest frame, delimiter excluded. Default 8 KiB.
            pub fn max_length(mut self, max: usize) -> Self {
                self.0.max = max;
                self
            }

            /// Drops an over-long frame up to the next delimiter, reports it as a
            /// [`Recovered`] event and goes on, instead of failing the stream.
            pub fn discard_overlong(mut self, discard: bool) -> Self {
                self.0.discard = discard;
                self
            }

            /// At the end of the stream, hands back a final frame that has no delimiter
            /// instead of reporting it as truncated. Default: truncated.
            pub fn eof_frame(mut self, emit: bool) -> Self {
                self.0.eof_frame = emit;
                self
            }

            /// The longest frame, delimiter excluded.
            pub fn max(&self) -> usize {
                self.0.max
            }

            /// The oldest over-long frame discarded and not read yet (at most 64 are kept).
            pub fn take_recovered(&mut self) -> Option<Recovered> {
                self.0.log.take()
            }

            /// How many over-long frames were discarded.
            pub fn recovered_count(&self) -> u64 {
                self.0.log.total()
            }
        }
    };
}

/// Lines ending in `\n` or `\r\n`, as `Bytes` (no UTF-8 check: decode text yourself, or
/// not at all). The encoder writes `\n` (or `\r\n`, see [`LineCodec::crlf`]).
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use packwire_codecs::LineCodec;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = LineCodec::new().max_length(64);
/// let mut buf = BytesMut::from("PING\r\nPONG\nhalf");
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "PING");
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "PONG");
/// assert_eq!(codec.decode(&mut buf)?, None);
/// assert!(codec.encode("a\nb", &mut buf).is_err()); // would be two lines
/// # Ok::<(), packwire_core::FrameError>(())
/// ```
///
/// `Clone` gives a codec with the same options and a fresh decoding state, so a server's
/// per-connection factory can be `move || codec.clone()`.
#[derive(Debug, Clone)]
pub struct LineCodec(Splitter<Newline>);

impl LineCodec {
    /// Lines of at most 8 KiB, delimiter stripped, over-long lines an error.
    pub fn new() -> Self {
        LineCodec(Splitter::new(Newline, Bytes::from_static(b"\n")))
    }

    /// Makes the encoder end lines with `\r\n` instead of `\n`.
    pub fn crlf(mut self) -> Self {
        self.0.write = Bytes::from_static(b"\r\n");
        self
    }
}

impl Default for LineCodec {
    fn default() -> Self {
        Self::new()
    }
}

codec_impls!(LineCodec);

/// Frames ending in any of several multi-byte delimiters; where two could end a frame, the
/// one that starts earliest wins (the shortest frame), then the one listed first. The
/// encoder writes the first delimiter.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use packwire_codecs::DelimiterCodec;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = DelimiterCodec::new([&b"\r\n"[..], b";;"])?;
/// let mut buf = BytesMut::from("a;;b\r\nc;");
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "a");
/// assert_eq!(codec.decode(&mut buf)?.unwrap(), "b");
/// assert_eq!(codec.decode(&mut buf)?, None); // "c;" may still become "c;;"
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `Clone` gives a codec with the same options and a fresh decoding state.
#[derive(Debug, Clone)]
pub struct DelimiterCodec(Splitter<AnyOf>);

impl DelimiterCodec {
    /// A codec for the given delimiters (frames of at most 8 KiB, delimiter stripped).
    ///
    /// # Errors
    /// A [`ConfigError`] if there is no delimiter, one is empty, or one is longer than 32
    /// bytes.
    pub fn new<I, D>(delimiters: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = D>,
        D: AsRef<[u8]>,
    {
        let finders: Vec<Finder<'static>> = delimiters
            .into_iter()
            .map(|d| Finder::new(d.as_ref()).into_owned())
            .collect();
        let Some(first) = finders.first() else {
            return Err(ConfigError::new("at least one delimiter is needed"));
        };
        if finders.iter().any(|f| f.needle().is_empty()) {
            return Err(ConfigError::new("a delimiter cannot be empty"));
        }
        let longest = finders.iter().map(|f| f.needle().len()).max().unwrap_or(1);
        if longest > 32 {
            return Err(ConfigError::new("delimiters are limited to 32 bytes"));
        }
        let write = Bytes::copy_from_slice(first.needle());
        Ok(DelimiterCodec(Splitter::new(
            AnyOf { finders, longest },
            write,
        )))
    }
}

codec_impls!(DelimiterCodec);

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(
        codec: &mut impl Decoder<Item = Bytes, Error = FrameError>,
        input: &[u8],
    ) -> Vec<Bytes> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn the_earliest_delimiter_wins_then_the_first_listed() {
        let mut c = DelimiterCodec::new(["bc", "ab", "abcd"]).unwrap();
        // "ab" starts at 1, "bc" at 2: "ab" ends the frame
        assert_eq!(frames(&mut c, b"xabcd|"), vec![Bytes::from_static(b"x")]);
        // at the same start, the one listed first ("ab" before "abcd")
        let mut c = DelimiterCodec::new(["ab", "abcd"]).unwrap();
        assert_eq!(
            frames(&mut c, b"zabcdab"),
            vec![Bytes::from_static(b"z"), Bytes::from_static(b"cd")]
        );
    }

    #[test]
    fn a_resumed_search_finds_a_delimiter_split_across_reads() {
        let mut c = DelimiterCodec::new(["\r\n\r\n"]).unwrap();
        let mut buf = BytesMut::from(&b"head\r\n\r"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\nbody");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), "head");
        assert_eq!(&buf[..], b"body");
    }

    #[test]
    fn a_search_resumes_where_it_stopped() {
        // fed one byte at a time, each call searches only the new byte (plus the overlap of
        // a multi-byte delimiter), so a long frame costs O(n) in total
        let mut lines = LineCodec::new().max_length(1 << 20);
        let mut multi = DelimiterCodec::new(["\r\n\r\n", "|"])
            .unwrap()
            .max_length(1 << 20);
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        for k in 1..=10_000 {
            a.extend_from_slice(b"x");
            // "\r\n\rx" repeated: always one byte short of the delimiter
            b.extend_from_slice(&[b"\r\n\rx"[k % 4]]);
            assert_eq!(lines.decode(&mut a).unwrap(), None);
            assert_eq!(multi.decode(&mut b).unwrap(), None);
            assert_eq!(lines.0.resume(), k);
            assert_eq!(multi.0.resume(), k.saturating_sub(3));
        }
        a.extend_from_slice(b"\n");
        assert_eq!(lines.decode(&mut a).unwrap().unwrap().len(), 10_000);
        assert_eq!(lines.0.resume(), 0);
    }

    #[test]
    fn a_shorter_delimiter_waits_while_a_longer_one_listed_first_may_still_match() {
        // fuzz finding (delimiter target): with ["\r\n\r\n", "\r"], the stream
        // "\r\n\r\n" gave one empty frame whole but "\r" + "\n" + "\r\n" split after
        // 2 bytes: "\r" was taken before "\r\n\r\n", listed first, could complete
        let mut c = DelimiterCodec::new(["\r\n\r\n", "\r"]).unwrap();
        let mut buf = BytesMut::from(&b"\r\n"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\r\n");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), "");
        assert!(buf.is_empty());
        // an earlier-starting partial match also waits: ["b", "abc"] on "xab"
        let mut c = DelimiterCodec::new(["b", "abc"]).unwrap();
        let mut buf = BytesMut::from(&b"xab"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"c");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), "x");
        // at the end of the stream, what is there decides
        let mut buf = BytesMut::from(&b"yab"[..]);
        assert_eq!(c.decode_eof(&mut buf).unwrap().unwrap(), "ya");
    }

    #[test]
    fn config_errors() {
        assert!(DelimiterCodec::new(Vec::<&[u8]>::new()).is_err());
        assert!(DelimiterCodec::new([""]).is_err());
        assert!(DelimiterCodec::new([[b'x'; 33]]).is_err());
    }

    #[test]
    fn a_clone_keeps_the_options_and_starts_fresh() {
        use bytes::BytesMut;
        use tokio_util::codec::Decoder;
        let mut proto = LineCodec::new().max_length(8);
        let mut half = BytesMut::from(&b"abc"[..]);
        assert_eq!(proto.decode(&mut half).unwrap(), None); // a search in progress
        let mut fresh = proto.clone();
        let mut buf = BytesMut::from(&b"xy\n"[..]);
        assert_eq!(fresh.decode(&mut buf).unwrap().unwrap(), "xy");
        let mut long = BytesMut::from(&b"123456789\n"[..]);
        assert!(
            fresh.decode(&mut long).is_err(),
            "the clone keeps max_length"
        );
    }
}
