//! The central store end to end: sessions recorded by the real tlog-rs-rec
//! on several fake hosts (UTS namespaces) at fake dates (faketime), one
//! user John Doe (a passwd entry bind-mounted in a private mount
//! namespace), delivered in the central rsyslog layout
//! `<dir>/<host>/<yyyy-mm-dd>.jsonl` (one recording split across two day
//! files and delivered twice) and in the file writer's layout; then
//! `tlog-rs index` (twice) and the two queries as one command each,
//! on the SQLite file of the config and on PostgreSQL (`--db postgres://`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tlog_rs_tests::postgres::Postgres;
use tlog_rs_tests::rec::TempDir;
use tlog_rs_tests::tlog_rs;
use tlog_rs_tests::{artifact, require_program, require_root};

const NOW: &str = "2026-11-30T09:00:00Z"; // a Monday
const JDOE_UID: u32 = 4242;

struct Session {
    host: &'static str,
    /// UTC, as faketime takes it.
    when: &'static str,
    jdoe: bool,
    /// Interactive input typed into a PTY session (None: pipe mode).
    input: Option<&'static str>,
    cmd: &'static str,
}

struct Recorded {
    rec: String,
    messages: Vec<String>,
    events: Vec<String>,
}

fn record(dir: &TempDir, n: usize, s: &Session) -> Recorded {
    let faketime = require_program("faketime", "faketime");
    let out = dir.path(&format!("out/{n}.log"));
    let rec = artifact("tlog-rs-rec");
    let who = if s.jdoe {
        format!("setpriv --reuid={JDOE_UID} --regid={JDOE_UID} --clear-groups -- ")
    } else {
        String::new()
    };
    let recorder = format!(
        "{who}{} --payload=256 --notice= {} -o {}",
        rec.display(),
        if s.input.is_some() { "--log-input" } else { "" },
        out.display()
    );
    let run = match s.input {
        Some(keys) => format!(
            "printf '{keys}' | {} '{}' script -qec \"{recorder} bash --norc --noprofile -i\" /dev/null",
            faketime.display(),
            s.when
        ),
        None => format!(
            "{} '{}' {recorder} sh -c '{}' </dev/null",
            faketime.display(),
            s.when,
            s.cmd
        ),
    };
    let script = format!(
        "set -e; mount --bind {p} /etc/passwd; mount --bind {g} /etc/group; hostname {h}; {run}",
        p = dir.path("passwd").display(),
        g = dir.path("group").display(),
        h = s.host,
    );
    let o = Command::new("unshare")
        .args(["-m", "-u", "--propagation", "private", "sh", "-c", &script])
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let read = |p: &Path| -> Vec<String> {
        fs::read_to_string(p)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; recorder stderr: {}",
                    p.display(),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .lines()
            .map(String::from)
            .collect()
    };
    let messages = read(&out);
    let events = read(&PathBuf::from(format!("{}.events", out.display())));
    let v: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(v["host"], s.host);
    Recorded {
        rec: v["rec"].as_str().unwrap().to_string(),
        messages,
        events,
    }
}

fn append(p: &Path, lines: &[String]) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let mut text = fs::read_to_string(p).unwrap_or_default();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    fs::write(p, text).unwrap();
}

/// `tlog-rs search --config CONF` on the configured index, or on `db`.
fn search(conf: &Path, db: Option<&str>, args: &[&str]) -> Vec<Value> {
    let mut a = vec![
        "search",
        "--config",
        conf.to_str().unwrap(),
        "--now",
        NOW,
        "--utc",
        "--json",
    ];
    if let Some(db) = db {
        a.extend(["--db", db]);
    }
    a.extend_from_slice(args);
    let o = tlog_rs(&a);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{a:?}: {err}"
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn recs(hits: &[Value]) -> BTreeSet<String> {
    hits.iter()
        .map(|h| h["rec"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn seed_queries_over_a_multi_host_fixture_from_the_real_recorder() {
    if !require_root("central_search") {
        return;
    }
    let dir = TempDir::new("central");
    let mut passwd = fs::read_to_string("/etc/passwd").unwrap();
    passwd.push_str(&format!(
        "jdoe:x:{JDOE_UID}:{JDOE_UID}:John Doe:/tmp:/bin/sh\n"
    ));
    dir.write("passwd", passwd.as_bytes());
    let mut group = fs::read_to_string("/etc/group").unwrap();
    group.push_str(&format!("jdoe:x:{JDOE_UID}:\n"));
    dir.write("group", group.as_bytes());
    fs::create_dir_all(dir.path("out")).unwrap();
    fs::set_permissions(
        dir.path("out"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();

    let sessions = [
        // 0: jdoe on Saturday, delivered in the file writer's layout.
        Session {
            host: "ws1.example.com",
            when: "2026-11-28 10:00:00",
            jdoe: true,
            input: None,
            cmd: "echo saturday work",
        },
        // 1: jdoe late on Sunday; many messages, split across two day files.
        Session {
            host: "fs1.nj.example.com",
            when: "2026-11-29 23:59:58",
            jdoe: true,
            input: None,
            cmd: "seq 1 400; echo sunday night",
        },
        // 2: jdoe on Friday: not the weekend.
        Session {
            host: "fs1.nj.example.com",
            when: "2026-11-27 15:00:00",
            jdoe: true,
            input: None,
            cmd: "echo friday",
        },
        // 3: root on an NJ file server last Tuesday, interactive, input logged.
        Session {
            host: "fs1.nj.example.com",
            when: "2026-11-24 14:00:00",
            jdoe: false,
            input: Some("echo the $((6*7)) answer\\nexit\\n"),
            cmd: "",
        },
        // 4: root on fs2 last Wednesday, recorder killed: no end entry.
        Session {
            host: "fs2.nj.example.com",
            when: "2026-11-25 08:00:00",
            jdoe: false,
            input: None,
            cmd: "echo killed; kill -9 $PPID; sleep 5",
        },
        // 5: root in New York last week: not an NJ file server.
        Session {
            host: "web1.ny.example.com",
            when: "2026-11-25 09:00:00",
            jdoe: false,
            input: None,
            cmd: "echo ny",
        },
        // 6: root on fs2 two weeks ago: outside last week.
        Session {
            host: "fs2.nj.example.com",
            when: "2026-11-16 09:00:00",
            jdoe: false,
            input: None,
            cmd: "echo old",
        },
        // 7: jdoe on an NJ file server last week: not administrative.
        Session {
            host: "fs2.nj.example.com",
            when: "2026-11-26 11:00:00",
            jdoe: true,
            input: None,
            cmd: "echo jdoe on fs2",
        },
    ];
    let r: Vec<Recorded> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| record(&dir, i, s))
        .collect();
    assert_eq!(r[4].events.len(), 1, "killed recorder: start entry only");
    assert!(r[1].messages.len() > 4, "{}", r[1].messages.len());

    // Delivery. The file writer's layout for session 0.
    let files = dir.path("files");
    append(&files.join("ws1.log"), &r[0].messages);
    append(&files.join("ws1.log.events"), &r[0].events);
    // The central rsyslog layout for the others: start entry, messages, end entry.
    let central = dir.path("central");
    for (i, s) in sessions.iter().enumerate().skip(1) {
        let day = &s.when[..10];
        let mut all = vec![r[i].events[0].clone()];
        all.extend(r[i].messages.iter().cloned());
        all.extend(r[i].events[1..].iter().cloned());
        if i == 1 {
            // Across midnight: the second half lands in the next day's file,
            // and a second relay delivers the whole recording again.
            let half = all.len() / 2;
            append(
                &central.join(format!("{}/{day}.jsonl", s.host)),
                &all[..half],
            );
            append(
                &central.join(format!("{}/2026-11-30.jsonl", s.host)),
                &all[half..],
            );
            append(&dir.path(&format!("central2/{}/{day}.jsonl", s.host)), &all);
        } else {
            append(&central.join(format!("{}/{day}.jsonl", s.host)), &all);
        }
    }
    // One corrupt line in a day file, in the middle.
    let fri = central.join("fs1.nj.example.com/2026-11-27.jsonl");
    let mut text: Vec<String> = fs::read_to_string(&fri)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    text.insert(1, "{\"ver\":\"2.3\",\"host\":".into());
    fs::write(&fri, text.join("\n") + "\n").unwrap();

    let db = dir.path("index.db");
    let conf = dir.write(
        "central.toml",
        format!(
            "db = \"{}\"\n[sources]\njsonl = [\"{}\", \"{}\", \"{}\"]\n[hostgroups]\nnj-fileservers = [\"fs1.nj.example.com\", \"fs2.nj.example.com\"]\n[admin]\ngroups = [\"admins\"]\n",
            db.display(),
            central.display(),
            dir.path("central2").display(),
            files.display()
        )
        .as_bytes(),
    );

    // The same commands on the configured SQLite file and on PostgreSQL.
    let pg = Postgres::start("central-search");
    let pg_url = pg.create_db("central");
    for db in [None, Some(pg_url.as_str())] {
        index_and_query(&conf, db, &fri, &r);
    }
}

fn index_and_query(conf: &Path, db: Option<&str>, fri: &Path, r: &[Recorded]) {
    let conf_s = conf.to_str().unwrap();
    let index = || {
        let mut a = vec!["index", "--config", conf_s, "--stats"];
        if let Some(db) = db {
            a.extend(["--db", db]);
        }
        tlog_rs(&a)
    };
    let search = |args: &[&str]| search(conf, db, args);
    let o = index();
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a bad line was reported: {err}\n{out}"
    );
    assert!(
        err.contains(&format!("{}:2: truncated JSON", fri.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let total: usize = r.iter().map(|x| x.messages.len()).sum();
    let events: usize = r.iter().map(|x| x.events.len()).sum();
    let dup = r[1].messages.len() + r[1].events.len();
    assert!(
        out.contains(&format!(
            "{total} new messages, {dup} duplicates, 0 conflicting, {events} events, 1 bad lines"
        )),
        "{out}"
    );
    assert!(out.contains("index: 8 recordings"), "{out}");
    // Twice adds nothing.
    let o = index();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(" 0 bytes: 0 new messages, 0 duplicates"),
        "{out}"
    );

    // "All the sessions by John Doe in my environment during this weekend."
    let hits = search(&["--user", "jdoe", "--during", "this weekend"]);
    assert_eq!(
        recs(&hits),
        BTreeSet::from([r[0].rec.clone(), r[1].rec.clone()]),
        "{hits:#?}"
    );
    for h in &hits {
        assert_eq!(h["user"], "jdoe");
        assert_eq!(h["complete"], true, "{h}");
    }
    let sat = hits.iter().find(|h| h["rec"] == r[0].rec.as_str()).unwrap();
    assert_eq!(sat["host"], "ws1.example.com");
    assert!(
        sat["start"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-28T10:00:0"),
        "{sat}"
    );
    assert!(sat["end"].as_str().unwrap().ends_with('Z'), "{sat}");

    // "All administrative sessions that were recorded last week against my
    // file servers in my New Jersey datacenter."
    let hits = search(&[
        "--admin",
        "--hostgroup",
        "nj-fileservers",
        "--during",
        "last week",
    ]);
    assert_eq!(
        recs(&hits),
        BTreeSet::from([r[3].rec.clone(), r[4].rec.clone()]),
        "{hits:#?}"
    );
    let killed = hits.iter().find(|h| h["rec"] == r[4].rec.as_str()).unwrap();
    assert_eq!(killed["complete"], false);
    let inc = search(&["--incomplete"]);
    assert_eq!(recs(&inc), BTreeSet::from([r[4].rec.clone()]), "{inc:#?}");

    // Text is the emulated screen (the shell computed 42), commands are input.
    let hits = search(&["--text", "the 42 answer"]);
    assert_eq!(recs(&hits), BTreeSet::from([r[3].rec.clone()]));
    assert!(
        hits[0]["matches"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("the 42 answer"),
        "{hits:?}"
    );
    assert!(search(&["--text", "$((6*7)) answerX"]).is_empty());
    let hits = search(&["--command", "$((6*7))"]);
    assert_eq!(recs(&hits), BTreeSet::from([r[3].rec.clone()]));
    assert_eq!(hits[0]["matches"][0]["snippet"], "echo the $((6*7)) answer");
    // The split recording's text from both day files.
    let hits = search(&["--text", "sunday night", "--host", "fs1.nj.example.com"]);
    assert_eq!(recs(&hits), BTreeSet::from([r[1].rec.clone()]));

    // Table output by default; unknown host group is an error naming the known ones.
    let mut a = vec!["search", "--config", conf_s, "--user", "jdoe", "--utc"];
    if let Some(db) = db {
        a.extend(["--db", db]);
    }
    let o = tlog_rs(&a);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.starts_with("START"), "{table}");
    assert_eq!(table.lines().count(), 1 + 4, "{table}");
    let o = tlog_rs(&["search", "--config", conf_s, "--hostgroup", "ny"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nj-fileservers"));
}
