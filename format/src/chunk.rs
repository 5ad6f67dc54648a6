//! The message under construction (tlog's "chunk" with its two "streams"):
//! run bookkeeping, payload reservation and the timing string. The C code's
//! transactions are replaced by computing the full cost of a step before
//! mutating anything, plus [`Mark`]s to undo the rare multi-step writes.

use crate::charset::latin1_char;
use crate::escape::{byte_dec_len, dec_len, push_byte_dec, push_escaped_ascii, push_u64, ESC_LEN};
use crate::utf8::{lead_info, Utf8};

pub(crate) const NS_PER_MS: u64 = 1_000_000;
/// U+FFFD, written raw for each invalid sequence.
const REPLACEMENT: [u8; 3] = [0xef, 0xbf, 0xbd];
pub(crate) const INPUT: usize = 0;
pub(crate) const OUTPUT: usize = 1;

/// Where the last window size stands relative to the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowState {
    /// No window packet seen yet.
    Unknown,
    /// Known, but not yet written in the current message: the first
    /// reservation of a message pays for repeating it.
    Known,
    /// Written in the current message.
    Written,
}

/// One direction (input or output) of the current message.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    pub(crate) valid_mark: u8,
    pub(crate) invalid_mark: u8,
    /// Character being assembled; survives message boundaries.
    pub(crate) utf8: Utf8,
    /// Timestamp of the last byte added to `utf8`.
    pub(crate) ts: u64,
    pub(crate) txt: Vec<u8>,
    /// Characters in the open run, and the run length at which its count
    /// gains a digit (10, 100, ...).
    pub(crate) txt_run: u64,
    pub(crate) txt_dig: u64,
    pub(crate) bin: Vec<u8>,
    pub(crate) bin_run: u64,
    pub(crate) bin_dig: u64,
}

impl Stream {
    pub(crate) fn new(valid_mark: u8, invalid_mark: u8, size: usize) -> Stream {
        Stream {
            valid_mark,
            invalid_mark,
            utf8: Utf8::default(),
            ts: 0,
            txt: Vec::with_capacity(size),
            txt_run: 0,
            txt_dig: 10,
            bin: Vec::with_capacity(size),
            bin_run: 0,
            bin_dig: 10,
        }
    }

    /// Closes the open run, writing its timing record (space was reserved
    /// as the run grew).
    pub(crate) fn close_run(&mut self, timing: &mut Vec<u8>) {
        if self.txt_run != 0 {
            timing.push(if self.bin_run == 0 {
                self.valid_mark
            } else {
                self.invalid_mark
            });
            push_u64(timing, self.txt_run);
        }
        if self.bin_run != 0 {
            timing.push(b'/');
            push_u64(timing, self.bin_run);
        }
        self.txt_run = 0;
        self.bin_run = 0;
    }
}

/// Message under construction (tlog's "chunk").
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) size: usize,
    pub(crate) rem: usize,
    pub(crate) timing: Vec<u8>,
    pub(crate) streams: [Stream; 2],
    pub(crate) got_ts: bool,
    pub(crate) first_ts: u64,
    pub(crate) last_ts: u64,
    /// Latest time reached by the previous message; see `advance`.
    pub(crate) floor_ts: u64,
    pub(crate) window: WindowState,
    pub(crate) cols: u16,
    pub(crate) rows: u16,
}

/// Scalar state of one stream, for rolling back.
#[derive(Debug, Clone, Copy)]
struct StreamMark {
    pub(crate) utf8: Utf8,
    ts: u64,
    txt_len: usize,
    txt_run: u64,
    txt_dig: u64,
    bin_len: usize,
    bin_run: u64,
    bin_dig: u64,
}

/// Everything needed to undo writes to a chunk (its buffers only grow
/// between a mark and a rollback), without copying the buffers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    rem: usize,
    timing_len: usize,
    streams: [StreamMark; 2],
    got_ts: bool,
    first_ts: u64,
    last_ts: u64,
    window: WindowState,
    cols: u16,
    rows: u16,
}

fn window_len(cols: u16, rows: u16) -> usize {
    2 + dec_len(cols as u64) + dec_len(rows as u64)
}

fn push_window(timing: &mut Vec<u8>, cols: u16, rows: u16) {
    timing.push(b'=');
    push_u64(timing, cols as u64);
    timing.push(b'x');
    push_u64(timing, rows as u64);
}

impl Chunk {
    pub(crate) fn new(size: usize) -> Chunk {
        Chunk {
            size,
            rem: size,
            timing: Vec::with_capacity(size),
            streams: [Stream::new(b'<', b'[', size), Stream::new(b'>', b']', size)],
            got_ts: false,
            first_ts: 0,
            last_ts: 0,
            floor_ts: 0,
            window: WindowState::Unknown,
            cols: 0,
            rows: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rem >= self.size
    }

    pub(crate) fn mark(&self) -> Mark {
        let sm = |st: &Stream| StreamMark {
            utf8: st.utf8,
            ts: st.ts,
            txt_len: st.txt.len(),
            txt_run: st.txt_run,
            txt_dig: st.txt_dig,
            bin_len: st.bin.len(),
            bin_run: st.bin_run,
            bin_dig: st.bin_dig,
        };
        Mark {
            rem: self.rem,
            timing_len: self.timing.len(),
            streams: [sm(&self.streams[0]), sm(&self.streams[1])],
            got_ts: self.got_ts,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            window: self.window,
            cols: self.cols,
            rows: self.rows,
        }
    }

    /// True if the chunk held anything when `m` was taken.
    pub(crate) fn was_nonempty(&self, m: &Mark) -> bool {
        m.rem < self.size
    }

    pub(crate) fn rollback(&mut self, m: Mark) {
        self.rem = m.rem;
        self.timing.truncate(m.timing_len);
        for (st, sm) in self.streams.iter_mut().zip(m.streams) {
            st.utf8 = sm.utf8;
            st.ts = sm.ts;
            st.txt.truncate(sm.txt_len);
            st.txt_run = sm.txt_run;
            st.txt_dig = sm.txt_dig;
            st.bin.truncate(sm.bin_len);
            st.bin_run = sm.bin_run;
            st.bin_dig = sm.bin_dig;
        }
        self.got_ts = m.got_ts;
        self.first_ts = m.first_ts;
        self.last_ts = m.last_ts;
        self.window = m.window;
        self.cols = m.cols;
        self.rows = m.rows;
    }

    /// Delay in whole ms that advancing to `ts` would record (sub-ms
    /// remainders are dropped, like tlog).
    #[inline]
    pub(crate) fn delay_ms(&self, ts: u64) -> u64 {
        if self.got_ts && ts > self.last_ts {
            (ts - self.last_ts) / NS_PER_MS
        } else {
            0
        }
    }

    /// Moves time to `ts`; with a non-zero delay, closes both runs and
    /// writes the delay record. Space must have been checked by the caller.
    pub(crate) fn advance(&mut self, ts: u64, delay_ms: u64) {
        if !self.got_ts {
            // Deliberate deviation from tlog: a broken or cut character keeps
            // the time of its last byte, which may predate the previous
            // message; tlog then writes a `pos` that goes back and tlog-play
            // rejects the log ("Packet timestamp is out of order").
            let ts = ts.max(self.floor_ts);
            self.got_ts = true;
            self.first_ts = ts;
            self.last_ts = ts;
        } else if ts > self.last_ts {
            self.last_ts = ts;
        }
        if delay_ms > 0 {
            let [input, output] = &mut self.streams;
            input.close_run(&mut self.timing);
            output.close_run(&mut self.timing);
        }
        if self.window == WindowState::Known {
            // First reservation of this message: repeat the known size.
            push_window(&mut self.timing, self.cols, self.rows);
            self.window = WindowState::Written;
        }
        if delay_ms > 0 {
            self.timing.push(b'+');
            push_u64(&mut self.timing, delay_ms);
        }
    }

    /// Writes one character (valid) or one invalid sequence to stream `s`,
    /// or nothing if it does not fit.
    pub(crate) fn write_seq(&mut self, s: usize, ts: u64, valid: bool, seq: &[u8]) -> bool {
        if seq.is_empty() {
            return true;
        }
        let st = &self.streams[s];
        // The run switches between text and binary.
        let cut = valid == (st.bin_run != 0);
        let delay_ms = self.delay_ms(ts);
        let (mut txt_run, mut txt_dig, mut bin_run, mut bin_dig) = if cut || delay_ms > 0 {
            (0, 10, 0, 10)
        } else {
            (st.txt_run, st.txt_dig, st.bin_run, st.bin_dig)
        };

        let mut cost = 0;
        if delay_ms > 0 {
            cost += 1 + dec_len(delay_ms);
        }
        if self.window == WindowState::Known {
            cost += window_len(self.cols, self.rows);
        }
        if txt_run == 0 {
            cost += 2;
            txt_dig = 10;
        }
        txt_run += 1;
        if txt_run >= txt_dig {
            cost += 1;
            txt_dig *= 10;
        }
        if valid {
            cost += if seq.len() > 1 {
                seq.len()
            } else {
                ESC_LEN[seq[0] as usize] as usize
            };
        } else {
            cost += REPLACEMENT.len();
            if bin_run == 0 {
                cost += 2;
                bin_dig = 10;
            }
            let mut bin_len = st.bin.len();
            for &b in seq {
                bin_run += 1;
                if bin_run >= bin_dig {
                    cost += 1;
                    bin_dig *= 10;
                }
                if bin_len > 0 {
                    cost += 1;
                }
                let l = byte_dec_len(b);
                cost += l;
                bin_len += l;
            }
        }
        if cost > self.rem {
            return false;
        }

        if cut {
            self.streams[s].close_run(&mut self.timing);
        }
        self.advance(ts, delay_ms);
        self.rem -= cost;
        let st = &mut self.streams[s];
        st.txt_run = txt_run;
        st.txt_dig = txt_dig;
        if valid {
            if seq.len() > 1 {
                st.txt.extend_from_slice(seq);
            } else {
                push_escaped_ascii(&mut st.txt, seq[0]);
            }
        } else {
            st.txt.extend_from_slice(&REPLACEMENT);
            st.bin_run = bin_run;
            st.bin_dig = bin_dig;
            for &b in seq {
                let comma = !st.bin.is_empty();
                push_byte_dec(&mut st.bin, comma, b);
            }
        }
        true
    }

    /// Feeds bytes to stream `s`; returns how many were consumed (an
    /// incomplete trailing character counts as consumed: it stays pending).
    pub(crate) fn write_io(&mut self, s: usize, ts: u64, data: &[u8]) -> usize {
        let n = data.len();
        let mut i = 0;
        while i < n {
            // Fast path: the current time slot (no delay to write, window
            // already written), nothing pending.
            if self.streams[s].utf8.is_empty()
                && self.got_ts
                && ts <= self.last_ts
                && self.window != WindowState::Known
            {
                let start = i;
                let fits = self.fast_same_slot::<false>(s, data, &mut i);
                if i > start {
                    self.streams[s].ts = ts;
                }
                if !fits {
                    return i;
                }
                if i == n {
                    break;
                }
            }

            // General path: one character or invalid sequence.
            if self.streams[s].utf8.is_empty() {
                // Nothing pending: classify straight from the data.
                let Some((need, mut lo, mut hi)) = lead_info(data[i]) else {
                    // Invalid lead byte: one invalid sequence of that byte
                    // (not "added", so the stream time stays).
                    if !self.write_seq(s, ts, false, &data[i..i + 1]) {
                        return i;
                    }
                    i += 1;
                    continue;
                };
                let mut k = 1;
                while k < need as usize {
                    let Some(&c) = data.get(i + k) else {
                        // Incomplete at the end of the packet: keep pending.
                        let st = &mut self.streams[s];
                        for &c in &data[i..] {
                            st.utf8.add(c);
                        }
                        st.ts = ts;
                        return n;
                    };
                    if c < lo || c > hi {
                        break;
                    }
                    (lo, hi) = (0x80, 0xbf);
                    k += 1;
                }
                // Complete, or broken (the breaking byte is examined again
                // as the start of the next sequence).
                if !self.write_seq(s, ts, k == need as usize, &data[i..i + k]) {
                    return i;
                }
                self.streams[s].ts = ts;
                i += k;
                continue;
            }

            // A character pending from an earlier packet.
            let start = i;
            let saved = (self.streams[s].utf8, self.streams[s].ts);
            loop {
                if i == n {
                    // Input exhausted; an incomplete character stays pending.
                    return n;
                }
                let st = &mut self.streams[s];
                if st.utf8.add(data[i]) {
                    i += 1;
                    st.ts = ts;
                }
                if st.utf8.is_ended() {
                    break;
                }
            }
            let u = self.streams[s].utf8;
            // Complete, or broken by a byte of this packet (examined again
            // next). Never empty: it held bytes before this packet.
            let seq_ts = self.streams[s].ts;
            if !self.write_seq(s, seq_ts, u.is_complete(), u.bytes()) {
                let st = &mut self.streams[s];
                st.utf8 = saved.0;
                st.ts = saved.1;
                return start;
            }
            self.streams[s].utf8.reset();
        }
        n
    }

    /// As [`Chunk::write_io`] for ISO-8859-1 bytes: each byte is one whole
    /// character (code point = byte), written in its UTF-8 form, so nothing
    /// is ever pending. Converting inside the encoder saves a pass over the
    /// data and a buffer (bench/rec.sh, charset part).
    pub(crate) fn write_latin1(&mut self, s: usize, ts: u64, data: &[u8]) -> usize {
        debug_assert!(
            self.streams[s].utf8.is_empty(),
            "UTF-8 pending in a Latin-1 stream"
        );
        let n = data.len();
        let mut i = 0;
        while i < n {
            if self.got_ts && ts <= self.last_ts && self.window != WindowState::Known {
                let start = i;
                let fits = self.fast_same_slot::<true>(s, data, &mut i);
                if i > start {
                    self.streams[s].ts = ts;
                }
                if !fits {
                    return i;
                }
                if i == n {
                    break;
                }
            }
            let (utf8, len) = latin1_char(data[i]);
            if !self.write_seq(s, ts, true, &utf8[..len]) {
                return i;
            }
            self.streams[s].ts = ts;
            i += 1;
        }
        n
    }

    /// Writes whole sequences from `data[*i..]` to stream `s` when no delay
    /// and no window are due: `write_seq` specialised for that case, with
    /// plain ASCII copied in batches. Stops before a sequence left
    /// incomplete by the end of `data` (the general path keeps it pending).
    /// Returns false if a sequence did not fit. With `LATIN1`, every byte
    /// is a whole ISO-8859-1 character instead.
    pub(crate) fn fast_same_slot<const LATIN1: bool>(
        &mut self,
        s: usize,
        data: &[u8],
        i: &mut usize,
    ) -> bool {
        let Chunk {
            streams,
            timing,
            rem,
            ..
        } = self;
        let st = &mut streams[s];
        let mut r = *rem;
        let n = data.len();
        let mut fits = true;
        while *i < n {
            let b = data[*i];
            let (valid, k) = if b < 0x80 {
                if st.bin_run == 0 && st.txt_run != 0 {
                    // Plain characters the run can take before its count
                    // gains a digit: copy them in one go.
                    let before_grow = (st.txt_dig - 1 - st.txt_run) as usize;
                    let limit = before_grow.min(r).min(n - *i);
                    let plain = data[*i..*i + limit]
                        .iter()
                        .position(|&c| c >= 0x80 || ESC_LEN[c as usize] != 1)
                        .unwrap_or(limit);
                    if plain > 0 {
                        st.txt.extend_from_slice(&data[*i..*i + plain]);
                        st.txt_run += plain as u64;
                        r -= plain;
                        *i += plain;
                        continue;
                    }
                }
                (true, 1)
            } else if LATIN1 {
                (true, 1)
            } else {
                match lead_info(b) {
                    None => (false, 1),
                    Some((need, mut lo, mut hi)) => {
                        let need = need as usize;
                        let mut k = 1;
                        while k < need {
                            match data.get(*i + k) {
                                None => {
                                    *rem = r;
                                    return true;
                                }
                                Some(&c) if c >= lo && c <= hi => {
                                    (lo, hi) = (0x80, 0xbf);
                                    k += 1;
                                }
                                Some(_) => break,
                            }
                        }
                        (k == need, k)
                    }
                }
            };
            let latin1;
            let seq = if LATIN1 && b >= 0x80 {
                latin1 = latin1_char(b).0;
                &latin1[..]
            } else {
                &data[*i..*i + k]
            };

            // Cost, as in write_seq without delay and window.
            let cut = valid == (st.bin_run != 0);
            let (mut txt_run, mut txt_dig, mut bin_run, mut bin_dig) = if cut {
                (0, 10, 0, 10)
            } else {
                (st.txt_run, st.txt_dig, st.bin_run, st.bin_dig)
            };
            let mut cost = 0;
            if txt_run == 0 {
                cost += 2;
                txt_dig = 10;
            }
            txt_run += 1;
            if txt_run >= txt_dig {
                cost += 1;
                txt_dig *= 10;
            }
            if valid {
                cost += if seq.len() > 1 {
                    seq.len()
                } else {
                    ESC_LEN[b as usize] as usize
                };
            } else {
                cost += REPLACEMENT.len();
                if bin_run == 0 {
                    cost += 2;
                    bin_dig = 10;
                }
                let mut comma = !st.bin.is_empty();
                for &c in seq {
                    bin_run += 1;
                    if bin_run >= bin_dig {
                        cost += 1;
                        bin_dig *= 10;
                    }
                    cost += comma as usize + byte_dec_len(c);
                    comma = true;
                }
            }
            if cost > r {
                fits = false;
                break;
            }

            if cut {
                st.close_run(timing);
            }
            r -= cost;
            (st.txt_run, st.txt_dig) = (txt_run, txt_dig);
            if valid {
                if seq.len() > 1 {
                    st.txt.extend_from_slice(seq);
                } else {
                    push_escaped_ascii(&mut st.txt, b);
                }
            } else {
                (st.bin_run, st.bin_dig) = (bin_run, bin_dig);
                st.txt.extend_from_slice(&REPLACEMENT);
                for &c in seq {
                    let comma = !st.bin.is_empty();
                    push_byte_dec(&mut st.bin, comma, c);
                }
            }
            *i += k;
        }
        *rem = r;
        fits
    }

    pub(crate) fn write_window(&mut self, ts: u64, cols: u16, rows: u16) -> bool {
        if self.window != WindowState::Unknown && cols == self.cols && rows == self.rows {
            return true;
        }
        let delay_ms = self.delay_ms(ts);
        let mut cost = window_len(cols, rows);
        if delay_ms > 0 {
            cost += 1 + dec_len(delay_ms);
            if self.window == WindowState::Known {
                cost += window_len(self.cols, self.rows);
            }
        }
        if cost > self.rem {
            return false;
        }
        let [input, output] = &mut self.streams;
        input.close_run(&mut self.timing);
        output.close_run(&mut self.timing);
        if delay_ms == 0 && self.window == WindowState::Known {
            // The new size replaces the repeat of the old one.
            self.window = WindowState::Written;
        }
        self.advance(ts, delay_ms);
        self.rem -= cost;
        push_window(&mut self.timing, cols, rows);
        self.window = WindowState::Written;
        self.cols = cols;
        self.rows = rows;
        true
    }

    /// Writes the pending incomplete character of stream `s` as invalid.
    pub(crate) fn cut_stream(&mut self, s: usize) -> bool {
        let st = &self.streams[s];
        if st.utf8.is_empty() {
            return true;
        }
        let (u, ts) = (st.utf8, st.ts);
        if self.write_seq(s, ts, false, u.bytes()) {
            self.streams[s].utf8.reset();
            true
        } else {
            false
        }
    }

    /// Starts a new message, keeping pending characters and window size.
    pub(crate) fn empty(&mut self) {
        self.rem = self.size;
        self.timing.clear();
        for st in &mut self.streams {
            st.txt.clear();
            st.bin.clear();
            st.txt_run = 0;
            st.bin_run = 0;
        }
        if self.got_ts {
            self.floor_ts = self.last_ts;
        }
        self.got_ts = false;
        self.first_ts = 0;
        self.last_ts = 0;
        if self.window == WindowState::Written {
            self.window = WindowState::Known;
        }
    }
}
