//! A recording as asciicast v2 or as its tlog JSON Lines, produced message
//! by message from the index's references into the stores: memory stays
//! bounded by one message whatever the recording's size.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use tlog_rs_format::{parse_message, Message, PacketData};
use tlog_rs_index::store::{Keyframe, MessageRef};
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

    /// Go on with the next batch of references (the files stay open).
    pub fn refill(&mut self, refs: Vec<(MessageRef, String)>) {
        self.refs = refs.into_iter();
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

/// Moves search hits (each the start of an indexed text chunk that shows
/// the phrase, `offsets` in ms) to the output packet at or after it, within
/// `window_ms`, that completes `needle` in the raw output (ASCII
/// case-insensitive, across packets). A phrase drawn in pieces (escape
/// sequences between its letters) or drawn before the chunk keeps the
/// chunk's start. Reads messages only up to the last hit's window.
pub fn refine_hits(
    messages: impl Iterator<Item = Result<Message, String>>,
    needle: &str,
    offsets: &mut [i64],
    window_ms: i64,
) -> Result<(), String> {
    let needle = needle.to_ascii_lowercase().into_bytes();
    let Some(last) = offsets.iter().max().map(|m| m + window_ms) else {
        return Ok(());
    };
    if needle.is_empty() {
        return Ok(());
    }
    let mut done = vec![false; offsets.len()];
    let mut tail: Vec<u8> = Vec::new();
    for m in messages {
        for p in m?.decode().0 {
            let PacketData::Output(b) = &p.data else {
                continue;
            };
            let ts = p.ts as i64;
            if ts > last {
                return Ok(());
            }
            let mut buf = std::mem::take(&mut tail);
            buf.extend(b.iter().map(u8::to_ascii_lowercase));
            if buf.windows(needle.len()).any(|w| w == needle.as_slice()) {
                for (o, d) in offsets.iter_mut().zip(done.iter_mut()) {
                    if !*d && *o <= ts && ts < *o + window_ms {
                        *o = ts;
                        *d = true;
                    }
                }
                if done.iter().all(|d| *d) {
                    return Ok(());
                }
            }
            // Keep what could start a match that ends in the next packet.
            let keep = needle.len() - 1;
            tail = buf.split_off(buf.len().saturating_sub(keep));
        }
    }
    Ok(())
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
        let packets = msg.decode().0;
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

/// One segment of asciinema-player's "segmented" source: it starts from a
/// keyframe's screen (made by the indexer) and plays the packets after it,
/// so a seek loads one segment instead of replaying from the start.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentPlan {
    /// Player time of the segment's first event, ms. A keyframe's own time
    /// plus 1: the packets at the keyframe's ms belong to the segment before
    /// (the player needs each segment's events strictly before the next
    /// segment's start).
    pub start_ms: u64,
    /// Packets strictly after (message id, packet index); None: from the start.
    pub after: Option<(u64, u32)>,
    pub cols: u16,
    pub rows: u16,
    /// Index of the keyframe whose screen starts it (None for the first).
    pub keyframe: Option<usize>,
}

/// The segments of a recording from its keyframes (in packet order).
pub fn plan(keyframes: &[Keyframe], size: (u16, u16), duration_ms: u64) -> Vec<SegmentPlan> {
    let mut v = vec![SegmentPlan {
        start_ms: 0,
        after: None,
        cols: size.0,
        rows: size.1,
        keyframe: None,
    }];
    for (i, k) in keyframes.iter().enumerate() {
        let start = k.t_ms.max(0) as u64 + 1;
        let last = v.last().map_or(0, |p| p.start_ms);
        if start <= last || start >= duration_ms || k.cols == 0 || k.rows == 0 {
            continue;
        }
        v.push(SegmentPlan {
            start_ms: start,
            after: Some((k.msg_id, k.packet)),
            cols: k.cols,
            rows: k.rows,
            keyframe: Some(i),
        });
    }
    v
}

/// The events of segment `n` of `plan`, as the player's JSON.
pub struct SegmentBuilder {
    from: Option<(u64, u32)>,
    to: Option<(u64, u32)>,
    start: u64,
    /// Exclusive bound for segments that have a successor, inclusive
    /// (the duration) for the last one.
    end: u64,
    last_segment: bool,
    events: Vec<serde_json::Value>,
    out_text: Utf8Stream,
    in_text: Utf8Stream,
    done: bool,
    size: (u16, u16),
}

impl SegmentBuilder {
    pub fn new(plan: &[SegmentPlan], n: usize, duration_ms: u64) -> Option<Self> {
        let p = plan.get(n)?;
        let next = plan.get(n + 1);
        let mut b = SegmentBuilder {
            from: p.after,
            to: next.and_then(|q| q.after),
            start: p.start_ms,
            end: next.map_or(duration_ms, |q| q.start_ms),
            last_segment: next.is_none(),
            events: Vec::new(),
            out_text: Utf8Stream::default(),
            in_text: Utf8Stream::default(),
            done: false,
            size: (p.cols, p.rows),
        };
        if n > 0 {
            // The player wants the first event exactly at the segment start.
            b.events.push(serde_json::json!([secs_f(b.start), "o", ""]));
        }
        Some(b)
    }

    /// The first message id this segment needs (messages before it are skipped).
    pub fn first_id(&self) -> u64 {
        self.from.map_or(0, |f| f.0)
    }

    /// The last message id this segment needs (None: to the end).
    pub fn last_id(&self) -> Option<u64> {
        self.to.map(|t| t.0)
    }

    /// True once the packet that ends the segment was seen.
    pub fn done(&self) -> bool {
        self.done
    }

    fn time(&self, ts: u64) -> f64 {
        let hi = if self.last_segment {
            self.end
        } else {
            self.end.saturating_sub(1)
        };
        secs_f(ts.clamp(self.start, hi.max(self.start)))
    }

    pub fn push(&mut self, msg: &Message) {
        if self.done || msg.id < self.first_id() {
            return;
        }
        for (i, p) in msg.decode().0.into_iter().enumerate() {
            let at = (msg.id, i as u32);
            if self.from.is_some_and(|f| at <= f) {
                continue;
            }
            if self.to.is_some_and(|t| at > t) {
                self.done = true;
                return;
            }
            let t = self.time(p.ts);
            match p.data {
                PacketData::Output(d) => {
                    let s = self.out_text.push(&d);
                    if !s.is_empty() {
                        self.events.push(serde_json::json!([t, "o", s]));
                    }
                }
                PacketData::Input(d) => {
                    let s = self.in_text.push(&d);
                    if !s.is_empty() {
                        self.events.push(serde_json::json!([t, "i", s]));
                    }
                }
                PacketData::Window { cols, rows } => {
                    if cols > 0 && rows > 0 && (cols, rows) != self.size {
                        self.size = (cols, rows);
                        self.events
                            .push(serde_json::json!([t, "r", format!("{cols}x{rows}")]));
                    }
                }
            }
            if self.to == Some(at) {
                self.done = true;
                return;
            }
        }
    }

    /// The segment's JSON: `{"snapshot": {...}, "events": [...]}`.
    pub fn finish(mut self, snapshot: (u16, u16, String)) -> serde_json::Value {
        let tail = self.out_text.finish();
        if !tail.is_empty() {
            let t = self
                .events
                .last()
                .and_then(|e| e[0].as_f64())
                .unwrap_or(secs_f(self.start));
            self.events.push(serde_json::json!([t, "o", tail]));
        }
        let end = secs_f(self.end);
        if self.last_segment && self.events.last().and_then(|e| e[0].as_f64()) != Some(end) {
            // The player wants the last event exactly at the duration.
            self.events.push(serde_json::json!([end, "o", ""]));
        }
        if self.events.is_empty() {
            self.events
                .push(serde_json::json!([secs_f(self.start), "o", ""]));
        }
        serde_json::json!({
            "snapshot": {"cols": snapshot.0, "rows": snapshot.1, "init": snapshot.2},
            "events": self.events,
        })
    }
}

/// Follow of a live recording: asciinema-player's "eventsource" driver
/// takes a reset (size and the text that paints the screen so far), then
/// events. `Live` turns messages, in order, into that: everything before
/// the first `take_events` goes into the reset's text.
pub struct Live {
    /// Packets at or before this (message id, packet) were already sent
    /// (or are painted by the keyframe the reset starts from).
    after: Option<(u64, u32)>,
    size: (u16, u16),
    out_text: Utf8Stream,
    init: String,
    events: Vec<serde_json::Value>,
    last_ts: u64,
}

impl Live {
    /// Start from a keyframe's screen (the packets up to it are skipped), or
    /// from the start of the recording.
    pub fn new(from: Option<&Keyframe>, size: (u16, u16)) -> Self {
        let (after, size, init) = match from {
            Some(k) => (
                Some((k.msg_id, k.packet)),
                (k.cols, k.rows),
                String::from_utf8_lossy(&k.screen).into_owned(),
            ),
            None => (None, size, String::new()),
        };
        Live {
            after,
            size,
            out_text: Utf8Stream::default(),
            init,
            events: Vec::new(),
            last_ts: 0,
        }
    }

    /// The last message fed in full: poll for ids after it.
    pub fn last_id(&self) -> Option<u64> {
        self.after.map(|a| a.0)
    }

    pub fn push(&mut self, msg: &Message) {
        for (i, p) in msg.decode().0.into_iter().enumerate() {
            let at = (msg.id, i as u32);
            if self.after.is_some_and(|a| at <= a) {
                continue;
            }
            self.after = Some(at);
            self.last_ts = self.last_ts.max(p.ts);
            match p.data {
                PacketData::Output(d) => {
                    let s = self.out_text.push(&d);
                    if !s.is_empty() {
                        self.events
                            .push(serde_json::json!([secs_f(self.last_ts), "o", s]));
                    }
                }
                // Input is not drawn; the commands pane lists it.
                PacketData::Input(_) => {}
                PacketData::Window { cols, rows } => {
                    if cols > 0 && rows > 0 && (cols, rows) != self.size {
                        self.size = (cols, rows);
                        self.events.push(serde_json::json!([
                            secs_f(self.last_ts),
                            "r",
                            format!("{cols}x{rows}")
                        ]));
                    }
                }
            }
        }
    }

    /// The reset: the last size and the text of everything pushed so far.
    pub fn take_reset(&mut self) -> serde_json::Value {
        let mut init = std::mem::take(&mut self.init);
        for e in self.events.drain(..) {
            if e[1] == "o" {
                init.push_str(e[2].as_str().unwrap_or(""));
            }
        }
        serde_json::json!({
            "cols": self.size.0,
            "rows": self.size.1,
            "time": secs_f(self.last_ts),
            "init": init,
        })
    }

    /// The events pushed since the last call.
    pub fn take_events(&mut self) -> Vec<serde_json::Value> {
        std::mem::take(&mut self.events)
    }
}

fn secs_f(ms: u64) -> f64 {
    ms as f64 / 1000.0
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
    fn search_hits_move_to_the_output_that_draws_the_phrase() {
        // "Hello World" completes with the second message at 2500;
        // "world" again at 20000 (a later chunk); a phrase broken by an
        // escape sequence is not found and keeps its chunk start.
        let msgs = vec![
            msg(1, 2000, ">3+300>5", "xx Hello"),
            msg(2, 2500, "+0>6", " World"),
            msg(3, 20_000, ">5", "world"),
            msg(4, 30_000, ">8", "wo\x1b[1mrld"),
        ];
        let mut offsets = [0, 15_000, 25_000];
        refine_hits(
            msgs.clone().into_iter().map(Ok),
            "hello WORLD",
            &mut offsets,
            10_000,
        )
        .unwrap();
        assert_eq!(offsets, [2500, 15_000, 25_000]);
        let mut offsets = [1000, 15_000, 25_000];
        refine_hits(msgs.into_iter().map(Ok), "world", &mut offsets, 10_000).unwrap();
        assert_eq!(offsets, [2500, 20_000, 25_000]);
        // A read error is the caller's to handle.
        let mut offsets = [0];
        assert!(refine_hits(
            std::iter::once(Err("gone".to_string())),
            "x",
            &mut offsets,
            10
        )
        .is_err());
    }

    #[test]
    fn live_paints_the_past_then_sends_only_new_packets() {
        let mut l = Live::new(None, (80, 24));
        l.push(&msg(1, 0, "=100x30>3", "abc"));
        l.push(&msg(2, 1000, ">2", "de"));
        let r = l.take_reset();
        assert_eq!(
            (r["cols"].as_u64(), r["rows"].as_u64()),
            (Some(100), Some(30))
        );
        assert_eq!(r["init"], "abcde");
        assert_eq!(r["time"].as_f64(), Some(1.0));
        assert_eq!(l.last_id(), Some(2));
        // A message seen again (polled twice) adds nothing; a new one does.
        l.push(&msg(2, 1000, ">2", "de"));
        l.push(&msg(3, 2500, ">1=90x20>1", "fg"));
        let e = l.take_events();
        assert_eq!(
            serde_json::Value::from(e),
            serde_json::json!([[2.5, "o", "f"], [2.5, "r", "90x20"], [2.5, "o", "g"]])
        );
        assert!(l.take_events().is_empty());
        // From a keyframe: its screen, then only the packets after it.
        let k = Keyframe {
            t_ms: 0,
            msg_id: 1,
            packet: 1,
            cols: 10,
            rows: 5,
            screen: b"SCREEN".to_vec(),
        };
        let mut l = Live::new(Some(&k), (80, 24));
        l.push(&msg(1, 0, "=100x30>3", "abc"));
        l.push(&msg(2, 1000, ">2", "de"));
        let r = l.take_reset();
        assert_eq!(r["init"], "SCREENde");
        assert_eq!(r["cols"].as_u64(), Some(10));
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

    fn kf(t_ms: i64, msg_id: u64, packet: u32) -> Keyframe {
        Keyframe {
            t_ms,
            msg_id,
            packet,
            cols: 100,
            rows: 30,
            screen: b"\x1b[Hscreen".to_vec(),
        }
    }

    #[test]
    fn segments_cut_at_keyframes_with_the_players_rules() {
        // Message 1: output at 0 and 500 ms; message 2: at 1000 and 1500 ms.
        let m1 = msg(1, 0, "=100x30>1+500>1", "ab");
        let m2 = msg(2, 1000, ">1+500>1", "cd");
        // A keyframe after packet 1 of message 1 (the "b" at 500 ms), one
        // that repeats its time (skipped) and one past the end (skipped).
        let plan = plan(
            &[kf(500, 1, 2), kf(500, 2, 0), kf(2000, 2, 1)],
            (100, 30),
            2000,
        );
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[1].start_ms, 501);
        let build = |n: usize| {
            let mut b = SegmentBuilder::new(&plan, n, 2000).unwrap();
            for m in [&m1, &m2] {
                b.push(m);
            }
            b.finish((100, 30, String::new()))["events"].clone()
        };
        let s0 = build(0);
        assert_eq!(s0, serde_json::json!([[0.0, "o", "a"], [0.5, "o", "b"]]));
        let s1 = build(1);
        assert_eq!(
            s1,
            serde_json::json!([
                [0.501, "o", ""],
                [1.0, "o", "c"],
                [1.5, "o", "d"],
                [2.0, "o", ""]
            ])
        );
        assert!(SegmentBuilder::new(&plan, 2, 2000).is_none());
    }
}
