//! How the delimiter codecs find a delimiter, and check that an item to encode holds none.

use bytes::BytesMut;
use memchr::memmem::Finder;

/// How a splitter finds the end of a frame.
pub(super) trait Search {
    /// The earliest delimiter in `hay` starting at or after `from`: `(start, length)`.
    fn find(&self, hay: &[u8], from: usize) -> Option<(usize, usize)>;
    /// The longest delimiter length.
    fn longest(&self) -> usize;
    /// Why `item` followed by `write` would not decode back to `item`, if it would not.
    fn refuses(&self, item: &[u8], write: &[u8]) -> Option<&'static str> {
        if self.find(item, 0).is_some() {
            return Some("the item contains the delimiter");
        }
        // the item's tail and the delimiter must not make an earlier delimiter
        let tail = &item[item.len().saturating_sub(self.longest())..];
        let mut joint = [0u8; 64];
        let probe = tail.len() + write.len();
        if probe <= joint.len() {
            joint[..tail.len()].copy_from_slice(tail);
            joint[tail.len()..probe].copy_from_slice(write);
            if self
                .find(&joint[..probe], 0)
                .is_some_and(|(s, _)| s < tail.len())
            {
                return Some("the item's end runs into the delimiter");
            }
        }
        None
    }
    /// Appends `item` to `dst` (which has room for it) unless `item` followed by `write`
    /// would not decode back to `item`: then says why and appends nothing.
    #[inline]
    fn copy_checked(&self, item: &[u8], write: &[u8], dst: &mut BytesMut) -> Option<&'static str> {
        let why = self.refuses(item, write);
        if why.is_none() {
            dst.extend_from_slice(item);
        }
        why
    }
    /// Whether the delimiter found at `start` (of `len` bytes) is final: no other delimiter
    /// that would win (one starting earlier, or at the same place and listed first) could
    /// still complete with bytes not received yet.
    fn settled(&self, _hay: &[u8], _start: usize, _len: usize) -> bool {
        true
    }
    /// How far back a resumed search must start so that no delimiter is missed.
    fn overlap(&self) -> usize {
        self.longest() - 1
    }
}

/// `\n`, with a preceding `\r` counted as part of the delimiter.
#[derive(Debug, Clone)]
pub(super) struct Newline;

impl Search for Newline {
    fn find(&self, hay: &[u8], from: usize) -> Option<(usize, usize)> {
        let rest = hay.get(from..)?;
        // a few new bytes (a trickling peer) are cheaper to scan than to hand to memchr
        let p = from
            + if rest.len() < 16 {
                rest.iter().position(|&b| b == b'\n')?
            } else {
                memchr::memchr(b'\n', rest)?
            };
        if p > 0 && hay[p - 1] == b'\r' {
            Some((p - 1, 2))
        } else {
            Some((p, 1))
        }
    }
    fn longest(&self) -> usize {
        2
    }
    #[inline]
    fn copy_checked(&self, item: &[u8], write: &[u8], dst: &mut BytesMut) -> Option<&'static str> {
        if item.len() <= CHECK_CHUNK {
            let why = self.refuses(item, write);
            if why.is_none() {
                dst.extend_from_slice(item);
            }
            return why;
        }
        // long items: look at a chunk, then copy it while it is still in the cache, so
        // the check costs little beyond the copy
        let start = dst.len();
        for chunk in item.chunks(CHECK_CHUNK) {
            if memchr::memchr(b'\n', chunk).is_some() {
                dst.truncate(start);
                return Some("the item contains the delimiter");
            }
            dst.extend_from_slice(chunk);
        }
        if item.last() == Some(&b'\r') {
            dst.truncate(start);
            return Some("the item's end runs into the delimiter");
        }
        None
    }
    #[inline]
    fn refuses(&self, item: &[u8], _write: &[u8]) -> Option<&'static str> {
        let has_lf = if item.len() <= SHORT {
            has_lf_short(item)
        } else {
            memchr::memchr(b'\n', item).is_some()
        };
        if has_lf {
            Some("the item contains the delimiter")
        } else if item.last() == Some(&b'\r') {
            Some("the item's end runs into the delimiter")
        } else {
            None
        }
    }
    fn overlap(&self) -> usize {
        0 // only `\n` is searched for; the `\r` is looked up behind it
    }
}

/// How much of a long item is checked before it is copied (well inside the L1 cache, and
/// below the size at which glibc's `memcpy` switches to `rep movsb`).
const CHECK_CHUNK: usize = 1024;

/// Items up to this long are checked a word at a time; longer ones by `memchr`, whose
/// set-up costs more than the scan of a short item.
const SHORT: usize = 128;

/// Whether a short slice holds `\n`: the 16-byte blocks are compared and OR-ed lane by
/// lane (a vector compare and OR each, no early exit), and only the sum is looked at (no
/// call, no byte-by-byte tail: a short item is padded, a longer one's tail is the last 16
/// bytes, looked at again).
#[inline]
fn has_lf_short(item: &[u8]) -> bool {
    fn add(acc: &mut [u8; 16], block: &[u8; 16]) {
        for i in 0..16 {
            acc[i] |= u8::from(block[i] == b'\n');
        }
    }
    let mut acc = [0u8; 16];
    if item.len() < 16 {
        let mut block = [0u8; 16];
        block[..item.len()].copy_from_slice(item);
        add(&mut acc, &block);
    } else {
        let mut blocks = item.chunks_exact(16);
        for block in &mut blocks {
            add(&mut acc, block.try_into().expect("16 bytes"));
        }
        if !blocks.remainder().is_empty() {
            add(
                &mut acc,
                item[item.len() - 16..].try_into().expect("16 bytes"),
            );
        }
    }
    u128::from_ne_bytes(acc) != 0
}

/// Any of several delimiters; the earliest start wins, then the one listed first.
#[derive(Debug, Clone)]
pub(super) struct AnyOf {
    pub(super) finders: Vec<Finder<'static>>,
    pub(super) longest: usize,
}

impl Search for AnyOf {
    fn find(&self, hay: &[u8], from: usize) -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize)> = None;
        for f in &self.finders {
            let n = f.needle().len();
            // a later delimiter only matters if it starts before the best so far
            let end = match best {
                Some((s, _)) => (s + n).min(hay.len()),
                None => hay.len(),
            };
            if from >= end {
                continue;
            }
            if let Some(p) = f.find(&hay[from..end]) {
                let s = from + p;
                if best.is_none_or(|(b, _)| s < b) {
                    best = Some((s, n));
                }
            }
        }
        best
    }
    fn settled(&self, hay: &[u8], start: usize, len: usize) -> bool {
        let winner = self
            .finders
            .iter()
            .position(|f| {
                f.needle().len() == len && hay.get(start..start + len) == Some(f.needle())
            })
            .unwrap_or(0);
        for (j, f) in self.finders.iter().enumerate() {
            let d = f.needle();
            // the places where what is buffered is a proper prefix of `d`
            for p in (hay.len() + 1).saturating_sub(d.len())..hay.len() {
                if (p < start || (p == start && j < winner)) && d.starts_with(&hay[p..]) {
                    return false;
                }
            }
        }
        true
    }
    fn longest(&self) -> usize {
        self.longest
    }
}
