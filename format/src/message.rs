//! A parsed message and its decoding of `timing` + text + binary into
//! packets, with tlog-play's rules (json_msg.c).

use crate::error::ParseError;
use crate::timing::{TimingParser, TimingRecord};

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
