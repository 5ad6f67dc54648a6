//! `tlog-rs show REC [--audit]`: one timeline of a recording's input lines
//! and, with `--audit`, its correlated audit events, by offset from the
//! recording's start; then the commands (with their exit status), files,
//! sockets and process tree. Also the `search` filters `--exec` and
//! `--auth-failures`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::event::sockaddr_text;
use super::store::{Role, Trail};
use super::{AuditEvent, Kind};
use crate::config::{Config, DbSpec};
use crate::hops::{Direction, Hop};
use crate::store::{self, Hit, Match, Query, Result, Store};
use crate::timewin::rfc3339_utc;

pub const SHOW_USAGE: &str = "\
usage: tlog-rs show [--config FILE] [--db PATH] [--host NAME] [--audit] [--json] REC

Prints one timeline of the recording REC from the index: the input lines
submitted, and with --audit the audit events joined to it (programs run,
files changed, sockets, exits, and the authentication before the session),
each at its offset from the recording's start (negative: before it). Then,
with --audit: the commands with their exit status, the files, the sockets
and the process tree. The join used is shown: the audit session (ses) of
the login, or host + user + time for logins without one. Jump-server
hops are listed first: the recorded session this login was made from, and
the logins made from inside this one (index/src/hops.rs says how they are
linked).

  --host NAME   the host, when REC was recorded on several
  --audit       interleave the audit events
  --json        JSON Lines: first {rec, host, user, start, join, auth_failures, hops},
                then one {offset, source: input|audit, kind, text, role, failed, event}
  --config FILE, --db PATH   as for tlog-rs index

Exit status: 0 shown, 1 no such recording, 2 error.";

/// The audit filters of `tlog-rs search`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Sessions that ran this program (exe path).
    pub exec: Option<String>,
    /// Sessions preceded by failed authentications.
    pub auth_failures: bool,
}

fn argv_text(e: &AuditEvent) -> String {
    match &e.argv {
        Some(a) => a.join(" "),
        None => e.exe.clone().unwrap_or_default(),
    }
}

impl AuditFilter {
    /// The search, narrowed by the audit filters; `--exec` adds each run
    /// as a match (offset, argv).
    pub fn search(&self, store: &mut dyn Store, mut q: Query) -> Result<Vec<Hit>> {
        if self.exec.is_none() && !self.auth_failures {
            return store.search(&q);
        }
        let limit = q.limit.take();
        let mut hits = store.search(&q)?;
        if let Some(exe) = &self.exec {
            let mut runs: HashMap<(String, String), Vec<Match>> = HashMap::new();
            for r in store.audit()?.execs(exe)? {
                runs.entry((r.host, r.rec)).or_default().push(Match {
                    offset_ms: r.offset_ms,
                    snippet: argv_text(&r.event),
                });
            }
            hits.retain_mut(|h| match runs.remove(&(h.host.clone(), h.rec.clone())) {
                Some(mut m) => {
                    m.append(&mut h.matches);
                    h.matches = m;
                    true
                }
                None => false,
            });
        }
        if self.auth_failures {
            let with: HashSet<(String, String)> =
                store.audit()?.with_auth_failures()?.into_iter().collect();
            hits.retain(|h| with.contains(&(h.host.clone(), h.rec.clone())));
        }
        if let Some(l) = limit {
            hits.truncate(l);
        }
        Ok(hits)
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub offset_ms: i64,
    pub input: Option<String>,
    pub event: Option<(Role, AuditEvent)>,
}

/// Input lines and events by offset; at the same offset the input line
/// first (it was submitted before what it started).
pub fn timeline(start_ms: i64, input: &[(i64, String)], trail: Option<&Trail>) -> Vec<Entry> {
    let mut v: Vec<Entry> = input
        .iter()
        .map(|(t, l)| Entry {
            offset_ms: *t,
            input: Some(l.clone()),
            event: None,
        })
        .collect();
    if let Some(t) = trail {
        v.extend(t.events.iter().map(|(r, e)| Entry {
            offset_ms: e.t_ms - start_ms,
            input: None,
            event: Some((*r, e.clone())),
        }));
    }
    v.sort_by_key(|e| (e.offset_ms, e.input.is_none()));
    v
}

/// Each exec with the status of the same pid's next exit.
pub fn commands(events: &[(Role, AuditEvent)]) -> Vec<(&AuditEvent, Option<i64>)> {
    let mut out = Vec::new();
    for (i, (_, e)) in events.iter().enumerate() {
        if e.kind != Kind::Exec || e.success == Some(false) {
            continue;
        }
        let status = events[i + 1..]
            .iter()
            .map(|(_, x)| x)
            .take_while(|x| !(x.kind == Kind::Exec && x.pid == e.pid))
            .find(|x| x.kind == Kind::Exit && x.pid == e.pid)
            .and_then(|x| x.status);
        out.push((e, status));
    }
    out
}

/// What one input line started: its session events from its offset up
/// to the next line's (the web UI's audit pane).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandTrail<'a> {
    /// Index into the input lines; None: session events before the first.
    pub input: Option<usize>,
    pub offset_ms: i64,
    /// Each exec with its exit status, as in `commands`.
    pub processes: Vec<(&'a AuditEvent, Option<i64>)>,
    /// (nametype, name, cwd when the name is relative, comm), first seen.
    pub files: Vec<(String, String, Option<String>, String)>,
    pub sockets: Vec<&'a AuditEvent>,
}

/// The trail split by input line: the events of the session from one
/// line's offset (inclusive) to the next line's; those before the first
/// line come first with `input` None (only if there are any).
pub fn by_command<'a>(
    start_ms: i64,
    input: &[(i64, String)],
    trail: &'a Trail,
) -> Vec<CommandTrail<'a>> {
    let mut groups: Vec<CommandTrail<'a>> = Vec::with_capacity(input.len() + 1);
    groups.push(CommandTrail {
        input: None,
        offset_ms: i64::MIN,
        processes: vec![],
        files: vec![],
        sockets: vec![],
    });
    for (i, (t, _)) in input.iter().enumerate() {
        groups.push(CommandTrail {
            input: Some(i),
            offset_ms: *t,
            processes: vec![],
            files: vec![],
            sockets: vec![],
        });
    }
    // The group of an offset: the last line at or before it.
    let group_of = |off: i64| input.partition_point(|(t, _)| *t <= off);
    let session: Vec<(Role, AuditEvent)> = trail
        .events
        .iter()
        .filter(|(r, _)| *r == Role::Session)
        .cloned()
        .collect();
    let statuses: HashMap<&str, Option<i64>> = commands(&session)
        .into_iter()
        .map(|(e, st)| (e.id.as_str(), st))
        .collect();
    let mut seen = HashSet::new();
    for (role, e) in &trail.events {
        if *role != Role::Session {
            continue;
        }
        let g = &mut groups[group_of(e.t_ms - start_ms)];
        match e.kind {
            Kind::Exec if e.success != Some(false) => {
                g.processes
                    .push((e, statuses.get(e.id.as_str()).copied().flatten()));
            }
            Kind::File => {
                for p in &e.paths {
                    let nt = p.nametype.as_deref().unwrap_or("?");
                    let name = p.name.as_deref().unwrap_or("?");
                    if nt == "PARENT" || !seen.insert((name.to_string(), nt.to_string(), &e.id)) {
                        continue;
                    }
                    let cwd = e.cwd.clone().filter(|_| !name.starts_with('/'));
                    g.files.push((
                        nt.to_string(),
                        name.to_string(),
                        cwd,
                        e.comm.clone().unwrap_or_default(),
                    ));
                }
            }
            Kind::Net => g.sockets.push(e),
            _ => {}
        }
    }
    let first = &groups[0];
    if first.processes.is_empty() && first.files.is_empty() && first.sockets.is_empty() {
        groups.remove(0);
    }
    groups
}

/// The failed authentications before the session.
pub fn failed_logins(trail: &Trail) -> Vec<&AuditEvent> {
    trail
        .events
        .iter()
        .filter(|(r, e)| *r == Role::Auth && e.failed())
        .map(|(_, e)| e)
        .collect()
}

/// argv joined, or the exe when no EXECVE record came.
pub fn command_line(e: &AuditEvent) -> String {
    argv_text(e)
}

fn offset(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "+" };
    format!("{sign}{}.{:03}s", ms.abs() / 1000, ms.abs() % 1000)
}

fn write_text(
    out: &mut impl Write,
    entries: &[Entry],
    trail: Option<&Trail>,
    start_ms: i64,
) -> std::io::Result<()> {
    for e in entries {
        match (&e.input, &e.event) {
            (Some(l), _) => writeln!(out, "{:>10}  input   {l}", offset(e.offset_ms))?,
            (None, Some((role, ev))) => {
                let mut flags = String::new();
                if *role == Role::Auth {
                    flags.push_str("  (before the session)");
                }
                if ev.failed() {
                    flags.push_str("  FAILED");
                }
                writeln!(
                    out,
                    "{:>10}  {:<7} {}{flags}",
                    offset(e.offset_ms),
                    ev.kind.as_str(),
                    ev.describe()
                )?;
            }
            _ => {}
        }
    }
    let Some(t) = trail else { return Ok(()) };
    writeln!(out, "\ncommands:")?;
    for (e, status) in commands(&t.events) {
        writeln!(
            out,
            "{:>10}  {}  cwd={} exit={} pid={}",
            offset(e.t_ms - start_ms),
            argv_text(e),
            e.cwd.as_deref().unwrap_or("?"),
            status.map_or("?".into(), |s| s.to_string()),
            e.pid.unwrap_or(-1)
        )?;
    }
    writeln!(out, "files:")?;
    let mut seen = HashSet::new();
    for (_, e) in &t.events {
        if e.kind != Kind::File {
            continue;
        }
        for p in &e.paths {
            let nt = p.nametype.as_deref().unwrap_or("?");
            if nt == "PARENT" {
                continue;
            }
            let name = p.name.as_deref().unwrap_or("?");
            let cwd = e.cwd.as_deref().unwrap_or("");
            if seen.insert((name.to_string(), nt.to_string(), e.id.clone())) {
                writeln!(
                    out,
                    "{:>10}  {nt:<7} {name}{}  [{}]",
                    offset(e.t_ms - start_ms),
                    if cwd.is_empty() || name.starts_with('/') {
                        String::new()
                    } else {
                        format!(" (in {cwd})")
                    },
                    e.comm.as_deref().unwrap_or("?")
                )?;
            }
        }
    }
    writeln!(out, "sockets:")?;
    for (_, e) in &t.events {
        if e.kind == Kind::Net {
            writeln!(
                out,
                "{:>10}  {}  [{} pid={}{}]",
                offset(e.t_ms - start_ms),
                sockaddr_text(e.sockaddr.as_ref()),
                e.comm.as_deref().unwrap_or("?"),
                e.pid.unwrap_or(-1),
                if e.success == Some(false) {
                    " failed"
                } else {
                    ""
                }
            )?;
        }
    }
    writeln!(out, "process tree:")?;
    // pid -> (ppid, what it ran last), from the execs.
    let mut procs: BTreeMap<i64, (Option<i64>, String)> = BTreeMap::new();
    for (_, e) in &t.events {
        if let (Kind::Exec, Some(pid)) = (e.kind, e.pid) {
            procs.insert(pid, (e.ppid, argv_text(e)));
        }
    }
    let mut children: BTreeMap<Option<i64>, Vec<i64>> = BTreeMap::new();
    for (pid, (ppid, _)) in &procs {
        let parent = ppid.filter(|p| procs.contains_key(p));
        children.entry(parent).or_default().push(*pid);
    }
    fn walk(
        out: &mut impl Write,
        procs: &BTreeMap<i64, (Option<i64>, String)>,
        children: &BTreeMap<Option<i64>, Vec<i64>>,
        at: Option<i64>,
        depth: usize,
    ) -> std::io::Result<()> {
        for pid in children.get(&at).into_iter().flatten() {
            let (ppid, what) = &procs[pid];
            writeln!(
                out,
                "  {}{pid} (ppid {}) {what}",
                "  ".repeat(depth),
                ppid.unwrap_or(-1)
            )?;
            if depth < 64 {
                walk(out, procs, children, Some(*pid), depth + 1)?;
            }
        }
        Ok(())
    }
    walk(out, &procs, &children, None, 0)
}

fn entry_json(e: &Entry) -> Value {
    match (&e.input, &e.event) {
        (Some(l), _) => json!({
            "offset": e.offset_ms as f64 / 1000.0, "source": "input", "kind": "input", "text": l,
        }),
        (None, Some((role, ev))) => json!({
            "offset": e.offset_ms as f64 / 1000.0, "source": "audit", "kind": ev.kind.as_str(),
            "text": ev.describe(), "role": role.as_str(), "failed": ev.failed(),
            "event": serde_json::to_value(ev).unwrap_or(Value::Null),
        }),
        _ => Value::Null,
    }
}

pub fn run_show(args: Vec<OsString>) -> i32 {
    match show_main(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tlog-rs show: {e}");
            2
        }
    }
}

fn show_main(args: Vec<OsString>) -> std::result::Result<i32, String> {
    let mut it = args.into_iter().map(|a| {
        a.into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))
    });
    let (mut config, mut db, mut host, mut rec) = (None, None, None, None);
    let (mut audit, mut json) = (false, false);
    while let Some(a) = it.next() {
        let a = a?;
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |o: &str| -> std::result::Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{o} needs a value"))?,
            }
        };
        match opt.as_str() {
            "--config" => config = Some(PathBuf::from(value(&opt)?)),
            "--db" => db = Some(value(&opt)?.parse::<DbSpec>()?),
            "--host" => host = Some(value(&opt)?),
            "--audit" => audit = true,
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{SHOW_USAGE}");
                return Ok(0);
            }
            o if o.starts_with('-') && o.len() > 1 => {
                return Err(format!("unknown option {o:?}\n\n{SHOW_USAGE}"))
            }
            _ if rec.is_none() => rec = Some(a),
            _ => return Err(format!("one recording at a time\n\n{SHOW_USAGE}")),
        }
    }
    let rec = rec.ok_or_else(|| format!("which recording?\n\n{SHOW_USAGE}"))?;
    let cfg = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
    let db = db.unwrap_or_else(|| cfg.db.clone());
    if let DbSpec::Sqlite(p) = &db {
        if !p.exists() {
            return Err(format!(
                "{}: no index there; run `tlog-rs index` first",
                p.display()
            ));
        }
    }
    let mut store = store::open(&db).map_err(|e| e.to_string())?;
    let a = store.audit().map_err(|e| e.to_string())?;
    let mut found = a.find_recs(&rec).map_err(|e| e.to_string())?;
    if let Some(h) = &host {
        found.retain(|r| &r.host == h);
    }
    let r = match found.len() {
        0 => {
            eprintln!("tlog-rs show: no recording {rec:?} in the index");
            return Ok(1);
        }
        1 => found.remove(0),
        _ => {
            let hosts: Vec<&str> = found.iter().map(|r| r.host.as_str()).collect();
            return Err(format!(
                "recording {rec:?} exists on several hosts ({}): give --host",
                hosts.join(", ")
            ));
        }
    };
    let start = r.start_ms.unwrap_or(0);
    let input = a.input_lines(r.key).map_err(|e| e.to_string())?;
    let trail = if audit {
        a.trail(r.key).map_err(|e| e.to_string())?
    } else {
        None
    };
    let entries = timeline(start, &input, trail.as_ref());
    let hops = store.hops(r.key).map_err(|e| e.to_string())?;
    // Buffered: stdout is line-buffered (one write per timeline line).
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let res = (|| -> std::io::Result<()> {
        if json {
            writeln!(
                out,
                "{}",
                json!({
                    "rec": r.rec, "host": r.host, "user": r.user, "session": r.session,
                    "start": r.start_ms.map(rfc3339_utc),
                    "join": trail.as_ref().map(|t| t.join.as_str()),
                    "auth_failures": trail.as_ref().map(|t| t.auth_failures),
                    "hops": hops.iter().map(hop_json).collect::<Vec<_>>(),
                })
            )?;
            for e in &entries {
                writeln!(out, "{}", entry_json(e))?;
            }
            return Ok(());
        }
        writeln!(
            out,
            "recording {} on {}: user {}, audit session {}, start {}",
            r.rec,
            r.host,
            r.user.as_deref().unwrap_or("?"),
            r.session.map_or("none".into(), |s| s.to_string()),
            r.start_ms.map_or("?".into(), rfc3339_utc)
        )?;
        for h in &hops {
            writeln!(out, "{}", hop_line(h))?;
        }
        if audit {
            match &trail {
                Some(t) => writeln!(
                    out,
                    "audit: {} events, joined by {}; {} failed authentication(s) before the session",
                    t.events.len(),
                    t.join,
                    t.auth_failures
                )?,
                None => writeln!(out, "audit: not correlated (no start time indexed yet)")?,
            }
        }
        write_text(&mut out, &entries, trail.as_ref(), start)
    })();
    if let Err(e) = res.and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(format!("stdout: {e}"));
        }
    }
    Ok(0)
}

/// One hop in words: which way, the other recording, and the connection.
fn hop_line(h: &Hop) -> String {
    let what = match h.direction {
        Direction::From => "came from",
        Direction::To => "went on to",
    };
    let port = |p: Option<i64>| p.map_or("?".to_string(), |p| p.to_string());
    format!(
        "hop: {what} recording {} on {} (user {}, start {}): ssh from {} port {} to {} port {}, linked by {}",
        h.rec,
        h.host,
        h.user.as_deref().unwrap_or("?"),
        h.start_ms.map_or("?".into(), rfc3339_utc),
        h.rhost.as_deref().unwrap_or("?"),
        port(h.rport),
        h.laddr.as_deref().unwrap_or("?"),
        port(h.lport),
        h.by
    )
}

fn hop_json(h: &Hop) -> serde_json::Value {
    json!({
        "direction": h.direction.to_string(), "by": h.by.to_string(),
        "host": h.host, "rec": h.rec, "user": h.user,
        "start": h.start_ms.map(rfc3339_utc),
        "rhost": h.rhost, "rport": h.rport, "laddr": h.laddr, "lport": h.lport,
    })
}

#[cfg(test)]
mod tests {
    use super::super::event::PathItem;
    use super::super::store::{Join, Trail};
    use super::*;

    #[test]
    fn trail_by_command_splits_at_each_input_line() {
        let ev = |id: &str, t: i64, kind: Kind| AuditEvent {
            host: "h".into(),
            id: id.into(),
            t_ms: 1000 + t,
            kind,
            pid: Some(10),
            ..AuditEvent::default()
        };
        let mut login = ev("0", -5, Kind::Exec);
        login.argv = Some(vec!["bash".into()]);
        let mut touch = ev("1", 100, Kind::Exec);
        touch.argv = Some(vec!["touch".into(), "f".into()]);
        touch.cwd = Some("/tmp".into());
        let mut exit = ev("2", 110, Kind::Exit);
        exit.status = Some(3);
        let mut file = ev("3", 105, Kind::File);
        file.cwd = Some("/tmp".into());
        file.comm = Some("touch".into());
        file.paths = vec![
            PathItem {
                name: Some("/tmp".into()),
                nametype: Some("PARENT".into()),
            },
            PathItem {
                name: Some("f".into()),
                nametype: Some("CREATE".into()),
            },
        ];
        let mut failed_exec = ev("4", 2000, Kind::Exec);
        failed_exec.success = Some(false);
        let net = ev("5", 2000, Kind::Net);
        let mut auth = ev("6", -9000, Kind::Auth);
        auth.res = Some("failed".into());
        let mut ok_auth = ev("7", -8000, Kind::Auth);
        ok_auth.res = Some("success".into());
        let trail = Trail {
            join: Join::Ses,
            auth_failures: 1,
            events: [
                (Role::Auth, auth),
                (Role::Auth, ok_auth),
                (Role::Session, login),
                (Role::Session, touch),
                (Role::Session, file),
                (Role::Session, exit),
                (Role::Session, failed_exec),
                (Role::Session, net),
            ]
            .into_iter()
            .collect(),
        };
        let input = vec![(100, "touch f".to_string()), (2000, "nc h 1".to_string())];
        let g = by_command(1000, &input, &trail);
        assert_eq!(g.len(), 3);
        // Before the first line: the login shell.
        assert_eq!(g[0].input, None);
        assert_eq!(g[0].processes.len(), 1);
        // The first line: its exec with the exit status, the created file
        // (relative, so with its cwd), no socket.
        assert_eq!(g[1].input, Some(0));
        assert_eq!(g[1].processes.len(), 1);
        assert_eq!(g[1].processes[0].0.id, "1");
        assert_eq!(g[1].processes[0].1, Some(3));
        assert_eq!(
            g[1].files,
            [(
                "CREATE".to_string(),
                "f".to_string(),
                Some("/tmp".to_string()),
                "touch".to_string()
            )]
        );
        assert!(g[1].sockets.is_empty());
        // The second line, at the same millisecond as its events: the socket;
        // a failed exec is no process.
        assert_eq!(g[2].input, Some(1));
        assert!(g[2].processes.is_empty());
        assert_eq!(g[2].sockets.len(), 1);
        let failed = failed_logins(&trail);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].id, "6");
        // Nothing before the first line: no leading group.
        let g = by_command(1000, &[(-100, "x".to_string())], &trail);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].input, Some(0));
    }
}
