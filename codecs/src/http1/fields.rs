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
    /// name start, name end, value start, value end
    spans: Vec<[u32; 4]>,
}

impl Headers {
    /// No fields.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Fields found in `buf` (name start, name end, value start, value end).
    pub(crate) fn from_spans(buf: Bytes, spans: Vec<[u32; 4]>) -> Self {
        Headers { buf, spans }
    }

    /// Bytes of the buffer the fields live in (a start line's parts live there too).
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

    /// How many fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The fields in order, as sent (names keep their case; values without the whitespace
    /// around them).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans.iter().map(|s| {
            let [ns, ne, vs, ve] = s.map(|x| x as usize);
            (&self.buf[ns..ne], &self.buf[vs..ve])
        })
    }

    /// The first value of a field, by case-insensitive name.
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
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    /// Copies the pairs into one buffer.
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        let mut buf = BytesMut::new();
        let mut spans = Vec::new();
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
