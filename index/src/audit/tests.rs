//! The three audit inputs agree; correlation by ses, by host + user + time,
//! authentication failures, and independence from the order of arrival.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::event::{from_json_line, read_raw, AuditEvent};
use super::show::{commands, timeline, AuditFilter};
use super::store::{Join, Role};
use super::Kind;
use crate::ingest::Indexer;
use crate::store::sqlite::Sqlite;
use crate::store::{Query, Store};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn raw_events(rel: &str, host: Option<&str>) -> Vec<AuditEvent> {
    let text = std::fs::read(data(rel)).unwrap();
    let mut v = Vec::new();
    let mut bad = Vec::new();
    read_raw(&text[..], host, &mut |e| v.push(e), &mut |l, m| {
        bad.push((l, m))
    })
    .unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    v
}

#[test]
fn laurel_export_and_raw_give_the_same_events() {
    let raw = raw_events("../audit/tests/data/live.log", None);
    let laurel: Vec<AuditEvent> = std::fs::read_to_string(data("tests/data/laurel-live.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let m: Map<String, Value> = serde_json::from_str(l).unwrap();
            from_json_line(&m, None).unwrap().unwrap()
        })
        .collect();
    // Our exporter's JSON, read back as a JSON line.
    let mut out = Vec::new();
    tlog_rs_audit::event::export(
        &std::fs::read(data("../audit/tests/data/live.log")).unwrap()[..],
        &mut out,
        &mut |e| panic!("{e}"),
    )
    .unwrap();
    let export: Vec<AuditEvent> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let m: Map<String, Value> = serde_json::from_str(l).unwrap();
            from_json_line(&m, None).unwrap().unwrap()
        })
        .collect();
    assert_eq!(raw, export);
    let by_id: BTreeMap<&str, &AuditEvent> = raw.iter().map(|e| (e.id.as_str(), e)).collect();
    // laurel leaves out DAEMON_START/END (not kernel events).
    assert!(laurel.len() >= 30, "{}", laurel.len());
    let mut execs = 0;
    for l in &laurel {
        let o = by_id[l.id.as_str()];
        assert_eq!(l.host, "vm");
        // laurel counts PATH and SOCKADDR records in arrays too.
        let same = |a: &AuditEvent| {
            (
                (a.host.clone(), a.t_ms, a.kind, a.ses, a.auid, a.pid, a.ppid),
                a.exe.clone(),
                a.argv.clone(),
                a.cwd.clone(),
                a.paths.clone(),
                a.sockaddr.clone(),
                a.status,
                a.success,
                a.exit,
            )
        };
        assert_eq!(same(l), same(o), "{}", l.id);
        execs += (l.kind == Kind::Exec) as u32;
    }
    assert!(execs >= 4);
    // The session's events: ses 280 of auid 1, with a connect and an exit 3.
    let ses: Vec<&AuditEvent> = raw.iter().filter(|e| e.ses == Some(280)).collect();
    assert!(ses.iter().all(|e| e.auid == Some(1)));
    assert!(ses
        .iter()
        .any(|e| e.kind == Kind::Exit && e.status == Some(3)));
    assert!(ses.iter().any(|e| e.kind == Kind::Net
        && e.sockaddr
            .as_ref()
            .is_some_and(|s| s["addr"] == "127.0.0.1")));
}

#[test]
fn laurel_user_messages_are_parsed() {
    let line = r#"{"ID":"1795702314.722:6","USER_AUTH":{"pid":4245,"uid":0,"auid":4294967295,"ses":4294967295,"msg":"op=PAM:authentication grantors=? acct=\"root\" exe=\"/usr/bin/python3.11\" hostname=192.0.2.7 addr=192.0.2.7 terminal=pts/9 res=failed"}}"#;
    let m: Map<String, Value> = serde_json::from_str(line).unwrap();
    let e = from_json_line(&m, Some("h1")).unwrap().unwrap();
    assert_eq!(e.host, "h1");
    assert_eq!(e.kind, Kind::Auth);
    assert_eq!(e.acct.as_deref(), Some("root"));
    assert_eq!(e.addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(e.res.as_deref(), Some("failed"));
    assert_eq!((e.ses, e.auid), (None, None));
    assert!(e.failed());
    // No node and no fallback: a precise error.
    let err = from_json_line(&m, None).unwrap().unwrap_err();
    assert!(err.contains("name_format"), "{err}");
    let err = from_json_line(
        &serde_json::from_str(r#"{"ID":"17x:1","NODE":"h"}"#).unwrap(),
        None,
    )
    .unwrap()
    .unwrap_err();
    assert!(err.contains("bad ID"), "{err}");
}

/// A recording of `user` on host vm around live.log's session (ses 280,
/// auid 1): start entry, two messages, end entry.
fn recording(dir: &Path, name: &str, session: u32, input: &str) -> PathBuf {
    let p = dir.join(format!("{name}.jsonl"));
    let mut f = std::fs::File::create(&p).unwrap();
    let start = 1796406461.800f64;
    writeln!(
        f,
        r#"{{"event":"start","rec":"{name}","user":"daemon","host":"vm","tty":"/dev/pts/3","session":{session},"start":{start:.3},"end":null,"uid":1,"service":"sshd"}}"#
    )
    .unwrap();
    writeln!(
        f,
        r#"{{"ver":"2.3","host":"vm","rec":"{name}","user":"daemon","term":"xterm","session":{session},"id":1,"pos":0,"time":{start:.3},"timing":"=80x24<{n}>1","in_txt":"{input}","in_bin":[],"out_txt":"$","out_bin":[]}}"#,
        n = input.len(),
        input = input.replace('\n', "\\r")
    )
    .unwrap();
    writeln!(
        f,
        r#"{{"ver":"2.3","host":"vm","rec":"{name}","user":"daemon","term":"xterm","session":{session},"id":2,"pos":2000,"time":{t:.3},"timing":">1","in_txt":"","in_bin":[],"out_txt":"x","out_bin":[]}}"#,
        t = start + 2.0
    )
    .unwrap();
    writeln!(
        f,
        r#"{{"event":"end","rec":"{name}","user":"daemon","host":"vm","tty":"/dev/pts/3","session":{session},"start":{start:.3},"end":{t:.3},"exit_status":3,"end_reason":"exit","messages_written":2,"messages_dropped":0}}"#,
        t = start + 2.5
    )
    .unwrap();
    p
}

fn index(store: &mut Sqlite, jsonl: &[PathBuf], audit: &[PathBuf]) {
    let mut problems = Vec::new();
    let mut report = |p| problems.push(p);
    Indexer::new(store, &mut report, false)
        .audit_logs(audit.iter().map(|p| (p.clone(), None)).collect())
        .run(jsonl)
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

fn trail_of(store: &mut Sqlite, rec: &str) -> (super::store::Trail, i64, Vec<(i64, String)>) {
    let a = store.audit().unwrap();
    let r = a.find_recs(rec).unwrap().remove(0);
    (
        a.trail(r.key).unwrap().expect("correlated"),
        r.start_ms.unwrap(),
        a.input_lines(r.key).unwrap(),
    )
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tlog-rs-audit-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn correlation_by_ses_does_not_depend_on_arrival_order() {
    let dir = tmp("order");
    let rec = recording(&dir, "r1", 280, "touch f\n");
    let log = data("../audit/tests/data/live.log");
    let mut first_rec = Sqlite::in_memory().unwrap();
    index(&mut first_rec, std::slice::from_ref(&rec), &[]);
    index(&mut first_rec, &[], std::slice::from_ref(&log));
    let mut first_audit = Sqlite::in_memory().unwrap();
    index(&mut first_audit, &[], std::slice::from_ref(&log));
    index(&mut first_audit, std::slice::from_ref(&rec), &[]);
    let (a, start, input) = trail_of(&mut first_rec, "r1");
    let (b, _, _) = trail_of(&mut first_audit, "r1");
    assert_eq!(a, b);
    assert_eq!(a.join, Join::Ses);
    assert_eq!(a.auth_failures, 0);
    assert!(a
        .events
        .iter()
        .all(|(r, e)| *r == Role::Session && e.ses == Some(280)));
    assert_eq!(
        a.events.len(),
        raw_events("../audit/tests/data/live.log", None)
            .iter()
            .filter(|e| e.ses == Some(280))
            .count()
    );
    // Commands with the exit status of their process; the shell's exit 3.
    let cmds = commands(&a.events);
    let argv: Vec<String> = cmds
        .iter()
        .map(|(e, _)| e.argv.clone().unwrap().join(" "))
        .collect();
    assert!(argv.contains(&"touch my file".to_string()), "{argv:?}");
    assert!(cmds.iter().all(|(_, st)| st.is_some()), "{cmds:?}");
    // Timeline: the input line first, then the events at their offsets.
    let tl = timeline(start, &input, Some(&a));
    assert_eq!(tl[0].input.as_deref(), Some("touch f"));
    let touch = tl
        .iter()
        .find(|e| {
            e.event
                .as_ref()
                .is_some_and(|(_, ev)| ev.argv.as_deref().is_some_and(|v| v[0] == "touch"))
        })
        .unwrap();
    assert_eq!(touch.offset_ms, 1796406461892 - 1796406461800);
    // Again: nothing new, same result.
    index(
        &mut first_rec,
        std::slice::from_ref(&rec),
        std::slice::from_ref(&log),
    );
    assert_eq!(trail_of(&mut first_rec, "r1").0, a);
    // search --exec
    let hits = AuditFilter {
        exec: Some("/usr/bin/touch".into()),
        auth_failures: false,
    }
    .search(&mut first_rec, Query::default())
    .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].matches[0].snippet, "touch my file");
    assert_eq!(hits[0].matches[0].offset_ms, 92);
    let none = AuditFilter {
        exec: Some("/usr/bin/rmdir".into()),
        auth_failures: false,
    }
    .search(&mut first_rec, Query::default())
    .unwrap();
    assert!(none.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fallback_join_by_host_user_time() {
    let dir = tmp("fallback");
    // No audit session in the recording (no pam_loginuid): 4294967295.
    let rec = recording(&dir, "r2", u32::MAX, "ls\n");
    let mut s = Sqlite::in_memory().unwrap();
    index(
        &mut s,
        std::slice::from_ref(&rec),
        &[data("../audit/tests/data/live.log")],
    );
    let (t, _, _) = trail_of(&mut s, "r2");
    assert_eq!(t.join, Join::HostUserTime);
    // The user's (auid 1) events in the recording's span, nothing else.
    assert!(!t.events.is_empty());
    assert!(t.events.iter().all(|(_, e)| e.auid == Some(1)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failed_authentication_before_the_session_is_flagged() {
    let dir = tmp("auth");
    let log = dir.join("audit.log");
    // Two attempts by "daemon" (one failed), one of someone else, all
    // before the recording; one failure of daemon long before (ignored).
    std::fs::write(
        &log,
        "node=vm type=USER_AUTH msg=audit(1796405000.000:1): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"daemon\" exe=\"/usr/sbin/sshd\" hostname=127.0.0.1 addr=127.0.0.1 terminal=ssh res=failed'\n\
         node=vm type=USER_AUTH msg=audit(1796406455.000:2): pid=2 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"daemon\" exe=\"/usr/sbin/sshd\" hostname=127.0.0.1 addr=127.0.0.1 terminal=ssh res=failed'\n\
         node=vm type=USER_AUTH msg=audit(1796406456.000:3): pid=3 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"mallory\" exe=\"/usr/sbin/sshd\" hostname=127.0.0.1 addr=127.0.0.1 terminal=ssh res=failed'\n\
         node=vm type=USER_AUTH msg=audit(1796406458.000:4): pid=4 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=pam_unix acct=\"daemon\" exe=\"/usr/sbin/sshd\" hostname=127.0.0.1 addr=127.0.0.1 terminal=ssh res=success'\n",
    )
    .unwrap();
    let rec = recording(&dir, "r3", 280, "id\n");
    let mut s = Sqlite::in_memory().unwrap();
    index(&mut s, std::slice::from_ref(&rec), &[log]);
    let (t, _, _) = trail_of(&mut s, "r3");
    let auth: Vec<&AuditEvent> = t
        .events
        .iter()
        .filter(|(r, _)| *r == Role::Auth)
        .map(|(_, e)| e)
        .collect();
    assert_eq!(auth.len(), 2, "{auth:#?}");
    assert_eq!(t.auth_failures, 1);
    assert!(auth[0].failed() && auth[0].addr.as_deref() == Some("127.0.0.1"));
    let hits = AuditFilter {
        exec: None,
        auth_failures: true,
    }
    .search(&mut s, Query::default())
    .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].rec, "r3");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn audit_lines_in_the_jsonl_layout() {
    // Delivered like recordings: <dir>/<host>/<day>.jsonl, lines told
    // apart by keys; bad audit lines are reported, the rest indexed.
    let dir = tmp("jsonl");
    std::fs::create_dir_all(dir.join("vm")).unwrap();
    let mut out = Vec::new();
    tlog_rs_audit::event::export(
        &std::fs::read(data("../audit/tests/data/live.log")).unwrap()[..],
        &mut out,
        &mut |e| panic!("{e}"),
    )
    .unwrap();
    let rec = std::fs::read_to_string(recording(&dir, "r4", 280, "ls\n")).unwrap();
    let mut day = rec.clone();
    day.push_str(std::str::from_utf8(&out).unwrap());
    day.push_str("{\"ID\":\"nonsense\",\"NODE\":\"vm\"}\n");
    std::fs::write(dir.join("vm/2026-12-04.jsonl"), day).unwrap();
    std::fs::remove_file(dir.join("r4.jsonl")).unwrap();
    let mut s = Sqlite::in_memory().unwrap();
    let mut problems = Vec::new();
    let mut report = |p| problems.push(p);
    let r = Indexer::new(&mut s, &mut report, false)
        .run(std::slice::from_ref(&dir))
        .unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].to_string().contains("bad ID"), "{problems:?}");
    assert_eq!(r.audit_events, 33);
    let (t, _, _) = trail_of(&mut s, "r4");
    assert_eq!(t.join, Join::Ses);
    assert!(t.events.iter().any(|(_, e)| e.kind == Kind::Exec));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_event_cut_at_the_end_of_the_log_is_completed_by_the_next_reading() {
    let dir = tmp("cut");
    let live = std::fs::read_to_string(data("../audit/tests/data/live.log")).unwrap();
    // The log as read while auditd was still writing the touch's records.
    let cut_at = live
        .find("type=EXECVE msg=audit(1796406461.892:158)")
        .unwrap();
    let cut_at = live[..cut_at].rfind('\n').unwrap() + 1;
    let log = dir.join("audit.log");
    std::fs::write(&log, &live[..cut_at]).unwrap();
    let mut s = Sqlite::in_memory().unwrap();
    index(&mut s, &[], std::slice::from_ref(&log));
    let touch = |s: &mut Sqlite| {
        s.audit()
            .unwrap()
            .audit_events(&super::store::EventFilter {
                host: "vm",
                from_ms: 0,
                to_ms: i64::MAX,
                ses: Some(280),
                kinds: &[],
            })
            .unwrap()
            .into_iter()
            .map(|(_, e)| e)
            .find(|e| e.id == "1796406461.892:158")
            .unwrap()
    };
    let first = touch(&mut s);
    assert!(first.argv.is_none(), "{first:?}");
    std::fs::write(&log, &live).unwrap();
    index(&mut s, &[], std::slice::from_ref(&log));
    let full = touch(&mut s);
    assert!(full.records > first.records, "{full:?}");
    assert_eq!(full.argv.unwrap().join(" "), "touch my file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_typed_reading_of_a_grouped_event_equals_the_json_reading() {
    for rel in [
        "../audit/tests/data/live.log",
        "../audit/tests/data/appendix-a.log",
        "../audit/tests/data/handwritten.log",
        "../audit/tests/data/audit-userspace/test.log",
        "../audit/tests/data/audit-userspace/test3.log",
        "../audit/tests/data/audit-userspace/test4.log",
    ] {
        let text = std::fs::read_to_string(data(rel)).unwrap();
        let events = tlog_rs_audit::event::parse_log(&text).unwrap();
        assert!(!events.is_empty(), "{rel}");
        for e in &events {
            let typed = super::event::from_grouped(e, Some("h")).unwrap();
            let Value::Object(m) = e.to_json_flat() else {
                panic!("{rel}: not an object")
            };
            let mut json = super::event::from_export(&m, Some("h")).unwrap();
            json.records = e.records.len() as u32;
            assert_eq!(typed, json, "{rel}");
        }
    }
}
