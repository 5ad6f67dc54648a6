//! Nesting: a tlog-rs-rec-session started inside a session that a live
//! tlog-rs-rec-session ancestor already records does not record twice;
//! concurrent sessions without audit are all recorded (no global lock); and a
//! forged or stale "already recorded" marker is ignored. Root: the config
//! comes from an overlay /etc in a private mount namespace.

use std::collections::BTreeSet;
use std::process::Stdio;

use tlog_rs_tests::rec::{events, messages, session_bin, sq, with_session_conf, TempDir};
use tlog_rs_tests::require_root;

fn conf(log: &std::path::Path) -> String {
    format!(
        "{{\"writer\":\"file\",\"file\":{{\"path\":{:?}}},\"notice\":\"\",\"shell\":\"/bin/sh\"}}",
        log.display().to_string()
    )
}

/// Run `body` (bash) with $R set to the recorder's path; returns stdout.
fn run(dir: &TempDir, log: &std::path::Path, body: &str) -> String {
    let body = format!("R={}\n{body}", sq(&session_bin().display().to_string()));
    let out = with_session_conf(dir, &conf(log), &body)
        .env_remove("TLOG_RS_RECORDER")
        .stdin(Stdio::null())
        .output()
        .expect("run namespace");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rec_ids(log: &std::path::Path) -> BTreeSet<String> {
    messages(log)
        .iter()
        .map(|m| m["rec"].as_str().unwrap().to_string())
        .collect()
}

fn text_of(log: &std::path::Path, rec: &str) -> String {
    messages(log)
        .iter()
        .filter(|m| m["rec"] == rec)
        .map(|m| m["out_txt"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn nested_session_is_recorded_once() {
    if !require_root("nested_session_is_recorded_once") {
        return;
    }
    let dir = TempDir::new("nest-inner");
    let log = dir.path("s.log");
    let out = run(
        &dir,
        &log,
        "\"$R\" -c \"echo outer; \\\"$R\\\" -c 'echo inner'\"",
    );
    assert_eq!(out, "outer\ninner\n");
    let ids = rec_ids(&log);
    assert_eq!(ids.len(), 1, "recorded twice: {ids:?}");
    let rec = ids.into_iter().next().unwrap();
    assert_eq!(text_of(&log, &rec), "outer\ninner\n");
    assert_eq!(
        events(&log)
            .iter()
            .filter(|e| e["event"] == "start")
            .count(),
        1
    );
}

#[test]
fn concurrent_sessions_without_audit_are_all_recorded() {
    if !require_root("concurrent_sessions_without_audit_are_all_recorded") {
        return;
    }
    let dir = TempDir::new("nest-concurrent");
    let log = dir.path("s.log");
    run(
        &dir,
        &log,
        "\"$R\" -c 'sleep 0.5; echo A' & \"$R\" -c 'sleep 0.5; echo B' & wait",
    );
    let ids = rec_ids(&log);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let texts: BTreeSet<String> = ids.iter().map(|r| text_of(&log, r)).collect();
    assert_eq!(
        texts,
        BTreeSet::from(["A\n".to_string(), "B\n".to_string()])
    );
    let ev = events(&log);
    // Same audit session (4294967295 without audit): tlog's per-session lock
    // would have let only one of them be recorded.
    assert!(
        ev.iter().all(|e| e["session"] == ev[0]["session"]),
        "{ev:?}"
    );
    // Both were running at the same time: both starts come before any end.
    let kinds: Vec<_> = ev
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds[..2], ["start", "start"], "{kinds:?}");
}

#[test]
fn forged_or_stale_markers_are_ignored() {
    if !require_root("forged_or_stale_markers_are_ignored") {
        return;
    }
    let dir = TempDir::new("nest-forged");
    let log = dir.path("s.log");
    let body = r#"
start_of() { sed 's/.*) //' /proc/$1/stat | cut -d' ' -f20; }
# A live recorder that is NOT our ancestor.
"$R" -c 'sleep 1.5' & P=$!
sleep 0.5
TLOG_RS_RECORDER=$P:$(start_of $P) "$R" -c 'echo not-an-ancestor'
# A recorder that is gone (stale marker).
"$R" -c true & Q=$!; QS=$(start_of $Q); wait $Q
TLOG_RS_RECORDER=$Q:$QS "$R" -c 'echo stale'
# An ancestor that is not a recorder (this shell).
TLOG_RS_RECORDER=$$:$(start_of $$) "$R" -c 'echo not-a-recorder'
# Garbage.
TLOG_RS_RECORDER=garbage "$R" -c 'echo garbage'
wait
"#;
    let out = run(&dir, &log, body);
    assert_eq!(out, "not-an-ancestor\nstale\nnot-a-recorder\ngarbage\n");
    let all: Vec<String> = rec_ids(&log).iter().map(|r| text_of(&log, r)).collect();
    for word in ["not-an-ancestor", "stale", "not-a-recorder", "garbage"] {
        assert!(
            all.contains(&format!("{word}\n")),
            "{word} was not recorded: {all:?}"
        );
    }
}
