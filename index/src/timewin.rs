//! Time points and spans for `--since`, `--until` and `--during`: RFC 3339,
//! plain dates and times, relative offsets (`-7d`) and named periods
//! ("last week", "this weekend"), in local time or UTC.
//!
//! Every expression denotes a span `[start, end)`; an instant is a span of
//! length zero. `--since X` takes the start of X, `--until X` its end and
//! `--during X` both, so `--since 2026-11-28 --until 2026-11-29` covers the
//! two whole days and `--during "last week"` the seven days Monday to Monday.
//! Weeks start on Monday. "this weekend" is the weekend under way on a
//! Saturday or Sunday, else the one just past; "last weekend" is the one
//! before the current week.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Utc,
    Local,
}

/// A span in Unix milliseconds, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError(pub String);

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimeError {}

/// Civil date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub y: i64,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

impl Zone {
    /// Unix seconds of a civil time in this zone.
    pub fn to_epoch(self, c: Civil) -> i64 {
        match self {
            Zone::Utc => {
                days_from_civil(c.y, c.mo, c.d) * 86400
                    + c.h as i64 * 3600
                    + c.mi as i64 * 60
                    + c.s as i64
            }
            Zone::Local => {
                // SAFETY: tm is plain data; mktime reads and normalises it.
                unsafe {
                    let mut tm: libc::tm = std::mem::zeroed();
                    tm.tm_year = (c.y - 1900) as libc::c_int;
                    tm.tm_mon = c.mo as libc::c_int - 1;
                    tm.tm_mday = c.d as libc::c_int;
                    tm.tm_hour = c.h as libc::c_int;
                    tm.tm_min = c.mi as libc::c_int;
                    tm.tm_sec = c.s as libc::c_int;
                    tm.tm_isdst = -1;
                    libc::mktime(&mut tm) as i64
                }
            }
        }
    }

    /// Civil time of Unix seconds in this zone.
    pub fn civil(self, secs: i64) -> Civil {
        match self {
            Zone::Utc => {
                let days = secs.div_euclid(86400);
                let rem = secs.rem_euclid(86400);
                let (y, mo, d) = civil_from_days(days);
                Civil {
                    y,
                    mo,
                    d,
                    h: (rem / 3600) as u32,
                    mi: (rem % 3600 / 60) as u32,
                    s: (rem % 60) as u32,
                }
            }
            Zone::Local => {
                // SAFETY: localtime_r writes one tm; both pointers are valid.
                unsafe {
                    let t = secs as libc::time_t;
                    let mut tm: libc::tm = std::mem::zeroed();
                    libc::localtime_r(&t, &mut tm);
                    Civil {
                        y: tm.tm_year as i64 + 1900,
                        mo: tm.tm_mon as u32 + 1,
                        d: tm.tm_mday as u32,
                        h: tm.tm_hour as u32,
                        mi: tm.tm_min as u32,
                        s: tm.tm_sec as u32,
                    }
                }
            }
        }
    }

    fn day_start(self, y: i64, mo: u32, d: u32) -> i64 {
        self.to_epoch(Civil {
            y,
            mo,
            d,
            h: 0,
            mi: 0,
            s: 0,
        }) * 1000
    }

    /// Start (ms) of the day `offset` days after the civil day `days`.
    fn day_ms(self, days: i64) -> i64 {
        let (y, m, d) = civil_from_days(days);
        self.day_start(y, m, d)
    }
}

/// Monday = 0 .. Sunday = 6.
pub fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

fn err(s: &str, why: &str) -> TimeError {
    TimeError(format!(
        "{s:?}: {why} (use RFC 3339, YYYY-MM-DD, \"YYYY-MM-DD HH:MM[:SS]\", -7d/-12h/-30m/-2w, now, today, yesterday, this/last week, this/last weekend, this/last month)"
    ))
}

fn num(s: &str, what: &str, full: &str) -> Result<u32, TimeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(full, &format!("bad {what}")));
    }
    s.parse().map_err(|_| err(full, &format!("bad {what}")))
}

fn parse_date(s: &str, full: &str) -> Result<(i64, u32, u32), TimeError> {
    let p: Vec<&str> = s.split('-').collect();
    if p.len() != 3 || p[0].len() != 4 || p[1].len() != 2 || p[2].len() != 2 {
        return Err(err(full, "not a date"));
    }
    let y = num(p[0], "year", full)? as i64;
    let mo = num(p[1], "month", full)?;
    let d = num(p[2], "day", full)?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return Err(err(full, "no such date"));
    }
    Ok((y, mo, d))
}

/// `HH:MM[:SS[.fff]]` → (h, m, s, ms).
fn parse_clock(s: &str, full: &str) -> Result<(u32, u32, u32, u32), TimeError> {
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let p: Vec<&str> = hms.split(':').collect();
    if !(2..=3).contains(&p.len()) || p.iter().any(|x| x.len() != 2) {
        return Err(err(full, "bad time of day"));
    }
    let h = num(p[0], "hour", full)?;
    let mi = num(p[1], "minute", full)?;
    let sec = if p.len() == 3 {
        num(p[2], "second", full)?
    } else {
        0
    };
    if h > 23 || mi > 59 || sec > 60 {
        return Err(err(full, "time of day out of range"));
    }
    let ms = match frac {
        None => 0,
        Some(f) => {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(full, "bad fraction of a second"));
            }
            let mut digits: String = f.chars().take(3).collect();
            while digits.len() < 3 {
                digits.push('0');
            }
            digits.parse().expect("three digits")
        }
    };
    Ok((h, mi, sec.min(59), ms))
}

/// Parse a time expression relative to `now_ms` (Unix ms).
pub fn parse_span(input: &str, zone: Zone, now_ms: i64) -> Result<Span, TimeError> {
    let s = input.trim();
    let lower = s.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let now_days = zone_days(zone, now_ms);
    let instant = |t: i64| Span { start: t, end: t };
    let days = |a: i64, b: i64| Span {
        start: zone.day_ms(a),
        end: zone.day_ms(b),
    };
    let monday = now_days - weekday(now_days);
    match words.as_slice() {
        ["now"] => return Ok(instant(now_ms)),
        ["today"] => return Ok(days(now_days, now_days + 1)),
        ["yesterday"] => return Ok(days(now_days - 1, now_days)),
        ["this", "week"] => return Ok(days(monday, monday + 7)),
        ["last", "week"] => return Ok(days(monday - 7, monday)),
        ["this", "weekend"] => {
            let sat = if weekday(now_days) >= 5 {
                monday + 5
            } else {
                monday - 2
            };
            return Ok(days(sat, sat + 2));
        }
        ["last", "weekend"] => return Ok(days(monday - 2, monday)),
        ["this", "month"] | ["last", "month"] => {
            let (y, m, _) = civil_from_days(now_days);
            let (y, m) = if words[0] == "last" {
                if m == 1 {
                    (y - 1, 12)
                } else {
                    (y, m - 1)
                }
            } else {
                (y, m)
            };
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            return Ok(Span {
                start: zone.day_start(y, m, 1),
                end: zone.day_start(ny, nm, 1),
            });
        }
        _ => {}
    }
    if let Some(rel) = s.strip_prefix('-') {
        let (n, unit) = rel.split_at(rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len()));
        let n: i64 = n.parse().map_err(|_| err(s, "bad relative time"))?;
        let mult = match unit {
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(err(s, "relative unit must be s, m, h, d or w")),
        };
        return Ok(instant(now_ms - n * mult));
    }
    // Date, optionally followed by a time ('T' or one space) and a zone.
    if s.len() < 10 {
        return Err(err(s, "not a time"));
    }
    let (date, rest) = s.split_at(10);
    let (y, mo, d) = parse_date(date, s)?;
    if rest.is_empty() {
        let dd = days_from_civil(y, mo, d);
        return Ok(days(dd, dd + 1));
    }
    let rest = rest
        .strip_prefix(['T', 't', ' '])
        .ok_or_else(|| err(s, "expected 'T' or a space after the date"))?;
    let (clock, offset_min) = split_zone(rest, s)?;
    let (h, mi, sec, ms) = parse_clock(clock, s)?;
    let c = Civil {
        y,
        mo,
        d,
        h,
        mi,
        s: sec,
    };
    let secs = match offset_min {
        Some(off) => Zone::Utc.to_epoch(c) - off * 60,
        None => zone.to_epoch(c),
    };
    Ok(instant(secs * 1000 + ms as i64))
}

/// Split `HH:MM:SS[.f]` from a trailing `Z` or `±HH:MM` (minutes east).
fn split_zone<'a>(s: &'a str, full: &str) -> Result<(&'a str, Option<i64>), TimeError> {
    if let Some(c) = s.strip_suffix(['Z', 'z']) {
        return Ok((c, Some(0)));
    }
    if let Some(i) = s.rfind(['+', '-']) {
        let (clock, off) = s.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..]
            .split_once(':')
            .ok_or_else(|| err(full, "zone offset must be ±HH:MM"))?;
        let (oh, om) = (num(oh, "zone hours", full)?, num(om, "zone minutes", full)?);
        if oh > 23 || om > 59 {
            return Err(err(full, "zone offset out of range"));
        }
        return Ok((clock, Some(sign * (oh as i64 * 60 + om as i64))));
    }
    Ok((s, None))
}

fn zone_days(zone: Zone, ms: i64) -> i64 {
    let c = zone.civil(ms.div_euclid(1000));
    days_from_civil(c.y, c.mo, c.d)
}

/// The half-open window `[since, until)` from the three options.
pub fn window(
    since: Option<&str>,
    until: Option<&str>,
    during: Option<&str>,
    zone: Zone,
    now_ms: i64,
) -> Result<(Option<i64>, Option<i64>), TimeError> {
    let mut lo = None;
    let mut hi = None;
    if let Some(d) = during {
        let sp = parse_span(d, zone, now_ms)?;
        lo = Some(sp.start);
        hi = Some(sp.end);
    }
    if let Some(s) = since {
        lo = Some(parse_span(s, zone, now_ms)?.start);
    }
    if let Some(u) = until {
        hi = Some(parse_span(u, zone, now_ms)?.end);
    }
    if let (Some(a), Some(b)) = (lo, hi) {
        if b <= a {
            return Err(TimeError(format!(
                "empty time window: until ({}) is not after since ({})",
                rfc3339_utc(b),
                rfc3339_utc(a)
            )));
        }
    }
    Ok((lo, hi))
}

/// `2026-11-28T10:15:03.123Z`.
pub fn rfc3339_utc(ms: i64) -> String {
    let mut s = Vec::with_capacity(24);
    push_rfc3339_utc(&mut s, ms);
    // ASCII digits and separators only.
    String::from_utf8(s).unwrap_or_default()
}

/// [`rfc3339_utc`] appended to `out`: digit by digit, as a search that
/// lists thousands of recordings prints two per hit (`format!` was a tenth
/// of such a search).
pub fn push_rfc3339_utc(out: &mut Vec<u8>, ms: i64) {
    let c = Zone::Utc.civil(ms.div_euclid(1000));
    if !(0..=9999).contains(&c.y) {
        out.extend_from_slice(rfc3339_utc_formatted(ms).as_bytes());
        return;
    }
    let digits = |out: &mut Vec<u8>, v: u32, width: u32| {
        for i in (0..width).rev() {
            out.push(b'0' + (v / 10u32.pow(i) % 10) as u8);
        }
    };
    digits(out, c.y as u32, 4);
    out.push(b'-');
    digits(out, c.mo, 2);
    out.push(b'-');
    digits(out, c.d, 2);
    out.push(b'T');
    digits(out, c.h, 2);
    out.push(b':');
    digits(out, c.mi, 2);
    out.push(b':');
    digits(out, c.s, 2);
    out.push(b'.');
    digits(out, ms.rem_euclid(1000) as u32, 3);
    out.push(b'Z');
}

/// [`rfc3339_utc`] through `format!`: for years of other than four digits,
/// and the reference the digit-by-digit path is tested against.
fn rfc3339_utc_formatted(ms: i64) -> String {
    let c = Zone::Utc.civil(ms.div_euclid(1000));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.y,
        c.mo,
        c.d,
        c.h,
        c.mi,
        c.s,
        ms.rem_euclid(1000)
    )
}

/// `2026-11-28 10:15:03` in the zone, for tables.
pub fn short_time(ms: i64, zone: Zone) -> String {
    let c = zone.civil(ms.div_euclid(1000));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.y, c.mo, c.d, c.h, c.mi, c.s
    )
}

/// Current time in Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_digits_match_the_formatted_reference() {
        let reference = rfc3339_utc_formatted;
        let year_10000 = 253_402_300_800_000;
        for ms in [
            0,
            -1,
            1_796_385_612_345,
            951_782_400_000, // 2000-02-29
            year_10000 - 1,
            year_10000,
            -62_167_219_200_001, // before year 0
        ] {
            assert_eq!(rfc3339_utc(ms), reference(ms), "{ms}");
        }
        for ms in (-5_000_000_000_000i64..5_000_000_000_000).step_by(7_777_777_777) {
            assert_eq!(rfc3339_utc(ms), reference(ms), "{ms}");
        }
        assert_eq!(rfc3339_utc(1_796_385_612_345), "2026-12-04T12:00:12.345Z");
    }

    fn utc(s: &str) -> i64 {
        parse_span(s, Zone::Utc, 0).unwrap().start
    }

    // Friday 2026-12-04 12:00 UTC.
    const FRI: i64 = 1_796_385_600_000;

    #[test]
    fn civil_round_trip_and_weekday() {
        for days in [-800_000, -1, 0, 59, 365, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
        assert_eq!(utc("2026-12-04T12:00:00Z"), FRI);
        assert_eq!(weekday(FRI / 86_400_000), 4, "2026-12-04 is a Friday");
    }

    #[test]
    fn rfc3339_and_plain_forms() {
        assert_eq!(utc("1970-01-01T00:00:01Z"), 1000);
        assert_eq!(utc("1970-01-01T01:00:00+01:00"), 0);
        assert_eq!(utc("1970-01-01T00:00:00.25-00:30"), 1_800_250);
        assert_eq!(utc("1970-01-02 00:00"), 86_400_000);
        let day = parse_span("2026-02-28", Zone::Utc, 0).unwrap();
        assert_eq!(day.end - day.start, 86_400_000);
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "2026-01-01T25:00",
            "2026-01-01X10:00",
            "2026-01-01T10:00+5",
            "-7y",
            "-d",
            "next week",
            "",
        ] {
            let e = parse_span(bad, Zone::Utc, FRI).unwrap_err();
            assert!(e.0.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn relative_and_named_periods() {
        let day = 86_400_000;
        assert_eq!(
            parse_span("-7d", Zone::Utc, FRI).unwrap().start,
            FRI - 7 * day
        );
        assert_eq!(
            parse_span("-90m", Zone::Utc, FRI).unwrap().start,
            FRI - 5_400_000
        );
        let fri0 = utc("2026-12-04");
        let mon = utc("2026-11-30");
        let sp = |s| parse_span(s, Zone::Utc, FRI).unwrap();
        assert_eq!(
            sp("today"),
            Span {
                start: fri0,
                end: fri0 + day
            }
        );
        assert_eq!(sp("yesterday").start, fri0 - day);
        assert_eq!(
            sp("this week"),
            Span {
                start: mon,
                end: mon + 7 * day
            }
        );
        assert_eq!(
            sp("Last  Week"),
            Span {
                start: mon - 7 * day,
                end: mon
            }
        );
        // On a weekday "this weekend" is the one just past: Sat 28 - Mon 30.
        assert_eq!(
            sp("this weekend"),
            Span {
                start: mon - 2 * day,
                end: mon
            }
        );
        assert_eq!(sp("last weekend"), sp("this weekend"));
        // On a Sunday it is the weekend under way; "last weekend" the one before.
        let sun = utc("2026-12-06T23:59:59Z");
        let sat = utc("2026-12-05");
        let w = parse_span("this weekend", Zone::Utc, sun).unwrap();
        assert_eq!(
            w,
            Span {
                start: sat,
                end: sat + 2 * day
            }
        );
        let lw = parse_span("last weekend", Zone::Utc, sun).unwrap();
        assert_eq!(
            lw,
            Span {
                start: sat - 7 * day,
                end: sat - 5 * day
            }
        );
        assert_eq!(
            sp("last month"),
            Span {
                start: utc("2026-11-01"),
                end: utc("2026-12-01")
            }
        );
        let jan = utc("2027-01-15");
        let lm = parse_span("last month", Zone::Utc, jan).unwrap();
        assert_eq!(
            lm,
            Span {
                start: utc("2026-12-01"),
                end: utc("2027-01-01")
            }
        );
    }

    #[test]
    fn window_takes_start_of_since_and_end_of_until() {
        let (a, b) = window(Some("2026-11-28"), Some("2026-11-29"), None, Zone::Utc, FRI).unwrap();
        assert_eq!(a, Some(utc("2026-11-28")));
        assert_eq!(b, Some(utc("2026-11-30")));
        let (a, b) = window(None, None, Some("last week"), Zone::Utc, FRI).unwrap();
        assert_eq!((a, b), (Some(utc("2026-11-23")), Some(utc("2026-11-30"))));
        // --since overrides the start of --during.
        let (a, _) = window(Some("-1d"), None, Some("this week"), Zone::Utc, FRI).unwrap();
        assert_eq!(a, Some(FRI - 86_400_000));
        let e = window(Some("now"), Some("-1d"), None, Zone::Utc, FRI).unwrap_err();
        assert!(e.0.contains("empty time window"), "{e}");
    }

    #[test]
    fn formatting() {
        assert_eq!(rfc3339_utc(FRI + 5), "2026-12-04T12:00:00.005Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(short_time(FRI, Zone::Utc), "2026-12-04 12:00:00");
    }
}
