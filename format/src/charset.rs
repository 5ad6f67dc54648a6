//! Terminal charsets other than UTF-8: names as the C library and locale
//! names spell them, stateful decoding to UTF-8 for the encoder (malformed
//! sequences handed over as invalid sequences, so their bytes land in
//! `*_bin` exactly as invalid UTF-8 does), and the way back for exports.
//! The converter is encoding_rs (the WHATWG Encoding Standard's charsets);
//! the recorder finds the session's charset (tlog-rs-rec's charset.rs).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use encoding_rs::{DecoderResult, EncoderResult, Encoding};

use crate::Encoder;

/// A terminal charset the recorder can convert.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8, and ASCII (a subset): recorded as is.
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same value
    /// (encoding_rs's "iso-8859-1" label means windows-1252, whose 0x80-0x9F
    /// are not the C1 controls a Latin-1 terminal has).
    Latin1,
    /// Any other charset encoding_rs decodes (WHATWG Encoding Standard).
    Other(&'static Encoding),
}

impl fmt::Debug for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A charset name no converter here knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCharset(pub String);

impl fmt::Display for UnknownCharset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unsupported charset {:?}", self.0)
    }
}

impl std::error::Error for UnknownCharset {}

/// glibc's normalised codeset names (lower case, alphanumerics only, as in
/// locale names like `ja_JP.eucjp`) that are not WHATWG labels, with the
/// label of the same charset.
const GLIBC_NAMES: &[(&str, &str)] = &[
    ("eucjp", "euc-jp"),
    ("euckr", "euc-kr"),
    ("sjis", "shift_jis"),
    ("shiftjis", "shift_jis"),
    ("koi8r", "koi8-r"),
    ("koi8u", "koi8-u"),
    ("big5hkscs", "big5-hkscs"),
    ("tis620", "windows-874"),
    ("gb2312", "gbk"),
];

impl FromStr for Charset {
    type Err = UnknownCharset;

    /// A charset as nl_langinfo(CODESET) names it (`ISO-8859-15`, `EUC-JP`,
    /// `SHIFT_JIS`, `ANSI_X3.4-1968`), as a locale name spells it
    /// (`iso885915`, `eucJP`, `SJIS`, `utf8`), or a WHATWG label.
    fn from_str(name: &str) -> Result<Charset, UnknownCharset> {
        let norm: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match norm.as_str() {
            "utf8" | "ansix341968" | "ascii" | "usascii" => return Ok(Charset::Utf8),
            "iso88591" | "latin1" | "l1" => return Ok(Charset::Latin1),
            _ => {}
        }
        let label = GLIBC_NAMES
            .iter()
            .find(|(n, _)| *n == norm)
            .map_or(name, |(_, l)| l);
        // "cp1252" and "windows-1252" are windows-1252 for real; only the
        // ISO-8859-1 names are caught above.
        match Encoding::for_label_no_replacement(label.as_bytes()) {
            Some(e) if e == encoding_rs::UTF_8 => Ok(Charset::Utf8),
            // UTF-16 cannot be a terminal charset (NUL bytes in ASCII).
            Some(e) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE => {
                Err(UnknownCharset(name.into()))
            }
            Some(e) => Ok(Charset::Other(e)),
            None => Err(UnknownCharset(name.into())),
        }
    }
}

impl Charset {
    /// The name written to the start entry and accepted back by FromStr.
    pub fn name(&self) -> &'static str {
        match self {
            Charset::Utf8 => "UTF-8",
            Charset::Latin1 => "ISO-8859-1",
            Charset::Other(e) => e.name(),
        }
    }

    /// The way back from recorded UTF-8 to this charset's bytes; `None`
    /// for UTF-8.
    pub fn reencoder(&self) -> Option<Reencoder> {
        let kind = match self {
            Charset::Utf8 => return None,
            Charset::Latin1 => None,
            Charset::Other(e) => Some(e.new_encoder()),
        };
        Some(Reencoder {
            kind,
            pending: Vec::new(),
        })
    }

    /// A decoder for one direction; `None` for UTF-8 (no conversion).
    pub fn decoder(&self) -> Option<Decoder> {
        let kind = match self {
            Charset::Utf8 => return None,
            Charset::Latin1 => Kind::Latin1,
            Charset::Other(e) => Kind::Stateful(e.new_decoder_without_bom_handling()),
        };
        Some(Decoder {
            kind,
            tail: Vec::with_capacity(TAIL),
            buf: Vec::new(),
        })
    }
}

/// Bytes consumed before the current input that a malformed sequence may
/// reach back to (encoding_rs: malformed length + bytes after it <= 6).
const TAIL: usize = 8;

enum Kind {
    Latin1,
    Stateful(encoding_rs::Decoder),
}

/// One direction's converter to UTF-8. A character split across reads is
/// kept in the decoder until its last byte comes.
pub struct Decoder {
    kind: Kind,
    /// The last bytes consumed before the current input.
    tail: Vec<u8>,
    buf: Vec<u8>,
}

/// A piece of decoded input, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Valid UTF-8 (whole characters).
    Text(&'a [u8]),
    /// The original bytes of one malformed sequence.
    Invalid(&'a [u8]),
}

impl Decoder {
    /// Decode `data`, calling `out` with each piece in order.
    pub fn feed(&mut self, data: &[u8], out: &mut dyn FnMut(Piece)) {
        self.decode(data, false, out)
    }

    /// End of the stream: a pending incomplete character becomes invalid.
    pub fn finish(&mut self, out: &mut dyn FnMut(Piece)) {
        self.decode(&[], true, out)
    }

    fn decode(&mut self, data: &[u8], last: bool, out: &mut dyn FnMut(Piece)) {
        match &mut self.kind {
            Kind::Latin1 => {
                if data.is_empty() {
                    return;
                }
                // The recorder converts Latin-1 inside the encoder
                // (Conversion::Latin1); this is for the decoder's own users.
                self.buf.clear();
                for &b in data {
                    let (utf8, len) = latin1_char(b);
                    self.buf.extend_from_slice(&utf8[..len]);
                }
                out(Piece::Text(&self.buf));
            }
            Kind::Stateful(dec) => {
                // Room for the whole input at once; OutputFull is handled
                // all the same.
                let want = dec
                    .max_utf8_buffer_length_without_replacement(data.len())
                    .unwrap_or(0)
                    .clamp(16, 4 * 4096 + 16);
                grow(&mut self.buf, want);
                let mut pos = 0;
                loop {
                    let (res, read, written) =
                        dec.decode_to_utf8_without_replacement(&data[pos..], &mut self.buf, last);
                    if written > 0 {
                        out(Piece::Text(&self.buf[..written]));
                    }
                    let end = pos + read;
                    pos = end;
                    match res {
                        DecoderResult::InputEmpty => break,
                        DecoderResult::OutputFull => {}
                        DecoderResult::Malformed(bad, after) => {
                            let stop = end as isize - after as isize;
                            let start = stop - bad as isize;
                            let mut seq = [0u8; TAIL];
                            let mut n = 0;
                            for i in start..stop {
                                let b = if i >= 0 {
                                    data.get(i as usize)
                                } else {
                                    let back = (-i) as usize;
                                    self.tail
                                        .len()
                                        .checked_sub(back)
                                        .and_then(|j| self.tail.get(j))
                                };
                                if let (Some(&b), Some(slot)) = (b, seq.get_mut(n)) {
                                    *slot = b;
                                    n += 1;
                                }
                            }
                            out(Piece::Invalid(&seq[..n]));
                        }
                    }
                }
                // Remember what the next input's malformed sequences may
                // reach back to.
                if data.len() >= TAIL {
                    self.tail.clear();
                    self.tail.extend_from_slice(&data[data.len() - TAIL..]);
                } else {
                    self.tail.extend_from_slice(data);
                    let extra = self.tail.len().saturating_sub(TAIL);
                    self.tail.drain(..extra);
                }
            }
        }
    }
}

/// One ISO-8859-1 byte as UTF-8: the bytes and how many of them count.
pub(crate) fn latin1_char(b: u8) -> ([u8; 2], usize) {
    if b < 0x80 {
        ([b, 0], 1)
    } else {
        ([0xc0 | (b >> 6), 0x80 | (b & 0x3f)], 2)
    }
}

/// Grows (never shrinks) a scratch buffer: zero-filling it again for every
/// read would cost as much as the conversion.
fn grow(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
}

/// Input and output converters of a session; the output one is shared by
/// stdout and stderr, as the encoder's output stream is.
pub enum Conversion {
    /// ISO-8859-1: the encoder converts each byte as it writes it.
    Latin1,
    /// Any other charset: stateful decoders, one per direction.
    Decoders { input: Decoder, output: Decoder },
}

impl Conversion {
    /// `None` for UTF-8: the encoder takes the bytes as they are.
    pub fn new(charset: Charset) -> Option<Conversion> {
        match charset {
            Charset::Utf8 => None,
            Charset::Latin1 => Some(Conversion::Latin1),
            Charset::Other(_) => Some(Conversion::Decoders {
                input: charset.decoder()?,
                output: charset.decoder()?,
            }),
        }
    }

    pub fn input(&mut self, enc: &mut Encoder, t: Duration, data: &[u8]) {
        match self {
            Conversion::Latin1 => enc.input_latin1(t, data),
            Conversion::Decoders { input, .. } => input.feed(data, &mut |p| match p {
                Piece::Text(s) => enc.input(t, s),
                Piece::Invalid(b) => enc.input_invalid(t, b),
            }),
        }
    }

    pub fn output(&mut self, enc: &mut Encoder, t: Duration, data: &[u8]) {
        match self {
            Conversion::Latin1 => enc.output_latin1(t, data),
            Conversion::Decoders { output, .. } => output.feed(data, &mut |p| match p {
                Piece::Text(s) => enc.output(t, s),
                Piece::Invalid(b) => enc.output_invalid(t, b),
            }),
        }
    }

    /// End of recording: incomplete characters become invalid sequences.
    pub fn finish(&mut self, enc: &mut Encoder, t: Duration) {
        let Conversion::Decoders { input, output } = self else {
            return;
        };
        input.finish(&mut |p| match p {
            Piece::Text(s) => enc.input(t, s),
            Piece::Invalid(b) => enc.input_invalid(t, b),
        });
        output.finish(&mut |p| match p {
            Piece::Text(s) => enc.output(t, s),
            Piece::Invalid(b) => enc.output_invalid(t, b),
        });
    }
}

/// Recorded bytes (UTF-8 text with the `*_bin` bytes among it, as a
/// reader's packets give them) back to the terminal charset. A UTF-8
/// character the charset has is encoded; anything else (the `*_bin` bytes,
/// characters the charset lacks) is passed through as it is, so the bytes
/// of a malformed sequence come back unchanged.
pub struct Reencoder {
    /// `None`: ISO-8859-1 (code point = byte).
    kind: Option<encoding_rs::Encoder>,
    /// An incomplete UTF-8 character at the end of the last packet.
    pending: Vec<u8>,
}

impl Reencoder {
    /// Converts `data`, appending to `out`; an incomplete UTF-8 character
    /// at its end waits for the next call.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let joined;
        let mut rest = if self.pending.is_empty() {
            data
        } else {
            self.pending.extend_from_slice(data);
            joined = std::mem::take(&mut self.pending);
            &joined[..]
        };
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.encode(text, out);
                    return;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // Valid by construction; from_utf8 only re-checks it.
                    if let Ok(text) = std::str::from_utf8(good) {
                        self.encode(text, out);
                    }
                    match e.error_len() {
                        Some(n) => {
                            out.extend_from_slice(&bad[..n]);
                            rest = &bad[n..];
                        }
                        None => {
                            self.pending = bad.to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// End of the data: an incomplete character is passed through.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.pending);
    }

    fn encode(&mut self, text: &str, out: &mut Vec<u8>) {
        let Some(enc) = &mut self.kind else {
            for c in text.chars() {
                match u8::try_from(c) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            return;
        };
        let mut buf = [0u8; 1024];
        let mut rest = text;
        loop {
            let (res, read, written) =
                enc.encode_from_utf8_without_replacement(rest, &mut buf, false);
            out.extend_from_slice(&buf[..written]);
            rest = &rest[read..];
            match res {
                EncoderResult::InputEmpty => return,
                EncoderResult::OutputFull => {}
                EncoderResult::Unmappable(c) => {
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                }
            }
        }
    }
}
