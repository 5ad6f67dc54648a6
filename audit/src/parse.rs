//! Raw audit lines, as auditd writes them to audit.log (RAW or ENRICHED
//! format) and as a plugin reads them:
//!
//! ```text
//! [node=HOST ]type=NAME msg=audit(SECONDS.MILLIS:SERIAL): key=value ...[\x1dKEY=value ...]
//! ```
//!
//! Values are `"quoted"`, `'quoted'` (the `msg='…'` of user-space records,
//! itself a list of fields), `{ braced }` (SELinux), or bare. A bare value of
//! an "encoded" field (field dictionary: acct, comm, cwd, exe, name,
//! proctitle, EXECVE's aN, …) that is all hex digits is hex-encoded bytes
//! and is decoded. Grouping of records into events is in [`crate::event`].

use std::fmt;

/// `msg=audit(SEC.MS:SERIAL)`: with the node, what makes records one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    /// Milliseconds since the epoch.
    pub time_ms: u64,
    pub serial: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:03}:{}",
            self.time_ms / 1000,
            self.time_ms % 1000,
            self.serial
        )
    }
}

/// One `key=value` of a record, the value unquoted and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub value: &'a str,
    /// The value was hex-encoded in the log.
    pub hex: bool,
}

/// Where a field lives: the record's own fields, inside `msg='…'`, or in
/// the enriched tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Own,
    Msg,
    Enriched,
}

/// A field as byte ranges into the record's buffer: one allocation per
/// record instead of two per field (ingestion speed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    part: Part,
    name: (u32, u32),
    value: (u32, u32),
    hex: bool,
}

/// One line of audit.log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based line number in its input.
    pub line: usize,
    pub node: Option<String>,
    /// `type=` (e.g. SYSCALL, EXECVE, USER_AUTH; `UNKNOWN[1334]` as is).
    pub rtype: String,
    pub id: EventId,
    /// The line, then the decoded values of hex fields.
    buf: String,
    slots: Vec<Slot>,
}

impl Record {
    fn part(&self, part: Part) -> impl Iterator<Item = Field<'_>> + Clone {
        self.slots
            .iter()
            .filter(move |s| s.part == part)
            .map(|s| Field {
                name: &self.buf[s.name.0 as usize..s.name.1 as usize],
                value: &self.buf[s.value.0 as usize..s.value.1 as usize],
                hex: s.hex,
            })
    }

    /// The record's own fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'_>> + Clone {
        self.part(Part::Own)
    }

    /// The fields inside `msg='…'` (user-space records), if any.
    pub fn msg(&self) -> impl Iterator<Item = Field<'_>> + Clone {
        self.part(Part::Msg)
    }

    /// The translations after the 0x1d separator (ENRICHED format).
    pub fn enriched(&self) -> impl Iterator<Item = Field<'_>> + Clone {
        self.part(Part::Enriched)
    }

    pub fn has_msg(&self) -> bool {
        self.slots.iter().any(|s| s.part == Part::Msg)
    }

    pub fn has_enriched(&self) -> bool {
        self.slots.iter().any(|s| s.part == Part::Enriched)
    }

    /// The same record text (wherever it was read).
    pub fn same_text(&self, other: &Record) -> bool {
        self.id == other.id && self.rtype == other.rtype && self.buf == other.buf
    }

    /// The value of field `name` (the record's own fields, then msg='…').
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields()
            .find(|f| f.name == name)
            .or_else(|| self.msg().find(|f| f.name == name))
            .map(|f| f.value)
    }
}

/// A line that is not an audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    /// 1-based byte column where the problem is.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Fields whose bare values are hex when they hold special bytes
/// (audit-documentation's field dictionary, type "encoded"); EXECVE's
/// aN and aN[i] are handled by the caller.
const ENCODED: &[&str] = &[
    "acct",
    "cmd",
    "comm",
    "cwd",
    "data",
    "dir",
    "exe",
    "file",
    "key",
    "name",
    "new",
    "ocomm",
    "old",
    "path",
    "proctitle",
    "root_dir",
    "sw",
    "watch",
];

fn is_encoded(rtype: &str, name: &str) -> bool {
    if ENCODED.contains(&name) {
        return true;
    }
    // EXECVE's arguments: a0, a1, ..., and a1[0], a1[1] for long ones.
    rtype == "EXECVE"
        && name.len() > 1
        && name.as_bytes()[0] == b'a'
        && name[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'[' || b == b']')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Hex text to bytes; None if it is not (even length, hex digits only).
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| Some(hex_val(p[0])? << 4 | hex_val(p[1])?))
        .collect()
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: at + 1,
            message: message.into(),
        }
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn skip_spaces(&mut self) {
        while self.rest().starts_with(' ') {
            self.pos += 1;
        }
    }
    fn expect(&mut self, lit: &str) -> Result<(), ParseError> {
        if self.rest().starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.err(self.pos, format!("expected {lit:?}")))
        }
    }
    /// Up to (not including) the first of `stops` or the end.
    fn until(&mut self, stops: &[u8]) -> &'a str {
        let start = self.pos;
        let end = self.s.as_bytes()[start..]
            .iter()
            .position(|b| stops.contains(b))
            .map_or(self.s.len(), |i| start + i);
        self.pos = end;
        &self.s[start..end]
    }
}

/// Parse one line. `Ok(None)` for an empty line.
pub fn parse_line(text: &str, line: usize) -> Result<Option<Record>, ParseError> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut c = Cursor {
        s: text,
        pos: 0,
        line,
    };
    let mut node = None;
    if c.rest().starts_with("node=") {
        c.pos += 5;
        node = Some(c.until(b" ").to_string());
        c.skip_spaces();
    }
    c.expect("type=")?;
    let rtype = c.until(b" ").to_string();
    if rtype.is_empty() {
        return Err(c.err(c.pos, "empty record type"));
    }
    c.skip_spaces();
    c.expect("msg=audit(")?;
    let at = c.pos;
    let secs = c.until(b".:)");
    c.expect(".")
        .map_err(|_| c.err(at, "expected SECONDS.MILLIS:SERIAL in msg=audit(...)"))?;
    let at_ms = c.pos;
    let ms = c.until(b":)");
    c.expect(":")
        .map_err(|_| c.err(at_ms, "expected :SERIAL after the time"))?;
    let at_serial = c.pos;
    let serial = c.until(b")");
    c.expect("):")?;
    let num = |s: &str, at: usize, what: &str| -> Result<u64, ParseError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(c.err(at, format!("{what} {s:?} is not a number")));
        }
        s.parse::<u64>()
            .map_err(|_| c.err(at, format!("{what} {s:?} is out of range")))
    };
    let secs = num(secs, at, "seconds")?;
    if ms.len() != 3 {
        return Err(c.err(at_ms, format!("milliseconds {ms:?}: expected 3 digits")));
    }
    let ms = num(ms, at_ms, "milliseconds")?;
    let serial = num(serial, at_serial, "serial")?;
    let time_ms = secs
        .checked_mul(1000)
        .and_then(|t| t.checked_add(ms))
        .ok_or_else(|| c.err(at, "time out of range"))?;

    if text.len() > u32::MAX as usize / 2 {
        return Err(c.err(0, "line too long"));
    }
    // The enriched tail starts at the first 0x1d.
    let body_end = text[c.pos..].find('\x1d').map_or(text.len(), |i| c.pos + i);
    let mut out = Out {
        buf: text.to_string(),
        slots: Vec::with_capacity(32),
    };
    let mut body = Cursor {
        s: &text[..body_end],
        pos: c.pos,
        line,
    };
    parse_fields(&mut body, &rtype, &mut out, Part::Own, 0)?;
    if body_end < text.len() {
        let mut tail = Cursor {
            s: text,
            pos: body_end + 1,
            line,
        };
        parse_fields(&mut tail, "", &mut out, Part::Enriched, 0)?;
    }
    Ok(Some(Record {
        line,
        node,
        rtype,
        id: EventId { time_ms, serial },
        buf: out.buf,
        slots: out.slots,
    }))
}

struct Out {
    buf: String,
    slots: Vec<Slot>,
}

/// `key=value` pairs to the end of the cursor. Words without `=` (the
/// prose of AVC records, `avc:  denied`) are skipped.
fn parse_fields(
    c: &mut Cursor<'_>,
    rtype: &str,
    out: &mut Out,
    part: Part,
    // Offset of the cursor's text in the line (for msg='…').
    base: usize,
) -> Result<(), ParseError> {
    let span = |a: usize, b: usize| ((base + a) as u32, (base + b) as u32);
    loop {
        c.skip_spaces();
        if c.pos >= c.s.len() {
            return Ok(());
        }
        let start = c.pos;
        let word = c.until(b" =");
        if !c.rest().starts_with('=') {
            // A word without a value; a brace group is skipped whole.
            if word.starts_with('{') && !word.ends_with('}') {
                c.until(b"}");
                c.pos = (c.pos + 1).min(c.s.len());
            }
            continue;
        }
        let name = span(start, c.pos);
        c.pos += 1;
        if word.is_empty() {
            return Err(c.err(start, "'=' without a field name"));
        }
        let at = c.pos;
        let (vstart, vend, quoted) = match c.rest().as_bytes().first() {
            Some(q @ (b'"' | b'\'')) => {
                let q = *q;
                c.pos += 1;
                c.until(&[q]);
                if c.pos >= c.s.len() {
                    return Err(c.err(at, format!("field {word}: unterminated {}", q as char)));
                }
                c.pos += 1;
                (at + 1, c.pos - 1, Some(q))
            }
            Some(b'{') => {
                c.until(b"}");
                if c.pos >= c.s.len() {
                    return Err(c.err(at, format!("field {word}: unterminated {{")));
                }
                c.pos += 1;
                (at, c.pos, None)
            }
            _ => {
                c.until(b" ");
                (at, c.pos, None)
            }
        };
        let value = &c.s[vstart..vend];
        // msg='op=… res=…' holds fields of its own.
        if quoted == Some(b'\'') && word == "msg" && part == Part::Own {
            let mut inner = Cursor {
                s: value,
                pos: 0,
                line: c.line,
            };
            // Errors inside point into the line, not into the value.
            parse_fields(&mut inner, rtype, out, Part::Msg, base + vstart).map_err(|mut e| {
                e.column += base + vstart;
                e
            })?;
            continue;
        }
        let mut slot = Slot {
            part,
            name,
            value: span(vstart, vend),
            hex: false,
        };
        if quoted.is_none() && is_encoded(rtype, word) {
            if let Some(bytes) = decode_hex(value) {
                let decoded = String::from_utf8_lossy(&bytes);
                let a = out.buf.len();
                out.buf.push_str(&decoded);
                slot.value = (a as u32, out.buf.len() as u32);
                slot.hex = true;
            }
        }
        out.slots.push(slot);
    }
}
