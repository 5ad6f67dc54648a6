//! Retention end to end (`tlog-rs purge`, `tlog-rs hold`), on the SQLite
//! file of the config and on a throwaway PostgreSQL (`db = "postgres://"`):
//! recordings of two host groups with different max ages and of several
//! ages, interleaved in the same central day files; one expired recording
//! under legal hold. A dry run changes nothing; the purge archives (gzip,
//! the same message lines as the source), rewrites the day files without
//! the purged recordings (also a copy of a day file delivered over a second
//! path; every other line byte for byte, still readable
//! through the index at its new offset), removes them from search and
//! writes "purge" rows to the access log; a second `tlog-rs index` finds
//! nothing new; a released hold lets the next purge take the recording.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tlog_rs_format::{Encoder, RecHeader};
use tlog_rs_index::config::DbSpec;
use tlog_rs_index::recording::Fetcher;
use tlog_rs_index::store::{self, Query, Store};
use tlog_rs_tests::artifact;
use tlog_rs_tests::postgres::Postgres;
use tlog_rs_tests::rec::TempDir;
use tlog_rs_tests::tlog_rs;

const DAY: u64 = 86_400;

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Message lines of a session that started `days_ago` days ago.
fn session(host: &str, rec: &str, days_ago: u64, words: &[&str]) -> Vec<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let h = RecHeader {
        host: host.into(),
        rec: rec.into(),
        user: "jdoe".into(),
        term: "xterm".into(),
        session: 3,
    };
    let start = UNIX_EPOCH + Duration::from_secs(now - days_ago * DAY);
    let mut enc = Encoder::new(h, 64, start);
    enc.window(Duration::ZERO, 80, 24);
    for (i, w) in words.iter().enumerate() {
        enc.output(
            Duration::from_secs(i as u64),
            format!("{w} {rec}\r\n").as_bytes(),
        );
        enc.flush();
    }
    enc.flush();
    let mut v = vec![];
    while let Some(m) = enc.pop_message() {
        v.push(String::from_utf8(m).unwrap().trim_end().to_string());
    }
    v
}

struct Rec {
    host: &'static str,
    rec: &'static str,
    days_ago: u64,
    lines: Vec<String>,
}

/// Day files of the central layout, recordings' lines interleaved.
fn write_store(root: &Path, recs: &[Rec]) -> Vec<PathBuf> {
    let mut files = vec![];
    for host in ["web1", "db1"] {
        let p = root.join(host).join("2026-01-01.jsonl");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mine: Vec<&Rec> = recs.iter().filter(|r| r.host == host).collect();
        let mut text = String::new();
        let most = mine.iter().map(|r| r.lines.len()).max().unwrap();
        for i in 0..most {
            for r in &mine {
                if let Some(l) = r.lines.get(i) {
                    text.push_str(l);
                    text.push('\n');
                }
            }
        }
        fs::write(&p, text).unwrap();
        files.push(p);
    }
    files
}

fn gunzip(p: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(fs::File::open(p).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn searched(db: &str, cfg: &Path) -> Vec<String> {
    let out = ok(tlog_rs(&[
        "search",
        "--config",
        cfg.to_str().unwrap(),
        "--db",
        db,
        "--json",
        "--limit",
        "100",
    ]));
    let mut v: Vec<String> = out
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["rec"].as_str().unwrap().to_string()
        })
        .collect();
    v.sort();
    v
}

fn open(db: &str) -> Box<dyn Store> {
    store::open(&db.parse::<DbSpec>().unwrap()).unwrap()
}

fn whoami() -> String {
    let o = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn retention_purge_archive_hold(d: &TempDir, db: &str) {
    let root = d.path("central");
    let archive = d.path("archive");
    let recs = vec![
        // web: 30 days.
        Rec {
            host: "web1",
            rec: "web-old",
            days_ago: 45,
            lines: vec![],
        },
        Rec {
            host: "web1",
            rec: "web-new",
            days_ago: 5,
            lines: vec![],
        },
        Rec {
            host: "web1",
            rec: "web-held",
            days_ago: 60,
            lines: vec![],
        },
        // db: 400 days.
        Rec {
            host: "db1",
            rec: "db-mid",
            days_ago: 45,
            lines: vec![],
        },
        Rec {
            host: "db1",
            rec: "db-old",
            days_ago: 500,
            lines: vec![],
        },
    ]
    .into_iter()
    .map(|mut r| {
        r.lines = session(
            r.host,
            r.rec,
            r.days_ago,
            &["alpha", "bravo", "charlie", "delta"],
        );
        r
    })
    .collect::<Vec<_>>();
    let mut files = write_store(&root, &recs);
    // The web host's day file also came over a second delivery path: the
    // index points into one copy only, the purge cleans both.
    let relay = d.path("relay2");
    let copy = relay.join("web1/2026-01-01.jsonl");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    fs::copy(&files[0], &copy).unwrap();
    files.push(copy);
    let cfg = d.write(
        "central.toml",
        format!(
            r#"db = "{db}"
[sources]
jsonl = ["{}", "{}"]
[hostgroups]
web = ["web1"]
db = ["db1"]
[retention]
archive_dir = "{}"
[[retention.rule]]
hostgroup = "web"
max_age = "30d"
[[retention.rule]]
hostgroup = "db"
max_age = "400d"
"#,
            root.display(),
            relay.display(),
            archive.display()
        )
        .as_bytes(),
    );
    let c = cfg.to_str().unwrap();
    ok(tlog_rs(&["index", "--config", c, "--quiet"]));
    assert_eq!(
        searched(db, &cfg),
        ["db-mid", "db-old", "web-held", "web-new", "web-old"]
    );
    let held = ok(tlog_rs(&[
        "hold", "web-held", "--config", c, "--reason", "case 17",
    ]));
    assert!(held.contains("web1 web-held"), "{held}");
    let list = ok(tlog_rs(&["hold", "--list", "--config", c]));
    assert!(
        list.contains("web-held") && list.contains("case 17"),
        "{list}"
    );
    let e = tlog_rs(&["hold", "no-such-rec", "--config", c]);
    assert_eq!(e.status.code(), Some(2));

    let old_text = Query {
        text: Some("charlie web-old".into()),
        ..Query::default()
    };
    assert_eq!(open(db).search(&old_text).unwrap().len(), 1);

    // Dry run: the plan, and nothing changed.
    let before: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    let counts = open(db).counts().unwrap();
    let plan = ok(tlog_rs(&["purge", "--dry-run", "--config", c]));
    assert!(plan.contains("would purge web1 web-old"), "{plan}");
    assert!(plan.contains("would purge db1 db-old"), "{plan}");
    assert!(
        plan.contains("kept web1 web-held: legal hold (case 17)"),
        "{plan}"
    );
    assert!(
        !plan.contains("web-new") && !plan.contains("db-mid"),
        "{plan}"
    );
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&fs::read(f).unwrap(), b, "{}", f.display());
    }
    assert!(!archive.exists());
    assert_eq!(open(db).counts().unwrap(), counts);

    // On a terminal: progress and a summary (the plan again, via script(1)).
    let tty = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} purge --dry-run --config {c}",
            artifact("tlog-rs").display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(shown.contains("purge: 1/"), "{shown}");
    assert!(
        shown.contains("would purge 2 recordings, 1 kept under legal hold, 0 failed"),
        "{shown}"
    );

    // The purge; in a script, nothing on stderr.
    let o = tlog_rs(&["purge", "--config", c]);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let done = ok(o);
    assert!(done.contains("purged web1 web-old"), "{done}");
    assert!(done.contains("purged db1 db-old"), "{done}");
    assert_eq!(searched(db, &cfg), ["db-mid", "web-held", "web-new"]);
    // Archives: exactly the source's lines of that recording.
    for r in recs.iter().filter(|r| r.rec.ends_with("-old")) {
        let a = gunzip(&archive.join(r.host).join(format!("{}.jsonl.gz", r.rec)));
        let want: String = r.lines.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(a, want, "{}", r.rec);
    }
    assert!(!archive.join("web1/web-held.jsonl.gz").exists());
    // Day files: the purged lines are gone, the others byte for byte.
    for (f, b) in files.iter().zip(&before) {
        let want: Vec<&[u8]> = b
            .split_inclusive(|c| *c == b'\n')
            .filter(|l| !String::from_utf8_lossy(l).contains("-old\""))
            .collect();
        assert_eq!(fs::read(f).unwrap(), want.concat(), "{}", f.display());
    }
    // The kept recordings' messages are read at their new offsets.
    let mut s = open(db);
    for (host, rec) in [("web1", "web-held"), ("web1", "web-new"), ("db1", "db-mid")] {
        let key = s.recording_info(host, rec).unwrap().unwrap().key;
        let refs = s.messages(key).unwrap();
        let mut f = Fetcher::new(&refs);
        let got: Vec<String> = refs
            .iter()
            .map(|(r, _)| String::from_utf8(f.get(r).unwrap().0).unwrap())
            .collect();
        let want = &recs.iter().find(|r| r.rec == rec).unwrap().lines;
        assert_eq!(got.len(), want.len(), "{rec}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.trim_end(), w, "{rec}");
        }
    }
    assert!(s.search(&old_text).unwrap().is_empty());
    let log = s.access_log(50).unwrap();
    let me = whoami();
    for rec in ["web-old", "db-old"] {
        assert!(
            log.iter()
                .any(|e| e.action == "purge" && e.rec == rec && e.who == me && e.client == "cli"),
            "{rec}: {log:?}"
        );
    }
    assert!(log
        .iter()
        .any(|e| e.action == "hold" && e.rec == "web-held"));
    drop(s);
    // The rewritten files are known: indexing again adds nothing and
    // reports nothing.
    let again = ok(tlog_rs(&["index", "--config", c, "--stats"]));
    assert!(again.contains(" 0 new messages"), "{again}");
    assert_eq!(searched(db, &cfg), ["db-mid", "web-held", "web-new"]);

    // Released, the held recording goes with the next purge.
    ok(tlog_rs(&["hold", "--release", "web-held", "--config", c]));
    let done = ok(tlog_rs(&["purge", "--config", c]));
    assert!(done.contains("purged web1 web-held"), "{done}");
    assert_eq!(searched(db, &cfg), ["db-mid", "web-new"]);
    assert!(archive.join("web1/web-held.jsonl.gz").exists());
    // Nothing left to do.
    assert_eq!(ok(tlog_rs(&["purge", "--config", c])), "");
}

#[test]
fn sqlite_retention_purge_archive_hold() {
    let d = TempDir::new("retention-sq");
    let db = d.path("index.db");
    retention_purge_archive_hold(&d, db.to_str().unwrap());
}

#[test]
fn postgres_retention_purge_archive_hold() {
    let pg = Postgres::start("retention");
    let url = pg.create_db("tlog");
    let d = TempDir::new("retention-pg");
    retention_purge_archive_hold(&d, &url);
}

#[test]
fn bad_retention_config_names_file_and_line() {
    let d = TempDir::new("retention-cfg");
    let cfg = d.write(
        "central.toml",
        b"[retention]\ndefault_max_age = \"forever\"\n",
    );
    let o = tlog_rs(&["purge", "--config", cfg.to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(&format!("{}:2: retention.default_max_age", cfg.display())),
        "{e}"
    );
}
