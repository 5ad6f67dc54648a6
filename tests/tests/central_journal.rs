//! `tlog-rs index --journal`: recordings written by the real recorder to a
//! private systemd-journald, indexed from its journal directory, resumed
//! after the saved journal cursor, and played back from the index (the
//! messages are read back from the journal).

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tlog_rs_tests::daemons::{output_with_open_stdin, Journald};
use tlog_rs_tests::rec::TempDir;
use tlog_rs_tests::tlog_rs;
use tlog_rs_tests::{artifact, require_root};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `tlog-rs index --stats` with the journal: (exit code, stdout, stderr).
fn index(db: &Path, journal: &Path) -> (Option<i32>, String, String) {
    let o = tlog_rs(&[
        "index",
        "--db",
        db.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--stats",
    ]);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr(&o),
    )
}

fn count(stats: &str, what: &str) -> u64 {
    stats
        .split(what)
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {what:?} count in {stats}"))
}

/// Records `script` into the namespace's journal; returns (rec, output).
fn record(jd: &Journald, script: &str) -> (String, Vec<u8>) {
    let before = jd.entries(&["TLOG_RS_EVENT=start"]).len();
    let out = output_with_open_stdin(
        jd.command(artifact("tlog-rs-rec"))
            .args(["-w", "journal", "--notice=", "--payload=256"])
            .args(["sh", "-c", script]),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let starts = jd.wait_entries(&["TLOG_RS_EVENT=start"], before + 1);
    let rec = starts[before]["TLOG_RS_REC"].as_str().unwrap().to_string();
    let ends = jd.wait_entries(&["TLOG_RS_EVENT=end", &format!("TLOG_RS_REC={rec}")], 1);
    assert_eq!(ends.len(), 1, "end entry of {rec}: {}", jd.log());
    (rec, out.stdout)
}

#[test]
fn journal_source_is_indexed_incrementally_and_plays_back() {
    if !require_root("central_journal") {
        return;
    }
    let dir = TempDir::new("central-journal");
    let jd = Journald::start("central-journal");
    let (rec_a, printed_a) = record(
        &jd,
        "echo journal first; i=0; while [ $i -lt 60 ]; do echo \"line $i of the first session\"; i=$((i+1)); done",
    );
    // Not ours: a plain entry (skipped silently) and a broken tlog message
    // (reported by its journal cursor).
    let o = jd
        .command("sh")
        .args([
            "-c",
            "echo just a log line | systemd-cat -t other; echo '{\"ver\":\"2.3\",\"host\":' | systemd-cat -t broken",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    jd.wait_entries(&["SYSLOG_IDENTIFIER=broken"], 1);

    let journal = jd.journal_dir();
    let db = dir.path("index.db");
    let (code, stats, err) = index(&db, &journal);
    assert_eq!(code, Some(1), "the broken entry is reported: {err}");
    assert!(
        err.contains("journal:") && err.contains("entry s=") && err.contains("truncated JSON"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "only the broken entry: {err}");
    let msgs_a = jd.entries(&[&format!("TLOG_REC={rec_a}")]);
    assert!(msgs_a.len() > 5, "payload 256: several messages");
    assert_eq!(
        count(&stats, " new messages"),
        msgs_a.len() as u64,
        "{stats}"
    );
    assert_eq!(count(&stats, " events"), 2, "start and end entry: {stats}");

    // Nothing new: the cursor resumes after the last entry read.
    let (code, stats, err) = index(&db, &journal);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(count(&stats, " new messages"), 0, "{stats}");
    assert_eq!(count(&stats, " duplicates"), 0, "not even re-read: {stats}");

    // A second session: only its entries are new.
    let (rec_b, _) = record(&jd, "echo second session; seq 1 200");
    let (code, stats, err) = index(&db, &journal);
    assert_eq!(code, Some(0), "{err}");
    let msgs_b = jd.entries(&[&format!("TLOG_REC={rec_b}")]);
    assert_eq!(
        count(&stats, " new messages"),
        msgs_b.len() as u64,
        "{stats}"
    );
    assert_eq!(count(&stats, " duplicates"), 0, "{stats}");

    // Searchable, complete (the end entry came from the journal too).
    let o = tlog_rs(&[
        "search",
        "--db",
        db.to_str().unwrap(),
        "--text",
        "line 59 of the first",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hits: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["rec"], rec_a.as_str());
    assert_eq!(hits[0]["state"], "complete");

    // Played back from the index, i.e. read back from the journal: the
    // bytes the session printed, and the export of the same messages as
    // a file.
    let played = tlog_rs(&["play", "--db", db.to_str().unwrap(), &rec_a, "-g", "end"]);
    assert!(played.status.success(), "{}", stderr(&played));
    assert!(
        played.stdout.starts_with(&printed_a),
        "{}",
        String::from_utf8_lossy(&played.stdout)
    );
    let mut file = String::new();
    for e in &msgs_a {
        file.push_str(e["MESSAGE"].as_str().unwrap());
        file.push('\n');
    }
    let log = dir.write("a.log", file.as_bytes());
    let want = tlog_rs(&["export", "--format", "asciicast", log.to_str().unwrap()]);
    let got = tlog_rs(&[
        "export",
        "--format",
        "asciicast",
        "--db",
        db.to_str().unwrap(),
        &rec_a,
    ]);
    assert!(got.status.success(), "{}", stderr(&got));
    assert!(want.stdout.len() > 1000);
    assert!(got.stdout == want.stdout, "export --db from the journal");

    // The journal rotated away (here: a copy indexed, then emptied): play says which message is gone instead of playing less.
    let db2 = dir.path("index2.db");
    let moved = dir.path("copy");
    fs::create_dir_all(&moved).unwrap();
    for f in fs::read_dir(&journal).unwrap() {
        let f = f.unwrap().path();
        fs::copy(&f, moved.join(f.file_name().unwrap())).unwrap();
    }
    let (code, _, err) = index(&db2, &moved);
    assert_eq!(code, Some(1), "{err}");
    for f in fs::read_dir(&moved).unwrap() {
        fs::remove_file(f.unwrap().path()).unwrap();
    }
    let o = tlog_rs(&["play", "--db", db2.to_str().unwrap(), &rec_b, "-g", "end"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is no longer there"), "{}", stderr(&o));
}

/// `tlog-rs purge` of a journal recording: the index rows go, the journal
/// is not edited, and the output names the journal file that keeps it.
#[test]
fn journal_purge_keeps_the_entries_and_names_the_file() {
    if !require_root("central_journal") {
        return;
    }
    let dir = TempDir::new("central-journal-purge");
    let jd = Journald::start("central-journal-purge");
    let (rec, _) = record(&jd, "echo purge me; seq 1 20");
    let journal = jd.journal_dir();
    let db = dir.path("index.db");
    let conf = dir.write(
        "central.toml",
        format!(
            "db = \"{}\"\n[sources]\njournal = [\"{}\"]\n[retention]\ndefault_max_age = \"0m\"\n",
            db.display(),
            journal.display()
        )
        .as_bytes(),
    );
    let c = conf.to_str().unwrap();
    let o = tlog_rs(&["index", "--config", c, "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let entries = jd.entries(&[&format!("TLOG_REC={rec}")]).len();
    assert!(entries > 0);
    let o = tlog_rs(&["purge", "--config", c]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains(&format!(" {rec} ")) && out.starts_with("purged "),
        "{out}"
    );
    let kept = out
        .split("kept in journal file ")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"))
        .split([';', '\n'])
        .next()
        .unwrap();
    let kept = Path::new(kept);
    assert!(kept.starts_with(&journal) && kept.is_file(), "{out}");
    assert!(kept.to_string_lossy().contains(".journal"), "{out}");
    assert_eq!(jd.entries(&[&format!("TLOG_REC={rec}")]).len(), entries);
    let o = tlog_rs(&["search", "--db", db.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1), "nothing found: {}", stderr(&o));
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
