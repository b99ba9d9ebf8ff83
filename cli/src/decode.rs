//! `packwire decode`: feed a file to a decoder in a chosen chunking, print JSON Lines.

use std::io::{self, Read, Write};

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

fn chunk_lengths(len: usize, split: Split) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = len;
    let mut state = match split {
        Split::Random(seed) => seed,
        _ => 0,
    };
    while left > 0 {
        let n = match split {
            Split::Whole => left,
            Split::Bytes => 1,
            Split::Every(n) => n,
            Split::Random(_) => 1 + (splitmix(&mut state) % 64) as usize,
        }
        .min(left);
        out.push(n);
        left -= n;
    }
    out
}

/// Reads `path` (or stdin), decodes it, prints JSON Lines; returns the exit code.
pub(crate) fn run(
    mut dec: Box<dyn JsonDecoder>,
    split: Split,
    path: Option<&str>,
) -> io::Result<i32> {
    let mut input = Vec::new();
    match path {
        Some(p) if p != "-" => input = std::fs::read(p)?,
        _ => {
            io::stdin().read_to_end(&mut input)?;
        }
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut buf = BytesMut::new();
    let mut fed = 0usize;
    let mut result = Ok(());
    // where the decode call that fails started: the first byte of the frame it was reading
    let mut start = 0;
    'feed: for n in chunk_lengths(input.len(), split) {
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            start = fed - buf.len();
            match dec.decode(&mut buf) {
                Ok(Some(item)) => writeln!(out, "{item}")?,
                Ok(None) => break,
                Err(e) => {
                    result = Err(e);
                    break 'feed;
                }
            }
        }
    }
    if result.is_ok() {
        loop {
            start = fed - buf.len();
            match dec.decode_eof(&mut buf) {
                Ok(Some(item)) => writeln!(out, "{item}")?,
                Ok(None) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
    }
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            let line = json!({ "error": { "kind": e.kind().as_str(), "message": e.to_string(), "offset": start } });
            writeln!(out, "{line}")?;
            2
        }
    };
    out.flush()?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

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
