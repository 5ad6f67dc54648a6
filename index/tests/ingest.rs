//! The indexer on JSONL stores written with the real tlog encoder: repeat
//! runs add nothing, partial lines wait, rotation and deletion, duplicates
//! over two delivery paths and day files, conflicting copies, bad lines by
//! FILE:LINE, and the search filters with the half-open time window.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use tlog_rs_format::{Encoder, RecHeader};
use tlog_rs_index::ingest::{Indexer, Problem, Report};
use tlog_rs_index::store::sqlite::Sqlite;
use tlog_rs_index::store::{Query, State, Store};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("tlog-rs-index-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Message lines of a session: `start` Unix seconds, output lines at 1 s
/// intervals, payload small so there are many messages.
fn session(host: &str, rec: &str, user: &str, start: u64, out: &[&str]) -> Vec<String> {
    let h = RecHeader {
        host: host.into(),
        rec: rec.into(),
        user: user.into(),
        term: "xterm".into(),
        session: 3,
    };
    let mut enc = Encoder::new(h, 128, UNIX_EPOCH + Duration::from_secs(start));
    enc.window(Duration::ZERO, 80, 24);
    for (i, o) in out.iter().enumerate() {
        enc.output(Duration::from_secs(i as u64), o.as_bytes());
        enc.flush();
    }
    enc.flush();
    let mut v = vec![];
    while let Some(m) = enc.pop_message() {
        v.push(String::from_utf8(m).unwrap().trim_end().to_string());
    }
    v
}

#[allow(clippy::too_many_arguments)]
fn event(
    kind: &str,
    host: &str,
    rec: &str,
    user: &str,
    start: f64,
    end: Option<f64>,
    written: u64,
    extra: &str,
) -> String {
    format!(
        r#"{{"event":"{kind}","rec":"{rec}","user":"{user}","host":"{host}","tty":"/dev/pts/1","session":3,"start":{start:.3},"end":{},"exit_status":{},"end_reason":{},"signal":null,"bytes_in":0,"bytes_out":10,"messages_written":{written},"messages_dropped":0,"messages_lost":0{extra}}}"#,
        end.map_or("null".into(), |e| format!("{e:.3}")),
        if end.is_some() { "0" } else { "null" },
        if end.is_some() { "\"exit\"" } else { "null" },
    )
}

fn append(p: &Path, text: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn lines(v: &[String]) -> String {
    v.iter().map(|l| format!("{l}\n")).collect()
}

fn run(db: &mut Sqlite, roots: &[PathBuf]) -> (Report, Vec<Problem>) {
    let mut probs = vec![];
    let mut push = |p: Problem| probs.push(p);
    let r = Indexer::new(db, &mut push, false).run(roots).unwrap();
    (r, probs)
}

fn q() -> Query {
    Query::default()
}

#[test]
fn incremental_idempotent_partial_lines_rotation_and_duplicates() {
    let d = Dir::new("incr");
    let root = d.0.join("central");
    let mut db = Sqlite::open(&d.0.join("index.db")).unwrap();
    let msgs = session(
        "fs1.nj.example.com",
        "r1",
        "jdoe",
        1_795_000_000,
        &["hello\r\n", "the magic ", "word\r\n", "bye\r\n"],
    );
    assert!(msgs.len() >= 4, "{}", msgs.len());
    let start = event(
        "start",
        "fs1.nj.example.com",
        "r1",
        "jdoe",
        1_795_000_000.0,
        None,
        0,
        r#","service":"sshd","uid":1000,"groups":["staff","admins"]"#,
    );
    let end = event(
        "end",
        "fs1.nj.example.com",
        "r1",
        "jdoe",
        1_795_000_000.0,
        Some(1_795_000_004.0),
        msgs.len() as u64,
        "",
    );
    let day1 = root.join("fs1.nj.example.com/2026-11-17.jsonl");
    let day2 = root.join("fs1.nj.example.com/2026-11-18.jsonl");
    // First delivery: start entry, two messages and half of the third line.
    let third = &msgs[2];
    append(
        &day1,
        &format!("{start}\n{}\n{}\n{}", msgs[0], msgs[1], &third[..20]),
    );
    let (r, p) = run(&mut db, std::slice::from_ref(&root));
    assert_eq!(
        (r.messages, r.events, r.partial_lines, r.bad_lines),
        (2, 1, 1, 0),
        "{p:?}"
    );
    assert!(p.is_empty(), "a fresh partial line is not a problem: {p:?}");
    let hits = db.search(&q()).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].state, State::Incomplete);
    // The line is completed; the rest arrives in the next day's file, and a
    // second delivery path repeats everything in another directory.
    append(&day1, &format!("{}\n", &third[20..]));
    append(&day2, &lines(&msgs[3..]));
    append(&day2, &format!("{end}\n"));
    let copy = d.0.join("relay2/fs1.nj.example.com/2026-11-17.jsonl");
    append(&copy, &format!("{start}\n{}{end}\n", lines(&msgs)));
    let roots = [root.clone(), d.0.join("relay2")];
    let (r, p) = run(&mut db, &roots);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(r.messages, msgs.len() as u64 - 2);
    assert_eq!(
        r.duplicates,
        msgs.len() as u64 + 2,
        "every message and both events again"
    );
    assert_eq!(r.events, 1);
    let hits = db.search(&q()).unwrap();
    assert_eq!(hits.len(), 1);
    let h = &hits[0];
    assert_eq!(
        (h.host.as_str(), h.rec.as_str(), h.user.as_str()),
        ("fs1.nj.example.com", "r1", "jdoe")
    );
    assert_eq!(h.service.as_deref(), Some("sshd"));
    assert_eq!(
        (h.start_ms, h.end_ms),
        (1_795_000_000_000, 1_795_000_004_000)
    );
    assert_eq!(h.state, State::Complete);
    // Twice adds nothing.
    let before = db.counts().unwrap();
    let (r, p) = run(&mut db, &roots);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(
        (
            r.messages,
            r.duplicates,
            r.events,
            r.bytes,
            r.recordings_derived
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(db.counts().unwrap(), before);
    // Rotation by rename: the renamed file is not read again.
    fs::rename(&day2, root.join("fs1.nj.example.com/2026-11-18.jsonl.1")).unwrap();
    let (r, p) = run(&mut db, &roots);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!((r.messages, r.duplicates, r.bytes), (0, 0, 0));
    // Deletion is reported once; the index keeps what it had.
    fs::remove_file(&copy).unwrap();
    let (r, p) = run(&mut db, &roots);
    assert_eq!(r.files_gone, 1, "{p:?}");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].to_string()
            .contains("relay2/fs1.nj.example.com/2026-11-17.jsonl: gone"),
        "{p:?}"
    );
    let (r, _) = run(&mut db, &roots);
    assert_eq!(r.files_gone, 0);
    // Text search over the emulated screen: the phrase was split across messages.
    let hits = db
        .search(&Query {
            text: Some("MAGIC word".into()),
            ..q()
        })
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert!(
        hits[0].matches[0].snippet.contains("the magic word"),
        "{:?}",
        hits[0].matches
    );
    assert_eq!(hits[0].matches[0].offset_ms, 0);
    assert!(db
        .search(&Query {
            text: Some("magic words".into()),
            ..q()
        })
        .unwrap()
        .is_empty());
    // Groups at recording time and the admin definition.
    assert_eq!(
        db.search(&Query {
            group: Some("admins".into()),
            ..q()
        })
        .unwrap()
        .len(),
        1
    );
    assert!(db
        .search(&Query {
            group: Some("wheel".into()),
            ..q()
        })
        .unwrap()
        .is_empty());
    let admin = |groups: &[&str]| Query {
        admin: Some((
            groups.iter().map(|s| s.to_string()).collect(),
            vec!["sudo".into()],
        )),
        ..q()
    };
    assert_eq!(db.search(&admin(&["admins"])).unwrap().len(), 1);
    assert!(db.search(&admin(&["wheel"])).unwrap().is_empty());
}

#[test]
fn bad_lines_are_reported_by_line_and_the_rest_is_read() {
    let d = Dir::new("bad");
    let f = d.0.join("h1/2026-11-20.jsonl");
    let msgs = session("h1", "r2", "alice", 1_795_100_000, &["one\r\n", "two\r\n"]);
    let ecs = msgs[0].replace(
        "\"host\":\"h1\"",
        "\"host\":{\"name\":\"h1\",\"hostname\":\"h1\"}",
    );
    let text = format!(
        "{}\nthis is not json\n{ecs}\n\n{{\"ver\":\"2.3\",\"host\":\"h1\",\n{{\"foo\":1}}\n{}\n",
        msgs[0],
        lines(&msgs[1..]).trim_end()
    );
    append(&f, &text);
    let mut db = Sqlite::in_memory().unwrap();
    let (r, p) = run(&mut db, std::slice::from_ref(&d.0));
    let got: Vec<String> = p.iter().map(|p| p.to_string()).collect();
    let file = f.display().to_string();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(
        got[0].starts_with(&format!("{file}:2: corrupt JSON")),
        "{got:#?}"
    );
    assert!(
        got[1].starts_with(&format!("{file}:3: field \"host\": an object (ECS-style")),
        "{got:#?}"
    );
    assert!(
        got[2].starts_with(&format!("{file}:5: truncated JSON")),
        "{got:#?}"
    );
    assert!(
        got[3].starts_with(&format!("{file}:6: neither a tlog message")),
        "{got:#?}"
    );
    assert_eq!((r.messages, r.bad_lines), (msgs.len() as u64, 4));
    let hits = db.search(&q()).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].state, State::Incomplete, "no end entry");
}

#[test]
fn copytruncate_rotation_keeps_every_message_readable() {
    let d = Dir::new("copytrunc");
    let f = d.0.join("h3/rec.log");
    let later = "later output line\r\n".repeat(20);
    let a = session(
        "h3",
        "r4",
        "carol",
        1_795_300_000,
        &["first part\r\n", &later],
    );
    assert!(a.len() >= 4, "{}", a.len());
    let end = event(
        "end",
        "h3",
        "r4",
        "carol",
        1_795_300_000.0,
        Some(1_795_300_009.0),
        a.len() as u64,
        "",
    );
    append(&f, &lines(&a[..2]));
    let mut db = Sqlite::in_memory().unwrap();
    let (r, p) = run(&mut db, std::slice::from_ref(&d.0));
    assert!(p.is_empty() && r.messages == 2, "{p:?} {r:?}");
    // logrotate copytruncate: the content moves to rec.log.1, rec.log starts
    // empty and gets the rest.
    fs::copy(&f, d.0.join("h3/rec.log.1")).unwrap();
    fs::write(&f, "").unwrap();
    let new = lines(&a[2..]) + &end + "\n";
    assert!(
        new.len() > lines(&a[..2]).len(),
        "the new content outgrows the old"
    );
    append(&f, &new);
    let (r, p) = run(&mut db, std::slice::from_ref(&d.0));
    // rec.log is new content on the same inode (recognised by its first
    // bytes, or by having shrunk): read from its start, nothing skipped.
    assert!(p.iter().all(|p| p.message.contains("shrank")), "{p:?}");
    assert_eq!((r.messages, r.duplicates), (a.len() as u64 - 2, 2));
    let hits = db
        .search(&Query {
            text: Some("first part".into()),
            ..q()
        })
        .unwrap();
    assert_eq!(hits.len(), 1, "text of the rotated part is still derived");
    assert_eq!(hits[0].state, State::Complete);
}

#[test]
fn conflicting_copies_mark_the_recording_tampered() {
    let d = Dir::new("tamper");
    let msgs = session("h2", "r3", "bob", 1_795_200_000, &["rm -rf /srv/data\r\n"]);
    append(&d.0.join("a/h2/2026-11-21.jsonl"), &lines(&msgs));
    let forged: Vec<String> = msgs
        .iter()
        .map(|l| l.replace("/srv/data", "/srv/temp"))
        .collect();
    assert_ne!(forged, msgs);
    append(&d.0.join("b/h2/2026-11-21.jsonl"), &lines(&forged));
    let mut db = Sqlite::in_memory().unwrap();
    let (r, p) = run(&mut db, std::slice::from_ref(&d.0));
    assert!(r.conflicts >= 1, "{r:?}");
    assert!(
        p.iter().any(|p| p.to_string().contains("marked tampered")),
        "{p:?}"
    );
    let hits = db
        .search(&Query {
            incomplete: true,
            ..q()
        })
        .unwrap();
    assert_eq!(hits[0].state, State::Tampered);
    // The copy indexed first is what the text index holds.
    assert_eq!(
        db.search(&Query {
            text: Some("/srv/data".into()),
            ..q()
        })
        .unwrap()
        .len(),
        1
    );
}

#[test]
fn time_window_is_half_open_and_filters_combine() {
    let d = Dir::new("window");
    // Session A: [1000 s, 1010 s); session B: [1010 s, 1020 s), another host.
    let a = session("ha", "ra", "jdoe", 1_000, &["a\r\n"]);
    let b = session("hb", "rb", "root", 1_010, &["b\r\n"]);
    let mut text = lines(&a) + &lines(&b);
    text += &format!(
        "{}\n",
        event(
            "end",
            "ha",
            "ra",
            "jdoe",
            1000.0,
            Some(1010.0),
            a.len() as u64,
            ""
        )
    );
    text += &format!(
        "{}\n",
        event(
            "end",
            "hb",
            "rb",
            "root",
            1010.0,
            Some(1020.0),
            b.len() as u64,
            ""
        )
    );
    append(&d.0.join("all.jsonl"), &text);
    let mut db = Sqlite::in_memory().unwrap();
    let (_, p) = run(&mut db, std::slice::from_ref(&d.0));
    assert!(p.is_empty(), "{p:?}");
    let mut recs =
        |qq: Query| -> Vec<String> { db.search(&qq).unwrap().into_iter().map(|h| h.rec).collect() };
    let win = |s: i64, u: i64| Query {
        since: Some(s * 1000),
        until: Some(u * 1000),
        ..q()
    };
    assert_eq!(
        recs(win(1010, 1011)),
        ["rb"],
        "A ends exactly at since: no overlap"
    );
    assert_eq!(
        recs(win(1009, 1010)),
        ["ra"],
        "B starts exactly at until: no overlap"
    );
    assert_eq!(recs(win(1009, 1011)), ["ra", "rb"]);
    assert!(recs(win(1020, 1030)).is_empty());
    assert_eq!(
        recs(Query {
            user: Some("jdoe".into()),
            ..win(0, 5000)
        }),
        ["ra"]
    );
    assert_eq!(
        recs(Query {
            hosts: Some(vec!["hb".into(), "hx".into()]),
            ..q()
        }),
        ["rb"]
    );
    assert_eq!(
        recs(Query {
            host: Some("ha".into()),
            ..q()
        }),
        ["ra"]
    );
    // Without a uid, user root counts as uid 0.
    assert_eq!(
        recs(Query {
            admin: Some((vec![], vec![])),
            ..q()
        }),
        ["rb"]
    );
    assert_eq!(
        recs(Query {
            text: Some("b".into()),
            ..q()
        }),
        ["rb"],
        "short phrases use LIKE"
    );
}

#[test]
fn text_search_takes_phrases_literally() {
    let d = Dir::new("literal");
    let a = session("hq", "rq", "u", 2_000, &["say \"50%_off\" now\r\n"]);
    let b = session("hq", "rq2", "u", 3_000, &["say 50 percent off\r\n"]);
    append(&d.0.join("x.jsonl"), &(lines(&a) + &lines(&b)));
    let mut db = Sqlite::in_memory().unwrap();
    let (_, p) = run(&mut db, std::slice::from_ref(&d.0));
    assert!(p.is_empty(), "{p:?}");
    let mut found = |t: &str| -> Vec<String> {
        db.search(&Query {
            text: Some(t.into()),
            ..q()
        })
        .unwrap()
        .into_iter()
        .map(|h| h.rec)
        .collect()
    };
    assert_eq!(found("\"50%_off\""), ["rq"]);
    assert_eq!(found("50%"), ["rq"]);
    assert_eq!(found("%"), ["rq"]);
    assert_eq!(found("SAY 50"), ["rq2"]);
    assert_eq!(found("say"), ["rq", "rq2"]);
    assert!(found("50_percent").is_empty());
}

#[test]
fn an_endless_line_is_skipped_not_held() {
    let d = Dir::new("huge");
    let a = session("hh", "rh", "u", 4_000, &["before\r\n", "after\r\n"]);
    let huge = "x".repeat(17 << 20);
    let text = format!("{}\n{huge}\n{}", a[0], lines(&a[1..]));
    append(&d.0.join("h.jsonl"), &text);
    let mut db = Sqlite::in_memory().unwrap();
    let (r, p) = run(&mut db, std::slice::from_ref(&d.0));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, Some(2));
    assert!(
        p[0].message.contains("longer than any tlog message"),
        "{p:?}"
    );
    assert_eq!((r.messages, r.bad_lines), (a.len() as u64, 1));
    assert_eq!(r.bytes, text.len() as u64);
    // Nothing is read twice.
    let (r, p) = run(&mut db, std::slice::from_ref(&d.0));
    assert!(p.is_empty() && r.bytes == 0, "{p:?} {r:?}");
}
