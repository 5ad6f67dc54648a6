//! The embedded backend: one SQLite file in WAL mode (readers never wait
//! for the indexer). Screen text is found through an FTS5 table holding
//! each chunk's distinct trigrams as words and each chunk's 4-gram filter
//! (crate::text), then checked.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, ToSql};

use super::order::{limit_sql, Window};
use super::verify;
use super::{
    AccessEntry, Added, EventInfo, FileCursor, Hit, Hold, Keyframe, Match, MessageRef, Page, Query,
    RecordingInfo, Result, RetentionRow, State, Store, StoreError,
};
use crate::derive::Derived;
use crate::text;

const SCHEMA_VERSION: &str = "5";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
  id INTEGER PRIMARY KEY, path TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
  head INTEGER NOT NULL, offset INTEGER NOT NULL, line INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS files_inode ON files(dev, ino);
CREATE TABLE IF NOT EXISTS recordings(
  key INTEGER PRIMARY KEY, host TEXT NOT NULL, rec TEXT NOT NULL,
  user TEXT, uid INTEGER, groups TEXT, service TEXT, rhost TEXT, tty TEXT, term TEXT,
  session INTEGER, rule TEXT, source TEXT, fqdn TEXT,
  rport INTEGER, laddr TEXT, lport INTEGER,
  start_ms INTEGER, end_ms INTEGER, duration_ms INTEGER,
  bytes_in INTEGER, bytes_out INTEGER, messages INTEGER, id_gaps INTEGER,
  ev_start_ms INTEGER, ev_end_ms INTEGER, has_end INTEGER NOT NULL DEFAULT 0,
  end_reason TEXT, exit_status INTEGER, messages_written INTEGER, messages_dropped INTEGER,
  tampered INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'incomplete',
  dirty INTEGER NOT NULL DEFAULT 1,
  UNIQUE(host, rec));
CREATE INDEX IF NOT EXISTS recordings_user ON recordings(user, start_ms);
CREATE INDEX IF NOT EXISTS recordings_start ON recordings(start_ms);
CREATE INDEX IF NOT EXISTS recordings_rec ON recordings(rec);
CREATE INDEX IF NOT EXISTS recordings_dirty ON recordings(dirty) WHERE dirty = 1;
CREATE TABLE IF NOT EXISTS rec_groups(grp TEXT NOT NULL, rec_key INTEGER NOT NULL,
  PRIMARY KEY(grp, rec_key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages(rec_key INTEGER NOT NULL, id INTEGER NOT NULL,
  file INTEGER NOT NULL, offset INTEGER NOT NULL, len INTEGER NOT NULL, hash INTEGER NOT NULL,
  PRIMARY KEY(rec_key, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(rec_key INTEGER NOT NULL, kind TEXT NOT NULL,
  PRIMARY KEY(rec_key, kind)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS text_chunks(id INTEGER PRIMARY KEY, rec_key INTEGER NOT NULL,
  t_ms INTEGER NOT NULL, quads BLOB NOT NULL, zbody BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS text_chunks_rec ON text_chunks(rec_key);
CREATE VIRTUAL TABLE IF NOT EXISTS text_fts USING fts5(trigrams, content='',
  contentless_delete=1, tokenize='ascii', detail='none');
CREATE TABLE IF NOT EXISTS commands(rec_key INTEGER NOT NULL, t_ms INTEGER NOT NULL,
  text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS commands_rec ON commands(rec_key);
CREATE TABLE IF NOT EXISTS keyframes(rec_key INTEGER NOT NULL, t_ms INTEGER NOT NULL,
  msg_id INTEGER NOT NULL, packet INTEGER NOT NULL, cols INTEGER NOT NULL, rows INTEGER NOT NULL,
  screen BLOB NOT NULL, PRIMARY KEY(rec_key, msg_id, packet)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access_log(id INTEGER PRIMARY KEY, t_ms INTEGER NOT NULL,
  who TEXT NOT NULL, client TEXT NOT NULL, action TEXT NOT NULL, host TEXT NOT NULL,
  rec TEXT NOT NULL);
"#;

/// Schema 2 indexed chunk text with FTS5's trigram tokenizer: the text
/// tables are replaced and every recording is derived again by the next
/// `tlog-rs index`; everything else (holds, the access log, audit events)
/// stays.
const MIGRATE_2_TO_3: &str = r#"
BEGIN IMMEDIATE;
DROP TABLE text_fts;
CREATE VIRTUAL TABLE text_fts USING fts5(trigrams, content='',
  contentless_delete=1, tokenize='ascii', detail='none');
DELETE FROM text_chunks;
UPDATE recordings SET dirty = 1;
UPDATE meta SET value = '3' WHERE key = 'schema';
COMMIT;
"#;

/// Schema 4 adds sshd's view of the connection (crate::hops); older
/// recordings never had it.
const MIGRATE_3_TO_4: &str = r#"
BEGIN IMMEDIATE;
ALTER TABLE recordings ADD COLUMN rport INTEGER;
ALTER TABLE recordings ADD COLUMN laddr TEXT;
ALTER TABLE recordings ADD COLUMN lport INTEGER;
UPDATE meta SET value = '4' WHERE key = 'schema';
COMMIT;
"#;

/// Schema 5 adds each chunk's 4-gram filter (crate::text), before the
/// text so that reading it reads little of the text: the text tables are
/// replaced and every recording is derived again by the next `tlog-rs
/// index`.
const MIGRATE_4_TO_5: &str = r#"
BEGIN IMMEDIATE;
DROP TABLE text_fts;
CREATE VIRTUAL TABLE text_fts USING fts5(trigrams, content='',
  contentless_delete=1, tokenize='ascii', detail='none');
DROP TABLE text_chunks;
CREATE TABLE text_chunks(id INTEGER PRIMARY KEY, rec_key INTEGER NOT NULL,
  t_ms INTEGER NOT NULL, quads BLOB NOT NULL, zbody BLOB NOT NULL);
CREATE INDEX text_chunks_rec ON text_chunks(rec_key);
UPDATE recordings SET dirty = 1;
UPDATE meta SET value = '5' WHERE key = 'schema';
COMMIT;
"#;

/// FTS5 settings kept in the index (set once, at creation): a chunk's
/// trigram set is ~100 KB of words, so the default 1 MB of pending terms
/// was flushed every few chunks into a segment that then had to be merged.
const FTS_CONFIG: &str = r#"
INSERT INTO text_fts(text_fts, rank) VALUES('hashsize', 16777216);
"#;

// Retention: legal holds, by (host, rec) so that they outlive a rebuilt index.
const RETENTION_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS holds(host TEXT NOT NULL, rec TEXT NOT NULL, reason TEXT,
  who TEXT NOT NULL, t_ms INTEGER NOT NULL, PRIMARY KEY(host, rec)) WITHOUT ROWID;
"#;

pub struct Sqlite {
    c: Connection,
    keys: HashMap<(String, String), i64>,
    dirty: HashSet<i64>,
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Self> {
        let c =
            Connection::open(path).map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        Self::init(c).map_err(|e| StoreError(format!("{}: {}", path.display(), e.0)))
    }

    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(c: Connection) -> Result<Self> {
        c.busy_timeout(std::time::Duration::from_secs(30))?;
        let _: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        c.execute_batch("PRAGMA synchronous=NORMAL;")?;
        c.execute_batch(SCHEMA)?;
        c.execute_batch(crate::audit::sqlite::SCHEMA)?;
        c.execute_batch(RETENTION_SCHEMA)?;
        let v: Option<String> = c
            .query_row("SELECT value FROM meta WHERE key='schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match v.as_deref() {
            None => {
                c.execute(
                    "INSERT INTO meta(key, value) VALUES('schema', ?1)",
                    [SCHEMA_VERSION],
                )?;
                c.execute_batch(FTS_CONFIG)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(old @ ("2" | "3" | "4")) => {
                let steps = [
                    ("2", MIGRATE_2_TO_3),
                    ("3", MIGRATE_3_TO_4),
                    ("4", MIGRATE_4_TO_5),
                ];
                for (_, sql) in steps.iter().skip_while(|(from, _)| *from != old) {
                    c.execute_batch(sql)?;
                }
                // Set on the text table the last step made.
                c.execute_batch(FTS_CONFIG)?;
            }
            Some(other) => {
                return Err(StoreError(format!(
                    "index schema version {other}, this tlog-rs knows {SCHEMA_VERSION}: delete the file and run `tlog-rs index` again (the index is rebuilt from the sources)"
                )))
            }
        }
        Ok(Sqlite {
            c,
            keys: HashMap::new(),
            dirty: HashSet::new(),
        })
    }
}

impl Sqlite {
    /// For the audit tables (crate::audit::sqlite).
    pub(crate) fn conn(&self) -> &Connection {
        &self.c
    }
}

fn cursor_row(r: &rusqlite::Row) -> rusqlite::Result<FileCursor> {
    Ok(FileCursor {
        id: r.get(0)?,
        path: r.get(1)?,
        dev: r.get::<_, i64>(2)? as u64,
        ino: r.get::<_, i64>(3)? as u64,
        head: r.get::<_, i64>(4)? as u64,
        offset: r.get::<_, i64>(5)? as u64,
        line: r.get::<_, i64>(6)? as u64,
    })
}

impl Sqlite {
    /// The hits of `q` in its order and window, and with `count` how many
    /// there are in all.
    fn find(&mut self, q: &Query, count: bool) -> Result<Page> {
        let mut sql = String::from(
            "SELECT r.key, r.rec, r.host, COALESCE(r.user, ''), r.service, r.start_ms, r.end_ms, r.state
             FROM recordings r WHERE r.start_ms IS NOT NULL",
        );
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        fn arg(args: &mut Vec<Box<dyn ToSql>>, sql: &mut String, frag: &str, v: Box<dyn ToSql>) {
            args.push(v);
            sql.push_str(&frag.replace('?', &format!("?{}", args.len())));
        }
        if let Some(u) = &q.user {
            arg(&mut args, &mut sql, " AND r.user = ?", Box::new(u.clone()));
        }
        if let Some(h) = &q.host {
            arg(
                &mut args,
                &mut sql,
                " AND (r.host = ? OR r.fqdn = ?)",
                Box::new(h.clone()),
            );
        }
        if let Some(s) = &q.service {
            arg(
                &mut args,
                &mut sql,
                " AND r.service = ?",
                Box::new(s.clone()),
            );
        }
        if let Some(g) = &q.group {
            arg(
                &mut args,
                &mut sql,
                " AND EXISTS (SELECT 1 FROM rec_groups g WHERE g.rec_key = r.key AND g.grp = ?)",
                Box::new(g.clone()),
            );
        }
        if let Some(hosts) = &q.hosts {
            let list = serde_json::to_string(hosts).expect("strings serialise");
            arg(
                &mut args,
                &mut sql,
                " AND (r.host IN (SELECT value FROM json_each(?)) OR r.fqdn IN (SELECT value FROM json_each(?)))",
                Box::new(list),
            );
        }
        if let Some((groups, services)) = &q.admin {
            let g = serde_json::to_string(groups).expect("strings serialise");
            let s = serde_json::to_string(services).expect("strings serialise");
            arg(
                &mut args,
                &mut sql,
                " AND (r.uid = 0 OR (r.uid IS NULL AND r.user = 'root')
                   OR EXISTS (SELECT 1 FROM rec_groups g WHERE g.rec_key = r.key AND g.grp IN (SELECT value FROM json_each(?)))",
                Box::new(g),
            );
            arg(
                &mut args,
                &mut sql,
                " OR r.service IN (SELECT value FROM json_each(?)))",
                Box::new(s),
            );
        }
        if let Some(s) = q.since {
            arg(&mut args, &mut sql, " AND r.end_ms > ?", Box::new(s));
        }
        if let Some(u) = q.until {
            arg(&mut args, &mut sql, " AND r.start_ms < ?", Box::new(u));
        }
        if q.incomplete {
            sql.push_str(" AND r.state <> 'complete'");
        }
        if let Some(sc) = &q.scope {
            // Scope::allows in SQL; an absent part matches nothing.
            arg(
                &mut args,
                &mut sql,
                " AND (r.user = ?",
                Box::new(sc.user.clone()),
            );
            arg(
                &mut args,
                &mut sql,
                " OR r.host IN (SELECT value FROM json_each(?)) OR r.fqdn IN (SELECT value FROM json_each(?))",
                Box::new(serde_json::to_string(&sc.hosts).expect("strings serialise")),
            );
            arg(
                &mut args,
                &mut sql,
                " OR EXISTS (SELECT 1 FROM rec_groups g WHERE g.rec_key = r.key AND g.grp IN (SELECT value FROM json_each(?))))",
                Box::new(serde_json::to_string(&sc.groups).expect("strings serialise")),
            );
        }
        // Text: recordings with candidate chunks (from the index alone);
        // the text is checked below.
        let candidates = match q.text.as_deref() {
            Some(t) => self.text_candidates(t)?,
            None => None,
        };
        if let Some(chunks) = &candidates {
            let keys: Vec<i64> = chunks.keys().copied().collect();
            arg(
                &mut args,
                &mut sql,
                " AND r.key IN (SELECT value FROM json_each(?))",
                Box::new(serde_json::to_string(&keys).expect("integers serialise")),
            );
        }
        if let Some(t) = &q.command {
            arg(
                &mut args,
                &mut sql,
                " AND EXISTS (SELECT 1 FROM commands m WHERE m.rec_key = r.key AND instr(lower(m.text), lower(?)) > 0)",
                Box::new(t.clone()),
            );
        }
        // The text is checked below: count and window after the check.
        let verified = q.text.is_some();
        let total = match (count, verified) {
            (true, false) => {
                let mut st = self.c.prepare(&format!("SELECT COUNT(*) FROM ({sql})"))?;
                let n: i64 = st
                    .query_row(params_from_iter(args.iter().map(|b| b.as_ref())), |r| {
                        r.get(0)
                    })?;
                Some(n as usize)
            }
            _ => None,
        };
        sql.push_str(" ORDER BY ");
        sql.push_str(&match q.order {
            Some(o) => o.sql("COALESCE(r.user, '')", "r.host", "r.rec", ""),
            None => "r.start_ms, r.host, r.rec".into(),
        });
        if !verified {
            sql.push_str(&limit_sql(q.limit, q.offset));
        }
        let hits: Vec<(i64, Hit)> = {
            let mut st = self.c.prepare(&sql)?;
            let rows = st.query_map(params_from_iter(args.iter().map(|b| b.as_ref())), |r| {
                let state: String = r.get(7)?;
                let start: i64 = r.get(5)?;
                Ok((
                    r.get(0)?,
                    Hit {
                        rec: r.get(1)?,
                        host: r.get(2)?,
                        user: r.get(3)?,
                        service: r.get(4)?,
                        start_ms: start,
                        end_ms: r.get::<_, Option<i64>>(6)?.unwrap_or(start),
                        state: state.parse().unwrap_or(State::Incomplete),
                        matches: vec![],
                    },
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let mut win = Window::new(q, verified, count);
        let needle = q.text.as_deref().map(str::to_ascii_lowercase);
        let mut hits = hits.into_iter().peekable();
        while hits.peek().is_some() && !win.done() {
            let group: Vec<(i64, Hit)> = hits.by_ref().take(verify::batch(win.wanted())).collect();
            let texts = match &needle {
                Some(n) => {
                    let mut chunks = Vec::with_capacity(group.len());
                    for (key, _) in &group {
                        chunks.push(self.candidate_chunks(*key, candidates.as_ref())?);
                    }
                    Some(verify::text_matches(&chunks, n))
                }
                None => None,
            };
            for (i, (key, mut hit)) in group.into_iter().enumerate() {
                if win.done() {
                    break;
                }
                if !verify::keep_text_hit(texts.as_deref(), i, &mut hit.matches) {
                    continue;
                }
                if let Some(t) = &q.command {
                    let mut st = self.c.prepare_cached(
                    "SELECT t_ms, text FROM commands WHERE rec_key = ?1 AND instr(lower(text), lower(?2)) > 0 ORDER BY t_ms LIMIT 20",
                )?;
                    let rows = st.query_map(params![key, t], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })?;
                    for row in rows {
                        let (t_ms, text) = row?;
                        hit.matches.push(Match {
                            offset_ms: t_ms,
                            snippet: text,
                        });
                    }
                }
                hit.matches.sort_by_key(|m| m.offset_ms);
                win.push(hit);
            }
        }
        Ok(win.page(total))
    }
}

impl Sqlite {
    /// A recording's candidate chunks for a text search, in time order:
    /// those `candidates` names, or every chunk when there are none (a
    /// phrase under 3 characters).
    fn candidate_chunks(
        &mut self,
        key: i64,
        candidates: Option<&HashMap<i64, Vec<i64>>>,
    ) -> Result<verify::Chunks> {
        let ids = match candidates {
            Some(c) => c.get(&key).cloned().unwrap_or_default(),
            None => self
                .c
                .prepare_cached("SELECT id FROM text_chunks WHERE rec_key = ?1 ORDER BY t_ms")?
                .query_map([key], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?,
        };
        let mut st = self
            .c
            .prepare_cached("SELECT t_ms, zbody FROM text_chunks WHERE id = ?1")?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(st.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?);
        }
        Ok(out)
    }

    /// The chunks that may hold `phrase`, by recording, in time order: those
    /// with every trigram of the phrase (one FTS5 query) whose 4-gram
    /// filter may hold every 4-gram of it. None for a phrase under 3
    /// characters: every chunk is a candidate then.
    fn text_candidates(&mut self, phrase: &str) -> Result<Option<HashMap<i64, Vec<i64>>>> {
        let Some(fts) = text::fts_query(&text::trigram_keys(phrase)) else {
            return Ok(None);
        };
        let quads = text::quad_hashes(phrase);
        let mut st = self.c.prepare_cached(
            "SELECT rec_key, id, quads FROM text_chunks
             WHERE id IN (SELECT rowid FROM text_fts WHERE text_fts MATCH ?1) ORDER BY t_ms",
        )?;
        let mut rows = st.query([fts])?;
        let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
        while let Some(r) = rows.next()? {
            let filter = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            if quads.iter().all(|&h| text::bloom_holds(filter, h)) {
                out.entry(r.get(0)?).or_default().push(r.get(1)?);
            }
        }
        Ok(Some(out))
    }
}

impl Store for Sqlite {
    fn begin(&mut self) -> Result<()> {
        self.c.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        {
            let mut st = self
                .c
                .prepare_cached("UPDATE recordings SET dirty=1 WHERE key=?1")?;
            for k in self.dirty.drain() {
                st.execute([k])?;
            }
        }
        self.c.execute_batch("COMMIT")?;
        Ok(())
    }

    fn file_by_inode(&mut self, dev: u64, ino: u64) -> Result<Option<FileCursor>> {
        Ok(self
            .c
            .prepare_cached(
                "SELECT id, path, dev, ino, head, offset, line FROM files WHERE dev=?1 AND ino=?2",
            )?
            .query_row(params![dev as i64, ino as i64], cursor_row)
            .optional()?)
    }

    fn save_file(&mut self, f: &FileCursor) -> Result<i64> {
        let p = params![
            f.path,
            f.dev as i64,
            f.ino as i64,
            f.head as i64,
            f.offset as i64,
            f.line as i64
        ];
        if f.id == 0 {
            self.c.execute(
                "INSERT INTO files(path, dev, ino, head, offset, line) VALUES(?1,?2,?3,?4,?5,?6)",
                p,
            )?;
            Ok(self.c.last_insert_rowid())
        } else {
            self.c
                .prepare_cached(
                    "UPDATE files SET path=?1, dev=?2, ino=?3, head=?4, offset=?5, line=?6 WHERE id=?7",
                )?
                .execute(params![
                    f.path,
                    f.dev as i64,
                    f.ino as i64,
                    f.head as i64,
                    f.offset as i64,
                    f.line as i64,
                    f.id
                ])?;
            Ok(f.id)
        }
    }

    fn files(&mut self) -> Result<Vec<FileCursor>> {
        let mut st = self
            .c
            .prepare("SELECT id, path, dev, ino, head, offset, line FROM files ORDER BY id")?;
        let v = st
            .query_map([], cursor_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn forget_file(&mut self, id: i64) -> Result<()> {
        self.c.execute("DELETE FROM files WHERE id=?1", [id])?;
        Ok(())
    }

    fn recording(&mut self, host: &str, rec: &str) -> Result<i64> {
        if let Some(k) = self.keys.get(&(host.to_string(), rec.to_string())) {
            return Ok(*k);
        }
        self.c
            .prepare_cached("INSERT OR IGNORE INTO recordings(host, rec) VALUES(?1, ?2)")?
            .execute(params![host, rec])?;
        let k: i64 = self
            .c
            .prepare_cached("SELECT key FROM recordings WHERE host=?1 AND rec=?2")?
            .query_row(params![host, rec], |r| r.get(0))?;
        self.keys.insert((host.to_string(), rec.to_string()), k);
        Ok(k)
    }

    fn add_message(&mut self, rec: i64, m: &MessageRef) -> Result<Added> {
        let n = self
            .c
            .prepare_cached(
                "INSERT OR IGNORE INTO messages(rec_key, id, file, offset, len, hash) VALUES(?1,?2,?3,?4,?5,?6)",
            )?
            .execute(params![rec, m.id as i64, m.file, m.offset as i64, m.len, m.hash as i64])?;
        if n == 1 {
            self.dirty.insert(rec);
            return Ok(Added::New);
        }
        let h: i64 = self
            .c
            .prepare_cached("SELECT hash FROM messages WHERE rec_key=?1 AND id=?2")?
            .query_row(params![rec, m.id as i64], |r| r.get(0))?;
        if h as u64 != m.hash {
            return Ok(Added::Conflict);
        }
        // Point at the copy seen last: after a copytruncate rotation the
        // first copy's offsets hold other lines, the rotated copy is intact.
        self.c
            .prepare_cached(
                "UPDATE messages SET file=?3, offset=?4, len=?5 WHERE rec_key=?1 AND id=?2",
            )?
            .execute(params![rec, m.id as i64, m.file, m.offset as i64, m.len])?;
        Ok(Added::Duplicate)
    }

    fn add_event(&mut self, rec: i64, e: &EventInfo) -> Result<Added> {
        let kind = if e.end { "end" } else { "start" };
        let n = self
            .c
            .prepare_cached("INSERT OR IGNORE INTO events(rec_key, kind) VALUES(?1, ?2)")?
            .execute(params![rec, kind])?;
        if n == 0 {
            return Ok(Added::Duplicate);
        }
        let groups = e
            .groups
            .as_ref()
            .map(|g| serde_json::to_string(g).expect("strings serialise"));
        // Both entries carry the identity; the start entry's PAM fields win.
        self.c
            .prepare_cached(
                "UPDATE recordings SET user=?2, tty=COALESCE(?3, tty), session=COALESCE(?4, session),
                   ev_start_ms=COALESCE(ev_start_ms, ?5),
                   service=COALESCE(service, ?6), rhost=COALESCE(rhost, ?7), uid=COALESCE(uid, ?8),
                   groups=COALESCE(groups, ?9), rule=COALESCE(rule, ?10), source=COALESCE(source, ?11),
                   fqdn=COALESCE(fqdn, ?12), rport=COALESCE(rport, ?13),
                   laddr=COALESCE(laddr, ?14), lport=COALESCE(lport, ?15) WHERE key=?1",
            )?
            .execute(params![
                rec,
                e.user,
                e.tty,
                e.session.map(|s| s as i64),
                e.start_ms,
                e.service,
                e.rhost,
                e.uid,
                groups,
                e.rule,
                e.source,
                e.fqdn,
                e.rport.map(|p| p as i64),
                e.laddr,
                e.lport.map(|p| p as i64)
            ])?;
        if let Some(g) = &e.groups {
            let mut st = self
                .c
                .prepare_cached("INSERT OR IGNORE INTO rec_groups(grp, rec_key) VALUES(?1, ?2)")?;
            for name in g {
                st.execute(params![name, rec])?;
            }
        }
        if e.end {
            self.c
                .prepare_cached(
                    "UPDATE recordings SET has_end=1, ev_end_ms=?2, end_reason=?3, exit_status=?4,
                       messages_written=?5, messages_dropped=?6 WHERE key=?1",
                )?
                .execute(params![
                    rec,
                    e.end_ms,
                    e.end_reason,
                    e.exit_status,
                    e.messages_written.map(|v| v as i64),
                    e.messages_dropped.map(|v| v as i64)
                ])?;
        }
        self.dirty.insert(rec);
        Ok(Added::New)
    }

    fn mark_tampered(&mut self, rec: i64) -> Result<()> {
        self.c
            .prepare_cached("UPDATE recordings SET tampered=1, state='tampered' WHERE key=?1")?
            .execute([rec])?;
        Ok(())
    }

    fn dirty(&mut self) -> Result<Vec<i64>> {
        let mut st = self
            .c
            .prepare("SELECT key FROM recordings WHERE dirty=1 ORDER BY key")?;
        let v = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(v)
    }

    fn is_pipe(&mut self, rec: i64) -> Result<bool> {
        Ok(self
            .c
            .prepare_cached(
                "SELECT r.tty IS NULL FROM recordings r WHERE r.key=?1 AND EXISTS (SELECT 1 FROM events e WHERE e.rec_key=r.key)",
            )?
            .query_row([rec], |r| r.get(0))
            .optional()?
            .unwrap_or(false))
    }

    fn messages_in(
        &mut self,
        rec: i64,
        first: u64,
        last: u64,
        limit: usize,
    ) -> Result<Vec<(MessageRef, String)>> {
        let mut st = self.c.prepare_cached(
            "SELECT m.id, m.file, m.offset, m.len, m.hash, f.path FROM messages m
             JOIN files f ON f.id = m.file WHERE m.rec_key=?1 AND m.id BETWEEN ?2 AND ?3
             ORDER BY m.id LIMIT ?4",
        )?;
        let bound = |v: u64| v.min(i64::MAX as u64) as i64;
        let v = st
            .query_map(
                params![rec, bound(first), bound(last), bound(limit as u64)],
                |r| {
                    Ok((
                        MessageRef {
                            id: r.get::<_, i64>(0)? as u64,
                            file: r.get(1)?,
                            offset: r.get::<_, i64>(2)? as u64,
                            len: r.get(3)?,
                            hash: r.get::<_, i64>(4)? as u64,
                        },
                        r.get(5)?,
                    ))
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn store_derived(&mut self, rec: i64, d: &Derived) -> Result<()> {
        let (ev_start, ev_end, has_end, written, dropped, tampered): (
            Option<i64>,
            Option<i64>,
            bool,
            Option<i64>,
            Option<i64>,
            bool,
        ) = self.c.query_row(
            "SELECT ev_start_ms, ev_end_ms, has_end, messages_written, messages_dropped, tampered
             FROM recordings WHERE key=?1",
            [rec],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )?;
        let start = ev_start.or(d.start_ms);
        let end = ev_end
            .or(d.last_ms)
            .or(start)
            .map(|e| e.max(start.unwrap_or(e)));
        let state = if tampered || written.is_some_and(|w| (d.messages as i64) > w) {
            State::Tampered
        } else if has_end
            && d.id_gaps == 0
            && dropped.unwrap_or(0) == 0
            && written.is_none_or(|w| w == d.messages as i64)
        {
            State::Complete
        } else {
            State::Incomplete
        };
        let c = &self.c;
        c.execute(
            "UPDATE recordings SET user=COALESCE(user, ?2), term=?3, session=COALESCE(session, ?4),
               start_ms=?5, end_ms=?6, duration_ms=?7, bytes_in=?8, bytes_out=?9, messages=?10,
               id_gaps=?11, state=?12, dirty=0 WHERE key=?1",
            params![
                rec,
                (!d.user.is_empty()).then_some(&d.user),
                d.term,
                d.session as i64,
                start,
                end,
                match (start, end) {
                    (Some(s), Some(e)) => Some(e - s),
                    _ => None,
                },
                d.bytes_in as i64,
                d.bytes_out as i64,
                d.messages as i64,
                d.id_gaps as i64,
                state.as_str()
            ],
        )?;
        self.add_derived(rec, d)?;
        Ok(())
    }

    fn clear_derived(&mut self, rec: i64) -> Result<()> {
        let c = &self.c;
        c.execute(
            "DELETE FROM text_fts WHERE rowid IN (SELECT id FROM text_chunks WHERE rec_key=?1)",
            [rec],
        )?;
        c.execute("DELETE FROM text_chunks WHERE rec_key=?1", [rec])?;
        c.execute("DELETE FROM commands WHERE rec_key=?1", [rec])?;
        c.execute("DELETE FROM keyframes WHERE rec_key=?1", [rec])?;
        Ok(())
    }

    fn add_derived(&mut self, rec: i64, d: &Derived) -> Result<()> {
        let c = &self.c;
        let mut chunk = c.prepare_cached(
            "INSERT INTO text_chunks(rec_key, t_ms, quads, zbody) VALUES(?1,?2,?3,?4)",
        )?;
        let mut fts = c.prepare_cached("INSERT INTO text_fts(rowid, trigrams) VALUES(?1, ?2)")?;
        for ch in &d.chunks {
            chunk.execute(params![rec, ch.t_ms as i64, ch.quads, ch.zbody])?;
            fts.execute(params![c.last_insert_rowid(), ch.fts_document()])?;
        }
        let mut cmd =
            c.prepare_cached("INSERT INTO commands(rec_key, t_ms, text) VALUES(?1,?2,?3)")?;
        for (t, text) in &d.commands {
            cmd.execute(params![rec, *t as i64, text])?;
        }
        let mut kf = c.prepare_cached(
            "INSERT OR REPLACE INTO keyframes(rec_key, t_ms, msg_id, packet, cols, rows, screen) VALUES(?1,?2,?3,?4,?5,?6,?7)",
        )?;
        for k in &d.keyframes {
            kf.execute(params![
                rec,
                k.t_ms,
                k.msg_id as i64,
                k.packet,
                k.cols,
                k.rows,
                k.screen
            ])?;
        }
        Ok(())
    }

    fn search(&mut self, q: &Query) -> Result<Vec<Hit>> {
        Ok(self.find(q, false)?.hits)
    }

    fn search_page(&mut self, q: &Query) -> Result<Page> {
        self.find(q, true)
    }
    fn audit(&mut self) -> Result<&mut dyn crate::audit::store::AuditStore> {
        Ok(self)
    }

    fn keyframes(&mut self, host: &str, rec: &str) -> Result<Vec<Keyframe>> {
        let mut st = self.c.prepare(
            "SELECT k.t_ms, k.msg_id, k.packet, k.cols, k.rows, k.screen FROM keyframes k
             JOIN recordings r ON r.key = k.rec_key WHERE r.host=?1 AND r.rec=?2 ORDER BY k.msg_id, k.packet",
        )?;
        let v = st
            .query_map(params![host, rec], |r| {
                Ok(Keyframe {
                    t_ms: r.get(0)?,
                    msg_id: r.get::<_, i64>(1)? as u64,
                    packet: r.get(2)?,
                    cols: r.get(3)?,
                    rows: r.get(4)?,
                    screen: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn keyframe_index(&mut self, host: &str, rec: &str) -> Result<Vec<Keyframe>> {
        let mut st = self.c.prepare_cached(
            "SELECT k.t_ms, k.msg_id, k.packet, k.cols, k.rows FROM keyframes k
             JOIN recordings r ON r.key = k.rec_key WHERE r.host=?1 AND r.rec=?2 ORDER BY k.msg_id, k.packet",
        )?;
        let v = st
            .query_map(params![host, rec], |r| {
                Ok(Keyframe {
                    t_ms: r.get(0)?,
                    msg_id: r.get::<_, i64>(1)? as u64,
                    packet: r.get(2)?,
                    cols: r.get(3)?,
                    rows: r.get(4)?,
                    screen: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn keyframe_screen(
        &mut self,
        host: &str,
        rec: &str,
        msg_id: u64,
        packet: u32,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .c
            .prepare_cached(
                "SELECT k.screen FROM keyframes k JOIN recordings r ON r.key = k.rec_key
                 WHERE r.host=?1 AND r.rec=?2 AND k.msg_id=?3 AND k.packet=?4",
            )?
            .query_row(params![host, rec, msg_id as i64, packet], |r| r.get(0))
            .optional()?)
    }

    fn find_recordings(&mut self, rec: &str) -> Result<Vec<(i64, String)>> {
        let mut st = self
            .c
            .prepare("SELECT key, host FROM recordings WHERE rec=?1 ORDER BY host")?;
        let v = st
            .query_map([rec], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    // Kept in `meta` under "cursor SOURCE": no schema change.
    fn source_cursor(&mut self, source: &str) -> Result<Option<String>> {
        Ok(self
            .c
            .query_row(
                "SELECT value FROM meta WHERE key=?1",
                [format!("cursor {source}")],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn save_source_cursor(&mut self, source: &str, cursor: &str) -> Result<()> {
        self.c.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)",
            params![format!("cursor {source}"), cursor],
        )?;
        Ok(())
    }

    fn counts(&mut self) -> Result<[u64; 5]> {
        let mut out = [0u64; 5];
        for (i, t) in [
            "recordings",
            "messages",
            "text_chunks",
            "commands",
            "keyframes",
        ]
        .iter()
        .enumerate()
        {
            let n: i64 = self
                .c
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?;
            out[i] = n as u64;
        }
        Ok(out)
    }

    fn recording_info(&mut self, host: &str, rec: &str) -> Result<Option<RecordingInfo>> {
        let row = self
            .c
            .prepare_cached(
                "SELECT key, rec, host, COALESCE(user, ''), service, start_ms, end_ms, state,
                   uid, groups, rhost, tty, term, fqdn
                 FROM recordings WHERE host=?1 AND rec=?2 AND start_ms IS NOT NULL",
            )?
            .query_row(params![host, rec], |r| {
                let start: i64 = r.get(5)?;
                let state: String = r.get(7)?;
                let groups: Option<String> = r.get(9)?;
                Ok(RecordingInfo {
                    key: r.get(0)?,
                    hit: Hit {
                        rec: r.get(1)?,
                        host: r.get(2)?,
                        user: r.get(3)?,
                        service: r.get(4)?,
                        start_ms: start,
                        end_ms: r.get::<_, Option<i64>>(6)?.unwrap_or(start),
                        state: state.parse().unwrap_or(State::Incomplete),
                        matches: vec![],
                    },
                    uid: r.get(8)?,
                    groups: groups
                        .and_then(|g| serde_json::from_str(&g).ok())
                        .unwrap_or_default(),
                    rhost: r.get(10)?,
                    tty: r.get(11)?,
                    term: r.get(12)?,
                    fqdn: r.get(13)?,
                })
            })
            .optional()?;
        Ok(row)
    }

    fn commands(&mut self, rec: i64) -> Result<Vec<(i64, String)>> {
        let mut st = self
            .c
            .prepare_cached("SELECT t_ms, text FROM commands WHERE rec_key=?1 ORDER BY t_ms")?;
        let v = st
            .query_map([rec], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn hops(&mut self, rec: i64) -> Result<Vec<crate::hops::Hop>> {
        let mut st = self.c.prepare_cached(&crate::hops::sql("user", "?1"))?;
        let rows = st
            .query_map([rec], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<crate::hops::Row>>>()?;
        rows.into_iter()
            .map(|r| crate::hops::from_row(r).map_err(StoreError))
            .collect()
    }

    fn log_access(&mut self, e: &AccessEntry) -> Result<()> {
        self.c
            .prepare_cached(
                "INSERT INTO access_log(t_ms, who, client, action, host, rec) VALUES(?1,?2,?3,?4,?5,?6)",
            )?
            .execute(params![e.t_ms, e.who, e.client, e.action, e.host, e.rec])?;
        Ok(())
    }

    fn access_log(&mut self, limit: usize) -> Result<Vec<AccessEntry>> {
        let mut st = self.c.prepare_cached(
            "SELECT t_ms, who, client, action, host, rec FROM access_log ORDER BY id DESC LIMIT ?1",
        )?;
        let v = st
            .query_map([limit as i64], |r| {
                Ok(AccessEntry {
                    t_ms: r.get(0)?,
                    who: r.get(1)?,
                    client: r.get(2)?,
                    action: r.get(3)?,
                    host: r.get(4)?,
                    rec: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    // Retention (tlog-rs-retention).
    fn retention_rows(&mut self) -> Result<Vec<RetentionRow>> {
        let mut st = self.c.prepare(
            "SELECT key, host, rec, COALESCE(user, ''), groups, start_ms, end_ms
             FROM recordings WHERE start_ms IS NOT NULL ORDER BY start_ms, key",
        )?;
        let v = st
            .query_map([], |r| {
                Ok(RetentionRow {
                    key: r.get(0)?,
                    host: r.get(1)?,
                    rec: r.get(2)?,
                    user: r.get(3)?,
                    groups: r
                        .get::<_, Option<String>>(4)?
                        .and_then(|g| serde_json::from_str(&g).ok())
                        .unwrap_or_default(),
                    start_ms: r.get(5)?,
                    end_ms: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn set_hold(&mut self, h: &Hold) -> Result<()> {
        self.c.execute(
            "INSERT OR REPLACE INTO holds(host, rec, reason, who, t_ms) VALUES(?1,?2,?3,?4,?5)",
            params![h.host, h.rec, h.reason, h.who, h.t_ms],
        )?;
        Ok(())
    }

    fn release_hold(&mut self, host: &str, rec: &str) -> Result<bool> {
        Ok(self.c.execute(
            "DELETE FROM holds WHERE host=?1 AND rec=?2",
            params![host, rec],
        )? > 0)
    }

    fn holds(&mut self) -> Result<Vec<Hold>> {
        let mut st = self
            .c
            .prepare("SELECT host, rec, reason, who, t_ms FROM holds ORDER BY host, rec")?;
        let v = st
            .query_map([], |r| {
                Ok(Hold {
                    host: r.get(0)?,
                    rec: r.get(1)?,
                    reason: r.get(2)?,
                    who: r.get(3)?,
                    t_ms: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn file_messages(&mut self, file: i64) -> Result<Vec<(i64, u64, u64)>> {
        let mut st = self
            .c
            .prepare("SELECT rec_key, id, offset FROM messages WHERE file=?1 ORDER BY offset")?;
        let v = st
            .query_map([file], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }

    fn move_message(&mut self, rec: i64, id: u64, offset: u64) -> Result<()> {
        self.c
            .prepare_cached("UPDATE messages SET offset=?3 WHERE rec_key=?1 AND id=?2")?
            .execute(params![rec, id as i64, offset as i64])?;
        Ok(())
    }

    fn delete_recording(&mut self, key: i64) -> Result<()> {
        self.clear_derived(key)?;
        for sql in [
            "DELETE FROM messages WHERE rec_key=?1",
            "DELETE FROM events WHERE rec_key=?1",
            "DELETE FROM rec_groups WHERE rec_key=?1",
            "DELETE FROM audit_links WHERE rec_key=?1",
            "DELETE FROM audit_corr WHERE rec_key=?1",
            "DELETE FROM recordings WHERE key=?1",
        ] {
            self.c.execute(sql, [key])?;
        }
        self.keys.retain(|_, k| *k != key);
        self.dirty.remove(&key);
        Ok(())
    }
}

#[cfg(test)]
mod web_tests {
    use super::*;

    #[test]
    fn access_log_newest_first_and_unknown_recording_is_none() {
        let mut s = Sqlite::in_memory().unwrap();
        for (i, action) in ["view", "export-cast"].iter().enumerate() {
            s.log_access(&AccessEntry {
                t_ms: i as i64,
                who: "alice".into(),
                client: "127.0.0.1".into(),
                action: action.to_string(),
                host: "h".into(),
                rec: "r".into(),
            })
            .unwrap();
        }
        let log = s.access_log(1).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].action, "export-cast");
        assert_eq!(s.access_log(10).unwrap().len(), 2);
        // A looked-up recording is never created by the lookup.
        assert_eq!(s.recording_info("h", "r").unwrap(), None);
        assert_eq!(s.counts().unwrap()[0], 0);
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    #[test]
    fn schema_2_is_migrated_to_5_keeping_holds_and_deriving_again() {
        let dir = std::env::temp_dir().join(format!("tlog-rs-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("index.db");
        {
            let s = Sqlite::open(&p).unwrap();
            s.c.execute_batch(
                "DROP TABLE text_fts;
                 CREATE VIRTUAL TABLE text_fts USING fts5(body, content='',
                   contentless_delete=1, tokenize='trigram', detail='none');
                 ALTER TABLE recordings DROP COLUMN rport;
                 ALTER TABLE recordings DROP COLUMN laddr;
                 ALTER TABLE recordings DROP COLUMN lport;
                 DROP TABLE text_chunks;
                 CREATE TABLE text_chunks(id INTEGER PRIMARY KEY, rec_key INTEGER NOT NULL,
                   t_ms INTEGER NOT NULL, zbody BLOB NOT NULL);
                 UPDATE meta SET value='2' WHERE key='schema';
                 INSERT INTO holds(host, rec, reason, who, t_ms) VALUES('h', 'r', 'case 7', 'alice', 1);
                 INSERT INTO recordings(host, rec, dirty) VALUES('h', 'r', 0);
                 INSERT INTO text_chunks(rec_key, t_ms, zbody) VALUES(1, 0, x'00');",
            )
            .unwrap();
        }
        let mut s = Sqlite::open(&p).unwrap();
        let one = |s: &Sqlite, sql: &str| -> String {
            s.c.query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(
            one(&s, "SELECT value FROM meta WHERE key='schema'"),
            "Text(\"5\")"
        );
        // Schema 5's 4-gram filters (crate::text), before the text.
        assert_eq!(
            one(
                &s,
                "SELECT group_concat(name) FROM pragma_table_info('text_chunks')"
            ),
            "Text(\"id,rec_key,t_ms,quads,zbody\")"
        );
        // Schema 4's connection columns (crate::hops) were added on the way.
        assert_eq!(
            one(&s, "SELECT count(*) FROM pragma_table_info('recordings') WHERE name IN ('rport', 'laddr', 'lport')"),
            "Integer(3)"
        );
        assert_eq!(one(&s, "SELECT count(*) FROM text_chunks"), "Integer(0)");
        assert_eq!(s.holds().unwrap().len(), 1);
        assert_eq!(s.dirty().unwrap(), vec![1]);
        // The new table takes trigram words.
        s.c.execute(
            "INSERT INTO text_fts(rowid, trigrams) VALUES(5, '18b1e3')",
            [],
        )
        .unwrap();
        assert_eq!(
            one(
                &s,
                "SELECT rowid FROM text_fts WHERE text_fts MATCH '\"18b1e3\"'"
            ),
            "Integer(5)"
        );
        drop(s);
        // Older schemas are still refused with the way out.
        Connection::open(&p)
            .unwrap()
            .execute("UPDATE meta SET value='1' WHERE key='schema'", [])
            .unwrap();
        let e = Sqlite::open(&p).err().unwrap().to_string();
        assert!(e.contains("schema version 1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn schema_4_is_migrated_to_5_and_its_text_derived_again() {
        let dir = std::env::temp_dir().join(format!("tlog-rs-schema4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("index.db");
        {
            let s = Sqlite::open(&p).unwrap();
            s.c.execute_batch(
                "DROP TABLE text_chunks;
                 CREATE TABLE text_chunks(id INTEGER PRIMARY KEY, rec_key INTEGER NOT NULL,
                   t_ms INTEGER NOT NULL, zbody BLOB NOT NULL);
                 INSERT INTO recordings(host, rec, dirty) VALUES('h', 'r', 0);
                 INSERT INTO text_chunks(rec_key, t_ms, zbody) VALUES(1, 0, x'00');
                 INSERT INTO text_fts(rowid, trigrams) VALUES(1, '18b1e3');
                 INSERT INTO holds(host, rec, reason, who, t_ms) VALUES('h', 'r', 'case 7', 'alice', 1);
                 UPDATE meta SET value='4' WHERE key='schema';",
            )
            .unwrap();
        }
        let mut s = Sqlite::open(&p).unwrap();
        let one = |sql: &str| -> String {
            s.c.query_row(sql, [], |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(
            one("SELECT value FROM meta WHERE key='schema'"),
            "Text(\"5\")"
        );
        assert_eq!(
            one("SELECT group_concat(name) FROM pragma_table_info('text_chunks')"),
            "Text(\"id,rec_key,t_ms,quads,zbody\")"
        );
        assert_eq!(one("SELECT count(*) FROM text_chunks"), "Integer(0)");
        assert_eq!(
            one("SELECT count(*) FROM text_fts WHERE text_fts MATCH '\"18b1e3\"'"),
            "Integer(0)"
        );
        assert_eq!(s.holds().unwrap().len(), 1);
        assert_eq!(s.dirty().unwrap(), vec![1]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
