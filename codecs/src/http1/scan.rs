//! The byte classes of RFC 9110 / 9112 and the scans over them: eight bytes per step
//! (SWAR on a `u64`), the exact index of the first byte outside the class taken from the
//! step's mask, so a scan leaves its loop once, not once per byte class test.

macro_rules! table {
    ($f:ident, $zero:expr, $t:ty) => {{
        let mut t = [$zero; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = $f(i as u8) as $t;
            i += 1;
        }
        t
    }};
}

/// RFC 9110 §5.6.2: tchar.
const fn tchar(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
    ) || b.is_ascii_alphanumeric()
}

/// RFC 9110 §5.5: field-value bytes (VCHAR, obs-text, SP, HTAB).
const fn value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (b >= 0x21 && b <= 0x7e) || b >= 0x80
}

/// 1 for a tchar, 0 for anything else: eight lookups make one word of flags.
static TOKEN: [u8; 256] = table!(tchar, 0, u8);
static VALUE: [bool; 256] = table!(value_byte, false, bool);

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The eight bytes at `pos`, the first in the low byte.
#[inline(always)]
fn word(h: &[u8], pos: usize) -> Option<u64> {
    let c: [u8; 8] = h.get(pos..pos + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(c))
}

/// The high bit of each byte of `x` below `n` (`n` ≤ 0x80). A flag can be wrong only
/// above a byte that is truly below `n` (a borrow carries upwards), so the lowest flag is
/// exact, and so is the lowest flag of several such masks OR-ed.
#[inline(always)]
fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH
}

/// The high bit of each byte of `x` equal to `b` (the lowest flag is exact, as in `below`).
#[inline(always)]
fn equal(x: u64, b: u8) -> u64 {
    let y = x ^ (ONES * u64::from(b));
    y.wrapping_sub(ONES) & !y & HIGH
}

/// The high bit of each byte of `low7` (bytes below 0x80) strictly between `lo` and
/// `hi` (`hi` ≤ 0x80). Exact for every byte: no carry or borrow crosses a byte.
#[inline(always)]
fn between(low7: u64, lo: u8, hi: u8) -> u64 {
    let under_hi = (ONES * (0x7f + u64::from(hi))).wrapping_sub(low7);
    let over_lo = low7.wrapping_add(ONES * (0x7f - u64::from(lo)));
    under_hi & over_lo & HIGH
}

/// The byte index of a mask's lowest flag.
#[inline(always)]
fn first(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// The first `b` in `h`, eight bytes a step: for the few dozen bytes a trickling peer
/// adds per read, where `memchr`'s call and set-up cost more than the search.
#[inline]
pub(crate) fn find_short(h: &[u8], b: u8) -> Option<usize> {
    let mut pos = 0;
    while let Some(x) = word(h, pos) {
        let m = equal(x, b);
        if m != 0 {
            return Some(pos + first(m));
        }
        pos += 8;
    }
    h[pos..].iter().position(|&c| c == b).map(|i| pos + i)
}

/// Whether `b` is a tchar.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    TOKEN[usize::from(b)] != 0
}

/// Whether `b` may appear in a field value.
#[inline]
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    VALUE[usize::from(b)]
}

/// The index of the first byte at or after `pos` that is not a tchar (or `h.len()`).
/// Letters and `-` (what field names and methods are made of) are recognised eight at
/// a time; any other byte is looked up.
#[inline]
pub(crate) fn skip_token(h: &[u8], mut pos: usize) -> usize {
    while let Some(x) = word(h, pos) {
        // letters (case folded) and '-', from the low seven bits; a high byte is other
        let low7 = x & (ONES * 0x7f);
        let letters = between(low7 | (ONES * 0x20), b'a' - 1, b'z' + 1);
        let dash = between(low7, b'-' - 1, b'-' + 1);
        let other = !((letters | dash) & !x) & HIGH;
        if other == 0 {
            pos += 8;
            continue;
        }
        pos += first(other);
        if !is_tchar(h[pos]) {
            return pos;
        }
        pos += 1;
    }
    while pos < h.len() && is_tchar(h[pos]) {
        pos += 1;
    }
    pos
}

/// The index of the first byte at or after `pos` that is not a field-value byte (or
/// `h.len()`): a control character other than HTAB, or DEL.
#[inline]
pub(crate) fn skip_value(h: &[u8], mut pos: usize) -> usize {
    while let Some(x) = word(h, pos) {
        let stop = below(x, 0x20) | equal(x, 0x7f);
        if stop == 0 {
            pos += 8;
            continue;
        }
        pos += first(stop);
        if h[pos] != b'\t' {
            return pos;
        }
        pos += 1;
    }
    while pos < h.len() && is_field_value_byte(h[pos]) {
        pos += 1;
    }
    pos
}

/// The index of the first byte at or after `pos` outside VCHAR (0x21-0x7e), or `h.len()`:
/// where a request target ends.
#[inline]
pub(crate) fn skip_vchar(h: &[u8], mut pos: usize) -> usize {
    while let Some(x) = word(h, pos) {
        let stop = below(x, 0x21) | (x & HIGH) | equal(x, 0x7f);
        if stop != 0 {
            return pos + first(stop);
        }
        pos += 8;
    }
    while pos < h.len() && (0x21..=0x7e).contains(&h[pos]) {
        pos += 1;
    }
    pos
}

/// Whether `a` equals `lit` ignoring ASCII case, for a lower-case literal made of
/// letters, digits and `-` and an `a` of field-name or field-value bytes: then setting bit
/// 0x20 of each byte of `a` (which folds only upper-case letters onto such bytes; the
/// control characters it would also fold are not in names or values) makes them equal
/// exactly when they match. Eight bytes per compare.
#[inline]
pub(crate) fn eq_folded(a: &[u8], lit: &[u8]) -> bool {
    debug_assert!(
        lit.iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    );
    if a.len() != lit.len() {
        return false;
    }
    let fold = ONES * 0x20;
    let n = a.len();
    if n < 8 {
        return a.iter().zip(lit).all(|(&x, &y)| x | 0x20 == y);
    }
    let mut i = 0;
    while i + 8 <= n {
        if word(a, i).map(|w| w | fold) != word(lit, i) {
            return false;
        }
        i += 8;
    }
    // the last, partial word, overlapping the one before
    i == n || word(a, n - 8).map(|w| w | fold) == word(lit, n - 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each scan stops where the byte-by-byte definition stops, for every byte value at
    /// every position of a run long enough to take the eight-byte steps.
    #[test]
    fn the_short_search_finds_the_first_byte_as_position_does() {
        let mut h = [b'a'; 40];
        for len in 0..=h.len() {
            for at in 0..len {
                h[at] = b'\n';
                assert_eq!(find_short(&h[..len], b'\n'), Some(at), "{len} {at}");
                if at + 1 < len {
                    h[at + 1] = b'\n';
                    assert_eq!(find_short(&h[..len], b'\n'), Some(at));
                    h[at + 1] = b'a';
                }
                h[at] = b'a';
            }
            assert_eq!(find_short(&h[..len], b'\n'), None);
        }
        // bytes one above and below, and with the high bit set, do not match
        assert_eq!(
            find_short(b"\x0b\x09\x8a\xff\x00\x0b\x09\x8a\n", b'\n'),
            Some(8)
        );
    }

    #[test]
    fn the_word_scans_stop_where_the_byte_rules_do() {
        type Scan = fn(&[u8], usize) -> usize;
        type Class = fn(u8) -> bool;
        let cases: [(Scan, Class, u8); 3] = [
            (skip_token, is_tchar, b'a'),
            (skip_value, is_field_value_byte, b'v'),
            (skip_vchar, |b| (0x21..=0x7e).contains(&b), b'/'),
        ];
        for (scan, class, fill) in cases {
            for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 31] {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut h = vec![fill; len];
                        h[at] = b;
                        // a second odd byte after the first must not move the answer
                        if at + 1 < len {
                            h[at + 1] = 0x00;
                        }
                        for from in [0, at.min(3)] {
                            let want = (from..len).find(|&i| !class(h[i])).unwrap_or(len);
                            assert_eq!(scan(&h, from), want, "len {len} at {at} byte {b:#x}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn folded_compares_match_eq_ignore_ascii_case_on_names_and_values() {
        let lits: [&[u8]; 6] = [
            b"close",
            b"expect",
            b"keep-alive",
            b"connection",
            b"content-length",
            b"transfer-encoding",
        ];
        for lit in lits {
            let upper = lit.to_ascii_uppercase();
            assert!(eq_folded(lit, lit) && eq_folded(&upper, lit));
            // every single-byte change to a field-value byte
            for i in 0..lit.len() {
                for b in (0..=255u8).filter(|&b| is_field_value_byte(b)) {
                    let mut a = lit.to_vec();
                    a[i] = b;
                    assert_eq!(eq_folded(&a, lit), a.eq_ignore_ascii_case(lit), "{a:?}");
                }
            }
            assert!(!eq_folded(&lit[1..], lit));
        }
    }

    #[test]
    fn the_classes_follow_the_rfc() {
        let tchars: Vec<u8> = (0..=255u8).filter(|&b| is_tchar(b)).collect();
        assert_eq!(tchars.len(), 26 * 2 + 10 + 15);
        for b in b"\"(),/:;<=>?@[\\]{} \t\r\n\x7f\x80" {
            assert!(!is_tchar(*b), "{b:#x}");
        }
        assert!(is_field_value_byte(b'\t') && is_field_value_byte(0x80));
        assert!(!is_field_value_byte(b'\r') && !is_field_value_byte(0x7f));
    }
}
