//! A recording as asciicast v2 or as its tlog JSON Lines, produced message
//! by message from the index's references into the stores: memory stays
//! bounded by one message whatever the recording's size.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use tlog_rs_format::{parse_message, Message, PacketData};
use tlog_rs_index::store::MessageRef;
use tlog_rs_play::asciicast::Utf8Stream;

/// Reads the referenced lines in order. A line that changed since it was
/// indexed (another id there) ends the stream with an error.
pub struct Lines {
    refs: std::vec::IntoIter<(MessageRef, String)>,
    files: HashMap<String, File>,
}

impl Lines {
    pub fn new(refs: Vec<(MessageRef, String)>) -> Self {
        Lines {
            refs: refs.into_iter(),
            files: HashMap::new(),
        }
    }

    /// The next raw line (without newline) and its parsed message.
    pub fn next_message(&mut self) -> Option<Result<(Vec<u8>, Message), String>> {
        let (m, path) = self.refs.next()?;
        Some(self.read(&m, &path))
    }

    fn read(&mut self, m: &MessageRef, path: &str) -> Result<(Vec<u8>, Message), String> {
        if !self.files.contains_key(path) {
            let f = File::open(path).map_err(|e| format!("{path}: {e}"))?;
            self.files.insert(path.to_string(), f);
        }
        let f = &self.files[path];
        let mut buf = vec![0u8; m.len as usize];
        f.read_exact_at(&mut buf, m.offset)
            .map_err(|e| format!("{path}: {e}"))?;
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        match parse_message(&buf) {
            Ok(msg) if msg.id == m.id => Ok((buf, msg)),
            _ => Err(format!(
                "{path}: changed since it was indexed (message {} no longer at byte {})",
                m.id, m.offset
            )),
        }
    }
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn event(out: &mut Vec<u8>, ms: u64, code: &str, data: &str) {
    let data = serde_json::Value::from(data).to_string();
    out.extend_from_slice(format!("[{}, \"{code}\", {data}]\n", secs(ms)).as_bytes());
}

/// asciicast v2 writer: `push` a message, get the bytes to send.
pub struct Cast {
    header_done: bool,
    title: String,
    size: (u16, u16),
    out_text: Utf8Stream,
    in_text: Utf8Stream,
    last_ts: u64,
}

impl Cast {
    pub fn new(title: String) -> Self {
        Cast {
            header_done: false,
            title,
            size: (80, 24),
            out_text: Utf8Stream::default(),
            in_text: Utf8Stream::default(),
            last_ts: 0,
        }
    }

    pub fn push(&mut self, msg: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        let packets = msg.packets().unwrap_or_default();
        if !self.header_done {
            // tlog writes the window size at the start of a recording.
            if let Some((c, r)) = packets.iter().find_map(|p| match p.data {
                PacketData::Window { cols, rows } if cols > 0 && rows > 0 => Some((cols, rows)),
                _ => None,
            }) {
                self.size = (c, r);
            }
            let mut h = serde_json::Map::new();
            h.insert("version".into(), 2.into());
            h.insert("width".into(), self.size.0.into());
            h.insert("height".into(), self.size.1.into());
            let start = msg
                .time
                .as_deref()
                .and_then(|t| t.split('.').next()?.parse::<u64>().ok());
            if let Some(s) = start {
                h.insert("timestamp".into(), s.saturating_sub(msg.pos / 1000).into());
            }
            let mut env = serde_json::Map::new();
            env.insert("TERM".into(), msg.term.clone().into());
            h.insert("env".into(), env.into());
            h.insert("title".into(), self.title.clone().into());
            out.extend_from_slice(serde_json::Value::Object(h).to_string().as_bytes());
            out.push(b'\n');
            self.header_done = true;
        }
        for p in packets {
            self.last_ts = p.ts;
            match p.data {
                PacketData::Output(d) => {
                    let s = self.out_text.push(&d);
                    if !s.is_empty() {
                        event(&mut out, p.ts, "o", &s);
                    }
                }
                PacketData::Input(d) => {
                    let s = self.in_text.push(&d);
                    if !s.is_empty() {
                        event(&mut out, p.ts, "i", &s);
                    }
                }
                PacketData::Window { cols, rows } => {
                    if cols > 0 && rows > 0 && (cols, rows) != self.size {
                        self.size = (cols, rows);
                        event(&mut out, p.ts, "r", &format!("{cols}x{rows}"));
                    }
                }
            }
        }
        out
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let tail = self.out_text.finish();
        if !tail.is_empty() {
            event(&mut out, self.last_ts, "o", &tail);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u64, pos: u64, timing: &str, out: &str) -> Message {
        Message {
            ver: "2.3".into(),
            host: "h".into(),
            rec: Some("r".into()),
            user: "u".into(),
            term: "xterm".into(),
            id,
            pos,
            time: Some("1800000010.500".into()),
            timing: timing.into(),
            out_txt: out.into(),
            ..Default::default()
        }
    }

    #[test]
    fn header_from_first_window_then_events() {
        let mut c = Cast::new("t".into());
        let mut all = c.push(&msg(1, 2000, "=100x30>3+500>1", "abc\u{e9}"));
        all.extend(c.push(&msg(2, 3000, "=90x20>1", "z")));
        all.extend(c.finish());
        let text = String::from_utf8(all).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["width"], 100);
        assert_eq!(lines[0]["height"], 30);
        assert_eq!(lines[0]["timestamp"], 1800000008u64);
        assert_eq!(lines[1], serde_json::json!([2.0, "o", "abc"]));
        assert_eq!(lines[2], serde_json::json!([2.5, "o", "\u{e9}"]));
        assert_eq!(lines[3], serde_json::json!([3.0, "r", "90x20"]));
        assert_eq!(lines[4], serde_json::json!([3.0, "o", "z"]));
        assert_eq!(lines.len(), 5);
    }
}
