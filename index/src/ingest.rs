//! `tlog-rs index --jsonl`: reads JSON Lines stores incrementally.
//!
//! Layouts: the file writer's log plus its `<log>.events` sidecar, and the
//! central rsyslog layout `<dir>/<host>/<yyyy-mm-dd>.jsonl` where each line
//! is one tlog message or one tlog-rs event, told apart by their keys
//! (`ver` or `event`). A directory is walked recursively; files named
//! `*.jsonl`, `*.json`, `*.log`, `*.events`, and any file with an `.events`
//! sidecar, are read.
//!
//! Each file has a cursor (device, inode, offset of the last complete line,
//! and a hash of its first bytes): a renamed (rotated) file goes on where it
//! was, a new file that reuses an inode starts over, a file that shrank is
//! read again from the start. A last line without its newline is left for
//! the next run. Messages are keyed by (host, rec, id), so a second delivery
//! path or a second run adds nothing; a copy with other content marks the
//! recording tampered. Bad lines are reported by FILE:LINE and skipped,
//! never the rest of the file.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};
use tlog_rs_format::{parse_message, Message};

use crate::derive::{time_ms, Derived, Deriver};
use crate::es::{self, EsClient, EsSource};
use crate::journal::JournalReader;
use crate::recording::{Fetcher, SourceLoc};
use crate::store::{Added, EventInfo, FileCursor, MessageRef, Store, StoreError};

/// Bytes hashed to recognise a file again (only bytes already consumed).
/// Lines of one recording share a prefix of ~100 bytes up to their `id`.
const HEAD_BYTES: u64 = 1024;
/// Commit (and save the cursor) at least this often while reading a file.
const COMMIT_BYTES: u64 = 64 << 20;
/// Longest line read; tlog messages are a few KiB (payload + escaping).
const MAX_LINE: u64 = 16 << 20;
/// Derived text held in memory before it is written.
const DERIVE_SLICE: usize = 8 << 20;
/// Text stored per transaction while deriving (see derive_dirty).
const DERIVE_COMMIT_BYTES: usize = 32 << 20;
/// A partial last line older than this is reported as truncated.
const STALE_PARTIAL: Duration = Duration::from_secs(600);

/// Something wrong with the input, reported and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub files: u64,
    pub bytes: u64,
    pub messages: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    pub events: u64,
    pub bad_lines: u64,
    pub partial_lines: u64,
    pub files_gone: u64,
    pub recordings_derived: u64,
    /// Audit events new in the index, and recordings correlated again.
    pub audit_events: u64,
    pub recordings_correlated: u64,
}

pub struct Indexer<'a> {
    store: &'a mut dyn Store,
    report: Report,
    problems: &'a mut dyn FnMut(Problem),
    progress: Option<Instant>,
    /// The journal entry or ES document being indexed: problems name it.
    entry: Option<String>,
    /// Credentials of this run's ES sources, to read messages back.
    es_sources: Vec<EsSource>,
    audit: crate::audit::correlate::Touched,
    audit_logs: Vec<(PathBuf, Option<String>)>,
}

/// What `tlog-rs index` reads.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub jsonl: Vec<PathBuf>,
    /// Journal directories or files.
    pub journal: Vec<PathBuf>,
    pub es: Vec<EsSource>,
}

/// FNV-1a, stable across builds (stored in the index).
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf29ce484222325)
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        for &x in b {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
        // Field separator, so ("ab","c") and ("a","bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x100000001b3);
        self
    }
}

/// Content of a message, independent of key order or extra keys a relay
/// added (e.g. rsyslog's `timestamp`).
pub(crate) fn message_hash(m: &Message) -> u64 {
    Fnv::new()
        .bytes(m.host.as_bytes())
        .bytes(m.rec.as_deref().unwrap_or("").as_bytes())
        .bytes(m.user.as_bytes())
        .bytes(m.term.as_bytes())
        .bytes(&m.session.to_le_bytes())
        .bytes(&m.id.to_le_bytes())
        .bytes(&m.pos.to_le_bytes())
        .bytes(m.time.as_deref().unwrap_or("").as_bytes())
        .bytes(m.timing.as_bytes())
        .bytes(m.in_txt.as_bytes())
        .bytes(&m.in_bin)
        .bytes(m.out_txt.as_bytes())
        .bytes(&m.out_bin)
        .0
}

fn is_candidate(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with('.') {
        return false;
    }
    // Rotated names too (`x.jsonl.1`, `x.log-20261128`), not compressed ones.
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let base = if base.len() < name.len() {
        base.strip_suffix(['.', '-']).unwrap_or(name)
    } else {
        name
    };
    if [".jsonl", ".json", ".log", ".events"]
        .iter()
        .any(|e| base.ends_with(e))
    {
        return true;
    }
    let mut side = p.as_os_str().to_owned();
    side.push(".events");
    Path::new(&side).exists()
}

/// Files to read under `root`, sorted (day files in date order).
pub fn walk(root: &Path, problems: &mut dyn FnMut(Problem)) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) => {
            problems(Problem {
                file: root.to_path_buf(),
                line: None,
                message: e.to_string(),
            });
            return out;
        }
    };
    if meta.is_file() {
        out.push(root.to_path_buf());
        return out;
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) => {
                problems(Problem {
                    file: dir,
                    line: None,
                    message: e.to_string(),
                });
                continue;
            }
        };
        for ent in rd.flatten() {
            let p = ent.path();
            match ent.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() && is_candidate(&p) => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Consume up to and including the next newline; the bytes consumed, or
/// None if the data ended first (nothing is then consumed for good: the
/// caller leaves its cursor before the line).
fn skip_line(r: &mut impl BufRead) -> std::io::Result<Option<u64>> {
    let mut n = 0u64;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            r.consume(i + 1);
            return Ok(Some(n + i as u64 + 1));
        }
        let l = buf.len();
        n += l as u64;
        r.consume(l);
    }
}

/// Hash of the first bytes (up to `upto`) that tells a file from a new one on its inode.
pub fn head_hash(f: &File, upto: u64) -> u64 {
    let mut buf = vec![0u8; upto.min(HEAD_BYTES) as usize];
    match f.read_exact_at(&mut buf, 0) {
        Ok(()) => Fnv::new().bytes(&buf).0,
        Err(_) => 0,
    }
}

fn field_str(m: &Map<String, Value>, k: &str, required: bool) -> Result<Option<String>, String> {
    match m.get(k) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(format!("field \"{k}\" is missing")),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(format!(
            "field \"{k}\": expected a string, found {}",
            kind(v)
        )),
    }
}

fn field_u64(m: &Map<String, Value>, k: &str) -> Result<Option<u64>, String> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            format!(
                "field \"{k}\": expected a non-negative integer, found {}",
                kind(v)
            )
        }),
    }
}

fn field_i64(m: &Map<String, Value>, k: &str) -> Result<Option<i64>, String> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("field \"{k}\": expected an integer, found {}", kind(v))),
    }
}

/// Event times are Unix seconds with 3 decimals, as numbers.
fn field_ms(m: &Map<String, Value>, k: &str) -> Result<Option<i64>, String> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => time_ms(&n.to_string())
            .or_else(|| n.as_f64().map(|f| (f * 1000.0).round() as i64))
            .map(Some)
            .ok_or_else(|| format!("field \"{k}\": not a time")),
        Some(v) => Err(format!(
            "field \"{k}\": expected Unix seconds, found {}",
            kind(v)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A start or end entry: (host, rec, info).
pub fn parse_event(m: &Map<String, Value>) -> Result<(String, String, EventInfo), String> {
    let end = match field_str(m, "event", true)?.as_deref() {
        Some("start") => false,
        Some("end") => true,
        Some(other) => return Err(format!("field \"event\": unknown event {other:?}")),
        None => unreachable!("required"),
    };
    let host = field_str(m, "host", true)?.unwrap_or_default();
    let rec = field_str(m, "rec", true)?.unwrap_or_default();
    let groups = match m.get("groups") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|g| g.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or("field \"groups\": expected an array of strings")?,
        ),
        Some(v) => {
            return Err(format!(
                "field \"groups\": expected an array, found {}",
                kind(v)
            ))
        }
    };
    let uid = field_u64(m, "uid")?
        .map(|u| u32::try_from(u).map_err(|_| "field \"uid\": out of range".to_string()))
        .transpose()?;
    Ok((
        host,
        rec,
        EventInfo {
            end,
            user: field_str(m, "user", true)?.unwrap_or_default(),
            tty: field_str(m, "tty", false)?,
            session: field_u64(m, "session")?,
            start_ms: field_ms(m, "start")?,
            end_ms: field_ms(m, "end")?,
            exit_status: field_i64(m, "exit_status")?,
            end_reason: field_str(m, "end_reason", false)?,
            messages_written: field_u64(m, "messages_written")?,
            messages_dropped: field_u64(m, "messages_dropped")?,
            service: field_str(m, "service", false)?,
            rhost: field_str(m, "rhost", false)?,
            uid,
            groups,
            rule: field_str(m, "rule", false)?,
            source: field_str(m, "source", false)?,
            fqdn: field_str(m, "fqdn", false)?,
            rport: field_u64(m, "rport")?,
            laddr: field_str(m, "laddr", false)?,
            lport: field_u64(m, "lport")?,
        },
    ))
}

enum Line {
    Message(Box<Message>),
    Event(String, String, Box<EventInfo>),
    Resumed,
    Audit(Box<crate::audit::AuditEvent>),
}

/// The keys that tell lines apart; other values are skipped unparsed.
#[derive(serde::Deserialize)]
struct Probe {
    #[serde(default)]
    ver: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    event: Option<Value>,
    #[serde(default)]
    host: Option<Value>,
    /// Audit events: laurel's `ID`, or `serial` of `tlog-rs audit-export`.
    #[serde(default, rename = "ID")]
    laurel_id: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    serial: Option<serde::de::IgnoredAny>,
}

/// The first JSON value of a line (tlog-play ignores trailing garbage).
fn first_value<T: serde::de::DeserializeOwned>(line: &[u8]) -> Result<T, String> {
    match serde_json::Deserializer::from_slice(line)
        .into_iter::<T>()
        .next()
    {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) if e.is_eof() => Err("truncated JSON".into()),
        Some(Err(e)) if e.is_data() => {
            Err("not a JSON object (neither a tlog message nor a tlog-rs event)".into())
        }
        Some(Err(e)) => Err(format!("corrupt JSON: {e}")),
        None => Err("empty".into()),
    }
}

/// Tell a tlog message from a tlog-rs event by their keys, and parse it.
fn classify(line: &[u8]) -> Result<Line, String> {
    let probe: Probe = first_value(line)?;
    if probe.ver.is_some() {
        if matches!(probe.host, Some(Value::Object(_))) {
            return Err("field \"host\": an object (ECS-style, e.g. from Filebeat), not tlog's host name string; deliver tlog's JSON unchanged".into());
        }
        let m = parse_message(line).map_err(|e| format!("tlog message: {e}"))?;
        if m.rec.as_deref().is_none_or(str::is_empty) {
            return Err("tlog message without \"rec\": recordings cannot be told apart".into());
        }
        Ok(Line::Message(Box::new(m)))
    } else if probe.event.as_ref().and_then(Value::as_str) == Some("resumed") {
        // The recorder was stopped and continued: evidence for the session
        // log, nothing the index keeps yet.
        Ok(Line::Resumed)
    } else if probe.event.is_some() {
        let obj: Map<String, Value> = first_value(line)?;
        let (host, rec, info) = parse_event(&obj).map_err(|e| format!("tlog-rs event: {e}"))?;
        Ok(Line::Event(host, rec, Box::new(info)))
    } else if probe.laurel_id.is_some() || probe.serial.is_some() {
        let obj: Map<String, Value> = first_value(line)?;
        match crate::audit::event::from_json_line(&obj, None) {
            Some(Ok(e)) => Ok(Line::Audit(Box::new(e))),
            Some(Err(e)) => Err(e),
            None => Err("neither a tlog message, a tlog-rs event nor an audit event".into()),
        }
    } else {
        Err("neither a tlog message (no \"ver\") nor a tlog-rs event (no \"event\")".into())
    }
}

impl<'a> Indexer<'a> {
    pub fn new(
        store: &'a mut dyn Store,
        problems: &'a mut dyn FnMut(Problem),
        progress: bool,
    ) -> Self {
        Indexer {
            store,
            report: Report::default(),
            problems,
            progress: progress.then(Instant::now),
            entry: None,
            es_sources: Vec::new(),
            audit: Default::default(),
            audit_logs: Vec::new(),
        }
    }

    /// Also read these raw audit logs (host for events without `node=`).
    pub fn audit_logs(mut self, logs: Vec<(PathBuf, Option<String>)>) -> Self {
        self.audit_logs = logs;
        self
    }

    fn problem(&mut self, file: &Path, line: Option<u64>, message: String) {
        let (line, message) = match &self.entry {
            Some(c) => (None, format!("{c}: {message}")),
            None => (line, message),
        };
        (self.problems)(Problem {
            file: file.to_path_buf(),
            line,
            message,
        });
    }

    fn tick(&mut self, file: &Path) {
        if let Some(last) = self.progress {
            if last.elapsed() >= Duration::from_millis(500) {
                eprint!(
                    "\r\x1b[Kindexing {} ({} files, {} MiB, {} messages)",
                    file.display(),
                    self.report.files,
                    self.report.bytes >> 20,
                    self.report.messages
                );
                self.progress = Some(Instant::now());
            }
        }
    }

    /// Read every new line under `roots`, then derive what changed.
    pub fn run(self, roots: &[PathBuf]) -> Result<Report, StoreError> {
        self.run_all(&Sources {
            jsonl: roots.to_vec(),
            ..Sources::default()
        })
    }

    /// Read what is new in every source, then derive what changed.
    pub fn run_all(mut self, sources: &Sources) -> Result<Report, StoreError> {
        for j in &sources.journal {
            self.journal(j)?;
            // journald's own audit entries in the same journal.
            let loc = std::path::absolute(j).unwrap_or_else(|_| j.clone());
            let c =
                crate::audit::journal::ingest(self.store, &loc, &mut self.audit, self.problems)?;
            self.report.audit_events += c.new;
            self.report.duplicates += c.duplicates;
            self.report.bad_lines += c.bad_entries;
        }
        for e in &sources.es {
            self.es(e)?;
        }
        self.es_sources = sources.es.clone();
        let roots = &sources.jsonl[..];
        let mut seen = HashSet::new();
        for root in roots {
            let files = walk(root, &mut |p| (self.problems)(p));
            for f in files {
                if let Some(id) = self.file(&f)? {
                    seen.insert(id);
                }
            }
        }
        for (log, host) in std::mem::take(&mut self.audit_logs) {
            let c = crate::audit::raw::ingest(
                self.store,
                &log,
                host.as_deref(),
                &mut self.audit,
                self.problems,
            )?;
            self.report.audit_events += c.new;
            self.report.duplicates += c.duplicates;
            self.report.bad_lines += c.bad_lines;
        }
        self.gone(roots, &seen)?;
        self.derive_dirty()?;
        self.report.recordings_correlated = crate::audit::correlate::run(self.store, &self.audit)?;
        if self.progress.is_some() {
            eprint!("\r\x1b[K");
        }
        Ok(self.report)
    }

    fn gone(&mut self, roots: &[PathBuf], seen: &HashSet<i64>) -> Result<(), StoreError> {
        for c in self.store.files()? {
            let under = roots.iter().any(|r| Path::new(&c.path).starts_with(r));
            if seen.contains(&c.id) || !under || c.ino == 0 || Path::new(&c.path).exists() {
                continue;
            }
            self.report.files_gone += 1;
            self.problem(
                Path::new(&c.path),
                None,
                "gone (deleted, or rotated out of the indexed directories); what it held stays indexed".into(),
            );
            self.store.begin()?;
            self.store.save_file(&FileCursor {
                dev: 0,
                ino: 0,
                ..c
            })?;
            self.store.commit()?;
        }
        Ok(())
    }

    /// Index the journal entries after the source's cursor.
    fn journal(&mut self, loc: &Path) -> Result<(), StoreError> {
        // Not canonicalised: /proc/PID/root/... must stay what it says.
        let loc = match std::path::absolute(loc) {
            Ok(p) => p,
            Err(e) => {
                self.problem(loc, None, e.to_string());
                return Ok(());
            }
        };
        let name = SourceLoc::Journal(loc.clone()).to_string();
        let shown = PathBuf::from(&name);
        let id = match self.store.files()?.into_iter().find(|c| c.path == name) {
            Some(c) => c.id,
            None => {
                self.store.begin()?;
                // No inode: journal files rotate; the cursor says where we are.
                let id = self.store.save_file(&FileCursor {
                    id: 0,
                    path: name.clone(),
                    dev: 0,
                    ino: 0,
                    head: 0,
                    offset: 0,
                    line: 0,
                })?;
                self.store.commit()?;
                id
            }
        };
        let cursor = self.store.source_cursor(&name)?;
        let mut rd = match JournalReader::spawn(&loc, cursor.as_deref(), None) {
            Ok(r) => r,
            Err(e) => {
                self.problem(&shown, None, e);
                return Ok(());
            }
        };
        self.report.files += 1;
        let (mut last, mut saved) = (None, cursor);
        let mut since_commit = 0u64;
        self.store.begin()?;
        loop {
            let e = match rd.next(&mut last) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    self.problem(&shown, None, e);
                    break;
                }
            };
            let n = e.body.len() as u64;
            self.report.bytes += n;
            since_commit += n;
            self.entry = Some(format!("entry {}", e.cursor));
            let r = self.line(&shown, id, 0, e.realtime_us, &e.body);
            self.entry = None;
            r?;
            if since_commit >= COMMIT_BYTES {
                since_commit = 0;
                if let Some(c) = &last {
                    self.store.save_source_cursor(&name, c)?;
                    saved = last.clone();
                }
                self.store.commit()?;
                self.store.begin()?;
                self.tick(&shown);
            }
        }
        if let Some(c) = last.as_deref().filter(|_| last != saved) {
            self.store.save_source_cursor(&name, c)?;
        }
        self.store.commit()?;
        Ok(())
    }

    /// Index the documents of an Elasticsearch/OpenSearch index from its
    /// cursor on (see `es`).
    fn es(&mut self, src: &EsSource) -> Result<(), StoreError> {
        let loc = src.loc();
        let name = loc.to_string();
        let shown = PathBuf::from(&name);
        let mut client = match EsClient::new(src) {
            Ok(c) => c,
            Err(e) => {
                self.problem(&shown, None, e);
                return Ok(());
            }
        };
        let cursor: Option<i64> = self
            .store
            .source_cursor(&name)?
            .and_then(|c| c.parse().ok());
        let (query, sort) = es::ingest_query(cursor);
        let mut pit = match client.open_pit() {
            Ok(p) => p,
            Err(e) => {
                self.problem(&shown, None, e);
                return Ok(());
            }
        };
        self.report.files += 1;
        // Message refs point to a row per recording (see recording::SourceLoc).
        let prefix = format!("{name}#");
        let mut rows: HashMap<String, i64> = self
            .store
            .files()?
            .into_iter()
            .filter(|c| c.path.starts_with(&prefix))
            .map(|c| (c.path, c.id))
            .collect();
        let (mut after, mut last_ts) = (None, cursor);
        let mut untimed = 0u64;
        self.store.begin()?;
        loop {
            let (hits, next) = match client.page(&pit, &query, &sort, after.as_ref()) {
                Ok(p) => p,
                Err(e) => {
                    self.problem(&shown, None, e);
                    break;
                }
            };
            pit = next;
            let Some(last) = hits.last() else { break };
            after = Some(last.sort.clone());
            for h in &hits {
                let line = es::document_line(&h.source);
                let key = match (h.source.get("host"), h.source.get("rec")) {
                    (Some(Value::String(host)), Some(Value::String(rec))) => {
                        Some((host.clone(), rec.clone()))
                    }
                    _ => None,
                };
                // Documents that are not messages (events, bad ones) need no row.
                let file = match key {
                    Some(key) if h.source.get("ver").is_some() => {
                        let path = SourceLoc::Es {
                            url: src.loc_url(),
                            index: src.index.clone(),
                            key: Some(key),
                        }
                        .to_string();
                        match rows.get(&path) {
                            Some(id) => *id,
                            None => {
                                let id = self.store.save_file(&FileCursor {
                                    id: 0,
                                    path: path.clone(),
                                    dev: 0,
                                    ino: 0,
                                    head: 0,
                                    offset: 0,
                                    line: 0,
                                })?;
                                rows.insert(path, id);
                                id
                            }
                        }
                    }
                    _ => 0,
                };
                self.report.bytes += line.len() as u64;
                self.entry = Some(format!("document {}", h.id));
                let r = self.line(&shown, file, 0, 0, &line);
                self.entry = None;
                r?;
                match es::hit_time(h) {
                    Some(t) => last_ts = Some(last_ts.map_or(t, |l| l.max(t))),
                    None => untimed += 1,
                }
            }
            // The cursor goes with the rows of each page; a range on
            // `timestamp` would skip documents without one.
            let c = match last_ts {
                Some(t) if untimed == 0 => t.to_string(),
                _ => String::new(),
            };
            self.store.save_source_cursor(&name, &c)?;
            self.store.commit()?;
            self.store.begin()?;
            self.tick(&shown);
            if hits.len() < es::PAGE {
                break;
            }
        }
        self.store.commit()?;
        client.close_pit(&pit);
        if untimed > 0 {
            self.problem(
                &shown,
                None,
                format!("{untimed} documents without `timestamp` (the relay's receive time): the whole index is read on every run; add it in the rsyslog template (docs/central.md)"),
            );
        }
        Ok(())
    }

    /// Index the new lines of one file; returns its cursor id.
    fn file(&mut self, path: &Path) -> Result<Option<i64>, StoreError> {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                self.problem(path, None, e.to_string());
                return Ok(None);
            }
        };
        let meta = match f.metadata() {
            Ok(m) => m,
            Err(e) => {
                self.problem(path, None, e.to_string());
                return Ok(None);
            }
        };
        let (dev, ino, len) = (meta.dev(), meta.ino(), meta.len());
        let path_s = path.to_string_lossy().into_owned();
        let mut cur = match self.store.file_by_inode(dev, ino)? {
            Some(c) if head_hash(&f, c.offset) != c.head => {
                // A new file on a reused inode: the old one is gone.
                self.store.begin()?;
                self.store.save_file(&FileCursor {
                    dev: 0,
                    ino: 0,
                    ..c
                })?;
                self.store.commit()?;
                None
            }
            Some(c) if len < c.offset => {
                self.problem(
                    path,
                    None,
                    format!(
                        "shrank below the indexed {} bytes; read again from the start",
                        c.offset
                    ),
                );
                Some(FileCursor {
                    offset: 0,
                    line: 0,
                    head: 0,
                    path: path_s.clone(),
                    ..c
                })
            }
            Some(c) => Some(FileCursor {
                path: path_s.clone(),
                ..c
            }),
            None => None,
        }
        .unwrap_or(FileCursor {
            id: 0,
            path: path_s,
            dev,
            ino,
            head: 0,
            offset: 0,
            line: 0,
        });
        self.report.files += 1;
        if cur.id == 0 {
            self.store.begin()?;
            cur.id = self.store.save_file(&cur)?;
            self.store.commit()?;
        }
        if len == cur.offset {
            return Ok(Some(cur.id));
        }
        let mut r = BufReader::with_capacity(1 << 20, f);
        if let Err(e) = r.seek(SeekFrom::Start(cur.offset)) {
            self.problem(path, None, e.to_string());
            return Ok(Some(cur.id));
        }
        let mut buf = Vec::with_capacity(8192);
        let mut since_commit = 0u64;
        self.store.begin()?;
        loop {
            buf.clear();
            let n = match r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    self.problem(path, Some(cur.line + 1), format!("read error: {e}"));
                    break;
                }
            };
            if n == 0 {
                break;
            }
            if buf.last() != Some(&b'\n') && n as u64 == MAX_LINE {
                // No tlog message is this long: skip to the next newline
                // without holding the line in memory.
                match skip_line(&mut r) {
                    Ok(Some(rest)) => {
                        let len = n as u64 + rest;
                        cur.offset += len;
                        cur.line += 1;
                        self.report.bytes += len;
                        self.report.bad_lines += 1;
                        self.problem(
                            path,
                            Some(cur.line),
                            format!("line of {len} bytes, longer than any tlog message: skipped"),
                        );
                        continue;
                    }
                    Ok(None) => {
                        self.report.partial_lines += 1;
                        break;
                    }
                    Err(e) => {
                        self.problem(path, Some(cur.line + 1), format!("read error: {e}"));
                        break;
                    }
                }
            }
            if buf.last() != Some(&b'\n') {
                self.report.partial_lines += 1;
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| SystemTime::now().duration_since(m).ok())
                    .is_some_and(|age| age > STALE_PARTIAL);
                if old {
                    self.problem(
                        path,
                        Some(cur.line + 1),
                        format!("truncated last line ({n} bytes, no newline); left unread until it is completed"),
                    );
                }
                break;
            }
            let offset = cur.offset;
            cur.offset += n as u64;
            cur.line += 1;
            self.report.bytes += n as u64;
            since_commit += n as u64;
            self.line(path, cur.id, cur.line, offset, &buf)?;
            if since_commit >= COMMIT_BYTES {
                since_commit = 0;
                cur.head = head_hash(r.get_ref(), cur.offset);
                self.store.save_file(&cur)?;
                self.store.commit()?;
                self.store.begin()?;
                self.tick(path);
            }
            if cur.line % 4096 == 0 {
                self.tick(path);
            }
        }
        cur.head = head_hash(r.get_ref(), cur.offset);
        self.store.save_file(&cur)?;
        self.store.commit()?;
        Ok(Some(cur.id))
    }

    fn line(
        &mut self,
        path: &Path,
        file: i64,
        line: u64,
        offset: u64,
        buf: &[u8],
    ) -> Result<(), StoreError> {
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        match classify(body) {
            Err(e) => {
                self.report.bad_lines += 1;
                self.problem(path, Some(line), e);
            }
            Ok(Line::Message(m)) => {
                let rec = m.rec.as_deref().unwrap_or("");
                let key = self.store.recording(&m.host, rec)?;
                let r = MessageRef {
                    id: m.id,
                    file,
                    offset,
                    len: body.len() as u32,
                    hash: message_hash(&m),
                };
                match self.store.add_message(key, &r)? {
                    Added::New => self.report.messages += 1,
                    Added::Duplicate => self.report.duplicates += 1,
                    Added::Conflict => {
                        self.report.conflicts += 1;
                        self.store.mark_tampered(key)?;
                        self.problem(
                            path,
                            Some(line),
                            format!(
                                "message id {} of recording {rec} on {} differs from the copy indexed before: recording marked tampered",
                                m.id, m.host
                            ),
                        );
                    }
                }
            }
            Ok(Line::Resumed) => {}
            Ok(Line::Audit(e)) => match self.store.audit()?.add_audit_event(&e)? {
                Added::New => {
                    self.report.audit_events += 1;
                    self.audit.event(&e);
                }
                _ => self.report.duplicates += 1,
            },
            Ok(Line::Event(host, rec, info)) => {
                let key = self.store.recording(&host, &rec)?;
                match self.store.add_event(key, &info)? {
                    Added::New => self.report.events += 1,
                    _ => self.report.duplicates += 1,
                }
            }
        }
        Ok(())
    }

    /// Re-derive every recording that got new messages or events. Reading
    /// and deriving (JSON, terminal emulation, trigrams, compression) run on
    /// worker threads, one recording each, while this one writes finished
    /// results into the store in order.
    fn derive_dirty(&mut self) -> Result<(), StoreError> {
        let dirty = self.store.dirty()?;
        let es_sources = self.es_sources.clone();
        let lanes = derive_lanes().min(dirty.len()).max(1);
        std::thread::scope(|scope| {
            // Lane i derives recordings i, i + lanes, ...; each has AHEAD jobs
            // queued, so that a lane slowed by one large recording does
            // not leave the other idle. Owned here, so that any return (errors too)
            // closes the channels and the workers end before the scope
            // joins them.
            let mut jobs = Vec::new();
            let mut outs = Vec::new();
            for _ in 0..lanes {
                let (job_tx, job_rx) = mpsc::sync_channel::<DeriveJob>(AHEAD);
                let (out_tx, out_rx) = mpsc::sync_channel::<Derivation>(4);
                let es = &es_sources;
                scope.spawn(move || derive_worker(job_rx, out_tx, es));
                jobs.push(job_tx);
                outs.push(out_rx);
            }
            // (A send fails only if the worker is gone; the receive below
            // then reports it.)
            for (n, &key) in dirty.iter().take(lanes * AHEAD).enumerate() {
                let _ = jobs[n % lanes].send(self.derive_job(key)?);
            }
            // Recordings are committed in batches of about DERIVE_COMMIT_BYTES of
            // text: each commit flushes the text index's pending terms into
            // a segment that later has to be merged.
            let (mut in_txn, mut batch) = (false, 0);
            for (n, &key) in dirty.iter().enumerate() {
                if let Some(&k) = dirty.get(n + lanes * AHEAD) {
                    let _ = jobs[n % lanes].send(self.derive_job(k)?);
                }
                batch += self.store_derivation(key, &outs[n % lanes], &mut in_txn)?;
                if batch >= DERIVE_COMMIT_BYTES {
                    self.store.commit()?;
                    (in_txn, batch) = (false, 0);
                }
                self.progress_derived(n);
            }
            if in_txn {
                self.store.commit()?;
            }
            Ok(())
        })
    }

    fn derive_job(&mut self, key: i64) -> Result<DeriveJob, StoreError> {
        Ok(DeriveJob {
            pipe: self.store.is_pipe(key)?,
            msgs: self.store.messages(key)?,
        })
    }

    /// Store what the worker sends for `key`, in the open transaction (one
    /// is begun if none is): text arrives in slices so that a huge recording
    /// does not grow memory. Returns the bytes of text stored.
    fn store_derivation(
        &mut self,
        key: i64,
        outs: &mpsc::Receiver<Derivation>,
        in_txn: &mut bool,
    ) -> Result<usize, StoreError> {
        if !*in_txn {
            self.store.begin()?;
            *in_txn = true;
        }
        self.store.clear_derived(key)?;
        let mut bytes = 0;
        loop {
            match outs.recv() {
                Ok(Derivation::Problem(path, e)) => self.problem(Path::new(&path), None, e),
                Ok(Derivation::Slice(d)) => {
                    bytes += d.chunks.iter().map(|c| c.text.len()).sum::<usize>();
                    self.store.add_derived(key, &d)?
                }
                Ok(Derivation::Done(d)) => {
                    bytes += d.chunks.iter().map(|c| c.text.len()).sum::<usize>();
                    self.store.store_derived(key, &d)?;
                    break;
                }
                Err(_) => return Err(StoreError("internal: the derivation thread stopped".into())),
            }
        }
        self.report.recordings_derived += 1;
        self.audit.recording(key);
        Ok(bytes)
    }

    fn progress_derived(&mut self, n: usize) {
        if n.is_multiple_of(64) {
            if let Some(last) = self.progress {
                if last.elapsed() >= Duration::from_millis(500) {
                    eprint!("\r\x1b[Kderiving text and keyframes: {n} recordings");
                    self.progress = Some(Instant::now());
                }
            }
        }
    }
}

/// Jobs queued per derivation thread.
const AHEAD: usize = 4;

/// Derivation threads: one per core, at most 4 (the writer then waits).
fn derive_lanes() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// One recording to derive: its message references, in id order.
struct DeriveJob {
    pipe: bool,
    msgs: Vec<(MessageRef, String)>,
}

/// What the derivation thread hands back, in order, per job.
enum Derivation {
    /// A message that could not be read (file, reason).
    Problem(String, String),
    Slice(Derived),
    Done(Derived),
}

/// The derivation thread: reads each job's messages from their stores and
/// runs them through the emulator. Stops when the jobs or the receiver end.
fn derive_worker(
    jobs: mpsc::Receiver<DeriveJob>,
    out: mpsc::SyncSender<Derivation>,
    es_sources: &[EsSource],
) {
    for job in jobs {
        let mut d = Deriver::new().pipe(job.pipe);
        let mut fetch = Fetcher::new(&job.msgs).es(es_sources);
        for (m, path) in &job.msgs {
            match fetch.get(m) {
                Ok((_, msg)) => d.message(&msg),
                Err(e) => {
                    let e = e.strip_prefix(&format!("{path}: ")).unwrap_or(&e);
                    if out
                        .send(Derivation::Problem(path.clone(), e.to_string()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
            if d.pending_bytes() >= DERIVE_SLICE && out.send(Derivation::Slice(d.drain())).is_err()
            {
                return;
            }
        }
        if out.send(Derivation::Done(d.finish())).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More recordings than the derivation pipeline holds at once, each with
    /// its own text: every one is derived once, with its own text, and a
    /// second run derives nothing.
    #[test]
    fn the_derivation_thread_derives_each_recording_once_with_its_own_text() {
        use crate::store::sqlite::Sqlite;
        use crate::store::Query;
        use tlog_rs_format::{Encoder, RecHeader};

        let dir = std::env::temp_dir().join(format!("tlog-rs-derive-{}", std::process::id()));
        let f = dir.join("h").join("day.jsonl");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        let mut text = String::new();
        for n in 0..9 {
            let h = RecHeader {
                host: "h".into(),
                rec: format!("r{n}"),
                user: "u".into(),
                term: "xterm".into(),
                session: n + 1,
            };
            let start = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000 + u64::from(n) * 100);
            let mut enc = Encoder::new(h, 64, start);
            enc.window(Duration::ZERO, 80, 24);
            enc.output(
                Duration::from_secs(1),
                format!("marker-{n}-text\r\n").as_bytes(),
            );
            enc.flush();
            while let Some(m) = enc.pop_message() {
                text.push_str(std::str::from_utf8(&m).unwrap().trim_end());
                text.push('\n');
            }
        }
        std::fs::write(&f, text).unwrap();
        let mut s = Sqlite::in_memory().unwrap();
        let mut probs = vec![];
        let mut push = |p| probs.push(p);
        let r = Indexer::new(&mut s, &mut push, false)
            .run(std::slice::from_ref(&dir))
            .unwrap();
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(s.counts().unwrap()[0], 9, "{:?}", s.counts());
        assert_eq!(r.recordings_derived, 9);
        for n in 0..9 {
            let hits = s
                .search(&Query {
                    text: Some(format!("marker-{n}-text")),
                    ..Query::default()
                })
                .unwrap();
            let recs: Vec<&str> = hits.iter().map(|h| h.rec.as_str()).collect();
            assert_eq!(recs, [format!("r{n}")], "text of r{n}");
        }
        let mut push = |p| probs.push(p);
        let again = Indexer::new(&mut s, &mut push, false)
            .run(std::slice::from_ref(&dir))
            .unwrap();
        assert_eq!(again.recordings_derived, 0);
        assert!(probs.is_empty(), "{probs:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn skip_line_stops_after_the_newline() {
        let mut r = std::io::BufReader::with_capacity(4, &b"abcdefghij\nnext\n"[..]);
        assert_eq!(skip_line(&mut r).unwrap(), Some(11));
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "next\n");
        let mut r = std::io::BufReader::new(&b"no newline"[..]);
        assert_eq!(skip_line(&mut r).unwrap(), None);
    }

    #[test]
    fn candidates() {
        for yes in [
            "a.jsonl",
            "2026-11-28.jsonl.1",
            "rec.log-20261128",
            "rec.log.events",
            "x.json",
        ] {
            assert!(is_candidate(Path::new(yes)), "{yes}");
        }
        for no in [
            "a.jsonl.gz",
            ".hidden.jsonl",
            "index.db",
            "index.db-wal",
            "notes.txt",
            "x.1",
        ] {
            assert!(!is_candidate(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn classify_lines() {
        let msg = br#"{"ver":"2.3","host":"h","rec":"r1","user":"u","term":"xterm","session":1,"id":1,"pos":0,"time":1.000,"timing":"=80x24","in_txt":"","in_bin":[],"out_txt":"","out_bin":[]}"#;
        assert!(
            matches!(classify(msg), Ok(Line::Message(_))),
            "{:?}",
            classify(msg).err()
        );
        let ev = br#"{"event":"start","rec":"r1","user":"u","host":"h","tty":null,"session":1,"start":1.5,"end":null,"service":"sshd","uid":1000,"groups":["wheel"]}"#;
        match classify(ev) {
            Ok(Line::Event(h, r, e)) => {
                assert_eq!((h.as_str(), r.as_str()), ("h", "r1"));
                assert_eq!(e.start_ms, Some(1500));
                assert_eq!(e.service.as_deref(), Some("sshd"));
                assert_eq!(e.groups, Some(vec!["wheel".to_string()]));
                assert_eq!(e.uid, Some(1000));
            }
            _ => panic!("event"),
        }
        let resumed = br#"{"event":"resumed","rec":"r1","user":"u","host":"h","time":3.5}"#;
        assert!(matches!(classify(resumed), Ok(Line::Resumed)));
        let e = classify(br#"{"event":"paused","rec":"r","user":"u","host":"h"}"#)
            .err()
            .unwrap();
        assert!(e.contains("unknown event \"paused\""), "{e}");
        let ecs =
            String::from_utf8_lossy(msg).replace("\"host\":\"h\"", "\"host\":{\"name\":\"h\"}");
        let e = classify(ecs.as_bytes()).err().unwrap();
        assert!(e.contains("ECS"), "{e}");
        let e = classify(&msg[..60]).err().unwrap();
        assert_eq!(e, "truncated JSON");
        let e = classify(b"{\"ver\":\"2.3\",\"host\":\"h\",}")
            .err()
            .unwrap();
        assert!(e.starts_with("corrupt JSON"), "{e}");
        let e = classify(b"[1,2]").err().unwrap();
        assert!(e.contains("not a JSON object"), "{e}");
        let e = classify(b"{\"a\":1}").err().unwrap();
        assert!(e.contains("neither"), "{e}");
        let e = classify(br#"{"event":"start","rec":"r","user":"u","host":"h","uid":"0"}"#)
            .err()
            .unwrap();
        assert!(e.contains("\"uid\"") && e.contains("a string"), "{e}");
        let e = classify(br#"{"event":"start","rec":"r","user":"u","host":{"name":"h"}}"#)
            .err()
            .unwrap();
        assert!(e.contains("\"host\"") && e.contains("an object"), "{e}");
        let no_rec = String::from_utf8_lossy(msg).replace("\"rec\":\"r1\",", "");
        let e = classify(no_rec.as_bytes()).err().unwrap();
        assert!(e.contains("without \"rec\""), "{e}");
    }

    #[test]
    fn hash_ignores_relay_keys_but_not_content() {
        let a = br#"{"ver":"2.3","host":"h","rec":"r1","user":"u","term":"xterm","session":1,"id":1,"pos":0,"timing":">2","in_txt":"","in_bin":[],"out_txt":"ab","out_bin":[]}"#;
        let b = br#"{"timestamp":"2026-11-26T14:12:08+00:00","ver":"2.3","host":"h","rec":"r1","user":"u","term":"xterm","session":1,"id":1,"pos":0,"timing":">2","in_txt":"","in_bin":[],"out_txt":"ab","out_bin":[]}"#;
        let c = String::from_utf8_lossy(a).replace("\"ab\"", "\"ac\"");
        let h = |l: &[u8]| message_hash(&parse_message(l).unwrap());
        assert_eq!(h(a), h(b));
        assert_ne!(h(a), h(c.as_bytes()));
    }
}
