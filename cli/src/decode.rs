//! `packwire decode`: feed a file to a decoder in a chosen chunking, print JSON Lines.

use std::io::{self, Read, Write};

use packwire_core::FrameError;

use bytes::BytesMut;
use serde_json::json;

use crate::spec::JsonDecoder;

/// How the input is cut into chunks before it reaches the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    /// One chunk.
    Whole,
    /// One byte at a time.
    Bytes,
    /// Chunks of N bytes.
    Every(usize),
    /// Chunks of 1 to 64 bytes from a seeded generator.
    Random(u64),
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "whole" => Ok(Split::Whole),
            None if s == "bytes" => Ok(Split::Bytes),
            Some(("every", n)) => match n.parse() {
                Ok(0) | Err(_) => Err(format!("every:{n}: N must be a positive number")),
                Ok(n) => Ok(Split::Every(n)),
            },
            Some(("random", seed)) => seed
                .parse()
                .map(Split::Random)
                .map_err(|_| format!("random:{seed}: SEED must be a number")),
            _ => Err(format!(
                "unknown split {s:?}: expected whole, bytes, every:N or random:SEED"
            )),
        }
    }
}

/// splitmix64: a tiny seeded generator, so `random:SEED` cuts the same way everywhere.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The lengths of the pieces the input is cut into, one at a time (a `Vec` of them
/// would cost eight bytes per input byte at `--split bytes`).
struct Cuts {
    split: Split,
    state: u64,
}

impl Cuts {
    fn new(split: Split) -> Self {
        let state = match split {
            Split::Random(seed) => seed,
            _ => 0,
        };
        Cuts { split, state }
    }

    /// The next piece's length (`usize::MAX` for the whole input).
    fn next_len(&mut self) -> usize {
        match self.split {
            Split::Whole => usize::MAX,
            Split::Bytes => 1,
            Split::Every(n) => n,
            Split::Random(_) => 1 + (splitmix(&mut self.state) % 64) as usize,
        }
    }
}

/// Feeds the input to a decoder piece by piece, printing what it decodes.
struct Feeder<'a, W: Write> {
    dec: Box<dyn JsonDecoder>,
    out: &'a mut W,
    buf: BytesMut,
    fed: usize,
    /// where the decode call that fails started: the first byte of the frame it read
    start: usize,
}

impl<W: Write> Feeder<'_, W> {
    /// A piece has arrived in full: decode every item it completes.
    fn piece_done(&mut self) -> io::Result<Result<(), FrameError>> {
        loop {
            self.start = self.fed - self.buf.len();
            match self.dec.decode(&mut self.buf) {
                Ok(Some(item)) => writeln!(self.out, "{item}")?,
                Ok(None) => return Ok(Ok(())),
                Err(e) => return Ok(Err(e)),
            }
        }
    }

    fn eof(&mut self) -> io::Result<Result<(), FrameError>> {
        loop {
            self.start = self.fed - self.buf.len();
            match self.dec.decode_eof(&mut self.buf) {
                Ok(Some(item)) => writeln!(self.out, "{item}")?,
                Ok(None) => return Ok(Ok(())),
                Err(e) => return Ok(Err(e)),
            }
        }
    }
}

/// Reads `path` (or stdin), decodes it, prints JSON Lines; returns the exit code. The
/// input is read as it is fed, so memory follows the decoder's buffer (the largest frame),
/// not the input's length.
pub(crate) fn run(dec: Box<dyn JsonDecoder>, split: Split, path: Option<&str>) -> io::Result<i32> {
    let mut reader: Box<dyn Read> = match path {
        Some(p) if p != "-" => Box::new(
            std::fs::File::open(p).map_err(|e| io::Error::new(e.kind(), format!("{p}: {e}")))?,
        ),
        _ => Box::new(io::stdin().lock()),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut f = Feeder {
        dec,
        out: &mut out,
        buf: BytesMut::new(),
        fed: 0,
        start: 0,
    };
    let mut cuts = Cuts::new(split);
    let mut left = cuts.next_len();
    let mut in_piece = 0usize;
    let mut block = vec![0u8; 64 * 1024];
    let mut result = Ok(());
    'feed: loop {
        let n = match reader.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut rest = &block[..n];
        while !rest.is_empty() {
            let m = left.min(rest.len());
            f.buf.extend_from_slice(&rest[..m]);
            f.fed += m;
            rest = &rest[m..];
            left -= m;
            in_piece += m;
            if left == 0 {
                in_piece = 0;
                result = f.piece_done()?;
                if result.is_err() {
                    break 'feed;
                }
                left = cuts.next_len();
            }
        }
    }
    if result.is_ok() && in_piece > 0 {
        // the last piece, cut short by the end of the input (or the whole input)
        result = f.piece_done()?;
    }
    if result.is_ok() {
        result = f.eof()?;
    }
    let start = f.start;
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            let line = json!({ "error": { "kind": e.kind().as_str(), "message": e.to_string(), "offset": start } });
            writeln!(out, "{line}")?;
            crate::EXIT_UNDECODABLE
        }
    };
    out.flush()?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_lengths(len: usize, split: Split) -> Vec<usize> {
        let mut cuts = Cuts::new(split);
        let (mut out, mut left) = (Vec::new(), len);
        while left > 0 {
            let n = cuts.next_len().min(left);
            out.push(n);
            left -= n;
        }
        out
    }

    #[test]
    fn chunkings_cover_the_input_exactly() {
        for split in [
            Split::Whole,
            Split::Bytes,
            Split::Every(7),
            Split::Random(42),
        ] {
            let lens = chunk_lengths(1000, split);
            assert_eq!(lens.iter().sum::<usize>(), 1000, "{split:?}");
            assert!(lens.iter().all(|&n| n > 0));
        }
        assert_eq!(chunk_lengths(10, Split::Every(4)), vec![4, 4, 2]);
        assert_eq!(chunk_lengths(0, Split::Whole), Vec::<usize>::new());
        assert_eq!(
            chunk_lengths(500, Split::Random(7)),
            chunk_lengths(500, Split::Random(7))
        );
        assert_ne!(
            chunk_lengths(500, Split::Random(7)),
            chunk_lengths(500, Split::Random(8))
        );
    }

    #[test]
    fn split_syntax() {
        assert_eq!("every:3".parse::<Split>(), Ok(Split::Every(3)));
        assert_eq!("random:9".parse::<Split>(), Ok(Split::Random(9)));
        assert!("every:0".parse::<Split>().is_err());
        assert!("sometimes".parse::<Split>().is_err());
    }
}
