//! The shared backend: a PostgreSQL database that several index and web
//! nodes use at once. Screen text is stored compressed beside a signature of
//! its trigrams and 4-grams (crate::text::signature, a Bloom filter) that a
//! search scans, where SQLite keeps the same trigram set in FTS5 beside a
//! filter of the 4-grams; candidates are checked in Rust on both backends.
//!
//! Concurrency: the first write transaction of a connection takes a
//! session advisory lock, so only one `tlog-rs index` writes at a time
//! (a second one is refused, as with SQLite); every insert is also keyed
//! (`ON CONFLICT DO NOTHING`), so nothing is doubled even without it.

use std::collections::{HashMap, HashSet};

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};

use super::order::{limit_sql, Window};
use super::verify;
use super::{
    AccessEntry, Added, EventInfo, FileCursor, Hit, Hold, Keyframe, Match, MessageRef, Page, Query,
    RecordingInfo, Result, RetentionRow, State, Store, StoreError,
};
use crate::derive::Derived;
use crate::text;

const SCHEMA_VERSION: &str = "6";

/// Schema 2 kept chunk text for `pg_trgm`: its text tables are replaced
/// and every recording is derived again by the next `tlog-rs index`;
/// everything else (holds, the access log, audit events) stays.
const MIGRATE_2_TO_3: &str = r#"
DROP TABLE text_chunks;
CREATE TABLE text_chunks(id BIGSERIAL PRIMARY KEY, rec_key BIGINT NOT NULL,
  t_ms BIGINT NOT NULL, zbody BYTEA NOT NULL, trigrams INT2[] NOT NULL);
ALTER TABLE text_chunks ALTER COLUMN zbody SET STORAGE EXTERNAL;
CREATE INDEX text_chunks_rec ON text_chunks(rec_key);
CREATE INDEX text_chunks_trigrams ON text_chunks USING gin (trigrams);
UPDATE recordings SET dirty = true;
UPDATE meta SET value = '3' WHERE key = 'schema';
"#;

/// Schema 4 adds sshd's view of the connection (crate::hops); older
/// recordings never had it.
const MIGRATE_3_TO_4: &str = r#"
ALTER TABLE recordings ADD COLUMN IF NOT EXISTS rport BIGINT;
ALTER TABLE recordings ADD COLUMN IF NOT EXISTS laddr TEXT;
ALTER TABLE recordings ADD COLUMN IF NOT EXISTS lport BIGINT;
UPDATE meta SET value = '4' WHERE key = 'schema';
"#;

/// Schema 5 replaces the chunks' trigram sets and their GIN index (as
/// large as the deflated text together) with signatures: the text tables
/// are replaced and every recording is derived again by the next
/// `tlog-rs index`.
const MIGRATE_4_TO_5: &str = r#"
DROP TABLE text_chunks;
CREATE TABLE text_chunks(id BIGSERIAL PRIMARY KEY, rec_key BIGINT NOT NULL,
  t_ms BIGINT NOT NULL, zbody BYTEA NOT NULL, sig BYTEA NOT NULL);
ALTER TABLE text_chunks ALTER COLUMN zbody SET STORAGE EXTERNAL;
ALTER TABLE text_chunks ALTER COLUMN sig SET STORAGE MAIN;
CREATE INDEX text_chunks_rec ON text_chunks(rec_key);
UPDATE recordings SET dirty = true;
UPDATE meta SET value = '5' WHERE key = 'schema';
"#;

/// Schema 6 signatures hold the chunk's 4-grams too, their bits placed
/// otherwise (crate::text::signature): the chunks are deleted and every
/// recording is derived again by the next `tlog-rs index`.
const MIGRATE_5_TO_6: &str = r#"
DELETE FROM text_chunks;
UPDATE recordings SET dirty = true;
UPDATE meta SET value = '6' WHERE key = 'schema';
"#;

/// Advisory lock keys (any 64-bit constants private to this schema).
const LOCK_SCHEMA: i64 = 0x746c_6f67_0001;
const LOCK_INDEXER: i64 = 0x746c_6f67_0002;

// Every integer is BIGINT: the client maps i64 to it exactly. `off`,
// `user_name`: OFFSET and USER are reserved words in PostgreSQL.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
  id BIGSERIAL PRIMARY KEY, path TEXT NOT NULL, dev BIGINT NOT NULL, ino BIGINT NOT NULL,
  head BIGINT NOT NULL, off BIGINT NOT NULL, line BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS files_inode ON files(dev, ino);
CREATE TABLE IF NOT EXISTS recordings(
  key BIGSERIAL PRIMARY KEY, host TEXT NOT NULL, rec TEXT NOT NULL,
  user_name TEXT, uid BIGINT, groups TEXT, service TEXT, rhost TEXT, tty TEXT, term TEXT,
  session BIGINT, rule TEXT, source TEXT, fqdn TEXT,
  rport BIGINT, laddr TEXT, lport BIGINT,
  start_ms BIGINT, end_ms BIGINT, duration_ms BIGINT,
  bytes_in BIGINT, bytes_out BIGINT, messages BIGINT, id_gaps BIGINT,
  ev_start_ms BIGINT, ev_end_ms BIGINT, has_end BOOLEAN NOT NULL DEFAULT false,
  end_reason TEXT, exit_status BIGINT, messages_written BIGINT, messages_dropped BIGINT,
  tampered BOOLEAN NOT NULL DEFAULT false, state TEXT NOT NULL DEFAULT 'incomplete',
  dirty BOOLEAN NOT NULL DEFAULT true,
  UNIQUE(host, rec));
CREATE INDEX IF NOT EXISTS recordings_user ON recordings(user_name, start_ms);
CREATE INDEX IF NOT EXISTS recordings_start ON recordings(start_ms);
CREATE INDEX IF NOT EXISTS recordings_rec ON recordings(rec);
CREATE INDEX IF NOT EXISTS recordings_dirty ON recordings(dirty) WHERE dirty;
CREATE TABLE IF NOT EXISTS rec_groups(grp TEXT NOT NULL, rec_key BIGINT NOT NULL,
  PRIMARY KEY(grp, rec_key));
CREATE TABLE IF NOT EXISTS messages(rec_key BIGINT NOT NULL, id BIGINT NOT NULL,
  file BIGINT NOT NULL, off BIGINT NOT NULL, len BIGINT NOT NULL, hash BIGINT NOT NULL,
  PRIMARY KEY(rec_key, id));
CREATE TABLE IF NOT EXISTS events(rec_key BIGINT NOT NULL, kind TEXT NOT NULL,
  PRIMARY KEY(rec_key, kind));
-- zbody apart (it is read only for candidates), sig in the row (scanned).
CREATE TABLE IF NOT EXISTS text_chunks(id BIGSERIAL PRIMARY KEY, rec_key BIGINT NOT NULL,
  t_ms BIGINT NOT NULL, zbody BYTEA NOT NULL, sig BYTEA NOT NULL);
ALTER TABLE text_chunks ALTER COLUMN zbody SET STORAGE EXTERNAL;
ALTER TABLE text_chunks ALTER COLUMN sig SET STORAGE MAIN;
CREATE INDEX IF NOT EXISTS text_chunks_rec ON text_chunks(rec_key);
CREATE TABLE IF NOT EXISTS commands(rec_key BIGINT NOT NULL, t_ms BIGINT NOT NULL,
  text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS commands_rec ON commands(rec_key);
CREATE TABLE IF NOT EXISTS keyframes(rec_key BIGINT NOT NULL, t_ms BIGINT NOT NULL,
  msg_id BIGINT NOT NULL, packet BIGINT NOT NULL, cols BIGINT NOT NULL, rows BIGINT NOT NULL,
  screen BYTEA NOT NULL, PRIMARY KEY(rec_key, msg_id, packet));
CREATE TABLE IF NOT EXISTS access_log(id BIGSERIAL PRIMARY KEY, t_ms BIGINT NOT NULL,
  who TEXT NOT NULL, client TEXT NOT NULL, action TEXT NOT NULL, host TEXT NOT NULL,
  rec TEXT NOT NULL);
"#;

// Retention: legal holds, by (host, rec) so that they outlive a rebuilt index.
const RETENTION_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS holds(host TEXT NOT NULL, rec TEXT NOT NULL, reason TEXT,
  who TEXT NOT NULL, t_ms BIGINT NOT NULL, PRIMARY KEY(host, rec));
"#;

fn db_err(e: postgres::Error) -> StoreError {
    // The server's own message (with detail and hint) says more than the
    // client's "db error".
    match e.as_db_error() {
        Some(d) => StoreError(format!("index database: {d}")),
        None => StoreError(format!("index database: {e}")),
    }
}

trait Pg<T> {
    fn pg(self) -> Result<T>;
}

impl<T> Pg<T> for std::result::Result<T, postgres::Error> {
    fn pg(self) -> Result<T> {
        self.map_err(db_err)
    }
}

/// PostgreSQL text cannot hold NUL, which a recorded line may: it becomes
/// U+FFFD (in keys too, consistently, so a recording keeps one key).
pub(crate) fn t(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}").into()
    } else {
        s.into()
    }
}

fn ot(s: &Option<String>) -> Option<String> {
    s.as_deref().map(|v| t(v).into_owned())
}

/// Phrase keys whose signature bits a search tests: more add little (32
/// keys a chunk lacks all pass with odds under 10^-8) and cost a test per
/// chunk each.
const PROBE_KEYS: usize = 32;

/// The signature bits of a phrase: the signature hashes of its trigram
/// keys (crate::text::signature_hash) and its 4-gram hashes, up to
/// PROBE_KEYS spread over them; empty for a phrase under 3 characters
/// (every chunk is a candidate then).
fn probe(phrase: &str) -> Vec<i64> {
    let hashes: Vec<u32> = text::trigram_keys(phrase)
        .into_iter()
        .map(text::signature_hash)
        .chain(text::quad_hashes(phrase))
        .collect();
    let step = hashes.len().div_ceil(PROBE_KEYS).max(1);
    hashes.iter().step_by(step).map(|&h| i64::from(h)).collect()
}

/// A chunk `c` whose signature has every bit of the probe in parameter
/// `$p` (crate::text::bloom_holds).
macro_rules! signature_holds {
    ($p:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM unnest(",
            $p,
            "::int8[]) AS h(b) WHERE get_bit(c.sig, ((h.b * (8 * octet_length(c.sig))) >> 32)::int) = 0)"
        )
    };
}

/// `%phrase%` for ILIKE, with the phrase's `%`, `_` and `\` taken literally.
fn like_pattern(phrase: &str) -> String {
    let mut p = String::from("%");
    for c in t(phrase).chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// TLS as libpq's `sslmode`: disable, prefer (default) and require encrypt
/// without checking the server; verify-ca checks the certificate against
/// `sslrootcert` (or the system CAs), verify-full also the host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {s:?}"))?;
            out.push(h);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// Split the TLS parameters off the URL (the client library knows only
/// disable/prefer/require and no CA file).
fn split_tls(url: &str) -> std::result::Result<(String, SslMode, Option<String>), String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => return Ok((url.to_string(), SslMode::Prefer, None)),
    };
    let (mut mode, mut root, mut rest) = (SslMode::Prefer, None, Vec::new());
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "sslmode" => {
                mode = match v {
                    "disable" => SslMode::Disable,
                    "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    _ => {
                        return Err(format!(
                        "sslmode={v}: expected disable, prefer, require, verify-ca or verify-full"
                    ))
                    }
                }
            }
            "sslrootcert" => root = Some(percent_decode(v)?),
            _ => rest.push(kv),
        }
    }
    let mut u = base.to_string();
    if !rest.is_empty() {
        u.push('?');
        u.push_str(&rest.join("&"));
    }
    Ok((u, mode, root))
}

fn connect(url: &str) -> Result<Client> {
    let bad = |m: String| StoreError(format!("--db: PostgreSQL URL: {m}"));
    let (url, mode, root) = split_tls(url).map_err(bad)?;
    let mut cfg: postgres::Config = url.parse().map_err(|e| bad(format!("{e}")))?;
    // libpq ignores sslmode on unix sockets: no TLS there, and no loading
    // of the system's CA store (tens of ms per command).
    let unix_only = !cfg.get_hosts().is_empty()
        && cfg
            .get_hosts()
            .iter()
            .all(|h| matches!(h, postgres::config::Host::Unix(_)));
    if mode == SslMode::Disable || unix_only {
        cfg.ssl_mode(postgres::config::SslMode::Disable);
        return cfg.connect(NoTls).pg();
    }
    let mut b = native_tls::TlsConnector::builder();
    match mode {
        SslMode::Prefer | SslMode::Require => {
            b.danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        SslMode::VerifyCa => {
            b.danger_accept_invalid_hostnames(true);
        }
        SslMode::VerifyFull | SslMode::Disable => {}
    }
    if let Some(path) = &root {
        let pem = std::fs::read(path).map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
        let cert = native_tls::Certificate::from_pem(&pem)
            .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
        b.add_root_certificate(cert);
    }
    let tls = b.build().map_err(|e| bad(format!("TLS: {e}")))?;
    cfg.ssl_mode(if mode == SslMode::Prefer {
        postgres::config::SslMode::Prefer
    } else {
        postgres::config::SslMode::Require
    });
    cfg.connect(postgres_native_tls::MakeTlsConnector::new(tls))
        .pg()
}

pub struct Postgres {
    c: Client,
    statements: HashMap<&'static str, Statement>,
    keys: HashMap<(String, String), i64>,
    dirty: HashSet<i64>,
    /// The indexer lock is held (taken at the first write transaction).
    locked: bool,
    /// Message ids and hashes of the recordings touched in this
    /// transaction, and the new messages not yet written: a round trip per
    /// message was a third of indexing. Only the indexer holding the lock
    /// writes messages, so what it knows stays true until it commits.
    known: HashMap<i64, HashMap<i64, i64>>,
    pending: PendingMessages,
}

/// New messages waiting to be written in one statement (column arrays for
/// `unnest`).
#[derive(Default)]
struct PendingMessages {
    rec: Vec<i64>,
    id: Vec<i64>,
    file: Vec<i64>,
    off: Vec<i64>,
    len: Vec<i64>,
    hash: Vec<i64>,
}

/// New messages written per statement.
const MESSAGE_BATCH: usize = 2048;

impl Postgres {
    /// Connect and create the schema if the database has none.
    pub fn open(url: &str) -> Result<Self> {
        let mut c = connect(url)?;
        // Nodes starting at once must not race on CREATE ... IF NOT EXISTS.
        c.batch_execute("BEGIN").pg()?;
        c.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_SCHEMA])
            .pg()?;
        let have: bool = c
            .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])
            .pg()?
            .get(0);
        let v: Option<String> = if have {
            c.query_opt("SELECT value FROM meta WHERE key='schema'", &[])
                .pg()?
                .map(|r| r.get(0))
        } else {
            None
        };
        match v.as_deref() {
            None => {
                c.batch_execute(SCHEMA).pg()?;
                c.execute(
                    "INSERT INTO meta(key, value) VALUES('schema', $1)",
                    &[&SCHEMA_VERSION],
                )
                .pg()?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(old @ ("2" | "3" | "4" | "5")) => {
                let steps = [
                    ("2", MIGRATE_2_TO_3),
                    ("3", MIGRATE_3_TO_4),
                    ("4", MIGRATE_4_TO_5),
                    ("5", MIGRATE_5_TO_6),
                ];
                for (_, sql) in steps.iter().skip_while(|(from, _)| *from != old) {
                    c.batch_execute(sql).pg()?;
                }
            }
            Some(other) => {
                return Err(StoreError(format!(
                    "index schema version {other}, this tlog-rs knows {SCHEMA_VERSION}: drop the index's tables (or the database) and run `tlog-rs index` again (the index is rebuilt from the sources)"
                )))
            }
        }
        // Tables added since schema 2 was cut (IF NOT EXISTS, under the lock).
        c.batch_execute(crate::audit::postgres::SCHEMA).pg()?;
        c.batch_execute(RETENTION_SCHEMA).pg()?;
        c.batch_execute("COMMIT").pg()?;
        Ok(Postgres {
            c,
            statements: HashMap::new(),
            keys: HashMap::new(),
            dirty: HashSet::new(),
            locked: false,
            known: HashMap::new(),
            pending: PendingMessages::default(),
        })
    }

    fn st(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.c.prepare(sql).pg()?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub(crate) fn exec(&mut self, sql: &'static str, p: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let s = self.st(sql)?;
        self.c.execute(&s, p).pg()
    }

    /// The rows of `sql` (with parameters `p`) whose text, as `text_of`
    /// gives it, holds `needle` (ASCII case-insensitive: byte offsets stay
    /// those of the text, as on SQLite), at most 20, each as a match at the
    /// row's first column whose snippet `snippet_of(text, offset)` makes.
    fn matches_in(
        &mut self,
        sql: &'static str,
        p: &[&(dyn ToSql + Sync)],
        needle: &str,
        text_of: impl Fn(&postgres::Row) -> String,
        snippet_of: impl Fn(&str, usize) -> String,
    ) -> Result<Vec<Match>> {
        let mut out = Vec::new();
        for row in self.rows(sql, p)? {
            let text = text_of(&row);
            if let Some(pos) = text::find(&text, needle) {
                out.push(Match {
                    offset_ms: row.get(0),
                    snippet: snippet_of(&text, pos),
                });
                if out.len() >= 20 {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn rows(
        &mut self,
        sql: &'static str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>> {
        let s = self.st(sql)?;
        self.c.query(&s, p).pg()
    }

    pub(crate) fn row(
        &mut self,
        sql: &'static str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<postgres::Row>> {
        let s = self.st(sql)?;
        self.c.query_opt(&s, p).pg()
    }
}

fn cursor_row(r: &postgres::Row) -> FileCursor {
    FileCursor {
        id: r.get(0),
        path: r.get(1),
        dev: r.get::<_, i64>(2) as u64,
        ino: r.get::<_, i64>(3) as u64,
        head: r.get::<_, i64>(4) as u64,
        offset: r.get::<_, i64>(5) as u64,
        line: r.get::<_, i64>(6) as u64,
    }
}

fn hit_row(r: &postgres::Row) -> Hit {
    let start: i64 = r.get(5);
    let state: String = r.get(7);
    Hit {
        rec: r.get(1),
        host: r.get(2),
        user: r.get(3),
        service: r.get(4),
        start_ms: start,
        end_ms: r.get::<_, Option<i64>>(6).unwrap_or(start),
        state: state.parse().unwrap_or(State::Incomplete),
        matches: vec![],
    }
}

/// The chunks of some recordings (keys in $1) that may hold a phrase
/// (probe in $2), by recording in time order.
const CHUNK_CANDIDATES: &str = concat!(
    "SELECT rec_key, t_ms, zbody FROM text_chunks c WHERE rec_key = ANY($1) AND ",
    signature_holds!("$2"),
    " ORDER BY rec_key, t_ms"
);

impl Postgres {
    /// Write the pending new messages in one statement.
    fn write_pending(&mut self) -> Result<()> {
        if self.pending.rec.is_empty() {
            return Ok(());
        }
        let p = std::mem::take(&mut self.pending);
        self.exec(
            "INSERT INTO messages(rec_key, id, file, off, len, hash)
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[])
             ON CONFLICT DO NOTHING",
            &[&p.rec, &p.id, &p.file, &p.off, &p.len, &p.hash],
        )?;
        Ok(())
    }

    /// Before anything else reads or changes messages: the pending ones
    /// written, and what add_message knew forgotten.
    fn settle_messages(&mut self) -> Result<()> {
        self.write_pending()?;
        self.known.clear();
        Ok(())
    }

    /// The hits of `q` in its order and window, and with `count` how many
    /// there are in all.
    fn find(&mut self, q: &Query, count: bool) -> Result<Page> {
        let mut sql = String::from(
            "SELECT r.key, r.rec, r.host, COALESCE(r.user_name, ''), r.service, r.start_ms, r.end_ms, r.state
             FROM recordings r WHERE r.start_ms IS NOT NULL",
        );
        let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        fn arg(
            args: &mut Vec<Box<dyn ToSql + Sync>>,
            sql: &mut String,
            frag: &str,
            v: Box<dyn ToSql + Sync>,
        ) {
            args.push(v);
            sql.push_str(&frag.replace('?', &format!("${}", args.len())));
        }
        let s = |v: &str| -> Box<dyn ToSql + Sync> { Box::new(t(v).into_owned()) };
        let list = |v: &[String]| -> Box<dyn ToSql + Sync> {
            Box::new(v.iter().map(|x| t(x).into_owned()).collect::<Vec<_>>())
        };
        if let Some(u) = &q.user {
            arg(&mut args, &mut sql, " AND r.user_name = ?", s(u));
        }
        if let Some(h) = &q.host {
            arg(&mut args, &mut sql, " AND (r.host = ? OR r.fqdn = ?)", s(h));
        }
        if let Some(v) = &q.service {
            arg(&mut args, &mut sql, " AND r.service = ?", s(v));
        }
        if let Some(g) = &q.group {
            arg(
                &mut args,
                &mut sql,
                " AND EXISTS (SELECT 1 FROM rec_groups g WHERE g.rec_key = r.key AND g.grp = ?)",
                s(g),
            );
        }
        if let Some(hosts) = &q.hosts {
            arg(
                &mut args,
                &mut sql,
                " AND (r.host = ANY(?) OR r.fqdn = ANY(?))",
                list(hosts),
            );
        }
        if let Some((groups, services)) = &q.admin {
            arg(
                &mut args,
                &mut sql,
                " AND (r.uid = 0 OR (r.uid IS NULL AND r.user_name = 'root')
                   OR EXISTS (SELECT 1 FROM rec_groups g WHERE g.rec_key = r.key AND g.grp = ANY(?))",
                list(groups),
            );
            arg(
                &mut args,
                &mut sql,
                " OR r.service = ANY(?))",
                list(services),
            );
        }
        if let Some(v) = q.since {
            arg(&mut args, &mut sql, " AND r.end_ms > ?", Box::new(v));
        }
        if let Some(v) = q.until {
            arg(&mut args, &mut sql, " AND r.start_ms < ?", Box::new(v));
        }
        if q.incomplete {
            sql.push_str(" AND r.state <> 'complete'");
        }
        if let Some(sc) = &q.scope {
            // Scope::allows in SQL; an absent part matches nothing.
            let u: Box<dyn ToSql + Sync> = Box::new(sc.user.as_deref().map(|u| t(u).into_owned()));
            arg(&mut args, &mut sql, " AND (r.user_name = ?", u);
            arg(
                &mut args,
                &mut sql,
                " OR r.host = ANY(?) OR r.fqdn = ANY(?)",
                list(&sc.hosts),
            );
            arg(
                &mut args,
                &mut sql,
                " OR EXISTS (SELECT 1 FROM rec_groups g WHERE g.rec_key = r.key AND g.grp = ANY(?)))",
                list(&sc.groups),
            );
        }
        // Candidates: recordings with a chunk whose signature may hold every
        // trigram and 4-gram of the phrase; matches are checked below.
        let probe = q.text.as_deref().map(probe);
        if let Some(p) = probe.as_ref().filter(|p| !p.is_empty()) {
            arg(
                &mut args,
                &mut sql,
                concat!(
                    " AND r.key IN (SELECT c.rec_key FROM text_chunks c WHERE ",
                    signature_holds!("?"),
                    ")"
                ),
                Box::new(p.clone()),
            );
        }
        let cmd_pattern = q.command.as_deref().map(like_pattern);
        if let Some(p) = &cmd_pattern {
            arg(
                &mut args,
                &mut sql,
                " AND EXISTS (SELECT 1 FROM commands m WHERE m.rec_key = r.key AND m.text ILIKE ?)",
                Box::new(p.clone()),
            );
        }
        // Text and commands are checked below: count and window after.
        let verified = q.text.is_some() || q.command.is_some();
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|b| b.as_ref()).collect();
        let total = match (count, verified) {
            (true, false) => {
                let n: i64 = self
                    .c
                    .query_one(&format!("SELECT COUNT(*) FROM ({sql}) AS c"), &params)
                    .pg()?
                    .get(0);
                Some(n as usize)
            }
            _ => None,
        };
        sql.push_str(" ORDER BY ");
        sql.push_str(&match q.order {
            // Names by bytes, as SQLite and Rust, whatever the locale.
            Some(o) => o.sql(
                "COALESCE(r.user_name, '')",
                "r.host",
                "r.rec",
                " COLLATE \"C\"",
            ),
            None => "r.start_ms, r.host, r.rec".into(),
        });
        if !verified {
            sql.push_str(&limit_sql(q.limit, q.offset));
        }
        let rows = self.c.query(&sql, &params).pg()?;
        let hits: Vec<(i64, Hit)> = rows.iter().map(|r| (r.get(0), hit_row(r))).collect();
        let mut win = Window::new(q, verified, count);
        let mut hits = hits.into_iter().peekable();
        while hits.peek().is_some() && !win.done() {
            let group: Vec<(i64, Hit)> = hits.by_ref().take(verify::batch(win.wanted())).collect();
            let texts = match (&q.text, &probe) {
                (Some(phrase), Some(p)) => {
                    let keys: Vec<i64> = group.iter().map(|(k, _)| *k).collect();
                    let mut chunks: HashMap<i64, verify::Chunks> = HashMap::new();
                    for row in self.rows(CHUNK_CANDIDATES, &[&keys, p])? {
                        chunks
                            .entry(row.get(0))
                            .or_default()
                            .push((row.get(1), row.get(2)));
                    }
                    let chunks: Vec<verify::Chunks> = keys
                        .iter()
                        .map(|k| chunks.remove(k).unwrap_or_default())
                        .collect();
                    Some(verify::text_matches(&chunks, &phrase.to_ascii_lowercase()))
                }
                _ => None,
            };
            for (i, (key, mut hit)) in group.into_iter().enumerate() {
                if win.done() {
                    break;
                }
                if !verify::keep_text_hit(texts.as_deref(), i, &mut hit.matches) {
                    continue;
                }
                if let (Some(cmd), Some(p)) = (&q.command, &cmd_pattern) {
                    let m = self.matches_in(
                    "WITH c AS MATERIALIZED (SELECT t_ms, text FROM commands WHERE rec_key = $1) \
                     SELECT t_ms, text FROM c WHERE text ILIKE $2 ORDER BY t_ms",
                    &[&key, p],
                    &cmd.to_ascii_lowercase(),
                    |row| row.get(1),
                    |text, _| text.to_string(),
                )?;
                    if m.is_empty() {
                        continue;
                    }
                    hit.matches.extend(m);
                }
                hit.matches.sort_by_key(|m| m.offset_ms);
                win.push(hit);
            }
        }
        Ok(win.page(total))
    }
}

impl Store for Postgres {
    fn begin(&mut self) -> Result<()> {
        if !self.locked {
            let got: bool = self
                .c
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_INDEXER])
                .pg()?
                .get(0);
            if !got {
                return Err(StoreError(
                    "another tlog-rs index is running on this index".into(),
                ));
            }
            self.locked = true;
        }
        self.c.batch_execute("BEGIN").pg()
    }

    fn commit(&mut self) -> Result<()> {
        self.settle_messages()?;
        let dirty: Vec<i64> = self.dirty.drain().collect();
        if !dirty.is_empty() {
            self.exec(
                "UPDATE recordings SET dirty=true WHERE key = ANY($1)",
                &[&dirty],
            )?;
        }
        self.c.batch_execute("COMMIT").pg()
    }

    fn file_by_inode(&mut self, dev: u64, ino: u64) -> Result<Option<FileCursor>> {
        Ok(self
            .row(
                "SELECT id, path, dev, ino, head, off, line FROM files WHERE dev=$1 AND ino=$2 ORDER BY id LIMIT 1",
                &[&(dev as i64), &(ino as i64)],
            )?
            .map(|r| cursor_row(&r)))
    }

    fn save_file(&mut self, f: &FileCursor) -> Result<i64> {
        let path = t(&f.path).into_owned();
        let (dev, ino, head, off, line) = (
            f.dev as i64,
            f.ino as i64,
            f.head as i64,
            f.offset as i64,
            f.line as i64,
        );
        if f.id == 0 {
            let r = self.row(
                "INSERT INTO files(path, dev, ino, head, off, line) VALUES($1,$2,$3,$4,$5,$6) RETURNING id",
                &[&path, &dev, &ino, &head, &off, &line],
            )?;
            Ok(r.map(|r| r.get(0)).unwrap_or(0))
        } else {
            self.exec(
                "UPDATE files SET path=$1, dev=$2, ino=$3, head=$4, off=$5, line=$6 WHERE id=$7",
                &[&path, &dev, &ino, &head, &off, &line, &f.id],
            )?;
            Ok(f.id)
        }
    }

    fn files(&mut self) -> Result<Vec<FileCursor>> {
        Ok(self
            .rows(
                "SELECT id, path, dev, ino, head, off, line FROM files ORDER BY id",
                &[],
            )?
            .iter()
            .map(cursor_row)
            .collect())
    }

    fn forget_file(&mut self, id: i64) -> Result<()> {
        self.exec("DELETE FROM files WHERE id=$1", &[&id])?;
        Ok(())
    }

    fn recording(&mut self, host: &str, rec: &str) -> Result<i64> {
        let key = (host.to_string(), rec.to_string());
        if let Some(k) = self.keys.get(&key) {
            return Ok(*k);
        }
        let (h, r) = (t(host).into_owned(), t(rec).into_owned());
        self.exec(
            "INSERT INTO recordings(host, rec) VALUES($1, $2) ON CONFLICT (host, rec) DO NOTHING",
            &[&h, &r],
        )?;
        let k: i64 = self
            .row(
                "SELECT key FROM recordings WHERE host=$1 AND rec=$2",
                &[&h, &r],
            )?
            .map(|r| r.get(0))
            .ok_or_else(|| StoreError("index database: recording vanished".into()))?;
        self.keys.insert(key, k);
        Ok(k)
    }

    fn add_message(&mut self, rec: i64, m: &MessageRef) -> Result<Added> {
        let (id, off, len, hash) = (m.id as i64, m.offset as i64, m.len as i64, m.hash as i64);
        if !self.known.contains_key(&rec) {
            let ids = self
                .rows("SELECT id, hash FROM messages WHERE rec_key=$1", &[&rec])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            self.known.insert(rec, ids);
        }
        let ids = self.known.entry(rec).or_default();
        match ids.get(&id) {
            None => {
                ids.insert(id, hash);
                let p = &mut self.pending;
                p.rec.push(rec);
                p.id.push(id);
                p.file.push(m.file);
                p.off.push(off);
                p.len.push(len);
                p.hash.push(hash);
                self.dirty.insert(rec);
                if self.pending.rec.len() >= MESSAGE_BATCH {
                    self.write_pending()?;
                }
                return Ok(Added::New);
            }
            Some(&h) if h != hash => return Ok(Added::Conflict),
            Some(_) => {}
        }
        // The first copy may still be pending.
        self.write_pending()?;
        // Point at the copy seen last (see the SQLite backend).
        self.exec(
            "UPDATE messages SET file=$3, off=$4, len=$5 WHERE rec_key=$1 AND id=$2",
            &[&rec, &id, &m.file, &off, &len],
        )?;
        Ok(Added::Duplicate)
    }

    fn add_event(&mut self, rec: i64, e: &EventInfo) -> Result<Added> {
        let kind = if e.end { "end" } else { "start" };
        let n = self.exec(
            "INSERT INTO events(rec_key, kind) VALUES($1, $2) ON CONFLICT DO NOTHING",
            &[&rec, &kind],
        )?;
        if n == 0 {
            return Ok(Added::Duplicate);
        }
        let groups = e
            .groups
            .as_ref()
            .map(|g| t(&serde_json::to_string(g).expect("strings serialise")).into_owned());
        let user = t(&e.user).into_owned();
        let session = e.session.map(|s| s as i64);
        let uid = e.uid.map(i64::from);
        self.exec(
            "UPDATE recordings SET user_name=$2, tty=COALESCE($3, tty), session=COALESCE($4, session),
               ev_start_ms=COALESCE(ev_start_ms, $5),
               service=COALESCE(service, $6), rhost=COALESCE(rhost, $7), uid=COALESCE(uid, $8),
               groups=COALESCE(groups, $9), rule=COALESCE(rule, $10), source=COALESCE(source, $11),
               fqdn=COALESCE(fqdn, $12), rport=COALESCE(rport, $13),
               laddr=COALESCE(laddr, $14), lport=COALESCE(lport, $15) WHERE key=$1",
            &[
                &rec,
                &user,
                &ot(&e.tty),
                &session,
                &e.start_ms,
                &ot(&e.service),
                &ot(&e.rhost),
                &uid,
                &groups,
                &ot(&e.rule),
                &ot(&e.source),
                &ot(&e.fqdn),
                &e.rport.map(|p| p as i64),
                &ot(&e.laddr),
                &e.lport.map(|p| p as i64),
            ],
        )?;
        if let Some(g) = &e.groups {
            for name in g {
                let name = t(name).into_owned();
                self.exec(
                    "INSERT INTO rec_groups(grp, rec_key) VALUES($1, $2) ON CONFLICT DO NOTHING",
                    &[&name, &rec],
                )?;
            }
        }
        if e.end {
            let written = e.messages_written.map(|v| v as i64);
            let dropped = e.messages_dropped.map(|v| v as i64);
            self.exec(
                "UPDATE recordings SET has_end=true, ev_end_ms=$2, end_reason=$3, exit_status=$4,
                   messages_written=$5, messages_dropped=$6 WHERE key=$1",
                &[
                    &rec,
                    &e.end_ms,
                    &ot(&e.end_reason),
                    &e.exit_status,
                    &written,
                    &dropped,
                ],
            )?;
        }
        self.dirty.insert(rec);
        Ok(Added::New)
    }

    fn mark_tampered(&mut self, rec: i64) -> Result<()> {
        self.exec(
            "UPDATE recordings SET tampered=true, state='tampered' WHERE key=$1",
            &[&rec],
        )?;
        Ok(())
    }

    fn dirty(&mut self) -> Result<Vec<i64>> {
        Ok(self
            .rows("SELECT key FROM recordings WHERE dirty ORDER BY key", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn is_pipe(&mut self, rec: i64) -> Result<bool> {
        Ok(self
            .row(
                "SELECT r.tty IS NULL FROM recordings r WHERE r.key=$1 AND EXISTS (SELECT 1 FROM events e WHERE e.rec_key=r.key)",
                &[&rec],
            )?
            .map(|r| r.get(0))
            .unwrap_or(false))
    }

    fn messages_in(
        &mut self,
        rec: i64,
        first: u64,
        last: u64,
        limit: usize,
    ) -> Result<Vec<(MessageRef, String)>> {
        let bound = |v: u64| v.min(i64::MAX as u64) as i64;
        self.settle_messages()?;

        let (first, last, limit) = (bound(first), bound(last), bound(limit as u64));
        Ok(self
            .rows(
                "SELECT m.id, m.file, m.off, m.len, m.hash, f.path FROM messages m
                 JOIN files f ON f.id = m.file WHERE m.rec_key=$1 AND m.id BETWEEN $2 AND $3
                 ORDER BY m.id LIMIT $4",
                &[&rec, &first, &last, &limit],
            )?
            .iter()
            .map(|r| {
                (
                    MessageRef {
                        id: r.get::<_, i64>(0) as u64,
                        file: r.get(1),
                        offset: r.get::<_, i64>(2) as u64,
                        len: r.get::<_, i64>(3) as u32,
                        hash: r.get::<_, i64>(4) as u64,
                    },
                    r.get(5),
                )
            })
            .collect())
    }

    fn clear_derived(&mut self, rec: i64) -> Result<()> {
        self.exec("DELETE FROM text_chunks WHERE rec_key=$1", &[&rec])?;
        self.exec("DELETE FROM commands WHERE rec_key=$1", &[&rec])?;
        self.exec("DELETE FROM keyframes WHERE rec_key=$1", &[&rec])?;
        Ok(())
    }

    fn add_derived(&mut self, rec: i64, d: &Derived) -> Result<()> {
        for ch in &d.chunks {
            let tm = ch.t_ms as i64;
            let sig = text::signature(&ch.trigrams, &ch.text);
            self.exec(
                "INSERT INTO text_chunks(rec_key, t_ms, zbody, sig) VALUES($1,$2,$3,$4)",
                &[&rec, &tm, &ch.zbody, &sig],
            )?;
        }
        for (tm, text) in &d.commands {
            let (tm, text) = (*tm as i64, t(text).into_owned());
            self.exec(
                "INSERT INTO commands(rec_key, t_ms, text) VALUES($1,$2,$3)",
                &[&rec, &tm, &text],
            )?;
        }
        for k in &d.keyframes {
            let (msg, packet, cols, rows) = (
                k.msg_id as i64,
                i64::from(k.packet),
                i64::from(k.cols),
                i64::from(k.rows),
            );
            self.exec(
                "INSERT INTO keyframes(rec_key, t_ms, msg_id, packet, cols, rows, screen) VALUES($1,$2,$3,$4,$5,$6,$7)
                 ON CONFLICT (rec_key, msg_id, packet) DO UPDATE SET t_ms=EXCLUDED.t_ms, cols=EXCLUDED.cols,
                   rows=EXCLUDED.rows, screen=EXCLUDED.screen",
                &[&rec, &k.t_ms, &msg, &packet, &cols, &rows, &k.screen],
            )?;
        }
        Ok(())
    }

    fn store_derived(&mut self, rec: i64, d: &Derived) -> Result<()> {
        let r = self
            .row(
                "SELECT ev_start_ms, ev_end_ms, has_end, messages_written, messages_dropped, tampered
                 FROM recordings WHERE key=$1",
                &[&rec],
            )?
            .ok_or_else(|| StoreError("index database: recording vanished".into()))?;
        let (ev_start, ev_end, has_end, written, dropped, tampered): (
            Option<i64>,
            Option<i64>,
            bool,
            Option<i64>,
            Option<i64>,
            bool,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        // Same rules as the SQLite backend (README.md, "State").
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
        let user = (!d.user.is_empty()).then(|| t(&d.user).into_owned());
        let term = t(&d.term).into_owned();
        let duration = match (start, end) {
            (Some(s), Some(e)) => Some(e - s),
            _ => None,
        };
        let (session, bin, bout, msgs, gaps) = (
            d.session as i64,
            d.bytes_in as i64,
            d.bytes_out as i64,
            d.messages as i64,
            d.id_gaps as i64,
        );
        self.exec(
            "UPDATE recordings SET user_name=COALESCE(user_name, $2), term=$3, session=COALESCE(session, $4),
               start_ms=$5, end_ms=$6, duration_ms=$7, bytes_in=$8, bytes_out=$9, messages=$10,
               id_gaps=$11, state=$12, dirty=false WHERE key=$1",
            &[
                &rec,
                &user,
                &term,
                &session,
                &start,
                &end,
                &duration,
                &bin,
                &bout,
                &msgs,
                &gaps,
                &state.as_str(),
            ],
        )?;
        self.add_derived(rec, d)
    }

    fn search(&mut self, q: &Query) -> Result<Vec<Hit>> {
        Ok(self.find(q, false)?.hits)
    }

    fn search_page(&mut self, q: &Query) -> Result<Page> {
        self.find(q, true)
    }

    fn keyframes(&mut self, host: &str, rec: &str) -> Result<Vec<Keyframe>> {
        let (h, r) = (t(host).into_owned(), t(rec).into_owned());
        Ok(self
            .rows(
                "SELECT k.t_ms, k.msg_id, k.packet, k.cols, k.rows, k.screen FROM keyframes k
                 JOIN recordings r ON r.key = k.rec_key WHERE r.host=$1 AND r.rec=$2 ORDER BY k.msg_id, k.packet",
                &[&h, &r],
            )?
            .iter()
            .map(|r| Keyframe {
                t_ms: r.get(0),
                msg_id: r.get::<_, i64>(1) as u64,
                packet: r.get::<_, i64>(2) as u32,
                cols: r.get::<_, i64>(3) as u16,
                rows: r.get::<_, i64>(4) as u16,
                screen: r.get(5),
            })
            .collect())
    }

    fn keyframe_index(&mut self, host: &str, rec: &str) -> Result<Vec<Keyframe>> {
        let (h, r) = (t(host).into_owned(), t(rec).into_owned());
        Ok(self
            .rows(
                "SELECT k.t_ms, k.msg_id, k.packet, k.cols, k.rows FROM keyframes k
                 JOIN recordings r ON r.key = k.rec_key WHERE r.host=$1 AND r.rec=$2 ORDER BY k.msg_id, k.packet",
                &[&h, &r],
            )?
            .iter()
            .map(|r| Keyframe {
                t_ms: r.get(0),
                msg_id: r.get::<_, i64>(1) as u64,
                packet: r.get::<_, i64>(2) as u32,
                cols: r.get::<_, i64>(3) as u16,
                rows: r.get::<_, i64>(4) as u16,
                screen: Vec::new(),
            })
            .collect())
    }

    fn keyframe_screen(
        &mut self,
        host: &str,
        rec: &str,
        msg_id: u64,
        packet: u32,
    ) -> Result<Option<Vec<u8>>> {
        let (h, r) = (t(host).into_owned(), t(rec).into_owned());
        Ok(self
            .rows(
                "SELECT k.screen FROM keyframes k JOIN recordings r ON r.key = k.rec_key
                 WHERE r.host=$1 AND r.rec=$2 AND k.msg_id=$3 AND k.packet=$4",
                &[&h, &r, &(msg_id as i64), &i64::from(packet)],
            )?
            .first()
            .map(|r| r.get(0)))
    }

    fn find_recordings(&mut self, rec: &str) -> Result<Vec<(i64, String)>> {
        let r = t(rec).into_owned();
        Ok(self
            .rows(
                "SELECT key, host FROM recordings WHERE rec=$1 ORDER BY host",
                &[&r],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    // Kept in `meta` under "cursor SOURCE", as in SQLite.
    fn source_cursor(&mut self, source: &str) -> Result<Option<String>> {
        let k = t(&format!("cursor {source}")).into_owned();
        Ok(self
            .row("SELECT value FROM meta WHERE key=$1", &[&k])?
            .map(|r| r.get(0)))
    }

    fn save_source_cursor(&mut self, source: &str, cursor: &str) -> Result<()> {
        let (k, v) = (
            t(&format!("cursor {source}")).into_owned(),
            t(cursor).into_owned(),
        );
        self.exec(
            "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT (key) DO UPDATE SET value=EXCLUDED.value",
            &[&k, &v],
        )?;
        Ok(())
    }

    fn counts(&mut self) -> Result<[u64; 5]> {
        self.settle_messages()?;
        let r = self
            .row(
                "SELECT (SELECT count(*) FROM recordings), (SELECT count(*) FROM messages),
                   (SELECT count(*) FROM text_chunks), (SELECT count(*) FROM commands),
                   (SELECT count(*) FROM keyframes)",
                &[],
            )?
            .ok_or_else(|| StoreError("index database: no counts".into()))?;
        let mut out = [0u64; 5];
        for (i, o) in out.iter_mut().enumerate() {
            *o = r.get::<_, i64>(i) as u64;
        }
        Ok(out)
    }

    fn recording_info(&mut self, host: &str, rec: &str) -> Result<Option<RecordingInfo>> {
        let (h, r) = (t(host).into_owned(), t(rec).into_owned());
        Ok(self
            .row(
                "SELECT key, rec, host, COALESCE(user_name, ''), service, start_ms, end_ms, state,
                   uid, groups, rhost, tty, term, fqdn
                 FROM recordings WHERE host=$1 AND rec=$2 AND start_ms IS NOT NULL",
                &[&h, &r],
            )?
            .map(|r| RecordingInfo {
                key: r.get(0),
                hit: hit_row(&r),
                uid: r.get::<_, Option<i64>>(8).map(|u| u as u32),
                groups: r
                    .get::<_, Option<String>>(9)
                    .and_then(|g| serde_json::from_str(&g).ok())
                    .unwrap_or_default(),
                rhost: r.get(10),
                tty: r.get(11),
                term: r.get(12),
                fqdn: r.get(13),
            }))
    }

    fn audit(&mut self) -> Result<&mut dyn crate::audit::store::AuditStore> {
        Ok(self)
    }

    fn commands(&mut self, rec: i64) -> Result<Vec<(i64, String)>> {
        Ok(self
            .rows(
                "SELECT t_ms, text FROM commands WHERE rec_key=$1 ORDER BY t_ms",
                &[&rec],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn hops(&mut self, rec: i64) -> Result<Vec<crate::hops::Hop>> {
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let sql = SQL.get_or_init(|| crate::hops::sql("user_name", "$1"));
        self.rows(sql, &[&rec])?
            .iter()
            .map(|r| {
                crate::hops::from_row((
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                    r.get(8),
                    r.get(9),
                ))
                .map_err(StoreError)
            })
            .collect()
    }

    fn log_access(&mut self, e: &AccessEntry) -> Result<()> {
        let v: Vec<String> = [&e.who, &e.client, &e.action, &e.host, &e.rec]
            .iter()
            .map(|s| t(s).into_owned())
            .collect();
        self.exec(
            "INSERT INTO access_log(t_ms, who, client, action, host, rec) VALUES($1,$2,$3,$4,$5,$6)",
            &[&e.t_ms, &v[0], &v[1], &v[2], &v[3], &v[4]],
        )?;
        Ok(())
    }

    fn access_log(&mut self, limit: usize) -> Result<Vec<AccessEntry>> {
        let limit = limit as i64;
        Ok(self
            .rows(
                "SELECT t_ms, who, client, action, host, rec FROM access_log ORDER BY id DESC LIMIT $1",
                &[&limit],
            )?
            .iter()
            .map(|r| AccessEntry {
                t_ms: r.get(0),
                who: r.get(1),
                client: r.get(2),
                action: r.get(3),
                host: r.get(4),
                rec: r.get(5),
            })
            .collect())
    }

    // Retention (tlog-rs-retention).
    fn retention_rows(&mut self) -> Result<Vec<RetentionRow>> {
        Ok(self
            .rows(
                "SELECT key, host, rec, COALESCE(user_name, ''), groups, start_ms, end_ms
                 FROM recordings WHERE start_ms IS NOT NULL ORDER BY start_ms, key",
                &[],
            )?
            .iter()
            .map(|r| RetentionRow {
                key: r.get(0),
                host: r.get(1),
                rec: r.get(2),
                user: r.get(3),
                groups: r
                    .get::<_, Option<String>>(4)
                    .and_then(|g| serde_json::from_str(&g).ok())
                    .unwrap_or_default(),
                start_ms: r.get(5),
                end_ms: r.get(6),
            })
            .collect())
    }

    fn set_hold(&mut self, h: &Hold) -> Result<()> {
        let (host, rec, who) = (
            t(&h.host).into_owned(),
            t(&h.rec).into_owned(),
            t(&h.who).into_owned(),
        );
        let reason = ot(&h.reason);
        self.exec(
            "INSERT INTO holds(host, rec, reason, who, t_ms) VALUES($1,$2,$3,$4,$5)
             ON CONFLICT (host, rec) DO UPDATE SET reason=EXCLUDED.reason, who=EXCLUDED.who, t_ms=EXCLUDED.t_ms",
            &[&host, &rec, &reason, &who, &h.t_ms],
        )?;
        Ok(())
    }

    fn release_hold(&mut self, host: &str, rec: &str) -> Result<bool> {
        let (host, rec) = (t(host).into_owned(), t(rec).into_owned());
        Ok(self.exec("DELETE FROM holds WHERE host=$1 AND rec=$2", &[&host, &rec])? > 0)
    }

    fn holds(&mut self) -> Result<Vec<Hold>> {
        Ok(self
            .rows(
                "SELECT host, rec, reason, who, t_ms FROM holds ORDER BY host, rec",
                &[],
            )?
            .iter()
            .map(|r| Hold {
                host: r.get(0),
                rec: r.get(1),
                reason: r.get(2),
                who: r.get(3),
                t_ms: r.get(4),
            })
            .collect())
    }

    fn file_messages(&mut self, file: i64) -> Result<Vec<(i64, u64, u64)>> {
        self.settle_messages()?;
        Ok(self
            .rows(
                "SELECT rec_key, id, off FROM messages WHERE file=$1 ORDER BY off",
                &[&file],
            )?
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get::<_, i64>(1) as u64,
                    r.get::<_, i64>(2) as u64,
                )
            })
            .collect())
    }

    fn move_message(&mut self, rec: i64, id: u64, offset: u64) -> Result<()> {
        self.settle_messages()?;
        let (id, offset) = (id as i64, offset as i64);
        self.exec(
            "UPDATE messages SET off=$3 WHERE rec_key=$1 AND id=$2",
            &[&rec, &id, &offset],
        )?;
        Ok(())
    }

    fn delete_recording(&mut self, key: i64) -> Result<()> {
        self.settle_messages()?;
        self.clear_derived(key)?;
        self.exec("DELETE FROM messages WHERE rec_key=$1", &[&key])?;
        self.exec("DELETE FROM events WHERE rec_key=$1", &[&key])?;
        self.exec("DELETE FROM rec_groups WHERE rec_key=$1", &[&key])?;
        self.exec("DELETE FROM audit_links WHERE rec_key=$1", &[&key])?;
        self.exec("DELETE FROM audit_corr WHERE rec_key=$1", &[&key])?;
        self.exec("DELETE FROM recordings WHERE key=$1", &[&key])?;
        self.keys.retain(|_, k| *k != key);
        self.dirty.remove(&key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_split_off_the_url() {
        let (u, m, r) = split_tls(
            "postgres://u@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fca.pem",
        )
        .unwrap();
        assert_eq!(u, "postgres://u@h/db?application_name=x");
        assert_eq!(m, SslMode::VerifyFull);
        assert_eq!(r.as_deref(), Some("/ca.pem"));
        assert_eq!(
            split_tls("postgres://h/db").unwrap(),
            ("postgres://h/db".into(), SslMode::Prefer, None)
        );
        assert_eq!(
            split_tls("postgres://h/db?sslmode=disable").unwrap(),
            ("postgres://h/db".into(), SslMode::Disable, None)
        );
        let e = split_tls("postgres://h/db?sslmode=allow").unwrap_err();
        assert!(e.contains("verify-full"), "{e}");
        assert!(split_tls("postgres://h/db?sslrootcert=%zz").is_err());
    }

    #[test]
    fn like_pattern_takes_the_phrase_literally() {
        assert_eq!(like_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
        assert_eq!(like_pattern("a\0b"), "%a\u{FFFD}b%");
    }
}
