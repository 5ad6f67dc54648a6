//! `tlog-rs play --db` and `export --db`: a recording made by the real
//! recorder (PTY mode, enough output for stored keyframes), indexed, then
//! read back through the index: the export is byte for byte the export of
//! the source file, a seek from a stored keyframe shows the screen of a
//! straight replay, and ambiguous or rewritten recordings are reported.

use std::fs;
use std::process::Output;

use serde_json::Value;
use tlog_rs_tests::rec::{in_pty, TempDir};
use tlog_rs_tests::tlog_rs;
use tlog_rs_tests::{artifact, require_root};

fn ok(args: &[&str]) -> Output {
    let o = tlog_rs(args);
    assert!(
        o.status.success(),
        "tlog-rs {args:?}: {:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Over 2 MiB of output (two keyframes at least), colours and a cleared
/// screen after them, so a wrong start point shows.
const SCRIPT: &str = "seq 1 330000; printf '\\033[2J\\033[H\\033[1;31mred after the flood\\033[0m\\n'; seq 7 9; printf '\\033[5;10Hmoved'";

fn record(dir: &TempDir) -> (std::path::PathBuf, String) {
    let log = dir.path("rec.log");
    let o = in_pty(&format!(
        "{} -o {} sh -c \"{SCRIPT}\"",
        artifact("tlog-rs-rec").display(),
        log.display()
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = fs::read_to_string(&log).unwrap();
    let first: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    (log, first["rec"].as_str().unwrap().to_string())
}

fn time_arg(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[test]
fn play_and_export_from_the_index_equal_the_source() {
    if !require_root("central_play") {
        return;
    }
    let dir = TempDir::new("central-play");
    let (log, rec) = record(&dir);
    let db = dir.path("index.db");
    let db_s = db.to_str().unwrap();
    let o = ok(&[
        "index",
        "--db",
        db_s,
        "--jsonl",
        log.to_str().unwrap(),
        "--stats",
    ]);
    let stats = String::from_utf8_lossy(&o.stdout).into_owned();
    let kfs: u64 = stats
        .split(" keyframes")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("keyframe count in {stats}"));
    assert!(kfs >= 2, "the fixture must have stored keyframes: {stats}");

    // Export: the same bytes from the index as from the file, with --db
    // and with a central config naming the index.
    let direct = ok(&["export", "--format", "asciicast", log.to_str().unwrap()]).stdout;
    assert!(direct.len() > 2_000_000);
    let via_db = ok(&["export", "--format", "asciicast", "--db", db_s, &rec]).stdout;
    assert!(
        via_db == direct,
        "export --db differs from the file's export"
    );
    let conf = dir.write("central.toml", format!("db = \"{db_s}\"\n").as_bytes());
    let via_conf = ok(&[
        "export",
        "--format",
        "asciicast",
        "--config",
        conf.to_str().unwrap(),
        &rec,
    ])
    .stdout;
    assert!(via_conf == direct, "export --config differs");

    // Non-terminal playback from the start: exactly the file's bytes.
    let played_db = ok(&["play", "--db", db_s, &rec, "-g", "end"]).stdout;
    let played_file = ok(&["play", log.to_str().unwrap(), "-g", "end"]).stdout;
    assert!(played_db.len() > 2_000_000);
    // -g end reads everything (no keyframe start): identical.
    assert!(played_db == played_file, "play --db -g end differs");

    // Seeks: from a stored keyframe, the same screen as a straight replay
    // of the file. The end, and exactly at each keyframe used.
    let screen = |args: &[&str]| -> (String, String) {
        let o = ok(args);
        let e = err(&o);
        (String::from_utf8(o.stdout).unwrap(), e)
    };
    let (want_end, _) = screen(&["play", log.to_str().unwrap(), "--print-screen-at", "99999"]);
    assert!(want_end.contains("red after the flood"), "{want_end}");
    assert!(want_end.contains("moved"), "{want_end}");
    let (got_end, note) = screen(&["play", "--db", db_s, &rec, "--print-screen-at", "99999"]);
    assert!(
        note.contains("from the stored keyframe at"),
        "a seek to the end starts at a keyframe: {note}"
    );
    assert_eq!(got_end, want_end);
    let kf_ms: u64 = note
        .split("keyframe at ")
        .nth(1)
        .and_then(|s| s.split(" ms").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{note}"));
    let mut at = vec![kf_ms];
    if kf_ms > 0 {
        at.push(kf_ms - 1);
    }
    for t in at {
        let t = time_arg(t);
        let (want, _) = screen(&["play", log.to_str().unwrap(), "--print-screen-at", &t]);
        let (got, _) = screen(&["play", "--db", db_s, &rec, "--print-screen-at", &t]);
        assert_eq!(got, want, "screen at {t} s");
        assert!(want.trim().len() > 10, "a non-empty screen at {t}: {want}");
    }

    // The same rec id delivered from a second host: ambiguous without --host.
    let other = dir.path("other.log");
    let text = fs::read_to_string(&log).unwrap();
    let host = serde_json::from_str::<Value>(text.lines().next().unwrap()).unwrap()["host"]
        .as_str()
        .unwrap()
        .to_string();
    let moved = text.replace(
        &format!("\"host\":\"{host}\""),
        "\"host\":\"other.example.com\"",
    );
    fs::write(&other, moved).unwrap();
    ok(&["index", "--db", db_s, "--jsonl", other.to_str().unwrap()]);
    let o = tlog_rs(&["export", "--format", "asciicast", "--db", db_s, &rec]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains("several hosts") && err(&o).contains("other.example.com"),
        "{}",
        err(&o)
    );
    let o = ok(&[
        "export",
        "--format",
        "asciicast",
        "--db",
        db_s,
        "--host",
        &host,
        &rec,
    ]);
    assert!(o.stdout == direct);
    let o = tlog_rs(&["play", "--db", db_s, "--host", "nohost", &rec]);
    assert!(err(&o).contains("no recording"), "{}", err(&o));

    // A store rewritten after indexing (same length, one byte changed) is
    // reported, not played.
    let mut bytes = fs::read(&other).unwrap();
    let i = bytes
        .windows(6)
        .position(|w| w == b"330000")
        .expect("the last number in the log");
    bytes[i + 1] = b'6';
    fs::write(&other, bytes).unwrap();
    let o = tlog_rs(&[
        "export",
        "--format",
        "asciicast",
        "--db",
        db_s,
        "--host",
        "other.example.com",
        &rec,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("changed since it was indexed"),
        "{}",
        err(&o)
    );
}
