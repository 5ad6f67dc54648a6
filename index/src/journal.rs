//! Journal stores (`tlog-rs index --journal DIR|FILE`): the output
//! directory of systemd-journal-remote, a local journal, or one journal
//! file, read through `journalctl -o json` (its stable interface).
//!
//! Indexing reads the entries after the source's journal cursor (kept in
//! the index, saved in the same transaction as the rows it covers). A
//! message's reference is the entry's realtime timestamp (µs) and the
//! MESSAGE length: reading it back scans the journal from that second for
//! the entry whose content has the indexed hash, so neither the message
//! text nor a 100-byte cursor per message is stored.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::{Map, Value};
use tlog_rs_format::parse_message;
use tlog_rs_play::source::journal_field_bytes;

use crate::ingest::message_hash;
use crate::store::MessageRef;

/// Fields asked of journalctl (it adds `__CURSOR` and the timestamps).
const FIELDS: &str = "MESSAGE,TLOG_REC,TLOG_RS_JSON";

/// One journal entry that may be ours.
pub struct Entry {
    pub cursor: String,
    pub realtime_us: u64,
    /// A tlog message (MESSAGE) or a tlog-rs session entry (TLOG_RS_JSON).
    pub body: Vec<u8>,
}

/// `journalctl -o json` over a journal directory or file.
pub struct JournalReader {
    child: Child,
    out: BufReader<ChildStdout>,
    line: Vec<u8>,
    loc: PathBuf,
}

impl JournalReader {
    /// Entries after `cursor`, or from `since_us` (whole seconds), or all.
    pub fn spawn(loc: &Path, cursor: Option<&str>, since_us: Option<u64>) -> Result<Self, String> {
        Self::spawn_query(loc, cursor, since_us, FIELDS, &[])
    }

    /// The same with other output fields and journalctl matches
    /// (`FIELD=VALUE`), for readers of other entries (audit records).
    pub fn spawn_query(
        loc: &Path,
        cursor: Option<&str>,
        since_us: Option<u64>,
        fields: &str,
        matches: &[&str],
    ) -> Result<Self, String> {
        let mut cmd = Command::new("journalctl");
        if loc.is_dir() {
            cmd.arg("--directory").arg(loc);
        } else if loc.is_file() {
            cmd.arg("--file").arg(loc);
        } else {
            return Err(format!(
                "{}: not a journal directory or file",
                loc.display()
            ));
        }
        cmd.args(["-o", "json", "--all", "--no-pager", "-q"])
            .arg(format!("--output-fields={fields}"));
        if let Some(c) = cursor {
            cmd.arg(format!("--after-cursor={c}"));
        } else if let Some(us) = since_us {
            cmd.arg(format!("--since=@{}", us / 1_000_000));
        }
        cmd.args(matches);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: runs in the forked child before exec; prctl is
        // async-signal-safe. journalctl must not outlive us.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run journalctl: {e}"))?;
        let out = BufReader::with_capacity(
            1 << 20,
            child.stdout.take().ok_or("journalctl has no stdout")?,
        );
        Ok(JournalReader {
            child,
            out,
            line: Vec::new(),
            loc: loc.to_path_buf(),
        })
    }

    /// The next entry as journalctl gives it (with `__CURSOR`); `Ok(None)`
    /// at the end.
    pub fn next_raw(&mut self) -> Result<Option<Map<String, Value>>, String> {
        self.line.clear();
        let n = self
            .out
            .read_until(b'\n', &mut self.line)
            .map_err(|e| format!("{}: reading journalctl: {e}", self.loc.display()))?;
        if n == 0 {
            let st = self.child.wait().map_err(|e| e.to_string())?;
            // journalctl exits 1 when there is nothing after the cursor.
            if !st.success() && st.code() != Some(1) {
                return Err(format!("{}: journalctl failed: {st}", self.loc.display()));
            }
            return Ok(None);
        }
        serde_json::from_slice(&self.line)
            .map(Some)
            .map_err(|e| format!("{}: journalctl gave invalid JSON: {e}", self.loc.display()))
    }

    /// The next entry; `Ok(None)` at the end. Entries that are neither a
    /// tlog message nor a tlog-rs session entry are skipped (a local
    /// journal holds everything else too), but their cursor is returned
    /// through `last_cursor` so that they are not read again.
    pub fn next(&mut self, last_cursor: &mut Option<String>) -> Result<Option<Entry>, String> {
        loop {
            let Some(e) = self.next_raw()? else {
                return Ok(None);
            };
            let Some(cursor) = e.get("__CURSOR").and_then(Value::as_str) else {
                continue;
            };
            let cursor = cursor.to_string();
            *last_cursor = Some(cursor.clone());
            let realtime_us = e
                .get("__REALTIME_TIMESTAMP")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let v = Value::Object(e);
            let body = if let Some(j) = journal_field_bytes(&v, "TLOG_RS_JSON") {
                j
            } else {
                match journal_field_bytes(&v, "MESSAGE") {
                    Some(m) if v.get("TLOG_REC").is_some() || is_tlog_message(&m) => m,
                    _ => continue,
                }
            };
            return Ok(Some(Entry {
                cursor,
                realtime_us,
                body,
            }));
        }
    }
}

/// tlog's writers start every message with its version key.
fn is_tlog_message(m: &[u8]) -> bool {
    m.trim_ascii_start().starts_with(b"{\"ver\"")
}

impl Drop for JournalReader {
    fn drop(&mut self) {
        // We started it; it may still be writing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads indexed messages back from a journal: one forward scan from the
/// first message asked for, keeping the wanted messages met on the way
/// (matched by content hash) until they are asked for.
pub struct JournalSource {
    loc: PathBuf,
    /// Hashes of the messages still to be asked for.
    wanted: HashSet<u64>,
    found: HashMap<u64, Vec<u8>>,
    reader: Option<JournalReader>,
    /// Realtime (µs) the running scan started from.
    started_us: u64,
}

impl JournalSource {
    pub fn new(loc: &Path, wanted: Vec<MessageRef>) -> Self {
        JournalSource {
            loc: loc.to_path_buf(),
            wanted: wanted.iter().map(|r| r.hash).collect(),
            found: HashMap::new(),
            reader: None,
            started_us: 0,
        }
    }

    fn scan_until(&mut self, r: &MessageRef) -> Result<bool, String> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(false);
        };
        let mut ignore = None;
        while let Some(e) = reader.next(&mut ignore)? {
            let Ok(m) = parse_message(&e.body) else {
                continue;
            };
            let h = message_hash(&m);
            if self.wanted.contains(&h) {
                self.found.entry(h).or_insert(e.body);
                if h == r.hash {
                    return Ok(true);
                }
            }
        }
        self.reader = None;
        Ok(false)
    }

    fn take(&mut self, r: &MessageRef) -> Option<Vec<u8>> {
        let l = self.found.remove(&r.hash)?;
        self.wanted.remove(&r.hash);
        Some(l)
    }
}

impl crate::recording::MessageSource for JournalSource {
    fn line(&mut self, r: &MessageRef) -> Result<Vec<u8>, String> {
        if let Some(l) = self.take(r) {
            return Ok(l);
        }
        // A running scan that started at or before this message's second
        // goes on; otherwise (first message, or one before the scan) a new
        // scan starts at the message's own second.
        let second = |us: u64| us / 1_000_000;
        let covers = self.reader.is_some() && second(self.started_us) <= second(r.offset);
        if !covers {
            self.reader = Some(JournalReader::spawn(&self.loc, None, Some(r.offset))?);
            self.started_us = r.offset;
        }
        if self.scan_until(r)? {
            return Ok(self.take(r).expect("just found"));
        }
        Err(format!(
            "journal {}: message id {} (written at {} µs) is no longer there (vacuumed, or rotated away?)",
            self.loc.display(),
            r.id,
            r.offset
        ))
    }
}
