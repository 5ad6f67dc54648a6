//! Message writer, a re-implementation of tlog 12.1's json_sink / json_chunk /
//! json_stream trio. Every rule that decides bytes on the wire (run closing,
//! delay truncation, payload reservation, window repetition) follows the C
//! code's observable behaviour. This file holds the message framing (header,
//! `pos`, `time`, ids) and packet splitting; chunk.rs the payload.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::chunk::{Chunk, INPUT, NS_PER_MS, OUTPUT};
use crate::escape::{push_escaped_str, push_u64};

/// Smallest payload tlog accepts; smaller values are clamped up to it.
pub const MIN_PAYLOAD: usize = 32;

/// The per-recording fields repeated in every message (written escaped,
/// as tlog does).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecHeader {
    pub host: String,
    pub rec: String,
    pub user: String,
    pub term: String,
    /// Audit session id; tlog-play rejects 0 (4294967295 means "no audit").
    pub session: u32,
}

/// Builds tlog messages from I/O packets.
///
/// Timestamps `t` are monotonic time since an origin chosen by the caller;
/// `origin_real` is the wall-clock time at that origin. A timestamp earlier
/// than the previous one is treated as equal to it.
#[derive(Debug, Clone)]
pub struct Encoder {
    chunk: Chunk,
    /// `{"ver":"2.3",...,"session":N,"id":`
    prefix: Vec<u8>,
    next_id: u64,
    origin_real_ns: u128,
    /// Timestamp of the first packet of the recording (`pos` origin).
    start: Option<u64>,
    last_stamp: u64,
    done: VecDeque<Vec<u8>>,
}

impl Encoder {
    /// `payload` is the maximum size of the encoded `timing` + text + binary
    /// fields of one message; values below [`MIN_PAYLOAD`] are clamped up to
    /// it (never panics).
    pub fn new(header: RecHeader, payload: usize, origin_real: SystemTime) -> Encoder {
        let payload = payload.max(MIN_PAYLOAD);
        let mut prefix = Vec::with_capacity(128);
        prefix.extend_from_slice(b"{\"ver\":\"2.3\",\"host\":\"");
        push_escaped_str(&mut prefix, &header.host);
        prefix.extend_from_slice(b"\",\"rec\":\"");
        push_escaped_str(&mut prefix, &header.rec);
        prefix.extend_from_slice(b"\",\"user\":\"");
        push_escaped_str(&mut prefix, &header.user);
        prefix.extend_from_slice(b"\",\"term\":\"");
        push_escaped_str(&mut prefix, &header.term);
        prefix.extend_from_slice(b"\",\"session\":");
        push_u64(&mut prefix, header.session as u64);
        prefix.extend_from_slice(b",\"id\":");
        Encoder {
            chunk: Chunk::new(payload),
            prefix,
            next_id: 1,
            origin_real_ns: origin_real
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
            start: None,
            last_stamp: 0,
            done: VecDeque::new(),
        }
    }

    /// The payload limit in effect (after clamping).
    pub fn payload(&self) -> usize {
        self.chunk.size
    }

    /// The id the next finished message will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    fn stamp(&mut self, t: Duration) -> u64 {
        let ns = u64::try_from(t.as_nanos())
            .unwrap_or(u64::MAX)
            .max(self.last_stamp);
        self.last_stamp = ns;
        if self.start.is_none() {
            self.start = Some(ns);
        }
        ns
    }

    fn io(&mut self, s: usize, t: Duration, data: &[u8]) {
        self.write_stream(s, t, data, Chunk::write_io)
    }

    /// Writes `data` to stream `s` through `write` (UTF-8 or Latin-1),
    /// closing messages as they fill.
    fn write_stream(
        &mut self,
        s: usize,
        t: Duration,
        data: &[u8],
        write: impl Fn(&mut Chunk, usize, u64, &[u8]) -> usize,
    ) {
        if data.is_empty() {
            return;
        }
        let ts = self.stamp(t);
        let mut pos = 0;
        loop {
            // A pending character broken by the packet's first byte is
            // written without consuming any byte of the packet; tlog undoes
            // that write if nothing else fits, so keep a way back.
            let backup = (!self.chunk.streams[s].utf8.is_empty()).then(|| self.chunk.mark());
            let n = write(&mut self.chunk, s, ts, &data[pos..]);
            pos += n;
            if pos == data.len() {
                break;
            }
            if n == 0 {
                if let Some(backup) = backup {
                    // In an empty message tlog would retry forever; keep the
                    // progress instead.
                    if self.chunk.was_nonempty(&backup) {
                        self.chunk.rollback(backup);
                    }
                }
                if self.chunk.is_empty() {
                    // Unreachable with payload >= 32 (a step costs at most
                    // 30); never loop forever on it.
                    debug_assert!(false, "step larger than an empty message");
                    pos += 1;
                    if pos == data.len() {
                        break;
                    }
                    continue;
                }
            }
            self.flush();
        }
    }

    /// Records terminal input read at `t`.
    pub fn input(&mut self, t: Duration, data: &[u8]) {
        self.io(INPUT, t, data)
    }

    /// Records terminal output written at `t`.
    pub fn output(&mut self, t: Duration, data: &[u8]) {
        self.io(OUTPUT, t, data)
    }

    /// Records terminal input read at `t` from an ISO-8859-1 terminal: each
    /// byte is one character, recorded as UTF-8 (the same messages as
    /// [`Encoder::input`] of the converted text). Do not mix with
    /// [`Encoder::input`] on one stream: a pending UTF-8 character would be
    /// passed.
    pub fn input_latin1(&mut self, t: Duration, data: &[u8]) {
        self.write_stream(INPUT, t, data, Chunk::write_latin1)
    }

    /// As [`Encoder::input_latin1`], for the output.
    pub fn output_latin1(&mut self, t: Duration, data: &[u8]) {
        self.write_stream(OUTPUT, t, data, Chunk::write_latin1)
    }

    /// Records `bytes` read at `t` as one invalid sequence of the input
    /// (one U+FFFD in `in_txt`, the bytes in `in_bin`), as an invalid UTF-8
    /// sequence is recorded. For callers that decode another charset to
    /// UTF-8 themselves and pass the text to [`Encoder::input`]: they never
    /// leave an incomplete UTF-8 character pending, so the order holds.
    pub fn input_invalid(&mut self, t: Duration, bytes: &[u8]) {
        self.invalid(INPUT, t, bytes)
    }

    /// As [`Encoder::input_invalid`], for the output.
    pub fn output_invalid(&mut self, t: Duration, bytes: &[u8]) {
        self.invalid(OUTPUT, t, bytes)
    }

    fn invalid(&mut self, s: usize, t: Duration, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let ts = self.stamp(t);
        // A malformed sequence of a multi-byte charset is at most 4 bytes
        // (encoding_rs); longer input is cut into such pieces.
        for seq in bytes.chunks(4) {
            while !self.chunk.write_seq(s, ts, false, seq) {
                if self.chunk.is_empty() {
                    // Payload 32 and a very wide window: one byte always fits.
                    for b in seq.chunks(1) {
                        while !self.chunk.write_seq(s, ts, false, b) && !self.chunk.is_empty() {
                            self.flush();
                        }
                    }
                    break;
                }
                self.flush();
            }
        }
    }

    /// Records the window size at `t` (repeats of the last size are dropped).
    pub fn window(&mut self, t: Duration, cols: u16, rows: u16) {
        let ts = self.stamp(t);
        while !self.chunk.write_window(ts, cols, rows) {
            if self.chunk.is_empty() {
                debug_assert!(false, "window larger than an empty message");
                return;
            }
            self.flush();
        }
    }

    /// Closes the current message, if it holds anything, making it available
    /// to [`Encoder::pop_message`]. A pending incomplete UTF-8 character is
    /// not part of it: it stays pending (see [`Encoder::cut`]).
    pub fn flush(&mut self) {
        let c = &mut self.chunk;
        if c.is_empty() {
            return;
        }
        let [input, output] = &mut c.streams;
        input.close_run(&mut c.timing);
        output.close_run(&mut c.timing);

        let start = self.start.unwrap_or(c.first_ts);
        let pos_ms = c.first_ts.saturating_sub(start) / NS_PER_MS;
        let real = self.origin_real_ns + c.first_ts as u128;
        let secs = (real / 1_000_000_000) as u64;
        let ms = (real % 1_000_000_000) as u64 / NS_PER_MS;

        let mut m = Vec::with_capacity(self.prefix.len() + 160 + c.size);
        m.extend_from_slice(&self.prefix);
        push_u64(&mut m, self.next_id);
        m.extend_from_slice(b",\"pos\":");
        push_u64(&mut m, pos_ms);
        m.extend_from_slice(b",\"time\":");
        push_u64(&mut m, secs);
        m.push(b'.');
        m.extend_from_slice(&[
            b'0' + (ms / 100) as u8,
            b'0' + (ms / 10 % 10) as u8,
            b'0' + (ms % 10) as u8,
        ]);
        m.extend_from_slice(b",\"timing\":\"");
        m.extend_from_slice(&c.timing);
        m.extend_from_slice(b"\",\"in_txt\":\"");
        m.extend_from_slice(&c.streams[INPUT].txt);
        m.extend_from_slice(b"\",\"in_bin\":[");
        m.extend_from_slice(&c.streams[INPUT].bin);
        m.extend_from_slice(b"],\"out_txt\":\"");
        m.extend_from_slice(&c.streams[OUTPUT].txt);
        m.extend_from_slice(b"\",\"out_bin\":[");
        m.extend_from_slice(&c.streams[OUTPUT].bin);
        m.extend_from_slice(b"]}\n");
        self.done.push_back(m);
        self.next_id += 1;
        c.empty();
    }

    /// End of recording: pending incomplete UTF-8 characters become invalid
    /// sequences (may finish a message if they do not fit). Call
    /// [`Encoder::flush`] afterwards to close the last message.
    pub fn cut(&mut self) {
        loop {
            let backup = self.chunk.mark();
            if self.chunk.cut_stream(INPUT) && self.chunk.cut_stream(OUTPUT) {
                return;
            }
            // Both or neither, like tlog's transaction.
            self.chunk.rollback(backup);
            if self.chunk.is_empty() {
                // Both do not fit even in an empty message (tiny payload,
                // wide window): tlog would retry forever; cut one at a time.
                for s in [INPUT, OUTPUT] {
                    if !self.chunk.cut_stream(s) {
                        self.flush();
                        if !self.chunk.cut_stream(s) {
                            debug_assert!(false, "cut larger than an empty message");
                            self.chunk.streams[s].utf8.reset();
                        }
                    }
                }
                return;
            }
            self.flush();
        }
    }

    /// Next finished message line (`{...}\n`), in id order.
    pub fn pop_message(&mut self) -> Option<Vec<u8>> {
        self.done.pop_front()
    }

    /// True if the current message holds data that [`Encoder::flush`] would
    /// write (what tlog's latency timer waits for).
    pub fn has_unflushed(&self) -> bool {
        !self.chunk.is_empty()
    }
}
