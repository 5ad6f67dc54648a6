//! `tlog-rs list`: a file with several interleaved recordings (written at
//! the same time by two Debian tlog-rec processes) plus a session events
//! sidecar gives one right row per recording; an id gap and a missing end
//! entry are flagged; filters work.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

use tlog_rs_tests::play::{busy_session, tlog_rs, write_recording};
use tlog_rs_tests::rec::TempDir;
use tlog_rs_tests::require_program;

fn list(args: &[&str], file: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(tlog_rs())
        .args(["list", "--json"])
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn rec_ids(file: &Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["rec"].as_str().unwrap().to_string(),
                v["id"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn interleaved_recordings_gaps_and_missing_end_entries() {
    let tlog_rec = require_program("tlog-rec", "tlog");
    let dir = TempDir::new("play-list");
    let log = dir.path("shared.log");
    // Two sessions at once into one file, flushing every second.
    let spawn = |tag: &str| {
        Command::new(&tlog_rec)
            .args(["--latency=1", "--payload=64", "-o"])
            .arg(&log)
            .args([
                "/bin/bash",
                "-c",
                &format!(
                    "for i in $(seq 1 8); do echo {tag} $i the quick brown fox; sleep 0.3; done"
                ),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn("alpha"), spawn("bravo"));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    // A third recording whose message 2 was lost.
    let c_log = dir.path("c.log");
    let st = Command::new(&tlog_rec)
        .args(["--payload=64", "-o"])
        .arg(&c_log)
        .args([
            "/bin/bash",
            "-c",
            "for i in $(seq 1 6); do echo charlie $i the quick brown fox; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let mut c_lines: Vec<String> = std::fs::read_to_string(&c_log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(c_lines.len() >= 3);
    c_lines.remove(1);
    let mut all = std::fs::read_to_string(&log).unwrap();
    all.push_str(&(c_lines.join("\n") + "\n"));
    std::fs::write(&log, &all).unwrap();

    // Who is who, and the message counts, straight from the file.
    let ids = rec_ids(&log);
    let mut order: Vec<String> = Vec::new();
    let mut count: HashMap<String, u64> = HashMap::new();
    for (r, _) in &ids {
        if !order.contains(r) {
            order.push(r.clone());
        }
        *count.entry(r.clone()).or_default() += 1;
    }
    assert_eq!(order.len(), 3);
    let firsts: Vec<usize> = order
        .iter()
        .map(|r| ids.iter().position(|(x, _)| x == r).unwrap())
        .collect();
    let lasts: Vec<usize> = order
        .iter()
        .map(|r| ids.iter().rposition(|(x, _)| x == r).unwrap())
        .collect();
    assert!(
        firsts[1] < lasts[0],
        "the two live recordings interleave in the file"
    );
    let (ra, rb, rc) = (&order[0], &order[1], &order[2]);

    // Session events sidecar: the first recording ended, the second only
    // started, the third has none.
    let first_time = |rec: &str| -> f64 {
        let line = all
            .lines()
            .find(|l| l.contains(&format!("\"rec\":\"{rec}\"")))
            .unwrap();
        serde_json::from_str::<serde_json::Value>(line).unwrap()["time"]
            .as_f64()
            .unwrap()
    };
    let ev = |kind: &str, rec: &str, end: Option<f64>| {
        let start = first_time(rec);
        format!(
            "{{\"event\":\"{kind}\",\"rec\":\"{rec}\",\"user\":\"root\",\"host\":\"vm\",\"tty\":null,\"session\":4294967295,\"start\":{start:.3},\"end\":{},\"exit_status\":{},\"end_reason\":{},\"signal\":null,\"bytes_in\":0,\"bytes_out\":300,\"messages_written\":{},\"messages_dropped\":0,\"messages_lost\":0}}\n",
            end.map_or("null".into(), |e| format!("{:.3}", start + e)),
            if end.is_some() { "0" } else { "null" },
            if end.is_some() { "\"exit\"" } else { "null" },
            count[rec],
        )
    };
    let sidecar = ev("start", ra, None) + &ev("start", rb, None) + &ev("end", ra, Some(2.5));
    std::fs::write(dir.path("shared.log.events"), sidecar).unwrap();

    let rows = list(&[], &log);
    let recs: Vec<&str> = rows.iter().map(|r| r["rec"].as_str().unwrap()).collect();
    assert_eq!(
        recs,
        [ra.as_str(), rb.as_str(), rc.as_str()],
        "one row per recording, in order of appearance"
    );
    for r in &rows {
        let rec = r["rec"].as_str().unwrap();
        assert_eq!(
            r["messages"].as_u64(),
            Some(count[rec]),
            "{rec}: message count"
        );
        assert_eq!(r["user"], "root");
        let start = r["start"].as_f64().unwrap();
        assert!((start - first_time(rec)).abs() < 0.002, "{rec}: start");
    }
    let a = &rows[0];
    assert_eq!(
        (a["complete"].as_bool(), a["end_entry"].as_bool()),
        (Some(true), Some(true)),
        "{a}"
    );
    assert_eq!(a["end_reason"], "exit");
    assert_eq!(
        a["state"], "complete",
        "an end entry without first_id/last_id (older recorder)"
    );
    let d = a["duration"].as_f64().unwrap();
    assert!((2.0..=3.5).contains(&d), "alpha lasted ~2.4 s: {d}");
    let b = &rows[1];
    assert_eq!(
        (
            b["complete"].as_bool(),
            b["end_entry"].as_bool(),
            b["start_entry"].as_bool()
        ),
        (Some(false), Some(false), Some(true)),
        "{b}"
    );
    assert_eq!(b["id_gaps"].as_array().map(Vec::len), Some(0));
    assert_eq!(b["state"], "incomplete");
    let c = &rows[2];
    assert_eq!(c["complete"].as_bool(), Some(false));
    assert_eq!(
        c["id_gaps"],
        serde_json::json!([[1, 3]]),
        "message 2 missing"
    );

    // The table says the same in words.
    let out = Command::new(tlog_rs())
        .arg("list")
        .arg(&log)
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let line = |rec: &str| {
        table
            .lines()
            .find(|l| l.starts_with(rec))
            .unwrap_or_else(|| panic!("{rec} in\n{table}"))
            .to_string()
    };
    assert!(line(ra).contains(" complete "), "{table}");
    assert!(
        line(rb).contains(" incomplete ") && line(rb).contains("no end entry"),
        "{table}"
    );
    assert!(
        line(rc).contains(" incomplete ")
            && line(rc).contains("id gap 1->3")
            && line(rc).contains("no end entry"),
        "{table}"
    );
    assert_eq!(out.status.code(), Some(0), "incomplete is not an error");
}

#[test]
fn filters_by_user_host_and_time() {
    let dir = TempDir::new("play-list-filter");
    let log = dir.path("mixed.log");
    // Two synthetic recordings (encoder origin 1795700000 = 2026-11-26T13:33:20Z).
    let a = dir.path("a.log");
    let b = dir.path("b.log");
    write_recording(&a, "rec-a", (80, 24), &busy_session()[..5]);
    write_recording(&b, "rec-b", (80, 24), &busy_session()[..3]);
    let text = std::fs::read_to_string(&a).unwrap()
        + &std::fs::read_to_string(&b)
            .unwrap()
            .replace("\"user\":\"auditee\"", "\"user\":\"bob\"")
            .replace("\"host\":\"testhost\"", "\"host\":\"other\"");
    std::fs::write(&log, text).unwrap();
    let recs = |args: &[&str]| -> Vec<String> {
        list(args, &log)
            .iter()
            .map(|r| r["rec"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(recs(&[]), ["rec-a", "rec-b"]);
    assert_eq!(recs(&["--user", "bob"]), ["rec-b"]);
    assert_eq!(recs(&["--host", "testhost"]), ["rec-a"]);
    assert_eq!(
        recs(&["--since", "2026-11-26T13:33:24"]),
        ["rec-a"],
        "rec-b ended at 13:33:23"
    );
    assert_eq!(recs(&["--until", "2026-11-26T13:00"]), Vec::<String>::new());
    assert_eq!(
        recs(&["--since", "1795700000", "--until", "2026-11-26"]),
        Vec::<String>::new()
    );
    let rows = list(&[], &log);
    assert_eq!(rows[0]["duration"].as_f64(), Some(5.0));
    assert_eq!(rows[0]["start_utc"], "2026-11-26T13:33:20Z");
    // A broken line is an error naming the file and line (rc 1), and the
    // recordings around it are still listed.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(1, "{\"ver\":\"2.3\"}");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let out = Command::new(tlog_rs())
        .args(["list", "--json"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mixed.log: line 2:") && err.contains("missing"),
        "{err}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        2,
        "both recordings still listed"
    );
}

#[test]
fn recordings_by_tlog_rs_rec_are_complete_with_their_sidecar() {
    let rec = tlog_rs_tests::target_dir().join("tlog-rs-rec");
    if !rec.exists() {
        eprintln!("SKIP: tlog-rs-rec not built (cargo build --workspace)");
        return;
    }
    let dir = TempDir::new("play-list-ours");
    let log = dir.path("ours.log");
    for code in [0, 3] {
        let st = Command::new(&rec)
            .args(["--payload=64", "-o"])
            .arg(&log)
            .args([
                "/bin/bash",
                "-c",
                &format!("echo one; sleep 0.2; echo two; exit {code}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(code));
    }
    let rows = list(&[], &log);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (r, code) in rows.iter().zip([0, 3]) {
        assert_eq!(r["complete"], true, "{r}");
        assert_eq!(
            (r["start_entry"].as_bool(), r["end_entry"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(r["exit_status"].as_i64(), Some(code));
        assert!(r["duration"].as_f64().unwrap() >= 0.15, "{r}");
    }
    // Without the sidecar the same recordings have no end entry.
    std::fs::remove_file(dir.path("ours.log.events")).unwrap();
    assert!(list(&[], &log)
        .iter()
        .all(|r| r["complete"] == false && r["end_entry"] == false));
}
