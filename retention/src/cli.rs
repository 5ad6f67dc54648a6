//! `tlog-rs purge` and `tlog-rs hold`: argument handling and output (the
//! `tlog-rs` binary only dispatches here).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use tlog_rs_index::config::{Config, DbSpec};
use tlog_rs_index::store::{self, Hold, Store};

use crate::policy::select;
use crate::purge::{purge, Actor};

pub const PURGE_USAGE: &str = "\
usage: tlog-rs purge [--dry-run] [--config FILE] [--db PATH|URL] [--quiet]

Applies the [retention] policy of the central config: every indexed
recording older than its max age (from its end) is archived (if
archive_dir is set), removed from its JSON Lines file (rewritten) or
Elasticsearch index (delete by rec), and removed from the index. Journal
files are never edited: their entries are reported as kept. Recordings
under legal hold (tlog-rs hold) are kept. Each purge is written to the
index's access log.

  --dry-run      list what would be purged, archived and rewritten; change nothing
  --config FILE  central config (default /etc/tlog-rs/central.toml)
  --db PATH|URL  index database, overrides the config
  --quiet        only problems (no progress, no list)

Exit status: 0 done, 1 some recordings could not be purged, 2 could not run.";

pub const HOLD_USAGE: &str = "\
usage: tlog-rs hold REC [--host HOST] [--reason TEXT]
       tlog-rs hold --release REC [--host HOST]
       tlog-rs hold --list
       (each also with [--config FILE] [--db PATH|URL])

A legal hold keeps an indexed recording from ever being purged.
--host picks the host when several hosts have a recording REC.";

fn args_utf8(args: Vec<OsString>) -> Result<Vec<String>, String> {
    args.into_iter()
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("argument {a:?} is not valid UTF-8"))
        })
        .collect()
}

struct Common {
    config: Option<PathBuf>,
    db: Option<DbSpec>,
}

impl Common {
    fn take(&mut self, a: &str, it: &mut impl Iterator<Item = String>) -> Result<bool, String> {
        match a {
            "--config" => self.config = Some(PathBuf::from(value(a, it)?)),
            "--db" => self.db = Some(value(a, it)?.parse()?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn open(&self) -> Result<(Config, DbSpec, Box<dyn Store>), String> {
        let c = Config::load(self.config.as_deref()).map_err(|e| e.to_string())?;
        let db = self.db.clone().unwrap_or_else(|| c.db.clone());
        if let DbSpec::Sqlite(p) = &db {
            if !p.exists() {
                return Err(format!(
                    "{}: no index here (run tlog-rs index)",
                    p.display()
                ));
            }
        }
        let s = store::open(&db).map_err(|e| e.to_string())?;
        Ok((c, db, s))
    }
}

fn value(opt: &str, it: &mut impl Iterator<Item = String>) -> Result<String, String> {
    it.next().ok_or_else(|| format!("{opt} needs a value"))
}

/// The invoking user's name (the real uid's), for the access log.
pub fn invoking_user() -> String {
    // SAFETY: getuid cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    match tlog_rs_policy::nss_passwd::getpw(tlog_rs_policy::nss_passwd::Key::Uid(uid)) {
        Ok(Some(pw)) => String::from_utf8_lossy(&pw.name).into_owned(),
        _ => format!("uid {uid}"),
    }
}

/// Purges and holds also go to syslog (authpriv, as the web UI's access
/// log), besides the index's access log.
fn syslog(msg: &str) {
    let Ok(m) = std::ffi::CString::new(msg.replace('\0', " ")) else {
        return;
    };
    // SAFETY: the ident is a 'static NUL-terminated string (openlog keeps
    // the pointer); constant format with one %s, a valid C string.
    unsafe {
        libc::openlog(c"tlog-rs".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV);
        libc::syslog(
            libc::LOG_AUTHPRIV | libc::LOG_INFO,
            c"%s".as_ptr(),
            m.as_ptr(),
        );
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// flock(2) on the SQLite file, as `tlog-rs index` takes it: a purge moves
/// message offsets an indexer would otherwise overwrite.
fn lock(p: &Path) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    // SAFETY: flock on a descriptor we own; no memory is passed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(format!(
            "{}: a tlog-rs index or purge is running on this index",
            p.display()
        ));
    }
    Ok(f)
}

pub fn run_purge(args: Vec<OsString>) -> i32 {
    match purge_main(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tlog-rs purge: {e}");
            2
        }
    }
}

fn purge_main(args: Vec<OsString>) -> Result<i32, String> {
    let mut common = Common {
        config: None,
        db: None,
    };
    let (mut dry_run, mut quiet) = (false, false);
    let mut it = args_utf8(args)?.into_iter();
    while let Some(a) = it.next() {
        if common.take(&a, &mut it)? {
            continue;
        }
        match a.as_str() {
            "--dry-run" | "-n" => dry_run = true,
            "--quiet" | "-q" => quiet = true,
            "-h" | "--help" => {
                println!("{PURGE_USAGE}");
                return Ok(0);
            }
            _ => return Err(format!("unknown argument {a:?}\n\n{PURGE_USAGE}")),
        }
    }
    let (cfg, db, mut store) = common.open()?;
    let _lock = match &db {
        DbSpec::Sqlite(p) if !dry_run => Some(lock(p)?),
        _ => None,
    };
    let holds = store.holds().map_err(|e| e.to_string())?;
    let rows = store.retention_rows().map_err(|e| e.to_string())?;
    let expired = select(&cfg, rows, &holds, now_ms());
    let progress = std::io::stderr().is_terminal() && !quiet;
    let actor = Actor {
        who: invoking_user(),
        client: "cli".into(),
    };
    let (mut purged, mut failed, mut held) = (0u64, 0u64, 0u64);
    let verb = if dry_run { "would purge" } else { "purged" };
    let total = expired.len();
    for (i, c) in expired.iter().enumerate() {
        let (host, rec) = (&c.row.host, &c.row.rec);
        if let Some(h) = &c.hold {
            held += 1;
            if !quiet {
                println!(
                    "kept {host} {rec}: legal hold{}",
                    h.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
            continue;
        }
        if progress {
            eprint!("\r\x1b[Kpurge: {}/{total} {host} {rec}", i + 1);
        }
        match purge(store.as_mut(), &cfg, &c.row, &actor, dry_run) {
            Ok(p) => {
                purged += 1;
                if !dry_run {
                    syslog(&format!("purge of {host} {rec} by {}", actor.who));
                }
                if !quiet {
                    if progress {
                        eprint!("\r\x1b[K");
                    }
                    let mut what: Vec<String> = vec![];
                    if let Some(a) = &p.archive {
                        what.push(format!("archived to {}", a.display()));
                    }
                    what.extend(p.sources.iter().map(|s| s.to_string()));
                    println!(
                        "{verb} {host} {rec} (older than {}){}{}",
                        c.max_age,
                        if what.is_empty() { "" } else { ": " },
                        what.join("; ")
                    );
                }
            }
            Err(e) => {
                failed += 1;
                if progress {
                    eprint!("\r\x1b[K");
                }
                eprintln!("tlog-rs purge: {host} {rec}: {e}");
            }
        }
    }
    if progress {
        eprint!("\r\x1b[K");
        eprintln!("{verb} {purged} recordings, {held} kept under legal hold, {failed} failed");
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

pub fn run_hold(args: Vec<OsString>) -> i32 {
    match hold_main(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tlog-rs hold: {e}");
            2
        }
    }
}

fn hold_main(args: Vec<OsString>) -> Result<i32, String> {
    let mut common = Common {
        config: None,
        db: None,
    };
    let (mut rec, mut host, mut reason) = (None, None, None);
    let (mut release, mut list) = (false, false);
    let mut it = args_utf8(args)?.into_iter();
    while let Some(a) = it.next() {
        if common.take(&a, &mut it)? {
            continue;
        }
        match a.as_str() {
            "--release" => {
                release = true;
                rec = Some(value(&a, &mut it)?);
            }
            "--list" => list = true,
            "--host" => host = Some(value(&a, &mut it)?),
            "--reason" => reason = Some(value(&a, &mut it)?),
            "-h" | "--help" => {
                println!("{HOLD_USAGE}");
                return Ok(0);
            }
            s if !s.starts_with('-') && rec.is_none() => rec = Some(s.to_string()),
            _ => return Err(format!("unknown argument {a:?}\n\n{HOLD_USAGE}")),
        }
    }
    if !list && rec.is_none() {
        return Err(format!("which recording?\n\n{HOLD_USAGE}"));
    }
    let (_, _, mut store) = common.open()?;
    let se = |e: tlog_rs_index::store::StoreError| e.to_string();
    if list {
        for h in store.holds().map_err(se)? {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                h.host,
                h.rec,
                tlog_rs_index::timewin::rfc3339_utc(h.t_ms),
                h.who,
                h.reason.unwrap_or_default()
            );
        }
        return Ok(0);
    }
    let rec = rec.ok_or_else(|| format!("which recording?\n\n{HOLD_USAGE}"))?;
    let who = invoking_user();
    let log = |store: &mut Box<dyn Store>, action: &str, host: &str| {
        store.log_access(&tlog_rs_index::store::AccessEntry {
            t_ms: now_ms(),
            who: who.clone(),
            client: "cli".into(),
            action: action.into(),
            host: host.into(),
            rec: rec.clone(),
        })
    };
    if release {
        let hosts: Vec<String> = store
            .holds()
            .map_err(se)?
            .into_iter()
            .filter(|h| h.rec == rec && host.as_ref().is_none_or(|x| *x == h.host))
            .map(|h| h.host)
            .collect();
        let host = one_host(&rec, hosts, "no legal hold on")?;
        store.begin().map_err(se)?;
        store.release_hold(&host, &rec).map_err(se)?;
        log(&mut store, "release-hold", &host).map_err(se)?;
        store.commit().map_err(se)?;
        syslog(&format!("legal hold on {host} {rec} released by {who}"));
        println!("released {host} {rec}");
        return Ok(0);
    }
    let hosts: Vec<String> = store
        .find_recordings(&rec)
        .map_err(se)?
        .into_iter()
        .map(|(_, h)| h)
        .filter(|h| host.as_ref().is_none_or(|x| x == h))
        .collect();
    let host = one_host(&rec, hosts, "no indexed recording")?;
    store.begin().map_err(se)?;
    store
        .set_hold(&Hold {
            host: host.clone(),
            rec: rec.clone(),
            reason,
            who: who.clone(),
            t_ms: now_ms(),
        })
        .map_err(se)?;
    log(&mut store, "hold", &host).map_err(se)?;
    store.commit().map_err(se)?;
    syslog(&format!("legal hold on {host} {rec} set by {who}"));
    println!("held {host} {rec}");
    Ok(0)
}

fn one_host(rec: &str, mut hosts: Vec<String>, none: &str) -> Result<String, String> {
    match hosts.len() {
        0 => Err(format!("{none} {rec:?}")),
        1 => Ok(hosts.remove(0)),
        _ => Err(format!(
            "{rec:?} is on several hosts ({}): give --host",
            hosts.join(", ")
        )),
    }
}
