//! The session's terminal charset and its conversion to UTF-8 for the log
//! (rec/README.md "Terminal charsets").
//!
//! The charset is what the user's programs will use: nl_langinfo(CODESET)
//! under the first non-empty of LC_ALL, LC_CTYPE, LANG of the shell's
//! environment, looked up with newlocale/nl_langinfo_l (our own process
//! locale is never changed). UTF-8 and ASCII (the C locale) take the
//! encoder's own UTF-8 path, byte for byte as before. Other charsets are
//! decoded with encoding_rs, one stateful [`Decoder`] per direction;
//! malformed sequences are handed to the encoder as invalid sequences, so
//! their bytes land in `*_bin` exactly as invalid UTF-8 does.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::str::FromStr;
use std::time::Duration;

use encoding_rs::{DecoderResult, Encoding};
use tlog_rs_format::Encoder;

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

/// The locale name the user's programs will use for LC_CTYPE: the first
/// non-empty of LC_ALL, LC_CTYPE, LANG in `env`; "C" without one.
pub fn ctype_locale(env: &[(OsString, OsString)]) -> OsString {
    for name in ["LC_ALL", "LC_CTYPE", "LANG"] {
        // The last definition wins, as for getenv on a merged list.
        if let Some((_, v)) = env.iter().rev().find(|(k, _)| k == name) {
            if !v.is_empty() {
                return v.clone();
            }
        }
    }
    "C".into()
}

/// The charset of `locale` as nl_langinfo(CODESET) gives it, without
/// touching our own locale. `None` when the locale is not installed, or the
/// name is not one we let glibc look up (a path, too long).
pub fn codeset_of(locale: &OsStr) -> Option<String> {
    let bytes = locale.as_bytes();
    // glibc reads a name with a slash as a path; the set-uid recorder must
    // not load locale files from where the user points.
    if bytes.contains(&b'/') || bytes.len() > 255 {
        return None;
    }
    let c = CString::new(bytes).ok()?;
    // SAFETY: a valid NUL-terminated name; base 0 asks for a new object.
    let loc = unsafe { libc::newlocale(libc::LC_CTYPE_MASK, c.as_ptr(), std::ptr::null_mut()) };
    if loc.is_null() {
        return None;
    }
    // SAFETY: `loc` is a valid locale object; the returned string belongs
    // to it and is copied before the object is freed.
    let name = unsafe {
        let p = libc::nl_langinfo_l(libc::CODESET, loc);
        let s = (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned());
        libc::freelocale(loc);
        s
    };
    name.filter(|n| !n.is_empty())
}

/// The charset named in a locale string: `ru_RU.KOI8-R@mod` → `KOI8-R`.
pub fn codeset_in_name(locale: &OsStr) -> Option<&str> {
    let s = std::str::from_utf8(locale.as_bytes()).ok()?;
    let after = s.split_once('.')?.1;
    let cs = after.split('@').next().unwrap_or(after);
    (!cs.is_empty()).then_some(cs)
}

/// The session's charset from the shell's environment, and a warning when
/// it had to fall back. Fallbacks: a locale that is not installed gives the
/// charset its name spells (the terminal is set up for it even if the C
/// library will not be); a charset we cannot convert gives UTF-8 (recorded
/// as before: non-UTF-8 bytes go to `*_bin`, nothing is lost).
pub fn session_charset(env: &[(OsString, OsString)]) -> (Charset, Option<String>) {
    let locale = ctype_locale(env);
    let shown = locale.to_string_lossy();
    let (codeset, installed) = match codeset_of(&locale) {
        Some(cs) => (Some(cs), true),
        None => (codeset_in_name(&locale).map(str::to_string), false),
    };
    match codeset {
        Some(cs) => match cs.parse::<Charset>() {
            Ok(c) => {
                let warning = (!installed && c != Charset::Utf8).then(|| {
                    format!("locale {shown:?} is not installed; recording its charset {c} as named")
                });
                (c, warning)
            }
            Err(e) => (
                Charset::Utf8,
                Some(format!(
                    "locale {shown:?}: {e}; recording as UTF-8 (other bytes go to the log's binary fields)"
                )),
            ),
        },
        // "C"-like names, or a locale without a charset that is not installed.
        None if installed || locale == "C" || locale == "POSIX" => (Charset::Utf8, None),
        None => (
            Charset::Utf8,
            Some(format!(
                "locale {shown:?} is not installed and names no charset; recording as UTF-8"
            )),
        ),
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
                grow(&mut self.buf, data.len() * 2);
                let n = encoding_rs::mem::convert_latin1_to_utf8(data, &mut self.buf);
                out(Piece::Text(&self.buf[..n]));
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

/// Grows (never shrinks) a scratch buffer: zero-filling it again for every
/// read would cost as much as the conversion.
fn grow(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
}

/// Input and output converters of a session; the output one is shared by
/// stdout and stderr, as the encoder's output stream is.
pub struct Conversion {
    input: Decoder,
    output: Decoder,
}

impl Conversion {
    /// `None` for UTF-8: the encoder takes the bytes as they are.
    pub fn new(charset: Charset) -> Option<Conversion> {
        Some(Conversion {
            input: charset.decoder()?,
            output: charset.decoder()?,
        })
    }

    pub fn input(&mut self, enc: &mut Encoder, t: Duration, data: &[u8]) {
        self.input.feed(data, &mut |p| match p {
            Piece::Text(s) => enc.input(t, s),
            Piece::Invalid(b) => enc.input_invalid(t, b),
        })
    }

    pub fn output(&mut self, enc: &mut Encoder, t: Duration, data: &[u8]) {
        self.output.feed(data, &mut |p| match p {
            Piece::Text(s) => enc.output(t, s),
            Piece::Invalid(b) => enc.output_invalid(t, b),
        })
    }

    /// End of recording: incomplete characters become invalid sequences.
    pub fn finish(&mut self, enc: &mut Encoder, t: Duration) {
        self.input.finish(&mut |p| match p {
            Piece::Text(s) => enc.input(t, s),
            Piece::Invalid(b) => enc.input_invalid(t, b),
        });
        self.output.finish(&mut |p| match p {
            Piece::Text(s) => enc.output(t, s),
            Piece::Invalid(b) => enc.output_invalid(t, b),
        });
    }
}

#[cfg(test)]
mod tests;
