//! The half-packet / sticky-packet test kit: one call proves a decoder gives the same
//! items however TCP cuts the stream.
//!
//! Enabled by the `testkit` feature (it brings in proptest); use it from
//! `[dev-dependencies]`:
//!
//! ```toml
//! [dev-dependencies]
//! packwire-core = { version = "0.1", features = ["testkit"] }
//! ```
//!
//! [`Kit::decodes`] feeds the same wire bytes as one chunk, split at every single index,
//! one byte at a time, and under random (shrinkable) splits; it ends the stream at every
//! offset; and on every step it checks the decode contract of the crate docs:
//!
//! - every `Ok(Some(item))` removed at least one byte from the buffer;
//! - an `Ok(None)` is stable: asked again with no new bytes the decoder returns `Ok(None)`
//!   and takes nothing more;
//! - the items are the expected ones in every chunking, and nothing is left over;
//! - `decode_eof` returns `Ok(None)` with an empty buffer on a frame boundary, and an error
//!   (never a silent drop) when the stream ends inside a frame;
//! - after an `Err`, the decoder never yields an item.
//!
//! [`Kit::rejects`] proves bad input fails with the same error class in every chunking,
//! [`Kit::round_trip`] encodes generated messages and decodes them under random chunking,
//! and [`Kit::bounded_memory`] proves a header that claims a huge length does not make the
//! decoder reserve it. Every failure panics with a reproducer: the strategy, the chunk
//! boundaries and the input in hex.
//!
//! The `check_*` methods return a [`Failure`] instead of panicking: they are the oracles the
//! fuzz targets call.
//!
//! ```
//! use bytes::{Buf, Bytes, BytesMut};
//! use packwire_core::{FrameError, testkit::Kit};
//! use tokio_util::codec::Decoder;
//!
//! /// Frames are one length byte and that many payload bytes.
//! #[derive(Debug, Default)]
//! struct Tiny;
//!
//! impl Decoder for Tiny {
//!     type Item = Bytes;
//!     type Error = FrameError;
//!     fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
//!         let Some(&n) = src.first() else { return Ok(None) };
//!         if src.len() < 1 + n as usize {
//!             return Ok(None);
//!         }
//!         src.advance(1);
//!         Ok(Some(src.split_to(n as usize).freeze()))
//!     }
//!     fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
//!         match self.decode(src)? {
//!             Some(f) => Ok(Some(f)),
//!             None if src.is_empty() => Ok(None),
//!             None => Err(FrameError::Truncated {
//!                 phase: packwire_core::Phase::MidFrame,
//!                 have: src.len(),
//!                 need: Some(1 + src[0] as usize),
//!             }),
//!         }
//!     }
//! }
//!
//! Kit::new(|| Tiny).decodes(b"\x02hi\x00\x03abc", &[
//!     Bytes::from_static(b"hi"),
//!     Bytes::new(),
//!     Bytes::from_static(b"abc"),
//! ]);
//! ```

use std::fmt;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::BytesMut;
/// proptest, whose strategies [`Kit::round_trip`] takes: a test needs no dependency of its own.
pub use proptest;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use tokio_util::codec::{Decoder, Encoder};

use crate::FrameError;

/// How an error is compared across chunkings: two errors of the same class are "the same
/// error" even if a byte offset in them differs.
pub trait ErrorClass {
    /// A short label naming the kind of error and, where there is one, the rule.
    fn class(&self) -> String;
}

impl ErrorClass for FrameError {
    fn class(&self) -> String {
        match self.rule() {
            Some(rule) => format!("{}: {rule}", self.kind()),
            None => self.kind().to_string(),
        }
    }
}

impl ErrorClass for io::Error {
    fn class(&self) -> String {
        match self.get_ref().and_then(|e| e.downcast_ref::<FrameError>()) {
            Some(fe) => fe.class(),
            None => format!("io: {:?}", self.kind()),
        }
    }
}

/// How a decoded stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// `decode_eof` returned `Ok(None)` with nothing buffered.
    Clean,
    /// The decoder failed with an error of this class.
    Error(String),
}

/// What one chunking of the input decoded to.
#[derive(Debug, Clone, PartialEq)]
pub struct Run<T> {
    /// The items, in order.
    pub items: Vec<T>,
    /// How the stream ended.
    pub end: End,
}

/// A broken rule of the decode contract, or a difference between chunkings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// `decode` returned an item without removing any byte from the buffer.
    NoProgress {
        /// Index of the item.
        item: usize,
    },
    /// `Ok(None)` was not stable: asked again with no new bytes, the decoder produced an
    /// item, an error, or took more bytes.
    UnstableNone {
        /// What the second call did.
        detail: String,
    },
    /// The decoder yielded an item after it had returned an error.
    ItemAfterError,
    /// `decode_eof` returned `Ok(None)` but left bytes in the buffer.
    Leftover {
        /// How many bytes were left.
        bytes: usize,
    },
    /// The stream ended inside a frame and `decode_eof` said nothing (a silent drop).
    SilentTruncation {
        /// Where the stream was cut.
        at: usize,
    },
    /// The stream ended on a frame boundary and `decode_eof` reported an error.
    FalseTruncation {
        /// Where the stream was cut.
        at: usize,
        /// The error class reported.
        error: String,
    },
    /// This chunking decoded to something else than expected.
    Mismatch {
        /// The expected run, formatted.
        expected: String,
        /// What this chunking gave, formatted.
        got: String,
    },
    /// A `decode` or `decode_eof` call panicked.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The decoder's buffer grew past the allowed bound.
    Memory {
        /// The buffer's capacity.
        capacity: usize,
        /// The bound it was held to.
        bound: usize,
    },
    /// An item failed to encode in a round trip.
    Encode {
        /// The encoder's error.
        error: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NoProgress { item } => {
                write!(f, "item #{item} was returned without consuming any byte")
            }
            Violation::UnstableNone { detail } => {
                write!(
                    f,
                    "Ok(None) was not stable: asked again with no new bytes, {detail}"
                )
            }
            Violation::ItemAfterError => write!(f, "the decoder yielded an item after an error"),
            Violation::Leftover { bytes } => {
                write!(
                    f,
                    "decode_eof returned Ok(None) with {bytes} bytes left in the buffer"
                )
            }
            Violation::SilentTruncation { at } => write!(
                f,
                "stream cut inside a frame at byte {at}, and decode_eof reported nothing"
            ),
            Violation::FalseTruncation { at, error } => write!(
                f,
                "stream cut on a frame boundary at byte {at}, and decode_eof failed: {error}"
            ),
            Violation::Mismatch { expected, got } => {
                write!(
                    f,
                    "decoded differently:\n  expected: {expected}\n  got:      {got}"
                )
            }
            Violation::Panicked { message } => write!(f, "the decoder panicked: {message}"),
            Violation::Memory { capacity, bound } => write!(
                f,
                "the buffer grew to {capacity} bytes of capacity, over the bound of {bound}"
            ),
            Violation::Encode { error } => write!(f, "encoding failed: {error}"),
        }
    }
}

/// A kit check that failed, with everything needed to reproduce it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What went wrong.
    pub violation: Violation,
    /// Which feeding found it: `whole`, `split at 17`, `byte-at-a-time`, `random`,
    /// `eof at 9`, `round trip`, `memory`.
    pub strategy: String,
    /// The offsets at which the input was cut into chunks.
    pub cuts: Vec<usize>,
    /// The input.
    pub input: Vec<u8>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "decoder broke the contract ({}): {}",
            self.strategy, self.violation
        )?;
        writeln!(f, "  reproduce: cut the input at {:?}", self.cuts)?;
        write!(f, "  input ({} bytes): ", self.input.len())?;
        for b in &self.input {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// The kit, holding a factory that makes a fresh codec for every run.
#[derive(Debug, Clone)]
pub struct Kit<F> {
    make: F,
    random_cases: u32,
    eof_check: bool,
    empty_items: bool,
    every_split_max: usize,
}

fn hex_cut(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &c in cuts {
        let c = c.clamp(start, input.len());
        out.push(input[start..c].to_vec());
        start = c;
    }
    out.push(input[start..].to_vec());
    out
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic".to_string()
    }
}

/// Runs `f`, turning a panic into a [`Violation::Panicked`].
fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, Violation> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| Violation::Panicked {
        message: panic_message(p),
    })
}

impl<F, D> Kit<F>
where
    F: Fn() -> D,
    D: Decoder,
    D::Item: PartialEq + fmt::Debug,
    D::Error: ErrorClass,
{
    /// A kit that calls `make` for a fresh codec before every run.
    pub fn new(make: F) -> Self {
        Kit {
            make,
            random_cases: 64,
            eof_check: true,
            empty_items: false,
            every_split_max: 4096,
        }
    }

    /// How many random chunkings (and round-trip cases) to try. Default 64.
    pub fn random_cases(mut self, n: u32) -> Self {
        self.random_cases = n;
        self
    }

    /// Skips the end-of-stream-at-every-offset check, for protocols where a stream may end
    /// cleanly inside a message (an HTTP response read until close), and for codecs in a
    /// recovery mode, where an end inside skipped bytes is clean (the skip was reported).
    pub fn without_eof_check(mut self) -> Self {
        self.eof_check = false;
        self
    }

    /// Allows items that consume no bytes (an end-of-message event after a body), while
    /// still failing a decoder that returns more than 8 such items in a row.
    pub fn allow_empty_items(mut self) -> Self {
        self.empty_items = true;
        self
    }

    /// Inputs up to this many bytes are split at every single index; longer ones at 4096
    /// evenly spaced indexes plus every index of the first and last 64 bytes. Default 4096.
    pub fn every_split_max(mut self, n: usize) -> Self {
        self.every_split_max = n;
        self
    }

    /// Decodes `input` cut at `cuts` (offsets, ascending) with a fresh codec, checking the
    /// decode contract on every call.
    ///
    /// # Errors
    /// The first [`Violation`] of the contract.
    pub fn run(&self, input: &[u8], cuts: &[usize]) -> Result<Run<D::Item>, Violation> {
        let mut dec = guarded(|| (self.make)())?;
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        let mut empties = 0usize;
        for chunk in hex_cut(input, cuts) {
            buf.extend_from_slice(&chunk);
            loop {
                let before = buf.len();
                match guarded(|| dec.decode(&mut buf))? {
                    Ok(Some(item)) => {
                        self.progress(before, buf.len(), items.len(), &mut empties)?;
                        items.push(item);
                    }
                    Ok(None) => {
                        let after = buf.len();
                        match guarded(|| dec.decode(&mut buf))? {
                            Ok(None) if buf.len() == after => {}
                            Ok(None) => {
                                return Err(Violation::UnstableNone {
                                    detail: format!("it took {} more bytes", after - buf.len()),
                                });
                            }
                            Ok(Some(_)) => {
                                return Err(Violation::UnstableNone {
                                    detail: "it returned an item".into(),
                                });
                            }
                            Err(e) => {
                                return Err(Violation::UnstableNone {
                                    detail: format!("it failed: {}", e.class()),
                                });
                            }
                        }
                        break;
                    }
                    Err(e) => return self.failed(&mut dec, &mut buf, items, e),
                }
            }
        }
        loop {
            let before = buf.len();
            match guarded(|| dec.decode_eof(&mut buf))? {
                Ok(Some(item)) => {
                    self.progress(before, buf.len(), items.len(), &mut empties)?;
                    items.push(item);
                }
                Ok(None) if buf.is_empty() => {
                    return Ok(Run {
                        items,
                        end: End::Clean,
                    });
                }
                Ok(None) => return Err(Violation::Leftover { bytes: buf.len() }),
                Err(e) => return self.failed(&mut dec, &mut buf, items, e),
            }
        }
    }

    fn progress(
        &self,
        before: usize,
        after: usize,
        item: usize,
        empties: &mut usize,
    ) -> Result<(), Violation> {
        if after < before {
            *empties = 0;
            return Ok(());
        }
        *empties += 1;
        if self.empty_items && *empties <= 8 {
            Ok(())
        } else {
            Err(Violation::NoProgress { item })
        }
    }

    fn failed(
        &self,
        dec: &mut D,
        buf: &mut BytesMut,
        items: Vec<D::Item>,
        e: D::Error,
    ) -> Result<Run<D::Item>, Violation> {
        if let Ok(Some(_)) = guarded(|| dec.decode(buf))? {
            return Err(Violation::ItemAfterError);
        }
        Ok(Run {
            items,
            end: End::Error(e.class()),
        })
    }

    fn fail(
        &self,
        violation: Violation,
        strategy: impl Into<String>,
        cuts: &[usize],
        input: &[u8],
    ) -> Failure {
        Failure {
            violation,
            strategy: strategy.into(),
            cuts: cuts.to_vec(),
            input: input.to_vec(),
        }
    }

    fn expect_run(
        &self,
        input: &[u8],
        cuts: &[usize],
        strategy: &str,
        expected: &Run<D::Item>,
    ) -> Result<(), Failure> {
        let got = self
            .run(input, cuts)
            .map_err(|v| self.fail(v, strategy, cuts, input))?;
        if &got != expected {
            return Err(self.fail(
                Violation::Mismatch {
                    expected: format!("{expected:?}"),
                    got: format!("{got:?}"),
                },
                strategy,
                cuts,
                input,
            ));
        }
        Ok(())
    }

    fn split_points(&self, len: usize) -> Vec<usize> {
        if len <= self.every_split_max {
            return (1..len).collect();
        }
        let mut pts: Vec<usize> = (1..64.min(len)).collect();
        pts.extend((len.saturating_sub(64)..len).filter(|&p| p > 0));
        let step = (len / 4096).max(1);
        pts.extend((1..len).step_by(step));
        pts.sort_unstable();
        pts.dedup();
        pts
    }

    /// Checks every chunking of `input` against `expected`: whole, split at every index,
    /// byte at a time, random splits, and the end of stream at every offset.
    ///
    /// # Errors
    /// The first [`Failure`] found, with a reproducer.
    pub fn check_run(&self, input: &[u8], expected: &Run<D::Item>) -> Result<(), Failure>
    where
        D::Item: Clone,
    {
        self.expect_run(input, &[], "whole", expected)?;
        for p in self.split_points(input.len()) {
            self.expect_run(input, &[p], &format!("split at {p}"), expected)?;
        }
        let bytes: Vec<usize> = (1..input.len()).collect();
        self.expect_run(input, &bytes, "byte-at-a-time", expected)?;
        self.check_random(input, expected)?;
        if self.eof_check {
            self.check_eof(input, expected)?;
        }
        Ok(())
    }

    fn check_random(&self, input: &[u8], expected: &Run<D::Item>) -> Result<(), Failure> {
        if input.len() < 2 || self.random_cases == 0 {
            return Ok(());
        }
        let mut runner = TestRunner::new(Config {
            cases: self.random_cases,
            failure_persistence: None,
            ..Config::default()
        });
        let len = input.len();
        let strat = proptest::collection::vec(1..len, 1..=16).prop_map(|mut v| {
            v.sort_unstable();
            v.dedup();
            v
        });
        let result = runner.run(&strat, |cuts| {
            self.expect_run(input, &cuts, "random", expected)
                .map_err(|f| TestCaseError::fail(f.violation.to_string()))
        });
        match result {
            Ok(()) => Ok(()),
            Err(TestError::Fail(_, cuts)) => {
                self.expect_run(input, &cuts, "random (shrunk)", expected)
            }
            Err(TestError::Abort(why)) => Err(self.fail(
                Violation::Panicked {
                    message: why.to_string(),
                },
                "random",
                &[],
                input,
            )),
        }
    }

    /// Ends the stream at every offset: on a frame boundary the end must be clean with the
    /// items so far; inside a frame it must be an error after the items so far.
    fn check_eof(&self, input: &[u8], expected: &Run<D::Item>) -> Result<(), Failure>
    where
        D::Item: Clone,
    {
        // item counts after each byte fed one at a time: a count that rises marks a boundary
        let counts = self
            .counts_per_byte(input)
            .map_err(|v| self.fail(v, "byte-at-a-time", &[], input))?;
        for p in 0..input.len() {
            let prefix = &input[..p];
            let strategy = format!("eof at {p}");
            let got = self
                .run(prefix, &[])
                .map_err(|v| self.fail(v, strategy.as_str(), &[], prefix))?;
            let k = counts[p];
            let boundary = p == 0 || counts[p] > counts[p - 1];
            let before = &expected.items[..k.min(expected.items.len())];
            if (boundary || got.end != End::Clean) && got.items.as_slice() != before {
                return Err(self.fail(
                    Violation::Mismatch {
                        expected: format!("{before:?} then the end"),
                        got: format!("{got:?}"),
                    },
                    strategy,
                    &[],
                    prefix,
                ));
            }
            match (&got.end, boundary) {
                (End::Clean, true) | (End::Error(_), false) => {}
                (End::Clean, false) => {
                    return Err(self.fail(
                        Violation::SilentTruncation { at: p },
                        strategy,
                        &[],
                        prefix,
                    ));
                }
                (End::Error(e), true) => {
                    // an error that the full input also ends with is no false truncation
                    if expected.end != End::Error(e.clone()) || k < expected.items.len() {
                        return Err(self.fail(
                            Violation::FalseTruncation {
                                at: p,
                                error: e.clone(),
                            },
                            strategy,
                            &[],
                            prefix,
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn counts_per_byte(&self, input: &[u8]) -> Result<Vec<usize>, Violation> {
        let mut dec = guarded(|| (self.make)())?;
        let mut buf = BytesMut::new();
        let mut counts = vec![0usize; input.len() + 1];
        let mut n = 0;
        let mut failed = false;
        for (i, &b) in input.iter().enumerate() {
            if !failed {
                buf.extend_from_slice(&[b]);
                loop {
                    match guarded(|| dec.decode(&mut buf))? {
                        Ok(Some(_)) => n += 1,
                        Ok(None) => break,
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
            }
            counts[i + 1] = n;
        }
        Ok(counts)
    }

    /// Checks that `input` decodes to exactly `expected` in every chunking and ends cleanly.
    ///
    /// # Errors
    /// The first [`Failure`] found.
    pub fn check_decodes(&self, input: &[u8], expected: &[D::Item]) -> Result<(), Failure>
    where
        D::Item: Clone,
    {
        self.check_run(
            input,
            &Run {
                items: expected.to_vec(),
                end: End::Clean,
            },
        )
    }

    /// Asserts that `input` decodes to exactly `expected` in every chunking and ends cleanly.
    ///
    /// # Panics
    /// On the first failure, with a reproducer.
    #[track_caller]
    pub fn decodes(&self, input: &[u8], expected: &[D::Item])
    where
        D::Item: Clone,
    {
        if let Err(f) = self.check_decodes(input, expected) {
            panic!("{f}");
        }
    }

    /// Checks that `input` yields `before` and then fails with an error of class `class`
    /// (see [`ErrorClass`]; for a [`FrameError`] the kind, then `": "` and the rule where it
    /// has one — a prefix is enough, so `"too_large"` matches) in every chunking, and that
    /// no item follows the error.
    ///
    /// # Errors
    /// The first [`Failure`] found.
    pub fn check_rejects(
        &self,
        input: &[u8],
        before: &[D::Item],
        class: &str,
    ) -> Result<(), Failure>
    where
        D::Item: Clone,
    {
        let whole = self
            .run(input, &[])
            .map_err(|v| self.fail(v, "whole", &[], input))?;
        let ok =
            matches!(&whole.end, End::Error(c) if c.starts_with(class)) && whole.items == before;
        if !ok {
            return Err(self.fail(
                Violation::Mismatch {
                    expected: format!("{before:?} then an error of class {class:?}"),
                    got: format!("{whole:?}"),
                },
                "whole",
                &[],
                input,
            ));
        }
        let kit = Kit {
            eof_check: false,
            ..self.borrowed()
        };
        kit.check_run(input, &whole)
    }

    fn borrowed(&self) -> Kit<&F> {
        Kit {
            make: &self.make,
            random_cases: self.random_cases,
            eof_check: self.eof_check,
            empty_items: self.empty_items,
            every_split_max: self.every_split_max,
        }
    }

    /// Asserts what [`Kit::check_rejects`] checks.
    ///
    /// # Panics
    /// On the first failure, with a reproducer.
    #[track_caller]
    pub fn rejects(&self, input: &[u8], before: &[D::Item], class: &str)
    where
        D::Item: Clone,
    {
        if let Err(f) = self.check_rejects(input, before, class) {
            panic!("{f}");
        }
    }

    /// The fuzz oracle: whatever `input` is, decoding it whole and cut at `cuts` gives the
    /// same items and ends the same way, and no call breaks the decode contract.
    ///
    /// # Errors
    /// The [`Failure`] found.
    pub fn check_chunking_equivalence(
        &self,
        input: &[u8],
        cuts: &[usize],
    ) -> Result<Run<D::Item>, Failure> {
        let whole = self
            .run(input, &[])
            .map_err(|v| self.fail(v, "whole", &[], input))?;
        let mut cuts = cuts.iter().map(|&c| c.min(input.len())).collect::<Vec<_>>();
        cuts.sort_unstable();
        self.expect_run(input, &cuts, "fuzzer cuts", &whole)?;
        let bytes: Vec<usize> = (1..input.len()).collect();
        self.expect_run(input, &bytes, "byte-at-a-time", &whole)?;
        Ok(whole)
    }

    /// The fuzz oracle for encoders: every item that the encoder accepts re-encodes to bytes
    /// that decode (whole, with a fresh codec) to exactly that item and end cleanly. Items
    /// the encoder refuses are skipped: a strict encoder may refuse what a tolerant decoder
    /// accepted.
    ///
    /// # Errors
    /// The [`Failure`] found, with the re-encoded bytes as its input.
    pub fn check_reencode(&self, items: &[D::Item]) -> Result<(), Failure>
    where
        D: Encoder<D::Item>,
        D::Item: Clone,
    {
        for item in items {
            let mut wire = BytesMut::new();
            let mut enc =
                guarded(|| (self.make)()).map_err(|v| self.fail(v, "re-encode", &[], &[]))?;
            if enc.encode(item.clone(), &mut wire).is_err() {
                continue;
            }
            let expected = Run {
                items: vec![item.clone()],
                end: End::Clean,
            };
            self.expect_run(&wire, &[], "re-encode", &expected)?;
        }
        Ok(())
    }

    /// Checks that a stream made of `header` (a header that claims a large frame) followed by
    /// up to 1 KiB of body never makes the decoder's buffer capacity exceed `bound` plus
    /// twice the bytes received: memory grows with bytes received, not with bytes claimed.
    ///
    /// # Errors
    /// A [`Violation::Memory`] failure if the buffer grew past the bound.
    pub fn check_bounded_memory(&self, header: &[u8], bound: usize) -> Result<(), Failure> {
        let fail = |v, cuts: &[usize]| self.fail(v, "memory", cuts, header);
        let mut dec = guarded(|| (self.make)()).map_err(|v| fail(v, &[]))?;
        let mut buf = BytesMut::new();
        let mut fed = 0usize;
        let chunks = std::iter::once(header.to_vec()).chain(std::iter::repeat_n(vec![0u8; 64], 16));
        for chunk in chunks {
            buf.extend_from_slice(&chunk);
            fed += chunk.len();
            let r = guarded(|| dec.decode(&mut buf)).map_err(|v| fail(v, &[]))?;
            let limit = bound + 2 * fed;
            if buf.capacity() > limit {
                return Err(fail(
                    Violation::Memory {
                        capacity: buf.capacity(),
                        bound: limit,
                    },
                    &[header.len()],
                ));
            }
            if !matches!(r, Ok(None)) {
                break; // an error (too large) or a frame: either way nothing was reserved
            }
        }
        Ok(())
    }

    /// Asserts what [`Kit::check_bounded_memory`] checks.
    ///
    /// # Panics
    /// If the buffer grew past the bound.
    #[track_caller]
    pub fn bounded_memory(&self, header: &[u8], bound: usize) {
        if let Err(f) = self.check_bounded_memory(header, bound) {
            panic!("{f}");
        }
    }

    /// Checks the round-trip property on `messages`: encode them all into one buffer, then
    /// decode that buffer cut at `cuts`; the messages come back in order and the stream ends
    /// cleanly.
    ///
    /// # Errors
    /// The [`Failure`] found.
    pub fn check_round_trip_once(&self, messages: &[D::Item], cuts: &[usize]) -> Result<(), Failure>
    where
        D: Encoder<D::Item>,
        <D as Encoder<D::Item>>::Error: fmt::Display,
        D::Item: Clone,
    {
        let mut enc = (self.make)();
        let mut wire = BytesMut::new();
        for m in messages {
            enc.encode(m.clone(), &mut wire).map_err(|e| {
                self.fail(
                    Violation::Encode {
                        error: e.to_string(),
                    },
                    "round trip",
                    &[],
                    &wire,
                )
            })?;
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        let expected = Run {
            items: messages.to_vec(),
            end: End::Clean,
        };
        self.expect_run(&wire, &cuts, "round trip", &expected)
    }

    /// Asserts the round-trip property for every message sequence `strategy` generates,
    /// under random chunking; shrinks a failure to a minimal sequence and cut set.
    ///
    /// # Panics
    /// On a failure, with a reproducer.
    #[track_caller]
    pub fn round_trip<S>(&self, strategy: S)
    where
        S: Strategy<Value = Vec<D::Item>>,
        D: Encoder<D::Item>,
        <D as Encoder<D::Item>>::Error: fmt::Display,
        D::Item: Clone,
    {
        let mut runner = TestRunner::new(Config {
            cases: self.random_cases.max(1),
            failure_persistence: None,
            ..Config::default()
        });
        let cuts = proptest::collection::vec(any::<usize>(), 0..12);
        let result = runner.run(&(strategy, cuts), |(msgs, cuts)| {
            self.check_round_trip_once(&msgs, &cuts)
                .map_err(|f| TestCaseError::fail(f.to_string()))
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(_, (msgs, cuts))) => {
                if let Err(f) = self.check_round_trip_once(&msgs, &cuts) {
                    panic!("{f}\n  messages: {msgs:?}");
                }
                panic!("round trip failed, and passed again when re-run: {msgs:?} cut at {cuts:?}");
            }
            Err(TestError::Abort(why)) => panic!("round trip aborted: {why}"),
        }
    }
}
