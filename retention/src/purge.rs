//! The purge of expired recordings, and of one recording (the web UI's
//! purge button): archive, then source data, then index rows, then one
//! access log row (action "purge").

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use tlog_rs_index::config::Config;
use tlog_rs_index::es::{EsClient, EsSource};
use tlog_rs_index::recording::{Fetcher, SourceLoc};
use tlog_rs_index::store::{AccessEntry, FileCursor, RetentionRow, Store, StoreError};

use crate::{archive, jsonl};

#[derive(Debug)]
pub enum PurgeError {
    /// The recording is not in the index.
    NotFound {
        host: String,
        rec: String,
    },
    /// Under legal hold: never purged.
    Held {
        host: String,
        rec: String,
    },
    /// Its archive could not be written: nothing was removed.
    Archive(String),
    /// A source could not be cleaned; index rows were kept.
    Source(String),
    Store(StoreError),
}

impl fmt::Display for PurgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PurgeError::NotFound { host, rec } => write!(f, "{host} {rec}: not in the index"),
            PurgeError::Held { host, rec } => write!(f, "{host} {rec}: under legal hold"),
            PurgeError::Archive(m) => write!(f, "archive: {m} (nothing was removed)"),
            PurgeError::Source(m) => write!(f, "{m} (the recording stays indexed)"),
            PurgeError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PurgeError {}

impl From<StoreError> for PurgeError {
    fn from(e: StoreError) -> Self {
        PurgeError::Store(e)
    }
}

/// What happened (or, dry run, would happen) to one source of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceAction {
    /// JSON Lines file rewritten without the recording's `lines`.
    Rewritten { file: PathBuf, lines: u64 },
    /// The file is no longer there (rotated out): nothing to remove.
    Gone(PathBuf),
    /// Elasticsearch documents deleted by host and rec (None: dry run).
    EsDeleted { index: String, docs: Option<u64> },
    /// Journal files are never edited: the entries stay until journald
    /// rotates the file out (journal stores work per file only).
    KeptInJournal(PathBuf),
}

impl fmt::Display for SourceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceAction::Rewritten { file, lines } => {
                write!(f, "{lines} lines removed from {}", file.display())
            }
            SourceAction::Gone(p) => write!(f, "{} is gone", p.display()),
            SourceAction::EsDeleted {
                index,
                docs: Some(n),
            } => {
                write!(f, "{n} documents deleted from Elasticsearch index {index}")
            }
            SourceAction::EsDeleted { index, docs: None } => {
                write!(f, "documents deleted from Elasticsearch index {index}")
            }
            SourceAction::KeptInJournal(p) => write!(f, "kept in journal file {}", p.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub host: String,
    pub rec: String,
    pub archive: Option<PathBuf>,
    pub sources: Vec<SourceAction>,
}

/// Who asks, for the access log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub who: String,
    /// "cli", or the web client's address.
    pub client: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn es_source(cfg: &Config, url: &str, index: &str) -> EsSource {
    cfg.es
        .iter()
        .find(|s| s.loc_url() == url && s.index == index)
        .cloned()
        .unwrap_or_else(|| EsSource {
            url: url.to_string(),
            index: index.to_string(),
            ..EsSource::default()
        })
}

/// Rewrite (or, dry run, count) one JSON Lines file without the lines of
/// `drop`, and move the index's pointers into it (`cur`: its cursor).
fn rewrite_file(
    store: &mut dyn Store,
    path: &Path,
    cur: Option<&FileCursor>,
    drop: &HashSet<(String, String)>,
    purged: i64,
    dry_run: bool,
) -> Result<SourceAction, PurgeError> {
    if cur.is_some_and(|c| c.ino == 0) || !path.exists() {
        return Ok(SourceAction::Gone(path.to_path_buf()));
    }
    if dry_run {
        let lines = jsonl::count(path, drop).map_err(PurgeError::Source)?;
        return Ok(SourceAction::Rewritten {
            file: path.to_path_buf(),
            lines,
        });
    }
    let rw = jsonl::rewrite(path, drop).map_err(PurgeError::Source)?;
    if let (false, Some(c)) = (rw.removed.is_empty(), cur) {
        // The other recordings' lines moved: follow them.
        store.begin()?;
        for (rk, id, off) in store.file_messages(c.id)? {
            let new = rw.offset(off);
            if rk != purged && new != off {
                store.move_message(rk, id, new)?;
            }
        }
        let offset = rw.offset(c.offset);
        let head = std::fs::File::open(path)
            .map(|f| tlog_rs_index::ingest::head_hash(&f, offset))
            .unwrap_or(0);
        store.save_file(&FileCursor {
            dev: rw.dev,
            ino: rw.ino,
            head,
            offset,
            line: c.line - rw.lines_before(c.offset),
            ..c.clone()
        })?;
        store.commit()?;
    }
    Ok(SourceAction::Rewritten {
        file: path.to_path_buf(),
        lines: rw.removed.len() as u64,
    })
}

/// Purge (or, with `dry_run`, plan) one recording. Holds are the caller's
/// business (see `purge_one`).
pub fn purge(
    store: &mut dyn Store,
    cfg: &Config,
    row: &RetentionRow,
    actor: &Actor,
    dry_run: bool,
) -> Result<Purged, PurgeError> {
    let refs = store.messages(row.key)?;
    let mut out = Purged {
        host: row.host.clone(),
        rec: row.rec.clone(),
        archive: None,
        sources: vec![],
    };
    // 1. Archive: every message read back from its source and checked.
    let dir = (cfg.retention.archive_dir.as_ref()).filter(|_| crate::policy::archives(cfg, row));
    if let Some(dir) = dir {
        let dest = archive::path(dir, &row.host, &row.rec).map_err(PurgeError::Archive)?;
        if dry_run || dest.exists() {
            // Existing: archived by an interrupted earlier purge, whose
            // source lines may be gone since.
            out.archive = Some(dest);
        } else {
            let mut fetch = Fetcher::new(&refs).es(&cfg.es);
            let lines = refs.iter().map(|(r, _)| fetch.get(r).map(|(line, _)| line));
            out.archive =
                Some(archive::write(dir, &row.host, &row.rec, lines).map_err(PurgeError::Archive)?);
        }
    }
    // 2. Sources, each once.
    let mut files: BTreeMap<i64, String> = BTreeMap::new();
    for (r, p) in &refs {
        files.entry(r.file).or_insert_with(|| p.clone());
    }
    let drop: HashSet<(String, String)> = [(row.host.clone(), row.rec.clone())].into();
    let mut es_rows = vec![];
    let cursors = store.files()?;
    let mut others: Vec<PathBuf> = vec![];
    for (file, p) in &files {
        let loc: SourceLoc = p.parse().map_err(PurgeError::Source)?;
        match loc {
            SourceLoc::Journal(j) => out.sources.extend(
                crate::journal::files_with(&j, &row.rec)
                    .into_iter()
                    .map(SourceAction::KeptInJournal),
            ),
            SourceLoc::Es { url, index, .. } => {
                es_rows.push(*file);
                let docs = if dry_run {
                    None
                } else {
                    let c =
                        EsClient::new(&es_source(cfg, &url, &index)).map_err(PurgeError::Source)?;
                    Some(
                        c.delete_recording(&row.host, &row.rec)
                            .map_err(PurgeError::Source)?,
                    )
                };
                out.sources.push(SourceAction::EsDeleted { index, docs });
            }
            SourceLoc::File(path) => {
                let cur = cursors.iter().find(|c| c.id == *file);
                out.sources
                    .push(rewrite_file(store, &path, cur, &drop, row.key, dry_run)?);
                // Lines no message row points to: the file writer's session
                // entries in its sidecar, and copies of the same day file
                // delivered over a second path (ROOT2/HOST/DAY.jsonl).
                let sidecar = PathBuf::from(format!("{}.events", path.display()));
                if !others.contains(&sidecar) && sidecar.is_file() {
                    others.push(sidecar);
                }
                let tail = |p: &Path| {
                    let parent = p.parent().and_then(Path::file_name).map(|n| n.to_owned());
                    (parent, p.file_name().map(|n| n.to_owned()))
                };
                for c in cursors.iter().filter(|c| c.ino != 0) {
                    let p = PathBuf::from(&c.path);
                    if p != path && tail(&p) == tail(&path) && !others.contains(&p) {
                        others.push(p);
                    }
                }
            }
        }
    }
    let message_files: HashSet<&String> = files.values().collect();
    for p in others {
        if message_files.contains(&p.to_string_lossy().into_owned()) {
            continue;
        }
        let cur = cursors
            .iter()
            .find(|c| Path::new(&c.path) == p && c.ino != 0);
        match rewrite_file(store, &p, cur, &drop, row.key, dry_run)? {
            SourceAction::Rewritten { lines: 0, .. } => {}
            a => out.sources.push(a),
        }
    }
    if dry_run {
        return Ok(out);
    }
    // 3. Index rows, and the access log, in one transaction.
    store.begin()?;
    store.delete_recording(row.key)?;
    for f in es_rows {
        store.forget_file(f)?;
    }
    store.log_access(&AccessEntry {
        t_ms: now_ms(),
        who: actor.who.clone(),
        client: actor.client.clone(),
        action: "purge".into(),
        host: row.host.clone(),
        rec: row.rec.clone(),
    })?;
    store.commit()?;
    Ok(out)
}

/// Purge recording (host, rec) now, whatever its age (the web UI's purge
/// button; the caller checks the purge right). A held one is refused.
pub fn purge_one(
    store: &mut dyn Store,
    cfg: &Config,
    host: &str,
    rec: &str,
    actor: &Actor,
) -> Result<Purged, PurgeError> {
    let nf = || PurgeError::NotFound {
        host: host.into(),
        rec: rec.into(),
    };
    if store
        .holds()?
        .iter()
        .any(|h| h.host == host && h.rec == rec)
    {
        return Err(PurgeError::Held {
            host: host.into(),
            rec: rec.into(),
        });
    }
    let row = store
        .retention_rows()?
        .into_iter()
        .find(|r| r.host == host && r.rec == rec)
        .ok_or_else(nf)?;
    purge(store, cfg, &row, actor, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::{Duration, UNIX_EPOCH};
    use tlog_rs_format::{Encoder, RecHeader};
    use tlog_rs_index::ingest::Indexer;
    use tlog_rs_index::store::sqlite::Sqlite;
    use tlog_rs_index::store::Hold;

    fn lines(host: &str, rec: &str) -> String {
        let h = RecHeader {
            host: host.into(),
            rec: rec.into(),
            user: "u".into(),
            term: "xterm".into(),
            session: 1,
        };
        let mut enc = Encoder::new(h, 64, UNIX_EPOCH + Duration::from_secs(1_000_000));
        enc.window(Duration::ZERO, 80, 24);
        enc.output(
            Duration::from_secs(1),
            format!("hello {rec}\r\n").as_bytes(),
        );
        enc.flush();
        let mut s = String::new();
        while let Some(m) = enc.pop_message() {
            s.push_str(String::from_utf8(m).unwrap().trim_end());
            s.push('\n');
        }
        s
    }

    fn indexed(dir: &Path) -> (Sqlite, std::path::PathBuf) {
        let f = dir.join("h/day.jsonl");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, format!("{}{}", lines("h", "a"), lines("h", "b"))).unwrap();
        let mut s = Sqlite::in_memory().unwrap();
        let mut probs = vec![];
        let mut push = |p| probs.push(p);
        Indexer::new(&mut s, &mut push, false)
            .run(&[dir.to_path_buf()])
            .unwrap();
        assert!(probs.is_empty(), "{probs:?}");
        (s, f)
    }

    fn actor() -> Actor {
        Actor {
            who: "alice".into(),
            client: "192.0.2.1".into(),
        }
    }

    #[test]
    fn purge_one_refuses_held_and_unknown_and_purges_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let (mut s, f) = indexed(d.path());
        let cfg = Config::default();
        s.set_hold(&Hold {
            host: "h".into(),
            rec: "a".into(),
            reason: None,
            who: "root".into(),
            t_ms: 0,
        })
        .unwrap();
        let e = purge_one(&mut s, &cfg, "h", "a", &actor()).unwrap_err();
        assert!(matches!(e, PurgeError::Held { .. }), "{e}");
        let e = purge_one(&mut s, &cfg, "h", "zz", &actor()).unwrap_err();
        assert!(matches!(e, PurgeError::NotFound { .. }), "{e}");
        let p = purge_one(&mut s, &cfg, "h", "b", &actor()).unwrap();
        assert_eq!(p.archive, None);
        assert!(
            matches!(&p.sources[..], [SourceAction::Rewritten { lines, .. }] if *lines > 0),
            "{p:?}"
        );
        assert_eq!(std::fs::read_to_string(&f).unwrap(), lines("h", "a"));
        assert!(s.recording_info("h", "b").unwrap().is_none());
        assert!(s.recording_info("h", "a").unwrap().is_some());
        let log = s.access_log(10).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (
                log[0].who.as_str(),
                log[0].client.as_str(),
                log[0].action.as_str()
            ),
            ("alice", "192.0.2.1", "purge")
        );
    }

    fn event(kind: &str, rec: &str) -> String {
        format!(
            r#"{{"event":"{kind}","rec":"{rec}","user":"u","host":"h","tty":"/dev/pts/1","session":1,"start":1000000.000,"end":{},"exit_status":null,"end_reason":null,"signal":null,"bytes_in":0,"bytes_out":10,"messages_written":1,"messages_dropped":0,"messages_lost":0}}"#,
            if kind == "end" { "1000002.000" } else { "null" }
        )
    }

    #[test]
    fn the_file_writers_events_sidecar_is_rewritten_too() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("tlog.log");
        let events = d.path().join("tlog.log.events");
        std::fs::write(&log, format!("{}{}", lines("h", "a"), lines("h", "b"))).unwrap();
        let ev = |r: &str| format!("{}\n{}\n", event("start", r), event("end", r));
        std::fs::write(&events, format!("{}{}", ev("a"), ev("b"))).unwrap();
        let mut s = Sqlite::in_memory().unwrap();
        let mut probs = vec![];
        let mut push = |p| probs.push(p);
        let r = Indexer::new(&mut s, &mut push, false)
            .run(&[d.path().to_path_buf()])
            .unwrap();
        assert_eq!(r.events, 4, "{probs:?}");
        let p = purge_one(&mut s, &Config::default(), "h", "a", &actor()).unwrap();
        assert_eq!(p.sources.len(), 2, "{p:?}");
        assert_eq!(
            p.sources[1],
            SourceAction::Rewritten {
                file: events.clone(),
                lines: 2
            }
        );
        assert_eq!(std::fs::read_to_string(&events).unwrap(), ev("b"));
        assert_eq!(std::fs::read_to_string(&log).unwrap(), lines("h", "b"));
        // Indexing again: nothing new, nothing reported, b intact.
        let r = Indexer::new(&mut s, &mut push, false)
            .run(&[d.path().to_path_buf()])
            .unwrap();
        assert_eq!((r.messages, r.events, r.duplicates), (0, 0, 0));
        assert!(probs.is_empty(), "{probs:?}");
        assert!(s.recording_info("h", "a").unwrap().is_none());
        let key = s.recording_info("h", "b").unwrap().unwrap().key;
        let refs = s.messages(key).unwrap();
        let mut f = Fetcher::new(&refs);
        for (r, _) in &refs {
            f.get(r).unwrap();
        }
    }
}
