//! Storage of the index behind one trait, so that a shared PostgreSQL
//! backend can sit beside the embedded SQLite one.

use std::fmt;

use crate::config::DbSpec;
use crate::derive::Derived;

mod order;
pub mod postgres;
pub mod sqlite;
mod verify;

pub use order::{Page, Sort, SortKey};

#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(format!("index database: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How far a source file has been indexed. Files are known by device and
/// inode (so a renamed, rotated file continues where it was) plus a hash of
/// its first bytes (so a new file that reuses a deleted file's inode starts
/// from 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCursor {
    pub id: i64,
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    pub head: u64,
    /// Bytes consumed (always the end of a complete line).
    pub offset: u64,
    /// Lines consumed.
    pub line: u64,
}

/// Where one message's line lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    pub id: u64,
    pub file: i64,
    pub offset: u64,
    pub len: u32,
    /// Hash of the message's content, to tell a duplicate delivery from a
    /// conflicting (tampered) one.
    pub hash: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New,
    /// Same (host, rec, id) with the same content: a duplicate delivery.
    Duplicate,
    /// Same (host, rec, id), different content.
    Conflict,
}

/// A session start or end entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventInfo {
    pub end: bool,
    pub user: String,
    pub tty: Option<String>,
    pub session: Option<u64>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub exit_status: Option<i64>,
    pub end_reason: Option<String>,
    pub messages_written: Option<u64>,
    pub messages_dropped: Option<u64>,
    pub service: Option<String>,
    pub rhost: Option<String>,
    pub uid: Option<u32>,
    pub groups: Option<Vec<String>>,
    pub rule: Option<String>,
    pub source: Option<String>,
    pub fqdn: Option<String>,
    /// sshd's view of the login's connection (crate::hops).
    pub rport: Option<u64>,
    pub laddr: Option<String>,
    pub lport: Option<u64>,
}

/// Recording state as stored and searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Complete,
    Incomplete,
    Tampered,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Complete => "complete",
            State::Incomplete => "incomplete",
            State::Tampered => "tampered",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "complete" => Ok(State::Complete),
            "incomplete" => Ok(State::Incomplete),
            "tampered" => Ok(State::Tampered),
            _ => Err(format!("unknown recording state {s:?}")),
        }
    }
}

/// A search: every set field must hold (AND).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub user: Option<String>,
    pub group: Option<String>,
    pub host: Option<String>,
    /// Hosts of the requested host group (already resolved).
    pub hosts: Option<Vec<String>>,
    pub service: Option<String>,
    /// Administrative: uid 0 (or user root when no uid was recorded), one of
    /// these services, or one of these groups.
    pub admin: Option<(Vec<String>, Vec<String>)>,
    /// Overlap with `[since, until)`, Unix ms.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub text: Option<String>,
    pub command: Option<String>,
    pub incomplete: bool,
    /// The order of the hits; None: by start, host and rec, ascending.
    pub order: Option<Sort>,
    /// At most this many hits, after skipping `offset` (in `order`).
    pub limit: Option<usize>,
    pub offset: usize,
    /// What the asker may see (`tlog-rs web`); None: everything.
    pub scope: Option<Scope>,
}

/// A viewer's scope (web scoped auditors, issue 12): a recording is in it
/// if any part holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The viewer's own recordings.
    pub user: Option<String>,
    /// Recordings made on these hosts (name or FQDN).
    pub hosts: Vec<String>,
    /// Recordings whose user's login groups include one of these.
    pub groups: Vec<String>,
}

impl Scope {
    /// The same rule as the search's SQL, for one recording.
    pub fn allows(&self, info: &RecordingInfo) -> bool {
        let h = &info.hit;
        self.user.as_deref().is_some_and(|u| u == h.user)
            || self
                .hosts
                .iter()
                .any(|x| *x == h.host || info.fqdn.as_deref() == Some(x.as_str()))
            || info.groups.iter().any(|g| self.groups.contains(g))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Milliseconds from the recording start.
    pub offset_ms: i64,
    pub snippet: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub rec: String,
    pub host: String,
    pub user: String,
    pub service: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub state: State,
    pub matches: Vec<Match>,
}

/// A stored keyframe: the screen after packet `packet` of message `msg_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyframe {
    pub t_ms: i64,
    pub msg_id: u64,
    pub packet: u32,
    pub cols: u16,
    pub rows: u16,
    /// Escape sequences that paint the screen on a fresh emulator.
    pub screen: Vec<u8>,
}

/// One recording's facts, looked up by (host, rec) without creating it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingInfo {
    pub key: i64,
    pub hit: Hit,
    pub uid: Option<u32>,
    pub groups: Vec<String>,
    pub rhost: Option<String>,
    pub tty: Option<String>,
    pub term: Option<String>,
    pub fqdn: Option<String>,
}

/// One row of the access log: who viewed or exported which recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    pub t_ms: i64,
    /// The authenticated (canonical PAM) user.
    pub who: String,
    /// Client address.
    pub client: String,
    /// view, play, export-jsonl, export-cast, ...
    pub action: String,
    pub host: String,
    pub rec: String,
}

pub trait Store {
    fn begin(&mut self) -> Result<()>;
    fn commit(&mut self) -> Result<()>;
    /// The cursor of the file with this device and inode, if known.
    fn file_by_inode(&mut self, dev: u64, ino: u64) -> Result<Option<FileCursor>>;
    /// Insert (id 0) or update a cursor; returns its id.
    fn save_file(&mut self, c: &FileCursor) -> Result<i64>;
    fn files(&mut self) -> Result<Vec<FileCursor>>;
    fn forget_file(&mut self, id: i64) -> Result<()>;
    /// The key of recording (host, rec), created if new.
    fn recording(&mut self, host: &str, rec: &str) -> Result<i64>;
    fn add_message(&mut self, rec: i64, m: &MessageRef) -> Result<Added>;
    fn add_event(&mut self, rec: i64, e: &EventInfo) -> Result<Added>;
    fn mark_tampered(&mut self, rec: i64) -> Result<()>;
    /// Recordings with new messages or events since their last derivation.
    fn dirty(&mut self) -> Result<Vec<i64>>;
    /// True if a session entry says the recording had no terminal.
    fn is_pipe(&mut self, rec: i64) -> Result<bool>;
    /// Messages of a recording in id order, with the path of their file.
    fn messages(&mut self, rec: i64) -> Result<Vec<(MessageRef, String)>> {
        self.messages_in(rec, 0, i64::MAX as u64, usize::MAX)
    }
    /// The first `limit` messages with ids in `first..=last`, in id order:
    /// what one stretch of a long recording needs (a web segment), without
    /// the references of all the others.
    fn messages_in(
        &mut self,
        rec: i64,
        first: u64,
        last: u64,
        limit: usize,
    ) -> Result<Vec<(MessageRef, String)>>;
    /// Replace everything derived from a recording's messages.
    /// Delete a recording's text, commands and keyframes before it is
    /// derived again.
    fn clear_derived(&mut self, rec: i64) -> Result<()>;
    /// Add text chunks, commands and keyframes (derivation in progress).
    fn add_derived(&mut self, rec: i64, d: &Derived) -> Result<()>;
    /// Store the statistics and state, and add what `d` still holds.
    fn store_derived(&mut self, rec: i64, d: &Derived) -> Result<()>;
    fn search(&mut self, q: &Query) -> Result<Vec<Hit>>;
    /// The hits of `q` (its order and window) and the number of all its
    /// hits, for paging.
    fn search_page(&mut self, q: &Query) -> Result<Page>;
    fn keyframes(&mut self, host: &str, rec: &str) -> Result<Vec<Keyframe>>;
    /// The keyframes without their screens (empty): where a seek can start.
    fn keyframe_index(&mut self, host: &str, rec: &str) -> Result<Vec<Keyframe>> {
        let mut v = self.keyframes(host, rec)?;
        for k in &mut v {
            k.screen = Vec::new();
        }
        Ok(v)
    }
    /// One keyframe's screen, by its position.
    fn keyframe_screen(
        &mut self,
        host: &str,
        rec: &str,
        msg_id: u64,
        packet: u32,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .keyframes(host, rec)?
            .into_iter()
            .find(|k| k.msg_id == msg_id && k.packet == packet)
            .map(|k| k.screen))
    }
    /// The audit events and their correlation (index/src/audit/store.rs).
    fn audit(&mut self) -> Result<&mut dyn crate::audit::store::AuditStore> {
        Err(StoreError(
            "this index backend does not keep audit events yet".into(),
        ))
    }
    /// The recordings with this rec id: (key, host), by host.
    fn find_recordings(&mut self, _rec: &str) -> Result<Vec<(i64, String)>> {
        Err(unsupported("find_recordings"))
    }
    /// A source's resume point (journal cursor, search_after key), by its
    /// location as in `files.path`; saved in the caller's transaction.
    fn source_cursor(&mut self, _source: &str) -> Result<Option<String>> {
        Err(unsupported("source_cursor"))
    }
    fn save_source_cursor(&mut self, _source: &str, _cursor: &str) -> Result<()> {
        Err(unsupported("save_source_cursor"))
    }
    /// Number of recordings, messages, text chunks, commands, keyframes.
    fn counts(&mut self) -> Result<[u64; 5]>;
    /// Recordings linked to this one as jump-server hops (crate::hops).
    fn hops(&mut self, _rec: i64) -> Result<Vec<crate::hops::Hop>> {
        Err(unsupported("hops"))
    }
    // For `tlog-rs web`; backends without them answer with an error.
    fn recording_info(&mut self, _host: &str, _rec: &str) -> Result<Option<RecordingInfo>> {
        Err(unsupported("recording_info"))
    }
    /// Submitted input lines of a recording: (ms from its start, text).
    fn commands(&mut self, _rec: i64) -> Result<Vec<(i64, String)>> {
        Err(unsupported("commands"))
    }
    fn log_access(&mut self, _e: &AccessEntry) -> Result<()> {
        Err(unsupported("log_access"))
    }
    /// The newest `limit` access log rows, newest first.
    fn access_log(&mut self, _limit: usize) -> Result<Vec<AccessEntry>> {
        Err(unsupported("access_log"))
    }

    // Retention: `tlog-rs purge` and `tlog-rs hold` (crate tlog-rs-retention).
    /// Every recording with a start time, with what the retention policy
    /// looks at.
    fn retention_rows(&mut self) -> Result<Vec<RetentionRow>> {
        Err(unsupported("retention"))
    }
    /// Put (or update) a legal hold on recording (host, rec).
    fn set_hold(&mut self, _h: &Hold) -> Result<()> {
        Err(unsupported("legal holds"))
    }
    /// Lift a hold; false if there was none.
    fn release_hold(&mut self, _host: &str, _rec: &str) -> Result<bool> {
        Err(unsupported("legal holds"))
    }
    /// All holds, by host and rec.
    fn holds(&mut self) -> Result<Vec<Hold>> {
        Err(unsupported("legal holds"))
    }
    /// The messages whose lines lie in source file `file`: (recording key,
    /// message id, offset).
    fn file_messages(&mut self, _file: i64) -> Result<Vec<(i64, u64, u64)>> {
        Err(unsupported("file_messages"))
    }
    /// A message's line moved (its file was rewritten by a purge).
    fn move_message(&mut self, _rec: i64, _id: u64, _offset: u64) -> Result<()> {
        Err(unsupported("move_message"))
    }
    /// Delete recording `key` and every row indexed or derived from it
    /// (messages, events, text, commands, keyframes, audit links).
    fn delete_recording(&mut self, _key: i64) -> Result<()> {
        Err(unsupported("delete_recording"))
    }
}

/// What the retention policy needs to know of one recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRow {
    pub key: i64,
    pub host: String,
    pub rec: String,
    pub user: String,
    pub groups: Vec<String>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

/// A legal hold: the recording is never purged while it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub host: String,
    pub rec: String,
    pub reason: Option<String>,
    /// Who set it, and when (Unix ms).
    pub who: String,
    pub t_ms: i64,
}

fn unsupported(what: &str) -> StoreError {
    StoreError(format!("this index backend does not support {what} yet"))
}

/// A one-line excerpt of `body` around `needle_len` bytes at `pos`.
pub fn snippet(body: &str, pos: usize, needle_len: usize) -> String {
    const CTX: usize = 40;
    let pos = pos.min(body.len());
    let mut a = pos.saturating_sub(CTX);
    while !body.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = (pos + needle_len + CTX).min(body.len());
    while !body.is_char_boundary(b) {
        b += 1;
    }
    let mut s = String::new();
    if a > 0 {
        s.push('…');
    }
    s.push_str(&body[a..b].replace(['\n', '\r', '\t'], " "));
    if b < body.len() {
        s.push('…');
    }
    s
}

/// Open the index named by `db`, creating its schema on first use.
pub fn open(db: &DbSpec) -> Result<Box<dyn Store>> {
    match db {
        DbSpec::Sqlite(p) => Ok(Box::new(sqlite::Sqlite::open(p)?)),
        DbSpec::Postgres(url) => Ok(Box::new(postgres::Postgres::open(url)?)),
    }
}
