//! What the index derives from a recording's messages: statistics, the
//! screen text per time chunk, the submitted input lines and keyframes.
//!
//! The emulator is the player's (`vt100`, with play's window handling and
//! its escape-sequence tracker, so keyframes are only cut between escape
//! sequences, exactly where play cuts its own checkpoints). Screen text is
//! what a viewer saw: lines that scrolled off during the chunk plus the
//! screen at its end, with wrapped rows joined, so a phrase split across
//! messages, escapes or a line wrap is still one string.

use tlog_rs_format::{Message, PacketData};
use tlog_rs_play::escstate::EscTracker;
use tlog_rs_play::timeline::apply_window;

use crate::store::Keyframe;
use crate::text::{TextChunk, TrigramSet};

/// Text chunk length in recording time.
pub const CHUNK_MS: u64 = 10_000;
/// Keyframe spacing: whichever comes first.
pub const KEYFRAME_BYTES: u64 = 1024 * 1024;
pub const KEYFRAME_MS: u64 = 30_000;
/// Scrollback kept between chunk cuts; a chunk is cut early at half of it
/// (one 4 KiB packet can scroll at most 4096 lines).
const SCROLLBACK: usize = 8192;
const SCROLL_CUT: usize = SCROLLBACK / 2;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    pub user: String,
    pub term: String,
    pub session: u64,
    /// Unix ms of the recording start (first message's `time` - `pos`).
    pub start_ms: Option<i64>,
    /// Unix ms of the last packet.
    pub last_ms: Option<i64>,
    pub messages: u64,
    pub first_id: Option<u64>,
    pub last_id: Option<u64>,
    /// Message ids missing between 1 and the last id.
    pub id_gaps: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub chunks: Vec<TextChunk>,
    pub commands: Vec<(u64, String)>,
    pub keyframes: Vec<Keyframe>,
    /// Messages whose data could not be decoded (kept: what came before).
    pub errors: Vec<String>,
}

/// `1795700846.847` (tlog's `time`) in Unix ms.
pub fn time_ms(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut ms = 0i64;
    for (i, c) in frac.chars().take(3).enumerate() {
        ms += c.to_digit(10)? as i64 * [100, 10, 1][i];
    }
    Some(secs * 1000 + ms)
}

pub struct Deriver {
    d: Derived,
    parser: vt100::Parser,
    tracker: EscTracker,
    line: LineEditor,
    trigrams: TrigramSet,
    chunk_start: Option<u64>,
    kf_bytes: u64,
    kf_ms: u64,
    last_ts: u64,
    pipe: bool,
    prev_cr: bool,
}

impl Default for Deriver {
    fn default() -> Self {
        Self::new()
    }
}

impl Deriver {
    pub fn new() -> Self {
        Deriver {
            d: Derived::default(),
            parser: vt100::Parser::new(nz(24), nz(80), SCROLLBACK),
            tracker: EscTracker::default(),
            line: LineEditor::default(),
            trigrams: TrigramSet::default(),
            chunk_start: None,
            kf_bytes: 0,
            kf_ms: 0,
            last_ts: 0,
            pipe: false,
            prev_cr: false,
        }
    }

    /// A pipe-mode recording (no terminal): its output has bare newlines,
    /// which are shown as line ends for the text index. It gets no
    /// keyframes: there was no screen to restore.
    pub fn pipe(mut self, pipe: bool) -> Self {
        self.pipe = pipe;
        self
    }

    pub fn message(&mut self, m: &Message) {
        let d = &mut self.d;
        if d.messages == 0 {
            d.user = m.user.clone();
            d.term = m.term.clone();
            d.session = m.session as u64;
            d.first_id = Some(m.id);
            d.start_ms = m
                .time
                .as_deref()
                .and_then(time_ms)
                .map(|t| t - m.pos as i64);
        }
        match d.last_id {
            Some(last) if m.id > last + 1 => d.id_gaps += m.id - last - 1,
            None if m.id > 1 => d.id_gaps += m.id - 1,
            _ => {}
        }
        d.last_id = Some(d.last_id.map_or(m.id, |l| l.max(m.id)));
        d.messages += 1;
        let (packets, err) = m.decode();
        if let Some(e) = err {
            d.errors.push(format!("message id {}: {e}", m.id));
        }
        for (i, p) in packets.into_iter().enumerate() {
            // Timestamps never go back (tlog-play's rule); clamp if they do.
            let ts = p.ts.max(self.last_ts);
            self.last_ts = ts;
            match p.data {
                PacketData::Output(b) => self.output(ts, &b),
                PacketData::Input(b) => {
                    self.d.bytes_in += b.len() as u64;
                    for line in self.line.feed(&b) {
                        self.d.commands.push((ts, line));
                    }
                }
                PacketData::Window { cols, rows } if cols > 0 && rows > 0 => {
                    apply_window(&mut self.parser, cols, rows);
                }
                PacketData::Window { .. } => {}
            }
            self.maybe_keyframe(ts, m.id, i as u32);
        }
        if let Some(s) = self.d.start_ms {
            self.d.last_ms = Some(s + self.last_ts as i64);
        }
    }

    fn output(&mut self, ts: u64, b: &[u8]) {
        if let Some(start) = self.chunk_start {
            if ts >= start + CHUNK_MS {
                self.cut_chunk();
            }
        }
        self.chunk_start.get_or_insert(ts);
        if self.pipe {
            let mut v = Vec::with_capacity(b.len() + 16);
            for &c in b {
                if c == b'\n' && !self.prev_cr {
                    v.push(b'\r');
                }
                self.prev_cr = c == b'\r';
                v.push(c);
            }
            self.parser.process(&v);
        } else {
            self.parser.process(b);
        }
        self.tracker.feed(b);
        self.d.bytes_out += b.len() as u64;
        self.kf_bytes += b.len() as u64;
        if self.parser.screen().scrollback_len() >= SCROLL_CUT {
            self.cut_chunk();
        }
    }

    fn maybe_keyframe(&mut self, ts: u64, msg_id: u64, packet: u32) {
        let due = self.kf_bytes >= KEYFRAME_BYTES
            || (self.kf_bytes > 0 && ts >= self.kf_ms + KEYFRAME_MS);
        if !due || !self.tracker.idle() || self.pipe {
            return;
        }
        let s = self.parser.screen();
        let (rows, cols) = s.size();
        self.d.keyframes.push(Keyframe {
            t_ms: ts as i64,
            msg_id,
            packet,
            cols: cols.get(),
            rows: rows.get(),
            screen: s.state_formatted().into_bytes(),
        });
        self.kf_bytes = 0;
        self.kf_ms = ts;
    }

    /// Store the text of the chunk that ends now.
    fn cut_chunk(&mut self) {
        let Some(start) = self.chunk_start.take() else {
            return;
        };
        let mut text = String::new();
        let screen = self.parser.screen_mut();
        let (rows, cols) = screen.size();
        let (rows, cols) = (rows.get(), cols.get());
        let mut off = screen.scrollback_len();
        while off > 0 {
            screen.set_scrollback(off);
            let take = off.min(rows as usize) as u16;
            push_rows(&mut text, screen, take, cols);
            off -= take as usize;
        }
        screen.set_scrollback(0);
        screen.clear_scrollback();
        push_rows(&mut text, screen, rows, cols);
        let text = text.trim_end();
        if !text.is_empty() {
            let chunk = TextChunk::new(start, text, &mut self.trigrams);
            self.d.chunks.push(chunk);
        }
    }

    /// Bytes of text and keyframes held, to hand over before memory grows.
    pub fn pending_bytes(&self) -> usize {
        self.d.chunks.iter().map(|c| c.text.len()).sum::<usize>()
            + self.d.commands.iter().map(|c| c.1.len()).sum::<usize>()
            + self
                .d
                .keyframes
                .iter()
                .map(|k| k.screen.len())
                .sum::<usize>()
    }

    /// Take the text chunks, commands and keyframes made so far (the
    /// statistics stay for [`Deriver::finish`]).
    pub fn drain(&mut self) -> Derived {
        Derived {
            chunks: std::mem::take(&mut self.d.chunks),
            commands: std::mem::take(&mut self.d.commands),
            keyframes: std::mem::take(&mut self.d.keyframes),
            ..Derived::default()
        }
    }

    pub fn finish(mut self) -> Derived {
        self.cut_chunk();
        if let Some(l) = self.line.pending() {
            self.d.commands.push((self.last_ts, l));
        }
        self.d
    }
}

/// Append the first `n` visible rows, joining wrapped rows; blank rows are
/// kept as single newlines only between text.
fn push_rows(out: &mut String, screen: &vt100::Screen, n: u16, cols: u16) {
    for (i, row) in screen.rows(0, cols).take(n as usize).enumerate() {
        let wrapped = screen.row_wrapped(i as u16);
        if wrapped {
            out.push_str(&row);
        } else {
            out.push_str(row.trim_end());
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
        }
    }
}

fn nz(v: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(v.max(1)).expect("at least 1")
}

/// Input bytes to submitted lines: printable text, erase keys (DEL, ^H,
/// ^U, ^W) applied, escape sequences (cursor keys) dropped, ^C discards.
/// History recall and completion happen in the shell and are not seen here;
/// the screen text has their result.
#[derive(Default)]
pub struct LineEditor {
    buf: Vec<u8>,
    esc: u8,
}

impl LineEditor {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            match self.esc {
                1 => {
                    self.esc = if b == b'[' || b == b'O' { 2 } else { 0 };
                    continue;
                }
                2 => {
                    if (0x40..=0x7e).contains(&b) {
                        self.esc = 0;
                    }
                    continue;
                }
                _ => {}
            }
            match b {
                0x1b => self.esc = 1,
                b'\r' | b'\n' => {
                    if let Some(l) = self.pending() {
                        lines.push(l);
                    }
                }
                0x7f | 0x08 => {
                    // Drop one UTF-8 character.
                    while let Some(c) = self.buf.pop() {
                        if c & 0xc0 != 0x80 {
                            break;
                        }
                    }
                }
                0x15 | 0x03 => self.buf.clear(),
                0x17 => {
                    while self.buf.last() == Some(&b' ') {
                        self.buf.pop();
                    }
                    while self.buf.last().is_some_and(|c| *c != b' ') {
                        self.buf.pop();
                    }
                }
                b'\t' => self.buf.push(b' '),
                c if c < 0x20 => {}
                c => self.buf.push(c),
            }
        }
        lines
    }

    /// The line typed so far, if any (taken).
    pub fn pending(&mut self) -> Option<String> {
        let l = String::from_utf8_lossy(&self.buf).trim().to_string();
        self.buf.clear();
        (!l.is_empty()).then_some(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlog_rs_format::{Encoder, RecHeader};

    #[test]
    fn time_field() {
        assert_eq!(time_ms("1795700846.847"), Some(1_795_700_846_847));
        assert_eq!(time_ms("12.5"), Some(12_500));
        assert_eq!(time_ms("12"), Some(12_000));
        assert_eq!(time_ms("x"), None);
    }

    #[test]
    fn line_editor() {
        let mut e = LineEditor::default();
        assert_eq!(e.feed(b"ls -l\r"), ["ls -l"]);
        assert_eq!(e.feed(b"rm -rf /tmpx\x7f/a\x1b[A\r"), ["rm -rf /tmp/a"]);
        assert_eq!(e.feed(b"secret\x15echo hi\rpartial"), ["echo hi"]);
        assert_eq!(e.feed(b"ly done\x17typed\x03\r\r"), Vec::<String>::new());
        assert_eq!(e.feed("caf\u{e9}\x7fe\n".as_bytes()), ["cafe"]);
    }

    /// Messages from the real encoder: `(ms, output)` steps, payload 64 so
    /// that text is split across many messages.
    pub(crate) fn encode(steps: &[(u64, &[u8])], input: &[(u64, &[u8])]) -> Vec<Message> {
        use std::time::{Duration, UNIX_EPOCH};
        let h = RecHeader {
            host: "h".into(),
            rec: "r".into(),
            user: "u".into(),
            term: "xterm".into(),
            session: 7,
        };
        let mut enc = Encoder::new(h, 64, UNIX_EPOCH + Duration::from_secs(1_000_000));
        enc.window(Duration::ZERO, 40, 5);
        let mut all: Vec<(u64, bool, &[u8])> = steps.iter().map(|(t, b)| (*t, true, *b)).collect();
        all.extend(input.iter().map(|(t, b)| (*t, false, *b)));
        all.sort_by_key(|x| x.0);
        for (t, out, b) in all {
            let d = Duration::from_millis(t);
            if out {
                enc.output(d, b)
            } else {
                enc.input(d, b)
            }
        }
        enc.flush();
        let mut v = vec![];
        while let Some(m) = enc.pop_message() {
            v.push(tlog_rs_format::parse_message(&m).unwrap());
        }
        v
    }

    fn derive(msgs: &[Message]) -> Derived {
        let mut d = Deriver::new();
        for m in msgs {
            d.message(m);
        }
        d.finish()
    }

    #[test]
    fn text_chunks_see_what_the_viewer_saw() {
        // A phrase split by colour escapes and packets, scrolled off a
        // 5-row screen, a wrapped long line, then a later chunk.
        let mut steps: Vec<(u64, &[u8])> = vec![
            (0, b"$ cat notes\r\nthe \x1b[31mmagic\x1b[0m wo"),
            (5, b"rd is here\r\n"),
        ];
        let filler = b"filler line\r\n";
        for i in 0..20 {
            steps.push((10 + i, filler));
        }
        let long = "x".repeat(35) + "wrapped-phrase\r\n";
        steps.push((40, long.as_bytes()));
        steps.push((20_000, b"late \x1b[1;1Hsecond chunk\r\n"));
        let msgs = encode(&steps, &[(1, b"cat notes\r"), (30_000, b"exit\r")]);
        assert!(msgs.len() > 5, "split across messages: {}", msgs.len());
        let d = derive(&msgs);
        assert_eq!(d.messages, msgs.len() as u64);
        assert_eq!((d.first_id, d.id_gaps), (Some(1), 0));
        assert_eq!(d.start_ms, Some(1_000_000_000));
        assert_eq!(d.last_ms, Some(1_000_030_000));
        assert_eq!(d.chunks.len(), 2, "{:?}", d.chunks);
        assert_eq!(d.chunks[0].t_ms, 0);
        assert!(
            d.chunks[0].text.contains("the magic word is here"),
            "{:?}",
            d.chunks[0]
        );
        assert!(
            d.chunks[0].text.contains("wrapped-phrase"),
            "{:?}",
            d.chunks[0]
        );
        assert_eq!(d.chunks[1].t_ms, 20_000);
        assert!(
            d.chunks[1].text.contains("second chunk"),
            "{:?}",
            d.chunks[1]
        );
        assert!(!d.chunks[1].text.contains("magic"), "{:?}", d.chunks[1]);
        assert_eq!(
            d.commands,
            [(1, "cat notes".to_string()), (30_000, "exit".to_string())]
        );
        assert_eq!(d.bytes_in, 15);
    }

    #[test]
    fn pipe_mode_newlines_end_lines() {
        let msgs = encode(&[(0, b"alpha\nbeta\r\ngamma\n"), (40_000, b"x\n")], &[]);
        let mut d = Deriver::new().pipe(true);
        for m in &msgs {
            d.message(m);
        }
        let d = d.finish();
        assert_eq!(d.chunks[0].text, "alpha\nbeta\ngamma");
        assert!(d.keyframes.is_empty());
        let d = derive(&msgs);
        assert_eq!(
            d.chunks[0].text, "alpha\n     beta\ngamma",
            "a terminal would show a staircase"
        );
        assert_eq!(d.keyframes.len(), 1);
    }

    #[test]
    fn draining_midway_loses_nothing() {
        let steps: Vec<(u64, Vec<u8>)> = (0..300u64)
            .map(|i| (i * 400, format!("line {i}\r\n").into_bytes()))
            .collect();
        let refs: Vec<(u64, &[u8])> = steps.iter().map(|(t, b)| (*t, &b[..])).collect();
        let msgs = encode(&refs, &[(5, b"ls\r")]);
        let whole = derive(&msgs);
        let mut d = Deriver::new();
        let mut parts = Derived::default();
        for (i, m) in msgs.iter().enumerate() {
            d.message(m);
            if i % 7 == 3 {
                assert!(d.pending_bytes() < 1 << 20);
                let p = d.drain();
                parts.chunks.extend(p.chunks);
                parts.commands.extend(p.commands);
                parts.keyframes.extend(p.keyframes);
            }
        }
        let last = d.finish();
        parts.chunks.extend(last.chunks.iter().cloned());
        parts.commands.extend(last.commands.iter().cloned());
        parts.keyframes.extend(last.keyframes.iter().cloned());
        assert!(whole.chunks.len() > 3 && whole.keyframes.len() > 2);
        assert_eq!(parts.chunks, whole.chunks);
        assert_eq!(parts.commands, whole.commands);
        assert_eq!(parts.keyframes, whole.keyframes);
        assert_eq!(
            (last.messages, last.bytes_out),
            (whole.messages, whole.bytes_out)
        );
    }

    #[test]
    fn gaps_count_missing_ids() {
        let steps: Vec<(u64, &[u8])> = (0..40)
            .map(|i| (i * 10, &b"0123456789abcdef\r\n"[..]))
            .collect();
        let mut msgs = encode(&steps, &[]);
        assert!(msgs.len() > 6);
        msgs.remove(3);
        msgs.remove(0);
        let d = derive(&msgs);
        assert_eq!((d.first_id, d.id_gaps), (Some(2), 2));
    }

    #[test]
    fn keyframes_restore_the_screen() {
        let mut steps: Vec<(u64, Vec<u8>)> = Vec::new();
        for i in 0..1000u64 {
            let s = format!(
                "\x1b[{};1H\x1b[3{}mrow {i} {}\x1b[0m\r\n",
                i % 5 + 1,
                i % 8,
                "y".repeat((i % 30) as usize)
            );
            steps.push((i * 100, s.into_bytes()));
        }
        let refs: Vec<(u64, &[u8])> = steps.iter().map(|(t, b)| (*t, &b[..])).collect();
        let msgs = encode(&refs, &[]);
        let d = derive(&msgs);
        assert!(d.keyframes.len() >= 2, "every 30 s: {}", d.keyframes.len());
        // Each keyframe, painted on a fresh emulator, equals a straight
        // replay up to that packet.
        for kf in &d.keyframes {
            let mut straight = vt100::Parser::new(nz(24), nz(80), 0);
            'outer: for m in &msgs {
                for (i, p) in m.decode().0.into_iter().enumerate() {
                    match p.data {
                        PacketData::Output(b) => straight.process(&b),
                        PacketData::Window { cols, rows } => {
                            apply_window(&mut straight, cols, rows)
                        }
                        _ => {}
                    }
                    if m.id == kf.msg_id && i as u32 == kf.packet {
                        break 'outer;
                    }
                }
            }
            let mut fresh = vt100::Parser::new(nz(kf.rows), nz(kf.cols), 0);
            fresh.process(&kf.screen);
            assert_eq!(
                fresh.screen().contents_formatted(),
                straight.screen().contents_formatted()
            );
            assert_eq!(
                fresh.screen().cursor_position(),
                straight.screen().cursor_position()
            );
        }
    }
}
