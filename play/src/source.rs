//! Where packets come from: a tlog log file or the journal (through
//! `journalctl -o json`, its stable interface), read with the format crate's
//! [`Reader`] so both get tlog-play's checks (ids, timestamps, `-m REC`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

use tlog_rs_format::{Packet, ParseKind, ReadError, Reader};

#[derive(Debug, Clone, Default)]
pub struct JournalQuery {
    /// `FIELD=VALUE`, `OR` or `AND`, as tlog-play's `-M`.
    pub matches: Vec<String>,
    /// Unix seconds.
    pub since: Option<u64>,
    pub until: Option<u64>,
}

#[derive(Debug, Clone)]
pub enum SourceSpec {
    File(PathBuf),
    Journal(JournalQuery),
}

impl SourceSpec {
    pub fn name(&self) -> String {
        match self {
            SourceSpec::File(p) => p.display().to_string(),
            SourceSpec::Journal(_) => "journal".to_string(),
        }
    }
}

/// A packet stream with tlog-play's checks. `next` gives Ok(None) at the
/// current end; with `follow` a later call may return more.
pub struct PacketSource {
    reader: Reader<Box<dyn BufRead + Send>>,
    name: String,
    kind: Kind,
    /// Packets given before the reader's (a stored keyframe's start).
    lead: VecDeque<Packet>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Journal,
    /// Message lines from the central store: line N is the Nth message.
    Stored,
}

impl PacketSource {
    pub fn open(
        spec: &SourceSpec,
        rec: Option<String>,
        lax: bool,
        follow: bool,
    ) -> Result<Self, String> {
        let name = spec.name();
        let input: Box<dyn BufRead + Send> = match spec {
            SourceSpec::File(path) => {
                let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
                if follow {
                    Box::new(CompleteLines::new(f))
                } else {
                    Box::new(BufReader::with_capacity(256 * 1024, f))
                }
            }
            SourceSpec::Journal(q) => Box::new(JournalLines::spawn(q, follow)?),
        };
        let kind = match spec {
            SourceSpec::File(_) => Kind::File,
            SourceSpec::Journal(_) => Kind::Journal,
        };
        Ok(PacketSource {
            reader: Reader::new(input).lax(lax).match_rec(rec),
            name,
            kind,
            lead: VecDeque::new(),
        })
    }

    /// A recording read back from the central store: its lead packets,
    /// then its message lines (already only this recording's).
    pub fn stored(s: crate::stored::Stored, lax: bool) -> Self {
        PacketSource {
            reader: Reader::new(s.lines).lax(lax),
            name: s.name,
            kind: Kind::Stored,
            lead: s.lead.into(),
        }
    }

    pub fn next_packet(&mut self) -> Result<Option<Packet>, String> {
        if let Some(p) = self.lead.pop_front() {
            return Ok(Some(p));
        }
        self.reader.next_packet().map_err(|e| self.describe(&e))
    }

    fn describe(&self, e: &ReadError) -> String {
        let mut s = match self.kind {
            Kind::Journal => format!("journal entry {}: {}", e.line, e.error),
            Kind::File => format!("{}: line {}: {}", self.name, e.line, e.error),
            Kind::Stored => {
                // Ids missing in the stores: the recording is incomplete.
                let hint = if e.error.field == Some("id") {
                    " (messages missing from the stores; --lax plays across the gap)"
                } else {
                    ""
                };
                return format!("{}: {}{hint}", self.name, e.error);
            }
        };
        // The usual cause (tlog issue #331): several recordings in one file.
        if e.error.field == Some("id") && e.error.kind == ParseKind::OutOfOrder {
            s.push_str(" (several recordings? `tlog-rs list` shows them; select one with -m REC; --lax allows gaps)");
        }
        s
    }
}

/// For following a growing file: passes on only whole lines, so a message
/// caught half-written is read once its newline arrives instead of failing.
pub struct CompleteLines<R> {
    inner: R,
    buf: Vec<u8>,
    /// Start of unread data in `buf`.
    start: usize,
    /// End of the last complete line in `buf`.
    end: usize,
}

impl<R: Read> CompleteLines<R> {
    pub fn new(inner: R) -> Self {
        CompleteLines {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }
}

/// `Read` for a reader whose buffer is the truth (`BufRead`): what
/// `fill_buf` offers, as much as fits.
fn read_buffered(r: &mut impl BufRead, out: &mut [u8]) -> io::Result<usize> {
    let avail = r.fill_buf()?;
    let n = avail.len().min(out.len());
    out[..n].copy_from_slice(&avail[..n]);
    r.consume(n);
    Ok(n)
}

impl<R: Read> Read for CompleteLines<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, out)
    }
}

impl<R: Read> BufRead for CompleteLines<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.buf.drain(..self.end);
            self.start = 0;
            self.end = 0;
            let mut chunk = [0u8; 64 * 1024];
            loop {
                let n = self.inner.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                self.buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = self.buf.iter().rposition(|&b| b == b'\n') {
                    self.end = i + 1;
                    break;
                }
            }
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}

/// Validate one `-M` match the way tlog-play does and turn it into a
/// journalctl argument.
fn journal_match_arg(m: &str) -> Result<Option<String>, String> {
    match m {
        "OR" => return Ok(Some("+".into())),
        "AND" => return Ok(None),
        _ => {}
    }
    let (field, _) = m
        .split_once('=')
        .ok_or_else(|| format!("invalid journal match {m:?}: expected FIELD=VALUE, OR or AND"))?;
    let ok = !field.is_empty()
        && !field.starts_with("__")
        && field
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(format!(
            "invalid journal match field {field:?}: only A-Z, 0-9 and _, not starting with __"
        ));
    }
    Ok(Some(m.to_string()))
}

pub fn journalctl_args(q: &JournalQuery, follow: bool) -> Result<Vec<String>, String> {
    let mut args = vec![
        "-o".to_string(),
        "json".into(),
        "--all".into(),
        "--no-pager".into(),
        "-q".into(),
    ];
    if follow {
        args.push("--follow".into());
        args.push("--no-tail".into());
    }
    if let Some(s) = q.since {
        args.push(format!("--since=@{s}"));
    }
    if let Some(u) = q.until {
        args.push(format!("--until=@{u}"));
    }
    for m in &q.matches {
        if let Some(a) = journal_match_arg(m)? {
            args.push(a);
        }
    }
    Ok(args)
}

/// The `MESSAGE` of each journal entry, one per line, from `journalctl -o
/// json`. Entries without a message and tlog-rs session events are skipped.
pub struct JournalLines {
    follow: bool,
    child: Child,
    out: BufReader<ChildStdout>,
    line: Vec<u8>,
    buf: Vec<u8>,
    pos: usize,
}

impl JournalLines {
    pub fn spawn(q: &JournalQuery, follow: bool) -> Result<Self, String> {
        let args = journalctl_args(q, follow)?;
        let mut cmd = Command::new("journalctl");
        cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::piped());
        // SAFETY: runs in the forked child before exec; prctl is
        // async-signal-safe. A following journalctl must not outlive us
        // when we are killed (we spawn it from the main thread, to which
        // the parent-death signal is tied).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run journalctl: {e}"))?;
        let out = BufReader::new(child.stdout.take().ok_or("journalctl has no stdout")?);
        Ok(JournalLines {
            follow,
            child,
            out,
            line: Vec::new(),
            buf: Vec::new(),
            pos: 0,
        })
    }

    /// Read journalctl lines until one has a message; false at the end or,
    /// when following, when journalctl has nothing more right now (so the
    /// reader reports "end for now" instead of holding back what it read).
    fn next_message(&mut self) -> io::Result<bool> {
        loop {
            if self.follow && self.out.buffer().is_empty() {
                let fd = self.out.get_ref().as_raw_fd();
                if !crate::term::wait_readable(fd, Some(std::time::Duration::ZERO))? {
                    return Ok(false);
                }
            }
            self.line.clear();
            if self.out.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(false);
            }
            let entry: serde_json::Value = serde_json::from_slice(&self.line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("journalctl gave invalid JSON: {e}"),
                )
            })?;
            if entry.get("TLOG_RS_EVENT").is_some() {
                continue;
            }
            if let Some(msg) = journal_field_bytes(&entry, "MESSAGE") {
                self.buf = msg;
                self.buf.push(b'\n');
                self.pos = 0;
                return Ok(true);
            }
        }
    }
}

/// A journal field as bytes: journalctl gives a string, or an array of
/// byte values for non-UTF-8 data.
pub fn journal_field_bytes(entry: &serde_json::Value, field: &str) -> Option<Vec<u8>> {
    match entry.get(field)? {
        serde_json::Value::String(s) => Some(s.as_bytes().to_vec()),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|v| v.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect(),
        _ => None,
    }
}

impl Read for JournalLines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, out)
    }
}

impl BufRead for JournalLines {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() && !self.next_message()? {
            return Ok(&[]);
        }
        Ok(&self.buf[self.pos..])
    }
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
}

impl Drop for JournalLines {
    fn drop(&mut self) {
        // We started this journalctl; stop it (it may be following).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_hides_a_partial_last_line() {
        let mut r = CompleteLines::new(&b"one\ntwo\nthr"[..]);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "one\ntwo\n");
    }

    #[test]
    fn journal_matches() {
        let q = JournalQuery {
            matches: vec![
                "TLOG_REC=abc".into(),
                "OR".into(),
                "_UID=0".into(),
                "AND".into(),
            ],
            since: Some(10),
            until: None,
        };
        let a = journalctl_args(&q, false).unwrap();
        assert_eq!(
            &a[a.len() - 4..],
            ["--since=@10", "TLOG_REC=abc", "+", "_UID=0"]
        );
        for bad in ["tlog_rec=x", "__CURSOR=x", "NOEQUALS", "=x"] {
            let q = JournalQuery {
                matches: vec![bad.into()],
                ..Default::default()
            };
            assert!(journalctl_args(&q, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn journal_binary_field() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"MESSAGE":[104,255],"A":"x"}"#).unwrap();
        assert_eq!(journal_field_bytes(&v, "MESSAGE"), Some(vec![104, 255]));
        assert_eq!(journal_field_bytes(&v, "A"), Some(b"x".to_vec()));
        assert_eq!(journal_field_bytes(&v, "B"), None);
    }
}
