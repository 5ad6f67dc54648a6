//! The index's storage on both backends: the same test functions (the
//! indexer on JSONL stores written with the real tlog encoder: repeat runs
//! add nothing, partial lines wait, rotation and deletion, duplicates over
//! two delivery paths and day files, conflicting copies, bad lines by
//! FILE:LINE, the search filters with the half-open time window, literal
//! text phrases) run on an embedded SQLite file and on a real PostgreSQL
//! server started by the test (tests/src/postgres.rs). Then what only the
//! shared backend has: concurrent indexers, concurrent schema creation,
//! the schema version check, unix socket URLs, and `tlog-rs index` /
//! `tlog-rs search` with `--db postgres://...` and `db = "postgres://..."`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use tlog_rs_format::{Encoder, RecHeader};
use tlog_rs_index::audit::show::AuditFilter;
use tlog_rs_index::audit::store::{Join, Role};
use tlog_rs_index::config::DbSpec;
use tlog_rs_index::hops;
use tlog_rs_index::ingest::{Indexer, Problem, Report};
use tlog_rs_index::store::postgres::Postgres as PgStore;
use tlog_rs_index::store::sqlite::Sqlite;
use tlog_rs_index::store::{self, EventInfo, Query, Scope, Sort, SortKey, State, Store};
use tlog_rs_tests::postgres::Postgres;
use tlog_rs_tests::rec::TempDir as Dir;

/// Each test function runs once per backend, on a fresh database.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let d = super::Dir::new(concat!("sq-", stringify!($name)));
                    let mut db = super::Sqlite::open(&d.path("index.db")).unwrap();
                    super::$name(&mut db, &d);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let pg = super::Postgres::start(stringify!($name));
                    let url = pg.create_db("tlog");
                    let d = super::Dir::new(concat!("pg-", stringify!($name)));
                    let mut db = super::PgStore::open(&url).unwrap();
                    super::$name(&mut db, &d);
                }
            )*
        }
    };
}

on_both_backends!(
    incremental_idempotent_partial_lines_rotation_and_duplicates,
    bad_lines_are_reported_by_line_and_the_rest_is_read,
    copytruncate_rotation_keeps_every_message_readable,
    conflicting_copies_mark_the_recording_tampered,
    time_window_is_half_open_and_filters_combine,
    text_search_takes_phrases_literally,
    an_endless_line_is_skipped_not_held,
    keyframes_commands_and_counts,
    audit_events_join_recordings_by_ses_with_failed_logins,
    pages_hold_every_hit_once_in_each_order_with_the_count,
    jump_server_hops_are_linked_both_ways,
);

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

fn run(db: &mut dyn Store, roots: &[PathBuf]) -> (Report, Vec<Problem>) {
    let mut probs = vec![];
    let mut push = |p: Problem| probs.push(p);
    let r = Indexer::new(db, &mut push, false).run(roots).unwrap();
    (r, probs)
}

fn q() -> Query {
    Query::default()
}

fn incremental_idempotent_partial_lines_rotation_and_duplicates(db: &mut dyn Store, d: &Dir) {
    let root = d.0.join("central");
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
    let (r, p) = run(db, std::slice::from_ref(&root));
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
    let (r, p) = run(db, &roots);
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
    let (r, p) = run(db, &roots);
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
    let (r, p) = run(db, &roots);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!((r.messages, r.duplicates, r.bytes), (0, 0, 0));
    // Deletion is reported once; the index keeps what it had.
    fs::remove_file(&copy).unwrap();
    let (r, p) = run(db, &roots);
    assert_eq!(r.files_gone, 1, "{p:?}");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].to_string()
            .contains("relay2/fs1.nj.example.com/2026-11-17.jsonl: gone"),
        "{p:?}"
    );
    let (r, _) = run(db, &roots);
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
    // The web's scopes: own, host (name or FQDN), login group; any part.
    let mut scoped = |user: Option<&str>, hosts: &[&str], groups: &[&str]| {
        let scope = Scope {
            user: user.map(String::from),
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        };
        let hits = db
            .search(&Query {
                scope: Some(scope.clone()),
                ..q()
            })
            .unwrap();
        let info = db
            .recording_info("fs1.nj.example.com", "r1")
            .unwrap()
            .unwrap();
        // The single-recording check agrees with the query.
        assert_eq!(scope.allows(&info), hits.len() == 1, "{scope:?}");
        hits.len()
    };
    assert_eq!(scoped(Some("jdoe"), &[], &[]), 1);
    assert_eq!(scoped(Some("bob"), &[], &[]), 0);
    assert_eq!(scoped(None, &["fs1.nj.example.com"], &[]), 1);
    assert_eq!(scoped(None, &["fs2.nj.example.com"], &[]), 0);
    assert_eq!(scoped(None, &[], &["admins"]), 1);
    assert_eq!(scoped(None, &[], &["wheel"]), 0);
    assert_eq!(scoped(Some("bob"), &["fs2"], &["wheel", "dba"]), 0);
    assert_eq!(scoped(Some("bob"), &["fs2"], &["wheel", "staff"]), 1);
    assert_eq!(scoped(None, &[], &[]), 0);
}

fn bad_lines_are_reported_by_line_and_the_rest_is_read(db: &mut dyn Store, d: &Dir) {
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
    let (r, p) = run(db, std::slice::from_ref(&d.0));
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

fn copytruncate_rotation_keeps_every_message_readable(db: &mut dyn Store, d: &Dir) {
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
    let (r, p) = run(db, std::slice::from_ref(&d.0));
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
    let (r, p) = run(db, std::slice::from_ref(&d.0));
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

fn conflicting_copies_mark_the_recording_tampered(db: &mut dyn Store, d: &Dir) {
    let msgs = session("h2", "r3", "bob", 1_795_200_000, &["rm -rf /srv/data\r\n"]);
    append(&d.0.join("a/h2/2026-11-21.jsonl"), &lines(&msgs));
    let forged: Vec<String> = msgs
        .iter()
        .map(|l| l.replace("/srv/data", "/srv/temp"))
        .collect();
    assert_ne!(forged, msgs);
    append(&d.0.join("b/h2/2026-11-21.jsonl"), &lines(&forged));
    let (r, p) = run(db, std::slice::from_ref(&d.0));
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

fn time_window_is_half_open_and_filters_combine(db: &mut dyn Store, d: &Dir) {
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
    let (_, p) = run(db, std::slice::from_ref(&d.0));
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

fn text_search_takes_phrases_literally(db: &mut dyn Store, d: &Dir) {
    let a = session("hq", "rq", "u", 2_000, &["say \"50%_off\" now\r\n"]);
    let b = session("hq", "rq2", "u", 3_000, &["say 50 percent off\r\n"]);
    append(&d.0.join("x.jsonl"), &(lines(&a) + &lines(&b)));
    let (_, p) = run(db, std::slice::from_ref(&d.0));
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

fn an_endless_line_is_skipped_not_held(db: &mut dyn Store, d: &Dir) {
    let a = session("hh", "rh", "u", 4_000, &["before\r\n", "after\r\n"]);
    let huge = "x".repeat(17 << 20);
    let text = format!("{}\n{huge}\n{}", a[0], lines(&a[1..]));
    append(&d.0.join("h.jsonl"), &text);
    let (r, p) = run(db, std::slice::from_ref(&d.0));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, Some(2));
    assert!(
        p[0].message.contains("longer than any tlog message"),
        "{p:?}"
    );
    assert_eq!((r.messages, r.bad_lines), (a.len() as u64, 1));
    assert_eq!(r.bytes, text.len() as u64);
    // Nothing is read twice.
    let (r, p) = run(db, std::slice::from_ref(&d.0));
    assert!(p.is_empty() && r.bytes == 0, "{p:?} {r:?}");
}

/// Keyframes every 30 s of a session, input lines as commands, the counts,
/// the lookups of `tlog-rs web` and `play --db`, and source cursors.
fn keyframes_commands_and_counts(db: &mut dyn Store, d: &Dir) {
    let h = RecHeader {
        host: "hk".into(),
        rec: "rk".into(),
        user: "kim".into(),
        term: "xterm".into(),
        session: 9,
    };
    let mut enc = Encoder::new(h, 256, UNIX_EPOCH + Duration::from_secs(5_000));
    enc.window(Duration::ZERO, 80, 24);
    enc.input(Duration::from_millis(500), b"make \x00world\r");
    for i in 0..70u64 {
        enc.output(Duration::from_secs(i), format!("line {i}\r\n").as_bytes());
        enc.flush();
    }
    enc.flush();
    let mut text = String::new();
    while let Some(m) = enc.pop_message() {
        text.push_str(String::from_utf8(m).unwrap().trim_end());
        text.push('\n');
    }
    append(&d.0.join("k/hk.jsonl"), &text);
    let (_, p) = run(db, &[d.0.join("k")]);
    assert!(p.is_empty(), "{p:?}");
    let kf = db.keyframes("hk", "rk").unwrap();
    assert!(kf.len() >= 2, "a keyframe per 30 s: {kf:?}");
    assert!(kf.windows(2).all(|w| w[0].t_ms <= w[1].t_ms));
    assert!(kf.iter().all(|k| (k.cols, k.rows) == (80, 24)));
    assert!(
        String::from_utf8_lossy(&kf[kf.len() - 1].screen).contains("line 59"),
        "{kf:?}"
    );
    // The index of keyframes (what a seek plans with) and one screen at a
    // time (what a segment reads) agree with the whole list.
    let index = db.keyframe_index("hk", "rk").unwrap();
    assert_eq!(index.len(), kf.len());
    for (i, k) in index.iter().zip(&kf) {
        assert!(i.screen.is_empty());
        assert_eq!(
            (i.t_ms, i.msg_id, i.packet, i.cols, i.rows),
            (k.t_ms, k.msg_id, k.packet, k.cols, k.rows)
        );
        assert_eq!(
            db.keyframe_screen("hk", "rk", i.msg_id, i.packet)
                .unwrap()
                .as_ref(),
            Some(&k.screen)
        );
    }
    assert_eq!(
        db.keyframe_screen("hk", "rk", u64::MAX >> 2, 0).unwrap(),
        None
    );
    assert_eq!(
        db.keyframe_screen("hk", "other", kf[0].msg_id, kf[0].packet)
            .unwrap(),
        None
    );
    let [recs, msgs, chunks, cmds, kfs] = db.counts().unwrap();
    assert_eq!((recs, cmds, kfs), (1, 1, kf.len() as u64));
    assert!(msgs > 1 && chunks > 1, "{msgs} {chunks}");
    // A NUL typed on the terminal is kept out of the way, not an error.
    let hits = db
        .search(&Query {
            command: Some("MAKE".into()),
            ..q()
        })
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].matches[0].snippet.starts_with("make "), "{hits:?}");
    assert!(hits[0].matches[0].snippet.ends_with("world"), "{hits:?}");
    let info = db.recording_info("hk", "rk").unwrap().unwrap();
    assert_eq!(
        (info.hit.user.as_str(), info.hit.start_ms),
        ("kim", 5_000_000)
    );
    assert_eq!(info.term.as_deref(), Some("xterm"));
    assert_eq!(db.commands(info.key).unwrap().len(), 1);
    // A stretch of messages by id, as a web segment reads it.
    let all = db.messages(info.key).unwrap();
    let ids = |v: Vec<(tlog_rs_index::store::MessageRef, String)>| -> Vec<u64> {
        v.into_iter().map(|(m, _)| m.id).collect()
    };
    assert_eq!(ids(all.clone()), (1..=all.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        ids(db.messages_in(info.key, 3, 5, usize::MAX).unwrap()),
        [3, 4, 5]
    );
    assert_eq!(
        ids(db.messages_in(info.key, 0, u64::MAX, 2).unwrap()),
        [1, 2]
    );
    assert!(db
        .messages_in(info.key, 9_999, u64::MAX, 9)
        .unwrap()
        .is_empty());
    assert_eq!(db.recording_info("hk", "nope").unwrap(), None);
    assert!(db.keyframes("hk", "nope").unwrap().is_empty());
    assert_eq!(
        db.find_recordings("rk").unwrap(),
        [(info.key, "hk".to_string())]
    );
    // Resume points of journal and search sources, kept with the index.
    assert_eq!(
        db.source_cursor("journal:/var/log/journal/remote").unwrap(),
        None
    );
    for c in ["s=1;i=2", "s=1;i=9"] {
        db.begin().unwrap();
        db.save_source_cursor("journal:/var/log/journal/remote", c)
            .unwrap();
        db.commit().unwrap();
    }
    assert_eq!(
        db.source_cursor("journal:/var/log/journal/remote")
            .unwrap()
            .as_deref(),
        Some("s=1;i=9")
    );
}

/// The audit trail on each backend: a real audit.log of a login (ses 280,
/// auid 1, from audit/tests/data) plus two failed password attempts before
/// it, and a recording of that login.
fn audit_events_join_recordings_by_ses_with_failed_logins(db: &mut dyn Store, d: &Dir) {
    let start = 1796406461.800f64;
    let rec = [
        format!(
            r#"{{"event":"start","rec":"ra","user":"daemon","host":"vm","tty":"/dev/pts/3","session":280,"start":{start:.3},"end":null,"uid":1,"service":"sshd"}}"#
        ),
        format!(
            r#"{{"ver":"2.3","host":"vm","rec":"ra","user":"daemon","term":"xterm","session":280,"id":1,"pos":0,"time":{start:.3},"timing":"=80x24<8>1","in_txt":"touch f\r","in_bin":[],"out_txt":"$","out_bin":[]}}"#
        ),
        format!(
            r#"{{"event":"end","rec":"ra","user":"daemon","host":"vm","tty":"/dev/pts/3","session":280,"start":{start:.3},"end":{:.3},"exit_status":3,"end_reason":"exit","messages_written":1,"messages_dropped":0}}"#,
            start + 2.5
        ),
    ];
    append(&d.0.join("jsonl/vm.jsonl"), &lines(&rec));
    let failed = |t: &str, id: u32| {
        format!("node=vm type=USER_AUTH msg=audit({t}:{id}): pid={id} uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"daemon\" exe=\"/usr/sbin/sshd\" hostname=10.1.2.3 addr=10.1.2.3 terminal=ssh res=failed'\n")
    };
    let log = d.0.join("audit.log");
    let live = Path::new(env!("CARGO_MANIFEST_DIR")).join("../audit/tests/data/live.log");
    let mut text = failed("1796406450.000", 9001) + &failed("1796406452.000", 9002);
    text.push_str(&fs::read_to_string(live).unwrap());
    fs::write(&log, text).unwrap();
    let mut probs = vec![];
    let mut push = |p: Problem| probs.push(p);
    let report = Indexer::new(db, &mut push, false)
        .audit_logs(vec![(log.clone(), None)])
        .run(&[d.0.join("jsonl")])
        .unwrap();
    assert!(probs.is_empty(), "{probs:?}");
    assert!(report.audit_events > 2, "{report:?}");
    assert_eq!(report.recordings_correlated, 1, "{report:?}");

    let a = db.audit().unwrap();
    let r = a.find_recs("ra").unwrap().remove(0);
    let trail = a.trail(r.key).unwrap().expect("correlated");
    assert_eq!(trail.join, Join::Ses);
    assert_eq!(trail.auth_failures, 2);
    let session: Vec<_> = trail
        .events
        .iter()
        .filter(|(r, _)| *r == Role::Session)
        .collect();
    assert!(
        session.iter().all(|(_, e)| e.ses == Some(280)),
        "{session:#?}"
    );
    let auth: Vec<_> = trail
        .events
        .iter()
        .filter(|(r, _)| *r == Role::Auth)
        .collect();
    assert!(
        auth.iter().filter(|(_, e)| e.failed()).count() == 2,
        "{auth:#?}"
    );
    assert!(auth
        .iter()
        .any(|(_, e)| e.addr.as_deref() == Some("10.1.2.3")));
    let touch = session
        .iter()
        .find(|(_, e)| {
            e.argv
                .as_ref()
                .is_some_and(|v| v.join(" ") == "touch my file")
        })
        .expect("the touch command");
    assert_eq!(touch.1.t_ms - r.start_ms.unwrap(), 92);
    let (events, linked) = {
        let c = a.audit_counts().unwrap();
        (c[0], c[1])
    };
    assert!(linked as usize == trail.events.len() && events >= linked);

    // Indexing again adds nothing and keeps the trail.
    let again = Indexer::new(db, &mut |p| panic!("{p:?}"), false)
        .audit_logs(vec![(log, None)])
        .run(&[d.0.join("jsonl")])
        .unwrap();
    assert_eq!(again.audit_events, 0, "{again:?}");
    assert_eq!(db.audit().unwrap().trail(r.key).unwrap().unwrap(), trail);

    let exec = AuditFilter {
        exec: Some("/usr/bin/touch".into()),
        auth_failures: false,
    };
    let hits = exec.search(db, q()).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (
            hits[0].matches[0].offset_ms,
            hits[0].matches[0].snippet.as_str()
        ),
        (92, "touch my file")
    );
    let none = AuditFilter {
        exec: Some("/usr/bin/rmdir".into()),
        auth_failures: false,
    };
    assert!(none.search(db, q()).unwrap().is_empty());
    let failures = AuditFilter {
        exec: None,
        auth_failures: true,
    };
    let hits = failures.search(db, q()).unwrap();
    assert_eq!(
        hits.iter().map(|h| h.rec.as_str()).collect::<Vec<_>>(),
        ["ra"]
    );
}

/// The web list's paging (issue: sort and page in the database): every
/// order, with ties in each column, pages through the hits so that each
/// comes once, in the order of `Sort::compare`, and the count is the
/// number of hits; the same with a scope and with a text phrase (checked
/// after the query).
fn pages_hold_every_hit_once_in_each_order_with_the_count(db: &mut dyn Store, d: &Dir) {
    // Names whose byte order differs from a locale's; starts, users,
    // hosts and lengths all repeat.
    let (hosts, users) = (["h0", "H1", "h-2"], ["ann", "Bob", "cy", "ann"]);
    for i in 0..23usize {
        let (host, rec) = (hosts[i % 3], format!("r{i:02}"));
        let out: Vec<String> = (0..=i % 3)
            .map(|k| format!("{rec} output {k}\r\n"))
            .collect();
        let out: Vec<&str> = out.iter().map(|s| s.as_str()).collect();
        let m = session(host, &rec, users[i % 4], 20_000 + (i / 6) as u64 * 10, &out);
        append(&d.0.join(format!("p/{host}.jsonl")), &lines(&m));
    }
    let (_, p) = run(db, &[d.0.join("p")]);
    assert!(p.is_empty(), "{p:?}");
    let scope = Scope {
        user: Some("cy".into()),
        hosts: vec!["H1".into()],
        groups: vec![],
    };
    let cases = [
        (q(), 23),
        (
            Query {
                scope: Some(scope.clone()),
                ..q()
            },
            12,
        ),
        (
            Query {
                text: Some("OUTPUT 1".into()),
                scope: Some(scope),
                ..q()
            },
            10,
        ),
    ];
    for (base, n) in cases {
        let all = db.search(&base).unwrap();
        assert_eq!(all.len(), n, "{base:?}");
        for key in SortKey::ALL {
            for desc in [false, true] {
                let sort = Sort { key, desc };
                let mut want = all.clone();
                sort.apply(&mut want);
                let want: Vec<(String, String)> =
                    want.into_iter().map(|h| (h.host, h.rec)).collect();
                for per in [1, 4, 7] {
                    let mut got = vec![];
                    for page in 0..=n / per + 1 {
                        let found = db
                            .search_page(&Query {
                                order: Some(sort),
                                limit: Some(per),
                                offset: page * per,
                                ..base.clone()
                            })
                            .unwrap();
                        assert_eq!(found.total, n, "{sort} per {per} page {page}");
                        assert!(found.hits.len() <= per);
                        // Text hits keep their matches on every page.
                        let texts = base.text.is_some();
                        assert!(found.hits.iter().all(|h| h.matches.is_empty() != texts));
                        got.extend(found.hits.into_iter().map(|h| (h.host, h.rec)));
                    }
                    assert_eq!(got, want, "{sort} per {per} {base:?}");
                }
            }
        }
    }
    // Without an order, the search's own: start, host, rec ascending.
    let mut all = db.search(&q()).unwrap();
    let plain: Vec<String> = all.iter().map(|h| h.rec.clone()).collect();
    Sort {
        key: SortKey::Start,
        desc: false,
    }
    .apply(&mut all);
    assert_eq!(plain, all.iter().map(|h| h.rec.clone()).collect::<Vec<_>>());
}

/// Jump-server hops (index/src/hops.rs): the target's login started inside
/// the bastion session and came from the bastion's address or name.
fn hop_start(user: &str, at: i64, rhost: &str, laddr: &str, rport: u64) -> EventInfo {
    EventInfo {
        user: user.into(),
        start_ms: Some(at),
        rhost: Some(rhost.into()),
        laddr: Some(laddr.into()),
        rport: Some(rport),
        lport: Some(22),
        ..EventInfo::default()
    }
}

fn hop_end(user: &str, from: i64, to: i64) -> EventInfo {
    EventInfo {
        end: true,
        user: user.into(),
        start_ms: Some(from),
        end_ms: Some(to),
        ..EventInfo::default()
    }
}

fn jump_server_hops_are_linked_both_ways(s: &mut dyn Store, _: &Dir) {
    s.begin().unwrap();
    let mut add = |host: &str, rec: &str, evs: &[EventInfo]| {
        let k = s.recording(host, rec).unwrap();
        for e in evs {
            s.add_event(k, e).unwrap();
        }
        k
    };
    // alice reaches the bastion at 10.0.0.5 from her workstation...
    let bastion = add(
        "bastion",
        "b-1",
        &[
            hop_start("alice", 1_000, "192.0.2.7", "10.0.0.5", 50000),
            hop_end("alice", 1_000, 9_000),
        ],
    );
    // ...and from there the target, which sees the bastion's address.
    let target = add(
        "db1",
        "t-1",
        &[hop_start("alice", 2_000, "10.0.0.5", "10.0.1.9", 41022)],
    );
    // Not hops: another user from the bastion, alice after the session
    // ended, alice from elsewhere, and a name link (UseDNS yes).
    add(
        "db1",
        "t-bob",
        &[hop_start("bob", 2_500, "10.0.0.5", "10.0.1.9", 41023)],
    );
    add(
        "db1",
        "t-late",
        &[hop_start("alice", 9_500, "10.0.0.5", "10.0.1.9", 41024)],
    );
    add(
        "db1",
        "t-ws",
        &[hop_start("alice", 3_000, "192.0.2.7", "10.0.1.9", 41025)],
    );
    let by_name = add(
        "db2",
        "t-dns",
        &[hop_start("alice", 4_000, "bastion", "10.0.1.8", 41026)],
    );
    s.commit().unwrap();

    let h = s.hops(target).unwrap();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(
        (
            h[0].direction,
            h[0].by,
            h[0].host.as_str(),
            h[0].rec.as_str()
        ),
        (
            hops::Direction::From,
            hops::LinkedBy::Address,
            "bastion",
            "b-1"
        )
    );
    // The connection shown is the target login's own.
    assert_eq!(
        (h[0].rport, h[0].laddr.as_deref()),
        (Some(41022), Some("10.0.1.9"))
    );

    let h = s.hops(bastion).unwrap();
    let to: Vec<(&str, hops::LinkedBy)> = h
        .iter()
        .map(|x| {
            assert_eq!(x.direction, hops::Direction::To);
            (x.rec.as_str(), x.by)
        })
        .collect();
    assert_eq!(
        to,
        [
            ("t-1", hops::LinkedBy::Address),
            ("t-dns", hops::LinkedBy::Name)
        ]
    );
    assert_eq!(s.hops(by_name).unwrap()[0].by, hops::LinkedBy::Name);
}

fn sessions_dir(d: &Dir, n: usize) -> PathBuf {
    let root = d.0.join("central");
    for i in 0..n {
        let host = format!("h{}", i % 3);
        let rec = format!("r{i}");
        let out = [format!("output of {rec}\r\n"), "done\r\n".into()];
        let out: Vec<&str> = out.iter().map(|s| s.as_str()).collect();
        let m = session(&host, &rec, "u", 10_000 + i as u64 * 100, &out);
        append(&root.join(format!("{host}/2026-11-20.jsonl")), &lines(&m));
    }
    root
}

/// Two indexers on one PostgreSQL index at once: one writes, the other is
/// refused at its first write; nothing is doubled. After the first is
/// gone, the other runs and finds nothing new.
#[test]
fn postgres_concurrent_indexers_do_not_double_rows() {
    let pg = Postgres::start("concurrent");
    let url = pg.create_db("tlog");
    let d = Dir::new("pg-concurrent");
    let root = sessions_dir(&d, 12);
    let results: Vec<Result<Report, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (url, root) = (url.clone(), root.clone());
                s.spawn(move || {
                    let mut db = PgStore::open(&url).map_err(|e| e.to_string())?;
                    let mut ignore = |_: Problem| {};
                    Indexer::new(&mut db, &mut ignore, false)
                        .run(&[root])
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok: Vec<&Report> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(!ok.is_empty(), "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(e.contains("another tlog-rs index is running"), "{e}");
        }
    }
    let mut db = PgStore::open(&url).unwrap();
    let counts = db.counts().unwrap();
    assert_eq!(counts[0], 12);
    let (r, p) = run(&mut db, std::slice::from_ref(&root));
    assert!(p.is_empty(), "{p:?}");
    assert_eq!((r.messages, r.duplicates), (0, 0), "{r:?}");
    assert_eq!(db.counts().unwrap(), counts);
    // The lock is held by a writer (from its first transaction) until it
    // disconnects.
    db.begin().unwrap();
    db.commit().unwrap();
    let mut other = PgStore::open(&url).unwrap();
    let e = other.begin().unwrap_err().to_string();
    assert!(e.contains("another tlog-rs index is running"), "{e}");
    drop(db);
    // The server frees the lock when the backend of the closed connection
    // exits, which it does a moment after the client hangs up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Err(e) = other.begin() {
        assert!(
            e.to_string().contains("another tlog-rs index is running")
                && std::time::Instant::now() < deadline,
            "lock not released 10 s after the writer disconnected: {e}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    other.commit().unwrap();
    // One set of messages per recording in the database itself.
    assert_eq!(
        pg.psql("tlog", "SELECT count(*) FROM (SELECT rec_key, id FROM messages GROUP BY 1, 2 HAVING count(*) > 1) x"),
        "0"
    );
    assert_eq!(
        pg.psql("tlog", "SELECT count(*) FROM files"),
        "3",
        "one cursor per file"
    );
}

/// Nodes that start at once on an empty database create the schema once;
/// a schema of another version is refused with what to do.
#[test]
fn postgres_schema_is_created_once_and_versioned() {
    let pg = Postgres::start("schema");
    let url = pg.create_db("tlog");
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PgStore::open(&url).map(|_| ())))
            .collect();
        for h in hs {
            h.join().unwrap().unwrap();
        }
    });
    assert_eq!(
        pg.psql("tlog", "SELECT value FROM meta WHERE key='schema'"),
        "6"
    );
    assert_eq!(
        pg.psql(
            "tlog",
            "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'text_chunks'"
        ),
        "id,rec_key,t_ms,zbody,sig"
    );
    // Schema 2 (chunk text for pg_trgm) is migrated in place: holds stay,
    // recordings are derived again.
    pg.psql(
        "tlog",
        "DROP TABLE text_chunks; \
         CREATE TABLE text_chunks(id BIGSERIAL PRIMARY KEY, rec_key BIGINT NOT NULL, t_ms BIGINT NOT NULL, body TEXT NOT NULL); \
         INSERT INTO recordings(host, rec, dirty) VALUES('h', 'r', false); \
         INSERT INTO holds(host, rec, reason, who, t_ms) VALUES('h', 'r', 'case 7', 'alice', 1); \
         UPDATE meta SET value='2' WHERE key='schema'",
    );
    PgStore::open(&url).unwrap();
    assert_eq!(
        pg.psql("tlog", "SELECT value FROM meta WHERE key='schema'"),
        "6"
    );
    assert_eq!(
        pg.psql(
            "tlog",
            "SELECT (SELECT count(*) FROM holds) || ' ' || (SELECT bool_and(dirty) FROM recordings) || ' ' || \
             (SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'text_chunks')"
        ),
        "1 true id,rec_key,t_ms,zbody,sig"
    );
    // ...and on to schema 4: sshd's connection columns (index/src/hops.rs).
    assert_eq!(
        pg.psql(
            "tlog",
            "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns \
             WHERE table_name = 'recordings' AND column_name IN ('rport', 'laddr', 'lport')"
        ),
        "laddr,lport,rport"
    );
    // Schema 4 (trigram sets with a GIN index) is migrated in place too.
    pg.psql(
        "tlog",
        "DROP TABLE text_chunks; \
         CREATE TABLE text_chunks(id BIGSERIAL PRIMARY KEY, rec_key BIGINT NOT NULL, t_ms BIGINT NOT NULL, \
           zbody BYTEA NOT NULL, trigrams INT2[] NOT NULL); \
         CREATE INDEX text_chunks_trigrams ON text_chunks USING gin (trigrams); \
         UPDATE recordings SET dirty = false; \
         UPDATE meta SET value='4' WHERE key='schema'",
    );
    PgStore::open(&url).unwrap();
    assert_eq!(
        pg.psql(
            "tlog",
            "SELECT (SELECT value FROM meta WHERE key='schema') || ' ' || (SELECT count(*) FROM holds) || ' ' || \
             (SELECT bool_and(dirty) FROM recordings) || ' ' || \
             (SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'text_chunks')"
        ),
        "6 1 true id,rec_key,t_ms,zbody,sig"
    );
    // Schema 5 (signatures of trigrams only) too: its chunks go, their
    // recordings are derived again.
    pg.psql(
        "tlog",
        "INSERT INTO text_chunks(rec_key, t_ms, zbody, sig) VALUES(1, 0, '\\x00', '\\x00'); \
         UPDATE recordings SET dirty = false; \
         UPDATE meta SET value='5' WHERE key='schema'",
    );
    PgStore::open(&url).unwrap();
    assert_eq!(
        pg.psql(
            "tlog",
            "SELECT (SELECT value FROM meta WHERE key='schema') || ' ' || (SELECT count(*) FROM holds) || ' ' || \
             (SELECT count(*) FROM text_chunks) || ' ' || (SELECT bool_and(dirty) FROM recordings) || ' ' || \
             (SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'text_chunks')"
        ),
        "6 1 0 true id,rec_key,t_ms,zbody,sig"
    );
    pg.psql("tlog", "UPDATE meta SET value='1' WHERE key='schema'");
    let e = PgStore::open(&url).err().unwrap().to_string();
    assert!(
        e.contains("index schema version 1") && e.contains("rebuilt from the sources"),
        "{e}"
    );
    // Bad URLs and unreachable servers are errors, not crashes.
    let e = store::open(&"postgres://h/db?sslmode=allow".parse::<DbSpec>().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("sslmode=allow"), "{e}");
    pg.psql("postgres", "CREATE DATABASE other");
    let closed = format!(
        "postgres://postgres@127.0.0.1:{}/nosuchdb?sslmode=disable",
        pg.port
    );
    let e = PgStore::open(&closed).err().unwrap().to_string();
    assert!(e.contains("nosuchdb"), "{e}");
    // The unix socket in the server's directory (host as a percent-encoded path).
    let mut db = PgStore::open(&pg.socket_url("other")).unwrap();
    assert_eq!(db.counts().unwrap(), [0; 5]);
}

fn tlog_rs(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(tlog_rs_tests::artifact("tlog-rs"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The commands with `--db postgres://...` and with the URL in central.toml.
#[test]
fn postgres_url_from_the_command_line_and_the_central_config() {
    let pg = Postgres::start("cli");
    let url = pg.create_db("tlog");
    let d = Dir::new("pg-cli");
    let root = sessions_dir(&d, 4);
    let root_s = root.to_str().unwrap();
    let (code, out, err) = tlog_rs(&["index", "--db", &url, "--jsonl", root_s, "--stats"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("index: 4 recordings"), "{out}");
    let (code, out, err) = tlog_rs(&["index", "--db", &url, "--jsonl", root_s, "--stats"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 new messages, 0 duplicates"), "{out}");
    let conf = d.write(
        "central.toml",
        format!("db = \"{url}\"\n[sources]\njsonl = [\"{root_s}\"]\n").as_bytes(),
    );
    let conf = conf.to_str().unwrap();
    let (code, out, err) = tlog_rs(&[
        "search",
        "--config",
        conf,
        "--json",
        "--utc",
        "--text",
        "OUTPUT OF r2",
    ]);
    assert_eq!(code, 0, "{err}");
    let hits: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 1, "{out}");
    assert_eq!(hits[0]["rec"], "r2");
    assert_eq!(hits[0]["host"], "h2");
    assert!(
        hits[0]["matches"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("output of r2"),
        "{out}"
    );
    let (code, out, _) = tlog_rs(&["search", "--config", conf, "--host", "h0", "--json"]);
    assert_eq!((code, out.lines().count()), (0, 2), "{out}");
    // A server that is not there: exit 2 with the reason, no URL secrets.
    let gone = format!(
        "postgres://postgres:s3cret@127.0.0.1:{}/tlog?sslmode=disable",
        free_port()
    );
    let (code, _, err) = tlog_rs(&["search", "--db", &gone, "--user", "u"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tlog-rs search: index database"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// sslmode as libpq: require encrypts without checking the server,
/// verify-full checks the certificate (sslrootcert) and the host name.
#[test]
fn postgres_tls_by_sslmode() {
    let pg = Postgres::start_with("tls", true);
    pg.create_db("tlog");
    let ca = pg.cert_path().display().to_string().replace('/', "%2F");
    let url = |host: &str, q: &str| format!("postgres://postgres@{host}:{}/tlog?{q}", pg.port);
    let tls_sessions = || {
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.datname = 'tlog'",
        )
    };
    let plain = PgStore::open(&url("127.0.0.1", "sslmode=disable")).unwrap();
    assert_eq!(tls_sessions(), "0");
    drop(plain);
    let mut enc = PgStore::open(&url("127.0.0.1", "sslmode=require")).unwrap();
    assert_eq!(enc.counts().unwrap(), [0; 5]);
    assert_eq!(tls_sessions(), "1");
    drop(enc);
    let mut checked = PgStore::open(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .unwrap();
    assert_eq!(checked.counts().unwrap(), [0; 5]);
    drop(checked);
    // The certificate names localhost, not 127.0.0.1.
    let e = PgStore::open(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ))
    .err()
    .expect("host name mismatch refused")
    .to_string();
    assert!(e.contains("index database"), "{e}");
    PgStore::open(&url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ))
    .unwrap();
    // Not signed by a system CA.
    assert!(PgStore::open(&url("localhost", "sslmode=verify-ca")).is_err());
    let e = PgStore::open(&url(
        "localhost",
        "sslmode=verify-ca&sslrootcert=%2Fnonexistent.pem",
    ))
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("sslrootcert /nonexistent.pem"), "{e}");
}
