//! One message line: JSON parsing with tlog-play's field rules
//! (json_msg.c) and decoding of `timing` + text + binary into packets.

use std::fmt;

use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::ParseError;
use crate::timing::{TimingParser, TimingRecord, MAX_DELAY_MS};

/// tlog-play's I/O buffer: longer runs are split into several packets.
pub const MAX_PACKET_IO: usize = 4096;

/// One parsed tlog message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// As written (an integer `ver` is kept as its decimal text).
    pub ver: String,
    pub host: String,
    pub rec: Option<String>,
    pub user: String,
    pub term: String,
    pub session: u32,
    pub id: u64,
    /// Milliseconds from the start of the recording.
    pub pos: u64,
    /// As written, e.g. "1795700846.847".
    pub time: Option<String>,
    pub timing: String,
    pub in_txt: String,
    /// Bytes up to the first element that is not an int 0..255 (tlog only
    /// rejects such an element if the timing actually uses it).
    pub in_bin: Vec<u8>,
    pub out_txt: String,
    pub out_bin: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketData {
    Input(Vec<u8>),
    Output(Vec<u8>),
    Window { cols: u16, rows: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Milliseconds since the recording start: `pos` + accumulated delays.
    pub ts: u64,
    pub data: PacketData,
}

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

/// Length of a UTF-8 character from its lead byte (tlog_json_msg_utf8_len).
fn lead_len(b: u8) -> usize {
    if b & 0x80 == 0 {
        1
    } else if b & 0xe0 == 0xc0 {
        2
    } else if b & 0xf0 == 0xe0 {
        3
    } else if b & 0xf8 == 0xf0 {
        4
    } else {
        0
    }
}

/// Appends bytes; runs in binary-heavy logs are a few bytes long, where a
/// plain loop beats a memcpy call.
#[inline]
fn extend_small(io: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() <= 8 {
        for &b in bytes {
            io.push(b);
        }
    } else {
        io.extend_from_slice(bytes);
    }
}

/// Read position in one direction's text and binary data.
struct Cursor<'a> {
    txt: &'a [u8],
    bin: &'a [u8],
    field_txt: &'static str,
    field_bin: &'static str,
}

impl Cursor<'_> {
    /// Byte length of up to `n` characters that fit in `room` bytes, and
    /// their count. Errors like tlog-play if the text runs out.
    fn take_chars(&self, n: u64, room: usize) -> Result<(usize, u64), ParseError> {
        let t = self.txt;
        let (mut i, mut chars) = (0usize, 0u64);
        while chars < n {
            if i >= t.len() {
                return Err(ParseError::field(
                    self.field_txt,
                    "too few characters for the timing",
                ));
            }
            let b = t[i];
            let l = if b < 0x80 { 1 } else { lead_len(b) };
            if l == 0 || i + l > t.len() {
                return Err(ParseError::field(self.field_txt, "invalid UTF-8 character"));
            }
            if i + l > room {
                break;
            }
            i += l;
            chars += 1;
        }
        Ok((i, chars))
    }

    /// Length of the next character, checked like tlog-play.
    fn next_char(&self) -> Result<usize, ParseError> {
        let Some(&b) = self.txt.first() else {
            return Err(ParseError::field(
                self.field_txt,
                "too few characters for the timing",
            ));
        };
        let l = lead_len(b);
        if l == 0 || l > self.txt.len() {
            return Err(ParseError::field(self.field_txt, "invalid UTF-8 character"));
        }
        Ok(l)
    }
}

impl Message {
    /// Decodes `timing` + text + binary into packets, like tlog-play:
    /// same-direction data with no delay or window in between forms one
    /// packet (at most 4096 bytes); zero-length records are ignored.
    pub fn packets(&self) -> Result<Vec<Packet>, ParseError> {
        let (packets, err) = self.decode();
        match err {
            Some(e) => Err(e),
            None => Ok(packets),
        }
    }

    /// Like [`Message::packets`], but also returns the packets decoded
    /// before an error (tlog-play plays those before failing).
    pub fn decode(&self) -> (Vec<Packet>, Option<ParseError>) {
        let mut out = Vec::new();
        let err = self.decode_into(&mut out).err();
        (out, err)
    }

    fn decode_into(&self, out: &mut Vec<Packet>) -> Result<(), ParseError> {
        let mut cur = [
            Cursor {
                txt: self.in_txt.as_bytes(),
                bin: &self.in_bin,
                field_txt: "in_txt",
                field_bin: "in_bin",
            },
            Cursor {
                txt: self.out_txt.as_bytes(),
                bin: &self.out_bin,
                field_txt: "out_txt",
                field_bin: "out_bin",
            },
        ];
        let mut ts = self.pos;
        // Packet being built: direction (0 in, 1 out) and bytes.
        let mut io: Vec<u8> = Vec::new();
        let mut io_dir = 0usize;
        let push = |out: &mut Vec<Packet>, io: &mut Vec<u8>, dir: usize, ts: u64| {
            if !io.is_empty() {
                let data = std::mem::take(io);
                out.push(Packet {
                    ts,
                    data: if dir == 0 {
                        PacketData::Input(data)
                    } else {
                        PacketData::Output(data)
                    },
                });
            }
        };
        let mut timing = TimingParser {
            s: self.timing.as_bytes(),
            i: 0,
        };
        while let Some(rec) = timing.next_record()? {
            let (dir, skip, count, binary) = match rec {
                TimingRecord::Delay(0) => continue,
                TimingRecord::Delay(d) => {
                    push(out, &mut io, io_dir, ts);
                    ts = ts.saturating_add(d);
                    continue;
                }
                TimingRecord::Window(cols, rows) => {
                    push(out, &mut io, io_dir, ts);
                    out.push(Packet {
                        ts,
                        data: PacketData::Window { cols, rows },
                    });
                    continue;
                }
                TimingRecord::InTxt(n) => (0, 0, n, false),
                TimingRecord::OutTxt(n) => (1, 0, n, false),
                TimingRecord::InBin(n, m) => (0, n, m, true),
                TimingRecord::OutBin(n, m) => (1, n, m, true),
            };
            let c = &mut cur[dir];
            // Skip the replacement characters standing for the bytes.
            for _ in 0..skip {
                let l = c.next_char()?;
                c.txt = &c.txt[l..];
            }
            if count == 0 {
                continue;
            }
            if io_dir != dir {
                push(out, &mut io, io_dir, ts);
                io_dir = dir;
            }
            let mut rem = count;
            while rem > 0 {
                if binary {
                    if c.bin.is_empty() {
                        return Err(ParseError::field(
                            c.field_bin,
                            "too few bytes (or a non-byte element) for the timing",
                        ));
                    }
                    if io.len() >= MAX_PACKET_IO {
                        push(out, &mut io, io_dir, ts);
                    }
                    let room = MAX_PACKET_IO - io.len();
                    let k = (rem.min(room as u64) as usize).min(c.bin.len());
                    extend_small(&mut io, &c.bin[..k]);
                    c.bin = &c.bin[k..];
                    rem -= k as u64;
                    continue;
                } else {
                    // As many whole characters as fit in the packet.
                    let room = MAX_PACKET_IO - io.len();
                    let (bytes, chars) = c.take_chars(rem, room)?;
                    if chars == 0 {
                        push(out, &mut io, io_dir, ts);
                        continue;
                    }
                    extend_small(&mut io, &c.txt[..bytes]);
                    c.txt = &c.txt[bytes..];
                    rem -= chars;
                }
            }
        }
        push(out, &mut io, io_dir, ts);
        Ok(())
    }
}
