//! Streaming reader with tlog-play's stream checks (json_source.c,
//! fd_json_reader.c).

use std::collections::VecDeque;
use std::io::BufRead;

use crate::error::{ParseError, ReadError};
use crate::message::{Message, Packet, PacketData};
use crate::parse::parse_message;

/// Streaming reader over a tlog JSON log: one message per line, blank lines
/// skipped. [`Reader::next_packet`] enforces tlog-play's checks: message ids
/// exactly +1 (with `lax`: only increasing), packet timestamps never going
/// back, identical repeated window packets suppressed.
pub struct Reader<R: BufRead> {
    r: R,
    lax: bool,
    follow: bool,
    rec: Option<String>,
    /// Lines consumed so far.
    line: u64,
    buf: Vec<u8>,
    last_id: Option<u64>,
    last_ts: Option<u64>,
    last_window: Option<(u16, u16)>,
    queue: VecDeque<Packet>,
    pending_err: Option<ReadError>,
}

fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
}

impl<R: BufRead> Reader<R> {
    pub fn new(r: R) -> Self {
        Reader {
            r,
            lax: false,
            follow: false,
            rec: None,
            line: 0,
            buf: Vec::with_capacity(8192),
            last_id: None,
            last_ts: None,
            last_window: None,
            queue: VecDeque::new(),
            pending_err: None,
        }
    }

    /// Accept gaps in message ids (ids must still increase), like `--lax`.
    pub fn lax(mut self, lax: bool) -> Self {
        self.lax = lax;
        self
    }

    /// Keep only messages whose `rec` is this one; messages without `rec`
    /// match too, as in tlog.
    pub fn match_rec(mut self, rec: Option<String>) -> Self {
        self.rec = rec;
        self
    }

    /// For following a growing file: a last line without its newline is
    /// kept and completed by a later call instead of being an error.
    pub fn follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }

    /// Number of lines consumed so far.
    pub fn line(&self) -> u64 {
        self.line
    }

    fn err(&self, line: u64, error: ParseError) -> ReadError {
        ReadError { line, error }
    }

    /// Next raw message (after `rec` matching) with its line number; no
    /// stream checks. `Ok(None)` at the end of the data for now.
    pub fn next_message(&mut self) -> Result<Option<(u64, Message)>, ReadError> {
        loop {
            // `buf` may hold the start of a line from an earlier call (follow).
            self.r.read_until(b'\n', &mut self.buf).map_err(|e| {
                self.err(
                    self.line + 1,
                    ParseError::new(None, format!("read error: {e}")),
                )
            })?;
            if self.buf.is_empty() {
                return Ok(None);
            }
            let complete = self.buf.last() == Some(&b'\n');
            if !complete && self.follow {
                // Partial line at the current end of a growing file.
                return Ok(None);
            }
            self.line += 1;
            let line = self.line;
            let buf = std::mem::take(&mut self.buf);
            let result = if is_blank(&buf) {
                None
            } else {
                Some(parse_message(&buf))
            };
            self.buf = buf;
            self.buf.clear();
            match result {
                None => continue,
                Some(Err(e)) => return Err(self.err(line, e)),
                Some(Ok(msg)) => {
                    if let (Some(want), Some(got)) = (&self.rec, &msg.rec) {
                        if want != got {
                            continue;
                        }
                    }
                    return Ok(Some((line, msg)));
                }
            }
        }
    }

    /// Next packet to play. `Ok(None)` at the end of the data for now; a
    /// later call returns more if the input grew.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, ReadError> {
        loop {
            if let Some(p) = self.queue.pop_front() {
                return Ok(Some(p));
            }
            if let Some(e) = self.pending_err.take() {
                return Err(e);
            }
            let Some((line, msg)) = self.next_message()? else {
                return Ok(None);
            };
            if let Some(last) = self.last_id {
                let ok = if self.lax {
                    msg.id > last
                } else {
                    msg.id == last + 1
                };
                if !ok {
                    let want = if self.lax {
                        format!("above {last}")
                    } else {
                        format!("{}", last + 1)
                    };
                    return Err(self.err(
                        line,
                        ParseError::out_of_order(
                            "id",
                            format!(
                                "message ID is out of order: expected {want}, found {}",
                                msg.id
                            ),
                        ),
                    ));
                }
            }
            self.last_id = Some(msg.id);
            let (packets, err) = msg.decode();
            for p in packets {
                if let Some(last) = self.last_ts {
                    if p.ts < last {
                        self.pending_err = Some(self.err(
                            line,
                            ParseError::out_of_order(
                                "pos",
                                format!(
                                    "packet timestamp is out of order: {} ms after {last} ms",
                                    p.ts
                                ),
                            ),
                        ));
                        break;
                    }
                }
                self.last_ts = Some(p.ts);
                if let PacketData::Window { cols, rows } = p.data {
                    if self.last_window == Some((cols, rows)) {
                        continue;
                    }
                    self.last_window = Some((cols, rows));
                }
                self.queue.push_back(p);
            }
            if self.pending_err.is_none() {
                if let Some(e) = err {
                    self.pending_err = Some(self.err(line, e));
                }
            }
        }
    }
}
