//! UTF-8 checked as it arrives, failing at the first byte that cannot start or continue
//! a valid sequence (std's validator on each piece, the at most three bytes of a
//! character cut by a piece boundary carried over).

/// The state of a text message's validation.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Utf8 {
    /// the start of a character cut at the end of the last piece
    carry: [u8; 4],
    len: u8,
}

/// How many bytes the sequence starting with `b` has (0 for a byte that cannot start one).
fn width(b: u8) -> usize {
    match b {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 0,
    }
}

impl Utf8 {
    /// Takes the next piece; `Err` at the first byte that makes the text invalid, whatever
    /// follows.
    pub(crate) fn feed(&mut self, mut piece: &[u8]) -> Result<(), ()> {
        if self.len > 0 {
            let want = width(self.carry[0]);
            while usize::from(self.len) < want && !piece.is_empty() {
                self.carry[usize::from(self.len)] = piece[0];
                self.len += 1;
                piece = &piece[1..];
            }
            match std::str::from_utf8(&self.carry[..usize::from(self.len)]) {
                Ok(_) => self.len = 0,
                // still a valid start of a character, the piece ran out
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(()),
            }
        }
        match std::str::from_utf8(piece) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &piece[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    /// Whether the text so far ends on a character boundary (then resets for the next
    /// message).
    pub(crate) fn is_complete(&mut self) -> bool {
        let done = self.len == 0;
        *self = Utf8::default();
        done
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8;

    fn pieces(bytes: &[u8], cut: &[usize]) -> Result<bool, usize> {
        let mut u = Utf8::default();
        let mut at = 0;
        for (i, &c) in cut.iter().chain(std::iter::once(&bytes.len())).enumerate() {
            u.feed(&bytes[at..c]).map_err(|()| i)?;
            at = c;
        }
        Ok(u.is_complete())
    }

    #[test]
    fn valid_text_passes_in_every_cut_and_a_cut_character_waits() {
        let s = "κόσμε 你好 🎉".as_bytes();
        for c in 0..=s.len() {
            assert_eq!(pieces(s, &[c]), Ok(true), "cut at {c}");
        }
        assert_eq!(
            pieces(&s[..s.len() - 1], &[]),
            Ok(false),
            "ends mid-character"
        );
    }

    #[test]
    fn invalid_bytes_fail_in_the_piece_that_holds_them() {
        // 6.4.1: the first piece is valid, the second starts with a byte no code point
        // has (U+110000 and beyond), the third is never needed
        let bad = [
            0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xf4, 0x90, 0x80,
            0x80, 0x65,
        ];
        assert_eq!(
            pieces(&bad, &[11, 12]),
            Err(2),
            "F4 alone is a valid start, F4 90 is not"
        );
        assert_eq!(
            pieces(&bad, &[11, 13]),
            Err(1),
            "F4 90 fails in the piece it is in"
        );
        assert_eq!(pieces(&[0xed, 0xa0, 0x80], &[1]), Err(1), "a surrogate");
        assert_eq!(pieces(&[0xc0, 0x80], &[]), Err(0), "an overlong NUL");
    }
}
