//! JSON parsing of one message line with tlog-play's field rules
//! (json_msg.c): which fields are required, their JSON types and ranges,
//! checked in tlog's order so that the first error is the one tlog reports.

use std::fmt;

use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::ParseError;
use crate::message::Message;
use crate::timing::MAX_DELAY_MS;

/// A JSON value reduced to what the field checks need.
enum Val {
    Str(String),
    UInt(u64),
    NegInt(i64),
    Float,
    Other,
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::UInt(_) | Val::NegInt(_) => "an integer",
            Val::Float => "a floating-point number",
            Val::Other => "not a string or number",
        }
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Val, E> {
        Ok(Val::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Val, E> {
        Ok(Val::Str(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Val, E> {
        Ok(Val::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Val, E> {
        Ok(if v >= 0 {
            Val::UInt(v as u64)
        } else {
            Val::NegInt(v)
        })
    }
    fn visit_f64<E>(self, _: f64) -> Result<Val, E> {
        Ok(Val::Float)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Val, E> {
        Ok(Val::Other)
    }
    fn visit_unit<E>(self) -> Result<Val, E> {
        Ok(Val::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Val::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Other)
    }
}

impl<'de> de::Deserialize<'de> for Val {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Val, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

/// `*_bin`: the array's valid byte prefix, or not an array at all.
enum Bin {
    Array(Vec<u8>),
    NotArray,
}

struct BinVisitor;

impl<'de> Visitor<'de> for BinVisitor {
    type Value = Bin;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of bytes")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bin, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut valid = true;
        while let Some(v) = seq.next_element::<Val>()? {
            match v {
                Val::UInt(b) if valid && b <= 255 => out.push(b as u8),
                _ => valid = false,
            }
        }
        Ok(Bin::Array(out))
    }
    fn visit_str<E>(self, _: &str) -> Result<Bin, E> {
        Ok(Bin::NotArray)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Bin, E> {
        Ok(Bin::NotArray)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Bin, E> {
        Ok(Bin::NotArray)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Bin, E> {
        Ok(Bin::NotArray)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Bin, E> {
        Ok(Bin::NotArray)
    }
    fn visit_unit<E>(self) -> Result<Bin, E> {
        Ok(Bin::NotArray)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bin, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Bin::NotArray)
    }
}

impl<'de> de::Deserialize<'de> for Bin {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Bin, D::Error> {
        d.deserialize_any(BinVisitor)
    }
}

const FIELDS: [&str; 14] = [
    "ver", "host", "rec", "user", "term", "session", "id", "pos", "time", "timing", "in_txt",
    "in_bin", "out_txt", "out_bin",
];

/// Index into FIELDS, or None for a key tlog ignores.
struct Key(Option<usize>);

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(FIELDS.iter().position(|f| *f == v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// All fields as found; duplicates: the last one wins (as in json-c).
#[derive(Default)]
struct Raw<'a> {
    vals: [Option<Val>; 14],
    time: Option<&'a RawValue>,
    in_bin: Option<Bin>,
    out_bin: Option<Bin>,
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Option<Raw<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = Raw::default();
        while let Some(Key(k)) = map.next_key::<Key>()? {
            match k.map(|i| FIELDS[i]) {
                Some("time") => raw.time = Some(map.next_value::<&'de RawValue>()?),
                Some("in_bin") => raw.in_bin = Some(map.next_value::<Bin>()?),
                Some("out_bin") => raw.out_bin = Some(map.next_value::<Bin>()?),
                Some(_) => raw.vals[k.unwrap_or(0)] = Some(map.next_value::<Val>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(raw))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

fn missing(field: &'static str) -> ParseError {
    ParseError::field(field, "missing")
}

fn bad_type(field: &'static str, want: &str, got: &Val) -> ParseError {
    ParseError::field(
        field,
        format!("invalid type: expected {want}, found {}", got.type_name()),
    )
}

impl Raw<'_> {
    fn take(&mut self, field: &'static str) -> Option<Val> {
        let i = FIELDS.iter().position(|f| *f == field).unwrap_or(0);
        self.vals[i].take()
    }
    fn string(&mut self, field: &'static str) -> Result<String, ParseError> {
        match self.take(field) {
            None => Err(missing(field)),
            Some(Val::Str(s)) => Ok(s),
            Some(v) => Err(bad_type(field, "a string", &v)),
        }
    }
    fn opt_string(&mut self, field: &'static str) -> Result<Option<String>, ParseError> {
        match self.take(field) {
            None => Ok(None),
            Some(Val::Str(s)) => Ok(Some(s)),
            Some(v) => Err(bad_type(field, "a string", &v)),
        }
    }
    /// An integer field; negative values are returned as None.
    fn int(&mut self, field: &'static str) -> Result<Option<u64>, ParseError> {
        match self.take(field) {
            None => Err(missing(field)),
            Some(Val::UInt(n)) => Ok(Some(n)),
            Some(Val::NegInt(_)) => Ok(None),
            Some(v) => Err(bad_type(field, "an integer", &v)),
        }
    }
}

fn bin(field: &'static str, b: Option<Bin>) -> Result<Vec<u8>, ParseError> {
    match b {
        None => Err(missing(field)),
        Some(Bin::Array(v)) => Ok(v),
        Some(Bin::NotArray) => Err(ParseError::field(field, "invalid type: expected an array")),
    }
}

/// `%u` as glibc's sscanf reads it; returns the value and the end offset.
fn scan_u32(s: &[u8], mut i: usize) -> Option<(u64, usize)> {
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((s[i] - b'0') as u64);
        i += 1;
    }
    if i == start {
        return None;
    }
    let v = if v > u32::MAX as u64 {
        u32::MAX as u64
    } else if neg {
        (v as u32).wrapping_neg() as u64
    } else {
        v
    };
    Some((v, i))
}

/// tlog: `sscanf(ver, "%u%n.%u%n")`, nothing may follow, major <= 2.
fn check_ver(ver: &str) -> Result<(), ParseError> {
    let s = ver.as_bytes();
    let bad = || {
        ParseError::field(
            "ver",
            format!("unsupported value \"{ver}\" (need major version <= 2)"),
        )
    };
    let (major, mut end) = scan_u32(s, 0).ok_or_else(bad)?;
    if end < s.len() && s[end] == b'.' {
        if let Some((_, e)) = scan_u32(s, end + 1) {
            end = e;
        }
    }
    if end != s.len() || major > 2 {
        return Err(bad());
    }
    Ok(())
}

/// `time` must be a JSON double (fraction or exponent), not negative.
fn check_time(raw: &RawValue) -> Result<String, ParseError> {
    let t = raw.get();
    let b = t.as_bytes();
    let is_number = matches!(b.first(), Some(b'-' | b'0'..=b'9'));
    if !is_number {
        return Err(ParseError::field(
            "time",
            "invalid type: expected a floating-point number",
        ));
    }
    if !b.iter().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        return Err(ParseError::field(
            "time",
            "invalid type: expected a floating-point number, found an integer",
        ));
    }
    match t.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(t.to_owned()),
        _ => Err(ParseError::field("time", format!("invalid value {t}"))),
    }
}

/// Parses one JSON message object. Leading whitespace is skipped and
/// anything after the object is ignored (as tlog does). Field rules are
/// tlog-play's, checked in its order, so the first error matches tlog's.
pub fn parse_message(line: &[u8]) -> Result<Message, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let raw = match (&mut de).deserialize_any(RawVisitor) {
        Ok(Some(raw)) => raw,
        Ok(None) => return Err(ParseError::new(None, "message is not a JSON object")),
        Err(e) if e.is_eof() => {
            return Err(ParseError::new(
                None,
                "incomplete message object (the line ends inside it)",
            ))
        }
        Err(e) => return Err(ParseError::new(None, format!("invalid JSON: {e}"))),
    };
    let mut raw = raw;

    let ver = match raw.take("ver") {
        None => return Err(missing("ver")),
        Some(Val::Str(s)) => s,
        Some(Val::UInt(n)) => n.to_string(),
        Some(Val::NegInt(n)) => n.to_string(),
        Some(v) => return Err(bad_type("ver", "a string or an integer", &v)),
    };
    check_ver(&ver)?;
    let host = raw.string("host")?;
    let rec = raw.opt_string("rec")?;
    let user = raw.string("user")?;
    let term = raw.string("term")?;
    let session = match raw.int("session")? {
        Some(n) if (1..=u32::MAX as u64).contains(&n) => n as u32,
        other => {
            return Err(ParseError::field(
                "session",
                format!("invalid value {} (need 1..{})", show(other), u32::MAX),
            ))
        }
    };
    let id = match raw.int("id")? {
        Some(n) if n <= i64::MAX as u64 => n,
        other => {
            return Err(ParseError::field(
                "id",
                format!("invalid value {}", show(other)),
            ))
        }
    };
    let pos = match raw.int("pos")? {
        Some(n) if n <= MAX_DELAY_MS => n,
        other => {
            return Err(ParseError::field(
                "pos",
                format!("invalid value {} (need 0..{MAX_DELAY_MS})", show(other)),
            ))
        }
    };
    let time = match raw.time {
        None => None,
        Some(t) => Some(check_time(t)?),
    };
    let timing = raw.string("timing")?;
    let in_txt = raw.opt_string("in_txt")?.unwrap_or_default();
    let in_bin = bin("in_bin", raw.in_bin.take())?;
    let out_txt = raw.opt_string("out_txt")?.unwrap_or_default();
    let out_bin = bin("out_bin", raw.out_bin.take())?;
    Ok(Message {
        ver,
        host,
        rec,
        user,
        term,
        session,
        id,
        pos,
        time,
        timing,
        in_txt,
        in_bin,
        out_txt,
        out_bin,
    })
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "below 0".to_owned(), |n| n.to_string())
}
