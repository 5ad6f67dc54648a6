//! UTF-8 sequence assembler following Unicode Table 3-7 (as tlog's utf8.c):
//! overlongs, surrogates, code points above U+10FFFF and the lead bytes
//! C0, C1, F5..FF are invalid; 0x00 is a valid character.

/// Accepted byte range for the second byte of a sequence, given its lead.
/// `None` means the byte cannot start a sequence.
#[inline]
pub(crate) fn lead_info(b: u8) -> Option<(u8, u8, u8)> {
    // (total length, second byte min, second byte max)
    match b {
        0x00..=0x7f => Some((1, 0, 0)),
        0xc2..=0xdf => Some((2, 0x80, 0xbf)),
        0xe0 => Some((3, 0xa0, 0xbf)),
        0xe1..=0xec | 0xee..=0xef => Some((3, 0x80, 0xbf)),
        0xed => Some((3, 0x80, 0x9f)),
        0xf0 => Some((4, 0x90, 0xbf)),
        0xf1..=0xf3 => Some((4, 0x80, 0xbf)),
        0xf4 => Some((4, 0x80, 0x8f)),
        _ => None,
    }
}

/// One character being assembled from a byte stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Utf8 {
    buf: [u8; 4],
    len: u8,
    need: u8,
    lo: u8,
    hi: u8,
    /// The sequence is over: complete, broken, or (len == 0) an invalid lead.
    ended: bool,
}

impl Utf8 {
    /// Offers one byte. Returns false (and ends the sequence) if the byte
    /// does not belong to it; the byte is then not consumed.
    #[inline]
    pub(crate) fn add(&mut self, b: u8) -> bool {
        debug_assert!(!self.ended);
        if self.len == 0 {
            match lead_info(b) {
                None => {
                    self.ended = true;
                    return false;
                }
                Some((need, lo, hi)) => {
                    self.need = need;
                    self.lo = lo;
                    self.hi = hi;
                }
            }
        } else {
            if b < self.lo || b > self.hi {
                self.ended = true;
                return false;
            }
            self.lo = 0x80;
            self.hi = 0xbf;
        }
        self.buf[self.len as usize] = b;
        self.len += 1;
        if self.len == self.need {
            self.ended = true;
        }
        true
    }
    #[inline]
    pub(crate) fn is_ended(&self) -> bool {
        self.ended
    }
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline]
    pub(crate) fn is_complete(&self) -> bool {
        self.len > 0 && self.len == self.need
    }
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
    #[inline]
    pub(crate) fn reset(&mut self) {
        *self = Utf8::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(bytes: &[u8]) -> (bool, usize) {
        // (complete?, bytes taken)
        let mut u = Utf8::default();
        for &b in bytes {
            if !u.add(b) || u.is_ended() {
                break;
            }
        }
        (u.is_ended() && u.is_complete(), u.bytes().len())
    }

    #[test]
    fn table_3_7() {
        assert_eq!(classify(&[0x00]), (true, 1));
        assert_eq!(classify(&[0x7f]), (true, 1));
        assert_eq!(classify(&[0xc3, 0xa9]), (true, 2));
        assert_eq!(classify(&[0xc0, 0x80]), (false, 0)); // overlong lead
        assert_eq!(classify(&[0xc1]), (false, 0));
        assert_eq!(classify(&[0xe0, 0x80]), (false, 1)); // overlong 3-byte
        assert_eq!(classify(&[0xe0, 0xa0, 0x80]), (true, 3));
        assert_eq!(classify(&[0xed, 0xa0, 0x80]), (false, 1)); // surrogate
        assert_eq!(classify(&[0xed, 0x9f, 0xbf]), (true, 3));
        assert_eq!(classify(&[0xf0, 0x8f]), (false, 1)); // overlong 4-byte
        assert_eq!(classify(&[0xf0, 0x90, 0x80, 0x80]), (true, 4));
        assert_eq!(classify(&[0xf4, 0x8f, 0xbf, 0xbf]), (true, 4)); // U+10FFFF
        assert_eq!(classify(&[0xf4, 0x90]), (false, 1)); // above U+10FFFF
        assert_eq!(classify(&[0xf5]), (false, 0));
        assert_eq!(classify(&[0xff]), (false, 0));
        assert_eq!(classify(&[0x80]), (false, 0)); // lone continuation
    }

    #[test]
    fn agrees_with_std_on_all_short_sequences() {
        // Every 1..3-byte prefix: Table 3-7 validity is exactly Rust's.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let seq = [a, b];
                let mut u = Utf8::default();
                let mut taken = 0;
                for &x in &seq {
                    if !u.add(x) {
                        break;
                    }
                    taken += 1;
                    if u.is_ended() {
                        break;
                    }
                }
                if u.is_ended() && u.is_complete() {
                    assert!(std::str::from_utf8(&seq[..taken]).is_ok(), "{seq:x?}");
                } else if taken > 0 && !u.is_ended() {
                    // A valid prefix: some completion must be valid UTF-8.
                    let ok = (0x80..=0xbfu8).any(|c| {
                        (0x80..=0xbfu8).any(|d| {
                            let mut v = seq[..taken].to_vec();
                            v.push(c);
                            if std::str::from_utf8(&v).is_ok() {
                                return true;
                            }
                            v.push(d);
                            std::str::from_utf8(&v).is_ok()
                        })
                    });
                    assert!(ok, "{seq:x?}");
                } else {
                    assert!(
                        std::str::from_utf8(&seq[..taken.max(1)]).is_err()
                            || taken == 0 && a >= 0x80
                    );
                }
            }
        }
    }
}
