//! Header fields as spans of one shared buffer: zero-copy without a reference count per
//! field.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// Header (or trailer) fields in order: `(name, value)` pairs that borrow from the head's
/// buffer. Decoding them costs no copy and no reference count per field; [`Headers::iter`]
/// hands out `&[u8]` slices and [`Headers::get_bytes`] zero-copy `Bytes`.
///
/// Build one to encode from pairs (`Headers::from(vec![(name, value)])`, or `collect()`).
#[derive(Clone, Default)]
pub struct Headers {
    buf: Bytes,
    spans: Spans,
}

/// How many fields a head holds without allocating.
const INLINE: usize = 4;

/// Where the fields are in the buffer: name start, name end, value start, value end. A few
/// fields near the front of the buffer (most API requests) are kept inline, so decoding
/// such a head allocates nothing.
#[derive(Clone, Debug)]
pub(crate) enum Spans {
    Inline(u8, [[u16; 4]; INLINE]),
    Heap(Vec<[u32; 4]>),
}

impl Default for Spans {
    fn default() -> Self {
        Spans::Inline(0, [[0; 4]; INLINE])
    }
}

impl Spans {
    /// The spans, leaving none: inline ones only have their count reset (no zeroing
    /// of the array they were in).
    #[inline]
    pub(crate) fn take(&mut self) -> Spans {
        match self {
            Spans::Inline(n, a) => {
                let out = Spans::Inline(*n, *a);
                *n = 0;
                out
            }
            Spans::Heap(_) => std::mem::take(self),
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Spans::Inline(n, _) => usize::from(*n),
            Spans::Heap(v) => v.len(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, span: [u32; 4]) {
        match self {
            Spans::Inline(n, a) if usize::from(*n) < INLINE && span[3] <= u32::from(u16::MAX) => {
                a[usize::from(*n)] = span.map(|x| x as u16);
                *n += 1;
            }
            Spans::Inline(n, a) => {
                let mut v = Vec::with_capacity(16);
                v.extend(a[..usize::from(*n)].iter().map(|s| s.map(u32::from)));
                v.push(span);
                *self = Spans::Heap(v);
            }
            Spans::Heap(v) => v.push(span),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> [usize; 4] {
        match self {
            Spans::Inline(_, a) => a[i].map(usize::from),
            Spans::Heap(v) => v[i].map(|x| x as usize),
        }
    }
}

impl Headers {
    /// No fields.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Fields found in `buf` (name start, name end, value start, value end).
    #[inline]
    pub(crate) fn from_spans(buf: Bytes, spans: Spans) -> Self {
        Headers { buf, spans }
    }

    /// Bytes of the buffer the fields live in (a start line's parts live there too).
    #[inline]
    pub(crate) fn raw(&self, [s, e]: [u32; 2]) -> &[u8] {
        &self.buf[s as usize..e as usize]
    }

    /// A zero-copy `Bytes` of [`Headers::raw`].
    pub(crate) fn raw_bytes(&self, [s, e]: [u32; 2]) -> Bytes {
        self.buf.slice(s as usize..e as usize)
    }

    /// Appends `parts` to a copy of the buffer, returning where each landed: how a head
    /// built to be encoded keeps its start line beside its fields.
    pub(crate) fn with_parts<const N: usize>(self, parts: [&[u8]; N]) -> (Headers, [[u32; 2]; N]) {
        let mut buf =
            BytesMut::with_capacity(self.buf.len() + parts.iter().map(|p| p.len()).sum::<usize>());
        buf.put_slice(&self.buf);
        let mut at = [[0; 2]; N];
        for (slot, p) in at.iter_mut().zip(parts) {
            let s = buf.len() as u32;
            buf.put_slice(p);
            *slot = [s, buf.len() as u32];
        }
        let headers = Headers {
            buf: buf.freeze(),
            spans: self.spans,
        };
        (headers, at)
    }

    /// Field `i`: name and value.
    #[inline]
    pub(crate) fn field(&self, i: usize) -> (&[u8], &[u8]) {
        let [ns, ne, vs, ve] = self.spans.get(i);
        (&self.buf[ns..ne], &self.buf[vs..ve])
    }

    /// How many fields.
    #[inline]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.spans.len() == 0
    }

    /// The fields in order, as sent (names keep their case; values without the whitespace
    /// around them).
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        (0..self.spans.len()).map(|i| self.field(i))
    }

    /// The first value of a field, by case-insensitive name.
    #[inline]
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The first value of a field as a zero-copy `Bytes`.
    pub fn get_bytes(&self, name: &str) -> Option<Bytes> {
        self.get(name).map(|v| self.buf.slice_ref(v))
    }

    /// Whether a field with this name is present.
    #[inline]
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    /// Copies the pairs into one buffer.
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        let mut buf = BytesMut::new();
        let mut spans = Spans::default();
        for (n, v) in pairs {
            let (n, v) = (n.as_ref(), v.as_ref());
            let ns = buf.len();
            buf.put_slice(n);
            let vs = buf.len();
            buf.put_slice(v);
            spans.push([ns as u32, vs as u32, vs as u32, buf.len() as u32]);
        }
        Headers {
            buf: buf.freeze(),
            spans,
        }
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> From<Vec<(N, V)>> for Headers {
    fn from(pairs: Vec<(N, V)>) -> Self {
        pairs.into_iter().collect()
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> PartialEq<Vec<(N, V)>> for Headers {
    fn eq(&self, other: &Vec<(N, V)>) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other)
                .all(|((a, b), (n, v))| a == n.as_ref() && b == v.as_ref())
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields past the inline count, or past what 16 bits can address, move to the heap
    /// without losing or reordering any.
    #[test]
    fn spans_spill_to_the_heap_in_order() {
        let mut buf = vec![b'x'; 70_000];
        buf[..4].copy_from_slice(b"a: b");
        let mut spans = Spans::default();
        let mut want = Vec::new();
        for (i, at) in [0usize, 0, 0, 69_990].into_iter().enumerate() {
            let span = [at, at + 1, at + 3, at + 4 + i].map(|x| x as u32);
            spans.push(span);
            want.push((at..at + 1, at + 3..at + 4 + i));
        }
        assert!(
            matches!(spans, Spans::Heap(_)),
            "an offset over 65535 spills"
        );
        for n in 1..=6 {
            spans.push([0, 1, 3, 4]);
            want.push((0..1, 3..4));
            assert_eq!(spans.len(), 4 + n);
        }
        let h = Headers::from_spans(Bytes::from(buf.clone()), spans);
        let got: Vec<_> = h.iter().collect();
        let want: Vec<_> = want.into_iter().map(|(n, v)| (&buf[n], &buf[v])).collect();
        assert_eq!(got, want);

        let mut small = Spans::default();
        for _ in 0..INLINE {
            small.push([0, 1, 3, 4]);
        }
        assert!(matches!(small, Spans::Inline(4, _)));
        small.push([0, 1, 3, 4]);
        assert!(matches!(&small, Spans::Heap(v) if v.len() == 5));
    }
}
