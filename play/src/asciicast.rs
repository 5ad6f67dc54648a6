//! `tlog-rs export --format asciicast`: asciicast v2 (newline-delimited JSON:
//! a header object, then `[time, code, data]` events) so a recording plays in
//! asciinema's players. Output is `"o"`, input `"i"` (with `--input`),
//! window changes `"r"` (`"COLSxROWS"`).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};

use tlog_rs_format::{parse_message, Message, PacketData};

use crate::source::{PacketSource, SourceSpec};

/// Header facts that are not in the packets: taken from the first message.
#[derive(Debug, Default, Clone)]
pub struct Meta {
    pub timestamp: Option<u64>,
    pub term: Option<String>,
    pub rec: Option<String>,
}

impl Meta {
    /// Look at the first message of a file (best effort: the export itself
    /// reports any error in the file).
    pub fn probe(spec: &SourceSpec) -> Meta {
        let SourceSpec::File(path) = spec else {
            return Meta::default();
        };
        let Ok(f) = File::open(path) else {
            return Meta::default();
        };
        let mut line = Vec::new();
        let mut r = BufReader::new(f);
        while r
            .read_until(b'\n', &mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            if let Ok(m) = parse_message(&line) {
                return Meta::from_message(m);
            }
            line.clear();
        }
        Meta::default()
    }

    /// From a recording's first message.
    pub fn from_message(m: Message) -> Meta {
        let start = m
            .time
            .as_deref()
            .and_then(|t| t.split('.').next()?.parse::<u64>().ok());
        Meta {
            timestamp: start.map(|s| s.saturating_sub(m.pos / 1000)),
            term: Some(m.term),
            rec: m.rec,
        }
    }
}

/// Decodes a byte stream split into packets to text: a UTF-8 sequence cut
/// between packets is completed from the next one, invalid bytes become
/// U+FFFD (as `String::from_utf8_lossy` would over the whole stream).
#[derive(Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn push(&mut self, data: &[u8]) -> String {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(data);
        let mut out = String::with_capacity(buf.len());
        let mut rest = &buf[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY: from_utf8 just checked rest[..valid].
                    out.push_str(unsafe { std::str::from_utf8_unchecked(&rest[..valid]) });
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &rest[valid + n..];
                        }
                        None => {
                            self.pending = rest[valid..].to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// An incomplete sequence left at the end is invalid.
    pub fn finish(&mut self) -> String {
        if self.pending.is_empty() {
            String::new()
        } else {
            self.pending.clear();
            "\u{FFFD}".to_string()
        }
    }
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn event(w: &mut dyn Write, ms: u64, code: &str, data: &str) -> std::io::Result<()> {
    let data = serde_json::to_string(data).expect("a str always serialises");
    writeln!(w, "[{}, \"{code}\", {data}]", secs(ms))
}

pub fn export(
    src: &mut PacketSource,
    meta: &Meta,
    input: bool,
    w: &mut dyn Write,
) -> Result<(), String> {
    // Read ahead to the first output, so the header can carry the first
    // window size (tlog writes it at the start of every message).
    let mut ahead = Vec::new();
    let mut size = None;
    while let Some(p) = src.next_packet()? {
        let is_output = matches!(p.data, PacketData::Output(_));
        if let PacketData::Window { cols, rows } = p.data {
            if size.is_none() && cols > 0 && rows > 0 {
                size = Some((cols, rows));
            }
        }
        ahead.push(p);
        if is_output {
            break;
        }
    }
    let (cols, rows) = size.unwrap_or((80, 24));
    let mut header = serde_json::Map::new();
    header.insert("version".into(), 2.into());
    header.insert("width".into(), cols.into());
    header.insert("height".into(), rows.into());
    if let Some(t) = meta.timestamp {
        header.insert("timestamp".into(), t.into());
    }
    if let Some(term) = &meta.term {
        let mut env = serde_json::Map::new();
        env.insert("TERM".into(), term.clone().into());
        header.insert("env".into(), env.into());
    }
    if let Some(rec) = &meta.rec {
        header.insert("title".into(), format!("tlog recording {rec}").into());
    }
    let io = |e: std::io::Error| format!("writing the export: {e}");
    writeln!(w, "{}", serde_json::Value::Object(header)).map_err(io)?;

    let (mut out_text, mut in_text) = (Utf8Stream::default(), Utf8Stream::default());
    let mut current = (cols, rows);
    let mut last_ts = 0;
    let mut emit = |p: tlog_rs_format::Packet, w: &mut dyn Write| -> std::io::Result<()> {
        last_ts = p.ts;
        match p.data {
            PacketData::Output(d) => {
                let s = out_text.push(&d);
                if !s.is_empty() {
                    event(w, p.ts, "o", &s)?;
                }
            }
            PacketData::Input(d) if input => {
                let s = in_text.push(&d);
                if !s.is_empty() {
                    event(w, p.ts, "i", &s)?;
                }
            }
            PacketData::Window { cols, rows }
                if cols > 0 && rows > 0 && (cols, rows) != current =>
            {
                current = (cols, rows);
                event(w, p.ts, "r", &format!("{cols}x{rows}"))?;
            }
            _ => {}
        }
        Ok(())
    };
    for p in ahead {
        emit(p, w).map_err(io)?;
    }
    while let Some(p) = src.next_packet()? {
        emit(p, w).map_err(io)?;
    }
    let tail = out_text.finish();
    if !tail.is_empty() {
        event(w, last_ts, "o", &tail).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_between_packets() {
        let mut u = Utf8Stream::default();
        let all = "你好 é".as_bytes();
        let mut s = String::new();
        for b in all {
            s.push_str(&u.push(&[*b]));
        }
        assert_eq!(s, "你好 é");
        assert_eq!(u.push(b"a\xffb\xe4\xbd"), "a\u{FFFD}b");
        assert_eq!(u.finish(), "\u{FFFD}");
        let data = b"x\xe2\x82 y\xf0\x9f\x98\x80\xc0\xaf";
        let mut u = Utf8Stream::default();
        let pieced: String = data.chunks(3).map(|c| u.push(c)).collect::<String>() + &u.finish();
        assert_eq!(pieced, String::from_utf8_lossy(data));
    }
}
