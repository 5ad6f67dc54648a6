//! `tlog-rs index` and `tlog-rs search`: argument handling and output. The
//! `tlog-rs` binary only dispatches here.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::config::{Config, DbSpec};
use crate::es::EsSource;
use crate::ingest::{Indexer, Problem, Sources};
use crate::store::{self, Hit, Query, State};
use crate::timewin::{self, push_rfc3339_utc, short_time, Zone};

pub const INDEX_USAGE: &str = "\
usage: tlog-rs index [--config FILE] [--db PATH] [--jsonl DIR|FILE]... [--journal DIR|FILE]...
                     [--es URL --es-index NAME [--es-user USER --es-password-file FILE] [--es-ca FILE]]
                     [--audit-log FILE]...
                     [--audit-host NAME] [--stats] [--quiet]

Adds what is new in the JSON Lines stores (the file writer's log and its
.events sidecar, or the central rsyslog layout DIR/HOST/YYYY-MM-DD.jsonl) to
the index, and the journal and Elasticsearch/OpenSearch stores. Without a
source option, the [sources] of the central config are read.
Running it again adds nothing new; bad lines are reported as FILE:LINE.
Audit events (tlog-rs audit-export or laurel JSON lines) in the JSON Lines
stores, journald's own audit entries in the journals, and raw audit logs are
joined to the recordings (docs/audit.md).

  --config FILE  central config (default /etc/tlog-rs/central.toml)
  --db PATH|URL  index database, overrides the config: a SQLite file, or
                 postgres://USER@HOST/DB (shared index; tlog-rs-central.toml(5))
  --jsonl PATH   a directory or file to index (repeatable)
  --journal PATH a journal directory (systemd-journal-remote's output, or
                 /var/log/journal) or journal file (repeatable; read with
                 journalctl, resumed after the last entry indexed)
  --es URL       an Elasticsearch/OpenSearch server (https://HOST:9200), with
  --es-index NAME  the index (or alias) rsyslog writes; read with a point in
                 time and search_after, from the last document indexed
  --es-user USER, --es-password-file FILE   basic auth (the file: mode 0600)
  --es-ca FILE   PEM CA certificate(s) of the server (default: Mozilla's roots)
  --audit-log FILE  a raw audit.log to index (repeatable; read whole, idempotent)
  --audit-host NAME host of the --audit-log events without node= (name_format = none)
  --stats        print counts when done (also shown on a terminal)
  --quiet        no progress and no counts, only problems

Exit status: 0 done, 1 done but some input was reported, 2 could not run.";

pub const SEARCH_USAGE: &str = "\
usage: tlog-rs search [FILTERS] [--json] [--utc] [--limit N]

Filters (all must hold):
  --user NAME        recorded user
  --group NAME       the user was in this group at login
  --host NAME        host name (as in the recording, or its FQDN)
  --hostgroup NAME   one of the hosts of [hostgroups] NAME in the central config
  --service NAME     PAM service (sshd, sudo, login, ...)
  --admin            uid 0, an [admin] group or an [admin] service
  --since TIME       session overlaps [since, until): it ends after since
  --until TIME       ... and starts before until
  --during TIME      since = start and until = end of TIME (\"this weekend\")
  --text PHRASE      the screen showed PHRASE (case-insensitive substring)
  --command TEXT     a submitted input line contains TEXT
  --incomplete       only recordings that are not complete (killed, gaps, drops, tampered)
  --exec PATH        the session ran the program PATH (audit exec events; matches are the runs)
  --auth-failures    failed authentications of the user preceded the session (audit)

TIME: RFC 3339 (2026-11-28T10:00:00Z), a date (2026-11-28: the whole day),
\"2026-11-28 10:00\", relative (-7d, -12h, -30m, -2w), now, today, yesterday,
this/last week, this/last weekend, this/last month. Local time unless --utc.

  --json       JSON Lines: rec, host, user, service, start, end (RFC 3339 UTC),
               duration (s), complete, state, matches [{offset (s), snippet}]
  --config FILE, --db PATH   as for tlog-rs index
  --now TIME   evaluate relative times against TIME instead of the clock

Exit status: 0 found, 1 nothing found, 2 error.";

struct Scan {
    items: std::vec::IntoIter<String>,
}

impl Scan {
    fn new(args: Vec<OsString>) -> Result<Self, String> {
        let items = args
            .into_iter()
            .map(|a| {
                a.into_string()
                    .map_err(|a| format!("argument {a:?} is not valid UTF-8"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Split --opt=value so that every value follows its option (only
        // for option names: a value may itself look like `--x=y`).
        const WITH_VALUE: &[&str] = &[
            "--config",
            "--db",
            "--jsonl",
            "--journal",
            "--es",
            "--es-index",
            "--es-user",
            "--es-password-file",
            "--es-ca",
            "--user",
            "--group",
            "--host",
            "--hostgroup",
            "--service",
            "--since",
            "--until",
            "--during",
            "--now",
            "--text",
            "--command",
            "--limit",
            "--audit-log",
            "--audit-host",
            "--exec",
        ];
        let mut v = Vec::new();
        let mut expect_value = false;
        for a in items {
            if std::mem::take(&mut expect_value) {
                v.push(a);
                continue;
            }
            expect_value = WITH_VALUE.contains(&a.as_str());
            match a.split_once('=') {
                Some((o, val)) if WITH_VALUE.contains(&o) => {
                    v.push(o.to_string());
                    v.push(val.to_string());
                }
                _ => v.push(a),
            }
        }
        Ok(Scan {
            items: v.into_iter(),
        })
    }

    fn value(&mut self, opt: &str) -> Result<String, String> {
        self.items
            .next()
            .ok_or_else(|| format!("{opt} needs a value"))
    }
}

struct Common {
    config: Option<PathBuf>,
    db: Option<DbSpec>,
}

impl Common {
    fn take(&mut self, opt: &str, s: &mut Scan) -> Result<bool, String> {
        match opt {
            "--config" => self.config = Some(PathBuf::from(s.value(opt)?)),
            "--db" => self.db = Some(s.value(opt)?.parse()?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn load(&self) -> Result<(Config, DbSpec), String> {
        let c = Config::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        let db = self.db.clone().unwrap_or_else(|| c.db.clone());
        Ok((c, db))
    }
}

fn fail(cmd: &str, msg: &str) -> i32 {
    eprintln!("tlog-rs {cmd}: {msg}");
    2
}

pub fn run_index(args: Vec<OsString>) -> i32 {
    keep_freed_memory();
    match index_main(args) {
        Ok(code) => code,
        Err(e) => fail("index", &e),
    }
}

/// Indexing allocates and frees screen rows and text chunks of up to a few
/// MB all the time: glibc's defaults gave each large one its own mapping
/// and returned freed memory to the kernel, to fault it in again (about
/// an eighth of the indexer's CPU, in the kernel). Keep it in the heap.
fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any thread of ours exists, and a refused value (0) changes nothing.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

/// Create the database's directory and keep the file private: it holds
/// what was on the recorded screens. Only a directory shared on purpose
/// (set-gid and group-writable, as `make install` makes /var/lib/tlog-rs
/// for the web UI's account) gets a group-writable file, in its group.
fn prepare_sqlite(p: &Path) -> Result<bool, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let mut mode = 0o600;
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let dir_mode = std::fs::metadata(dir).map(|m| m.mode()).unwrap_or(0);
        if shared_dir(dir_mode) {
            mode = 0o660;
        }
    }
    if p.exists() {
        return Ok(false);
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
        .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(mode)))
        .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(true)
}

/// A directory meant to share the index with a group: set-gid, group rwx.
fn shared_dir(mode: u32) -> bool {
    mode & 0o2000 != 0 && mode & 0o070 == 0o070
}

/// flock(2) on the database file (SQLite itself uses fcntl locks, which
/// are independent); released when the file is closed at exit.
fn lock_exclusive(p: &Path) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    // SAFETY: flock on a descriptor we own; no memory is passed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            format!(
                "{}: another tlog-rs index is running on this index",
                p.display()
            )
        } else {
            format!("{}: lock: {e}", p.display())
        });
    }
    Ok(f)
}

fn index_main(args: Vec<OsString>) -> Result<i32, String> {
    let mut s = Scan::new(args)?;
    let mut common = Common {
        config: None,
        db: None,
    };
    let (mut jsonl, mut journal) = (Vec::new(), Vec::new());
    let mut es = EsSource::default();
    let (mut audit_logs, mut audit_host) = (Vec::new(), None);
    let (mut stats, mut quiet) = (false, false);
    while let Some(a) = s.items.next() {
        if common.take(&a, &mut s)? {
            continue;
        }
        match a.as_str() {
            "--jsonl" => jsonl.push(PathBuf::from(s.value(&a)?)),
            "--journal" => journal.push(PathBuf::from(s.value(&a)?)),
            "--es" => es.url = s.value(&a)?,
            "--es-index" => es.index = s.value(&a)?,
            "--es-user" => es.user = Some(s.value(&a)?),
            "--es-password-file" => es.password_file = Some(PathBuf::from(s.value(&a)?)),
            "--es-ca" => es.ca_file = Some(PathBuf::from(s.value(&a)?)),
            "--audit-log" => audit_logs.push(PathBuf::from(s.value(&a)?)),
            "--audit-host" => audit_host = Some(s.value(&a)?),
            "--stats" => stats = true,
            "--quiet" | "-q" => quiet = true,
            "-h" | "--help" => {
                println!("{INDEX_USAGE}");
                return Ok(0);
            }
            _ => return Err(format!("unknown argument {a:?}\n\n{INDEX_USAGE}")),
        }
    }
    let (config, db) = common.load()?;
    let mut es_list = Vec::new();
    if !es.url.is_empty() || !es.index.is_empty() {
        if es.url.is_empty() || es.index.is_empty() {
            return Err("--es URL and --es-index NAME go together".into());
        }
        es_list.push(es);
    }
    if jsonl.is_empty() && audit_logs.is_empty() && journal.is_empty() && es_list.is_empty() {
        jsonl = config.jsonl.clone();
        journal = config.journal.clone();
        es_list = config.es.clone();
    }
    if jsonl.is_empty() && audit_logs.is_empty() && journal.is_empty() && es_list.is_empty() {
        return Err(
            "nothing to index: give --jsonl DIR, --journal DIR, --es URL or set [sources] in the central config"
                .into(),
        );
    }
    // One indexer per database: overlapping runs (a slow run and the next
    // timer tick) would only do the same work twice.
    let _lock = match &db {
        DbSpec::Sqlite(p) => {
            prepare_sqlite(p)?;
            Some(lock_exclusive(p)?)
        }
        DbSpec::Postgres(_) => None,
    };
    let mut store = store::open(&db).map_err(|e| e.to_string())?;
    let tty = std::io::stderr().is_terminal();
    let mut problems = 0u64;
    let mut report_problem = |p: Problem| {
        problems += 1;
        eprintln!("tlog-rs index: {p}");
    };
    let audit_logs = audit_logs
        .into_iter()
        .map(|l| (l, audit_host.clone()))
        .collect();
    let report = Indexer::new(store.as_mut(), &mut report_problem, tty && !quiet)
        .audit_logs(audit_logs)
        .run_all(&Sources {
            jsonl,
            journal,
            es: es_list,
        })
        .map_err(|e| e.to_string())?;
    if (stats || tty) && !quiet {
        let [recs, msgs, chunks, cmds, kfs] = store.counts().map_err(|e| e.to_string())?;
        let line = format!(
            "read {} files, {} bytes: {} new messages, {} duplicates, {} conflicting, {} events, {} bad lines, {} partial last lines, {} files gone; {} recordings updated\nindex: {recs} recordings, {msgs} messages, {chunks} text chunks, {cmds} commands, {kfs} keyframes",
            report.files,
            report.bytes,
            report.messages,
            report.duplicates,
            report.conflicts,
            report.events,
            report.bad_lines,
            report.partial_lines,
            report.files_gone,
            report.recordings_derived,
        );
        let line = match store.audit().and_then(|a| a.audit_counts()) {
            Ok([events, linked]) => format!(
                "{line}\naudit: {} new events, {} recordings correlated; index: {events} audit events, {linked} joined to recordings",
                report.audit_events, report.recordings_correlated
            ),
            Err(_) => line,
        };
        if stats {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }
    Ok(if problems > 0 { 1 } else { 0 })
}

pub fn run_search(args: Vec<OsString>) -> i32 {
    match search_main(args) {
        Ok(code) => code,
        Err(e) => fail("search", &e),
    }
}

fn search_main(args: Vec<OsString>) -> Result<i32, String> {
    let mut s = Scan::new(args)?;
    let mut common = Common {
        config: None,
        db: None,
    };
    let mut q = Query::default();
    let (mut since, mut until, mut during, mut now) = (None, None, None, None);
    let (mut json, mut zone, mut admin, mut hostgroup) = (false, Zone::Local, false, None);
    let mut audit = crate::audit::show::AuditFilter::default();
    while let Some(a) = s.items.next() {
        if common.take(&a, &mut s)? {
            continue;
        }
        match a.as_str() {
            "--user" => q.user = Some(s.value(&a)?),
            "--group" => q.group = Some(s.value(&a)?),
            "--host" => q.host = Some(s.value(&a)?),
            "--hostgroup" => hostgroup = Some(s.value(&a)?),
            "--service" => q.service = Some(s.value(&a)?),
            "--admin" => admin = true,
            "--since" => since = Some(s.value(&a)?),
            "--until" => until = Some(s.value(&a)?),
            "--during" => during = Some(s.value(&a)?),
            "--now" => now = Some(s.value(&a)?),
            "--text" => q.text = Some(s.value(&a)?).filter(|t| !t.is_empty()),
            "--command" => q.command = Some(s.value(&a)?).filter(|t| !t.is_empty()),
            "--incomplete" => q.incomplete = true,
            "--exec" => audit.exec = Some(s.value(&a)?),
            "--auth-failures" => audit.auth_failures = true,
            "--json" => json = true,
            "--utc" => zone = Zone::Utc,
            "--limit" => {
                let v = s.value(&a)?;
                q.limit = Some(
                    v.parse()
                        .map_err(|_| format!("--limit: {v:?} is not a number"))?,
                );
            }
            "-h" | "--help" => {
                println!("{SEARCH_USAGE}");
                return Ok(0);
            }
            _ => return Err(format!("unknown argument {a:?}\n\n{SEARCH_USAGE}")),
        }
    }
    let (config, db) = common.load()?;
    let now_ms = match &now {
        Some(t) => {
            timewin::parse_span(t, zone, 0)
                .map_err(|e| format!("--now: {e}"))?
                .start
        }
        None => timewin::now_ms(),
    };
    let (lo, hi) = timewin::window(
        since.as_deref(),
        until.as_deref(),
        during.as_deref(),
        zone,
        now_ms,
    )
    .map_err(|e| e.to_string())?;
    q.since = lo;
    q.until = hi;
    if let Some(g) = &hostgroup {
        q.hosts = Some(config.hostgroup(g)?.to_vec());
    }
    if admin {
        q.admin = Some((config.admin.groups.clone(), config.admin.services.clone()));
    }
    if let DbSpec::Sqlite(p) = &db {
        if !p.exists() {
            return Err(format!(
                "{}: no index there; run `tlog-rs index` first",
                p.display()
            ));
        }
    }
    let mut store = store::open(&db).map_err(|e| e.to_string())?;
    let hits = audit.search(store.as_mut(), q).map_err(|e| e.to_string())?;
    // Buffered: stdout is line-buffered, one write per hit otherwise (a
    // third of the time of a search that lists 10,000 recordings).
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let res = if json {
        hits.iter()
            .try_for_each(|h| writeln!(out, "{}", hit_json(h)))
    } else {
        write_table(&mut out, &hits, zone)
    };
    if let Err(e) = res.and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(format!("stdout: {e}"));
        }
    }
    Ok(if hits.is_empty() { 1 } else { 0 })
}

/// One JSON Lines object, keys in the documented order. Written into one
/// buffer: a search may print ten thousand of them.
pub fn hit_json(h: &Hit) -> String {
    // Serializing a str or an f64 into a Vec cannot fail.
    fn string(o: &mut Vec<u8>, v: &str) {
        let _ = serde_json::to_writer(&mut *o, v);
    }
    fn seconds(o: &mut Vec<u8>, ms: i64) {
        let _ = serde_json::to_writer(&mut *o, &(ms as f64 / 1000.0));
    }
    let mut o = Vec::with_capacity(256);
    o.extend_from_slice(b"{\"rec\":");
    string(&mut o, &h.rec);
    o.extend_from_slice(b",\"host\":");
    string(&mut o, &h.host);
    o.extend_from_slice(b",\"user\":");
    string(&mut o, &h.user);
    o.extend_from_slice(b",\"service\":");
    match &h.service {
        Some(v) => string(&mut o, v),
        None => o.extend_from_slice(b"null"),
    }
    o.extend_from_slice(b",\"start\":\"");
    push_rfc3339_utc(&mut o, h.start_ms);
    o.extend_from_slice(b"\",\"end\":\"");
    push_rfc3339_utc(&mut o, h.end_ms);
    o.extend_from_slice(b"\",\"duration\":");
    seconds(&mut o, h.end_ms - h.start_ms);
    o.extend_from_slice(b",\"complete\":");
    let complete = h.state == State::Complete;
    o.extend_from_slice(if complete { b"true" } else { b"false" });
    o.extend_from_slice(b",\"state\":");
    string(&mut o, h.state.as_str());
    o.extend_from_slice(b",\"matches\":[");
    for (i, m) in h.matches.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"offset\":");
        seconds(&mut o, m.offset_ms);
        o.extend_from_slice(b",\"snippet\":");
        string(&mut o, &m.snippet);
        o.push(b'}');
    }
    o.extend_from_slice(b"]}");
    // Built from str and ASCII only.
    String::from_utf8(o).unwrap_or_default()
}

fn duration(ms: i64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s % 3600 / 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}.{:01}s", s, ms % 1000 / 100)
    }
}

fn write_table(out: &mut impl Write, hits: &[Hit], zone: Zone) -> std::io::Result<()> {
    let rows: Vec<[String; 8]> = hits
        .iter()
        .map(|h| {
            [
                short_time(h.start_ms, zone),
                duration(h.end_ms - h.start_ms),
                h.host.clone(),
                h.user.clone(),
                h.service.clone().unwrap_or_else(|| "-".into()),
                h.state.to_string(),
                h.rec.clone(),
                h.matches
                    .first()
                    .map(|m| format!("@{:.0}s {}", m.offset_ms as f64 / 1000.0, m.snippet))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let head = [
        "START", "DURATION", "HOST", "USER", "SERVICE", "STATE", "REC", "MATCH",
    ];
    let mut w = head.map(|h| h.len());
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(&head))?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(|s| s.as_str()).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Match;

    #[test]
    fn only_a_set_gid_group_writable_directory_shares_the_index() {
        assert!(shared_dir(0o42770));
        assert!(shared_dir(0o2775));
        assert!(
            !shared_dir(0o40770),
            "no set-gid: files would be root's group"
        );
        assert!(!shared_dir(0o2750), "group may not write");
        assert!(!shared_dir(0o755));
    }

    #[test]
    fn option_values_may_look_like_options() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let s = Scan::new(args(&["--text", "--db=x", "--user=a=b", "--since", "-7d"])).unwrap();
        let got: Vec<String> = s.items.collect();
        assert_eq!(got, ["--text", "--db=x", "--user", "a=b", "--since", "-7d"]);
    }

    #[test]
    fn json_line_keys_in_order() {
        let h = Hit {
            rec: "r\"1".into(),
            host: "h".into(),
            user: "jdoe".into(),
            service: None,
            start_ms: 1_796_385_600_000,
            end_ms: 1_796_385_612_345,
            state: State::Incomplete,
            matches: vec![Match {
                offset_ms: 1500,
                snippet: "rm -rf".into(),
            }],
        };
        assert_eq!(
            hit_json(&h),
            r#"{"rec":"r\"1","host":"h","user":"jdoe","service":null,"start":"2026-12-04T12:00:00.000Z","end":"2026-12-04T12:00:12.345Z","duration":12.345,"complete":false,"state":"incomplete","matches":[{"offset":1.5,"snippet":"rm -rf"}]}"#
        );
        let mut t = Vec::new();
        write_table(&mut t, &[h], Zone::Utc).unwrap();
        let t = String::from_utf8(t).unwrap();
        assert!(t.starts_with("START"), "{t}");
        assert!(t.contains("2026-12-04 12:00:00  12.3s"), "{t}");
        assert!(t.contains("@2s rm -rf") || t.contains("@1s rm -rf"), "{t}");
        assert_eq!(duration(3_723_000), "1h02m03s");
        assert_eq!(duration(61_000), "1m01s");
    }
}
