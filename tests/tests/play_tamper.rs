//! `tlog-rs list` checks each recording against its session end entry:
//! recordings made by the real tlog-rs-rec (file writer, `.events`
//! sidecar) are `complete`, also with rate-limiter drops; a stripped,
//! rewritten, duplicated or forged message makes them `tampered` (exit
//! status 3); a deleted end entry leaves them `incomplete` (exit 0). The
//! same with the journal writer and a private journald.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tlog_rs_tests::daemons::{send_datagram, Journald};
use tlog_rs_tests::play::{run_open_stdin, tlog_rs};
use tlog_rs_tests::rec::{rec_bin, TempDir};
use tlog_rs_tests::require_root;

/// Record a dozen lines in 64-byte messages; returns the log path.
fn record(dir: &TempDir, name: &str, extra: &[&str]) -> PathBuf {
    let log = dir.path(name);
    let st = Command::new(rec_bin())
        .args(["--payload=64"])
        .args(extra)
        .arg("-o")
        .arg(&log)
        .args([
            "/bin/bash",
            "-c",
            "for i in $(seq 1 12); do echo line $i the quick brown fox jumps; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    log
}

fn events_of(log: &Path) -> PathBuf {
    PathBuf::from(format!("{}.events", log.display()))
}

/// A copy of the recording and its sidecar whose message lines went
/// through `edit`.
fn tampered_copy(
    dir: &TempDir,
    log: &Path,
    name: &str,
    edit: impl FnOnce(&mut Vec<String>),
) -> PathBuf {
    let mut lines: Vec<String> = std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    edit(&mut lines);
    let copy = dir.path(name);
    std::fs::write(
        &copy,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    std::fs::copy(events_of(log), events_of(&copy)).unwrap();
    copy
}

/// `(exit status, the one row)` of `tlog-rs list --json`.
fn list(log: &Path) -> (i32, serde_json::Value) {
    let out = Command::new(tlog_rs())
        .args(["list", "--json"])
        .arg(log)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    (out.status.code().unwrap(), rows[0].clone())
}

fn problems(row: &serde_json::Value) -> String {
    row["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn set_id(line: &str, from: u64, to: u64) -> String {
    let needle = format!(",\"id\":{from},");
    assert!(line.contains(&needle), "{line}");
    line.replacen(&needle, &format!(",\"id\":{to},"), 1)
}

#[test]
fn untouched_recordings_are_complete_and_each_tampering_is_detected() {
    let dir = TempDir::new("tamper");
    let log = record(&dir, "rec.log", &[]);
    let n = std::fs::read_to_string(&log).unwrap().lines().count() as u64;
    assert!(n >= 6, "several messages: {n}");

    let (rc, r) = list(&log);
    assert_eq!((rc, r["state"].as_str()), (0, Some("complete")), "{r}");
    assert_eq!(r["complete"], true);
    assert_eq!(r["messages"].as_u64(), Some(n));
    assert_eq!(r["messages_written"].as_u64(), Some(n), "{r}");
    assert_eq!(r["problems"], serde_json::json!([]));

    type Edit = Box<dyn FnOnce(&mut Vec<String>)>;
    let cases: Vec<(&str, Edit, String)> = vec![
        (
            "stripped",
            Box::new(|l: &mut Vec<String>| {
                l.remove(2);
            }),
            "id(s) missing".into(),
        ),
        (
            "id-rewritten",
            Box::new(|l: &mut Vec<String>| l[1] = set_id(&l[1], 2, 3)),
            "id 3 found twice with different content".into(),
        ),
        (
            "id-beyond-range",
            Box::new(move |l: &mut Vec<String>| l[1] = set_id(&l[1], 2, 1000)),
            // "outside the end entry's range" (or, from an end entry
            // without first_id/last_id, "missing in 1..1000").
            "1000".into(),
        ),
        (
            "duplicated",
            Box::new(|l: &mut Vec<String>| {
                let d = l[3].clone();
                l.insert(4, d);
            }),
            "repeated message".into(),
        ),
        (
            "forged-extra",
            Box::new(move |l: &mut Vec<String>| {
                let last = l.last().unwrap().clone();
                l.push(set_id(&last, n, n + 1).replace("jumps", "sleeps"));
            }),
            "found, end entry says".into(),
        ),
        (
            "all-messages-removed",
            Box::new(|l: &mut Vec<String>| l.clear()),
            format!("0 message(s) found, end entry says {n} written"),
        ),
    ];
    for (name, edit, why) in cases {
        let copy = tampered_copy(&dir, &log, name, edit);
        let (rc, r) = list(&copy);
        assert_eq!(
            (rc, r["state"].as_str()),
            (3, Some("tampered")),
            "{name}: {r}"
        );
        assert_eq!(r["complete"], false);
        assert!(problems(&r).contains(&why), "{name}: {}", problems(&r));
    }

    // The table says it too, with the same exit status.
    let copy = tampered_copy(&dir, &log, "table", |l| {
        l.remove(1);
    });
    let out = Command::new(tlog_rs())
        .arg("list")
        .arg(&copy)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{table}");
    assert!(
        table.lines().nth(1).unwrap().contains(" TAMPERED "),
        "{table}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 recording(s) tampered with"));

    // Without its end entry (recorder killed) the recording is incomplete,
    // which is not an error: a live session looks the same.
    let copy = tampered_copy(&dir, &log, "no-end", |_| {});
    let ev = std::fs::read_to_string(events_of(&copy)).unwrap();
    assert_eq!(ev.lines().count(), 2, "{ev}");
    std::fs::write(
        events_of(&copy),
        ev.lines().next().unwrap().to_string() + "\n",
    )
    .unwrap();
    let (rc, r) = list(&copy);
    assert_eq!((rc, r["state"].as_str()), (0, Some("incomplete")), "{r}");
    assert_eq!(
        (r["start_entry"].as_bool(), r["end_entry"].as_bool()),
        (Some(true), Some(false))
    );
    // ... also with a message missing: no end entry to contradict.
    let copy = tampered_copy(&dir, &log, "no-end-gap", |l| {
        l.remove(2);
    });
    std::fs::write(
        events_of(&copy),
        ev.lines().next().unwrap().to_string() + "\n",
    )
    .unwrap();
    let (rc, r) = list(&copy);
    assert_eq!((rc, r["state"].as_str()), (0, Some("incomplete")), "{r}");
    assert_eq!(r["id_gaps"], serde_json::json!([[2, 4]]));
}

#[test]
fn rate_limited_recording_with_drops_is_complete() {
    let dir = TempDir::new("tamper-drop");
    // A bucket of 1000 bytes drained at 300 B/s, with drop: a dozen
    // ~250-byte messages written at once cannot all fit.
    let log = record(
        &dir,
        "drop.log",
        &[
            "--limit-rate=300",
            "--limit-burst=700",
            "--limit-action=drop",
        ],
    );
    let (rc, r) = list(&log);
    let dropped = r["messages_dropped"].as_u64().unwrap();
    assert!(dropped > 0, "the limiter dropped messages: {r}");
    assert!(r["messages"].as_u64().unwrap() > 0, "{r}");
    assert_eq!((rc, r["state"].as_str()), (0, Some("complete")), "{r}");
    // Drops do not cover a message removed afterwards.
    let copy = tampered_copy(&dir, &log, "drop-stripped", |l| {
        l.remove(0);
    });
    let (rc, r) = list(&copy);
    assert_eq!((rc, r["state"].as_str()), (3, Some("tampered")), "{r}");
}

/// `tlog-rs list -r journal` inside the journald's namespace.
fn list_journal(jd: &Journald) -> (i32, Vec<serde_json::Value>) {
    let o = run_open_stdin(
        jd.command(tlog_rs())
            .args(["list", "-r", "journal", "--json"]),
    );
    let rows = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (o.status.code().unwrap(), rows)
}

#[test]
fn journal_recording_is_complete_until_a_message_is_forged() {
    if !require_root("journal_recording_is_complete_until_a_message_is_forged") {
        return;
    }
    let jd = Journald::start("tamper-journal");
    let st = jd
        .command(rec_bin())
        .args([
            "-w",
            "journal",
            "--payload=64",
            "/bin/bash",
            "-c",
            "for i in $(seq 1 12); do echo line $i the quick brown fox jumps; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "tlog-rs-rec -w journal: {}", jd.log());
    jd.wait_entries(&["TLOG_RS_EVENT=end"], 1);
    let (rc, rows) = list_journal(&jd);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!((rc, r["state"].as_str()), (0, Some("complete")), "{r}");
    let n = r["messages"].as_u64().unwrap();
    assert!(n >= 6, "{r}");
    assert_eq!(r["messages_written"].as_u64(), Some(n), "{r}");

    // Anyone may write to journald: a forged message with a recorded id
    // and other text is caught.
    let rec = r["rec"].as_str().unwrap();
    let first = jd
        .entries(&[&format!("TLOG_REC={rec}")])
        .into_iter()
        .map(|e| e["MESSAGE"].as_str().unwrap().to_string())
        .find(|m| m.contains(",\"id\":1,"))
        .expect("message 1 in the journal");
    let forged = first.replace("quick", "quack");
    assert_ne!(forged, first);
    let mut d = Vec::new();
    for (k, v) in [
        ("MESSAGE", forged.as_str()),
        ("TLOG_REC", rec),
        ("TLOG_RS_TEST_FORGED", "1"),
    ] {
        d.extend_from_slice(format!("{k}={v}\n").as_bytes());
    }
    send_datagram(&jd.socket(), &d).unwrap();
    jd.wait_entries(&["TLOG_RS_TEST_FORGED=1"], 1);
    let (rc, rows) = list_journal(&jd);
    let r = &rows[0];
    assert_eq!((rc, r["state"].as_str()), (3, Some("tampered")), "{r}");
    assert!(
        problems(r).contains("id 1 found twice with different content"),
        "{r}"
    );
}
