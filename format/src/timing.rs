//! The `timing` field grammar, parsed with tlog-play's leniency
//! (json_msg.c): whitespace between records is skipped and numbers are read
//! like `sscanf("%lu")` (leading whitespace and a sign allowed).

use crate::error::ParseError;

/// Largest delay / position tlog accepts, in ms (`TLOG_DELAY_MAX_MS_NUM`).
pub const MAX_DELAY_MS: u64 = 2_147_483_647_999;

/// One record of the `timing` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingRecord {
    /// `+N`: N milliseconds.
    Delay(u64),
    /// `<N`: N characters of `in_txt`.
    InTxt(u64),
    /// `[N/M`: skip N (U+FFFD) characters of `in_txt`, take M bytes of `in_bin`.
    InBin(u64, u64),
    /// `>N`
    OutTxt(u64),
    /// `]N/M`
    OutBin(u64, u64),
    /// `=CxR`: window of C columns and R rows.
    Window(u16, u16),
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `%lu` as glibc's sscanf reads it: optional whitespace, optional sign,
/// at least one decimal digit; overflow saturates; `-N` wraps.
fn scan_u64(s: &[u8], mut i: usize) -> Option<(u64, usize)> {
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < s.len() && s[i].is_ascii_digit() {
        match v
            .checked_mul(10)
            .and_then(|v| v.checked_add((s[i] - b'0') as u64))
        {
            Some(n) => v = n,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits {
        return None;
    }
    let v = if overflow {
        u64::MAX
    } else if neg {
        v.wrapping_neg()
    } else {
        v
    };
    Some((v, i))
}

fn invalid(reason: String) -> ParseError {
    ParseError::field("timing", reason)
}

/// Parses a whole `timing` value. Zero-length records are kept (the packet
/// decoder ignores them); values are range-checked like tlog-play does.
pub fn parse_timing(timing: &str) -> Result<Vec<TimingRecord>, ParseError> {
    let mut out = Vec::new();
    let mut p = TimingParser {
        s: timing.as_bytes(),
        i: 0,
    };
    while let Some(r) = p.next_record()? {
        out.push(r);
    }
    Ok(out)
}

/// Incremental timing reader (used by the packet decoder).
pub(crate) struct TimingParser<'a> {
    pub(crate) s: &'a [u8],
    pub(crate) i: usize,
}

impl TimingParser<'_> {
    pub(crate) fn next_record(&mut self) -> Result<Option<TimingRecord>, ParseError> {
        let s = self.s;
        let mut i = self.i;
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        self.i = i;
        if i == s.len() {
            return Ok(None);
        }
        let start = i;
        let marker = s[i];
        if !matches!(marker, b'[' | b']' | b'<' | b'>' | b'+' | b'=') {
            let c = timing_char(s, i);
            return Err(invalid(format!("invalid record '{c}' at offset {start}")));
        }
        i += 1;
        let Some((first, j)) = scan_u64(s, i) else {
            return Err(invalid(format!(
                "record '{}' at offset {start} has no number",
                marker as char
            )));
        };
        i = j;
        let second = match marker {
            b'[' | b']' | b'=' => {
                let sep = if marker == b'=' { b'x' } else { b'/' };
                if i >= s.len() || s[i] != sep {
                    return Err(invalid(format!(
                        "record '{}' at offset {start} lacks '{}'",
                        marker as char, sep as char
                    )));
                }
                let Some((v, j)) = scan_u64(s, i + 1) else {
                    return Err(invalid(format!(
                        "record '{}' at offset {start} has no number after '{}'",
                        marker as char, sep as char
                    )));
                };
                i = j;
                v
            }
            _ => 0,
        };
        self.i = i;
        Ok(Some(match marker {
            b'+' => {
                if first > MAX_DELAY_MS {
                    return Err(invalid(format!(
                        "delay {first} at offset {start} exceeds {MAX_DELAY_MS} ms"
                    )));
                }
                TimingRecord::Delay(first)
            }
            b'=' => {
                let (Ok(c), Ok(r)) = (u16::try_from(first), u16::try_from(second)) else {
                    return Err(invalid(format!(
                        "window {first}x{second} at offset {start} exceeds 65535"
                    )));
                };
                TimingRecord::Window(c, r)
            }
            b'<' => TimingRecord::InTxt(first),
            b'>' => TimingRecord::OutTxt(first),
            b'[' => TimingRecord::InBin(first, second),
            _ => TimingRecord::OutBin(first, second),
        }))
    }
}

fn timing_char(s: &[u8], i: usize) -> char {
    std::str::from_utf8(&s[i..])
        .ok()
        .and_then(|t| t.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimingRecord::*;

    #[test]
    fn parses_all_record_kinds() {
        assert_eq!(
            parse_timing("=80x24+396<11[1/1>11]1/1+1005=132x43").unwrap(),
            vec![
                Window(80, 24),
                Delay(396),
                InTxt(11),
                InBin(1, 1),
                OutTxt(11),
                OutBin(1, 1),
                Delay(1005),
                Window(132, 43)
            ]
        );
        assert_eq!(parse_timing("").unwrap(), vec![]);
    }

    #[test]
    fn lenient_like_sscanf() {
        // Whitespace between records and before numbers, signs, zero lengths.
        assert_eq!(
            parse_timing(" >1\t+ 2\n]0/ 3 =1x+2 <0").unwrap(),
            vec![OutTxt(1), Delay(2), OutBin(0, 3), Window(1, 2), InTxt(0)]
        );
        assert_eq!(parse_timing(">-0").unwrap(), vec![OutTxt(0)]);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            ">",
            "x1",
            ">a",
            "]1",
            "]1x2",
            "=1/2",
            "=65536x1",
            "=1x65536",
            "+2147483648000",
            "<1%",
            "/1",
            "> ",
            "=1x",
        ] {
            let e = parse_timing(bad).unwrap_err();
            assert_eq!(e.field, Some("timing"), "{bad}");
        }
        let e = parse_timing(">1+2%3").unwrap_err();
        assert_eq!(
            e.to_string(),
            "field \"timing\": invalid record '%' at offset 4"
        );
        assert!(parse_timing("+2147483647999").is_ok());
        assert!(parse_timing("=65535x65535").is_ok());
    }
}
