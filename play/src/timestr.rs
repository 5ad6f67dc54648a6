//! tlog's time syntax, `[[H:]M:]S[.fraction]` (empty components mean 0), and
//! the `H:MM:SS` form shown on the status line.

/// Parse a tlog time string into milliseconds.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid time {s:?}: expected [[H:]M:]S[.fraction]");
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    let parts: Vec<&str> = whole.split(':').collect();
    if parts.len() > 3 {
        return Err(bad());
    }
    let mut secs: u64 = 0;
    for p in &parts {
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let v: u64 = if p.is_empty() {
            0
        } else {
            p.parse().map_err(|_| bad())?
        };
        secs = secs
            .checked_mul(60)
            .and_then(|x| x.checked_add(v))
            .ok_or_else(bad)?;
    }
    let mut ms = secs.checked_mul(1000).ok_or_else(bad)?;
    if let Some(f) = frac {
        if f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let mut digits = f.as_bytes().iter().take(3).map(|b| (b - b'0') as u64);
        let mut frac_ms = 0;
        for _ in 0..3 {
            frac_ms = frac_ms * 10 + digits.next().unwrap_or(0);
        }
        ms = ms.checked_add(frac_ms).ok_or_else(bad)?;
    }
    Ok(ms)
}

/// `M:SS` below an hour, `H:MM:SS` above.
pub fn format_time(ms: u64) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_fractions() {
        assert_eq!(parse_time("30"), Ok(30_000));
        assert_eq!(parse_time("30:"), Ok(30 * 60_000));
        assert_eq!(parse_time("2::"), Ok(2 * 3_600_000));
        assert_eq!(parse_time("1:02:03.5"), Ok(3_723_500));
        assert_eq!(parse_time(".25"), Ok(250));
        assert_eq!(parse_time(""), Ok(0));
        assert_eq!(parse_time("0.123456789"), Ok(123));
        assert!(parse_time("1:2:3:4").is_err());
        assert!(parse_time("1x").is_err());
        assert!(parse_time("1.1234567890").is_err());
        assert!(parse_time("-1").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_time(0), "0:00");
        assert_eq!(format_time(61_999), "1:01");
        assert_eq!(format_time(3_723_000), "1:02:03");
    }
}
