//! tlog's JSON text escaping (json_stream.c): `"` `\` and the C escapes
//! \b \f \n \r \t get a backslash, other bytes below 0x20 and 0x7f become
//! `\u00xx` with lowercase hex, `/` and everything else is literal.

/// Escaped length of each ASCII byte.
pub(crate) static ESC_LEN: [u8; 128] = {
    let mut t = [1u8; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 6;
        i += 1;
    }
    t[0x08] = 2;
    t[0x0c] = 2;
    t[b'\n' as usize] = 2;
    t[b'\r' as usize] = 2;
    t[b'\t' as usize] = 2;
    t[b'"' as usize] = 2;
    t[b'\\' as usize] = 2;
    t[0x7f] = 6;
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the escaped form of one ASCII byte.
#[inline]
pub(crate) fn push_escaped_ascii(out: &mut Vec<u8>, b: u8) {
    match b {
        b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x00..=0x1f | 0x7f => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 0xf) as usize],
        ]),
        _ => out.push(b),
    }
}

/// Escapes a whole (valid UTF-8) string, as tlog does for header fields.
pub(crate) fn push_escaped_str(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        if b < 0x80 {
            push_escaped_ascii(out, b);
        } else {
            out.push(b);
        }
    }
}

/// Appends the decimal form of `v`.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// ",ddd" for every byte value, left-aligned in 4 bytes, and its length.
static BYTE_DEC: [([u8; 4], u8); 256] = {
    let mut t = [([0u8; 4], 0u8); 256];
    let mut b = 0;
    while b < 256 {
        let (h, d, u) = (
            b'0' + (b / 100) as u8,
            b'0' + (b / 10 % 10) as u8,
            b'0' + (b % 10) as u8,
        );
        t[b] = if b >= 100 {
            ([b',', h, d, u], 4)
        } else if b >= 10 {
            ([b',', d, u, 0], 3)
        } else {
            ([b',', u, 0, 0], 2)
        };
        b += 1;
    }
    t
};

/// Appends the decimal form of a byte, after a comma if `comma`. Copies a
/// fixed 4 bytes and trims: this is the hot part of encoding binary data.
#[inline]
pub(crate) fn push_byte_dec(out: &mut Vec<u8>, comma: bool, b: u8) {
    let (text, len) = &BYTE_DEC[b as usize];
    let start = out.len();
    if comma {
        out.extend_from_slice(text);
        out.truncate(start + *len as usize);
    } else {
        out.extend_from_slice(&[text[1], text[2], text[3]]);
        out.truncate(start + *len as usize - 1);
    }
}

/// Number of decimal digits of a byte.
#[inline]
pub(crate) fn byte_dec_len(b: u8) -> usize {
    1 + (b >= 10) as usize + (b >= 100) as usize
}

/// Number of decimal digits of `v`.
#[inline]
pub(crate) fn dec_len(v: u64) -> usize {
    let mut n = 1;
    let mut v = v;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_tlog() {
        let mut out = Vec::new();
        for b in 0u8..0x80 {
            let before = out.len();
            push_escaped_ascii(&mut out, b);
            assert_eq!(
                out.len() - before,
                ESC_LEN[b as usize] as usize,
                "byte {b:#x}"
            );
        }
        let mut out = Vec::new();
        push_escaped_str(&mut out, "a/\"\\\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f} é");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f é"
        );
    }

    #[test]
    fn byte_decimal() {
        for b in 0..=255u8 {
            let mut out = Vec::new();
            push_byte_dec(&mut out, false, b);
            assert_eq!(out, b.to_string().as_bytes());
            assert_eq!(byte_dec_len(b), out.len());
            let mut out = Vec::new();
            push_byte_dec(&mut out, true, b);
            assert_eq!(out, format!(",{b}").as_bytes());
        }
    }

    #[test]
    fn decimal() {
        for v in [0u64, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
            assert_eq!(dec_len(v), v.to_string().len());
        }
    }
}
