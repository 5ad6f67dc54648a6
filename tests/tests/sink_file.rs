//! The file writer through `tlog-rs-rec`: /dev/full mid-session in both
//! failure modes, and the rate limiter's `drop` with its visible id gaps.

use std::fs;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tlog_rs_tests::daemons::{output_with_open_stdin, TempDir};
use tlog_rs_tests::{artifact, require_program};

fn events(log: &Path) -> Vec<Value> {
    let mut p = log.as_os_str().to_owned();
    p.push(".events");
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", Path::new(&p).display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line is JSON"))
        .collect()
}

/// Output, a latency flush (which hits /dev/full), more output, a marker.
fn run_on_dev_full(dir: &Path, mode: &str) -> Output {
    let log = dir.join("rec.log");
    std::os::unix::fs::symlink("/dev/full", &log).unwrap();
    let marker = dir.join("shell-finished");
    std::process::Command::new(artifact("tlog-rs-rec"))
        .arg("-o")
        .arg(&log)
        .args([
            "--latency=1",
            &format!("--sink-failure={mode}"),
            "--notice=",
        ])
        .arg("sh")
        .arg("-c")
        .arg(format!(
            "echo before; sleep 1.5; echo after; sleep 0.5; touch '{}'",
            marker.display()
        ))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn dev_full_strict_ends_the_session_with_a_sink_failure_entry() {
    let d = TempDir::new("sink-file-full-strict");
    let out = run_on_dev_full(d.root(), "strict");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains("No space left on device") && err.contains("rec.log"),
        "{err}"
    );
    assert!(!d.path("shell-finished").exists(), "session was ended");
    let ev = events(&d.path("rec.log"));
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0]["event"], "start");
    assert_eq!(ev[1]["event"], "end");
    assert_eq!(ev[1]["end_reason"], "sink_failure");
    assert_eq!(ev[1]["messages_written"], 0);
}

#[test]
fn dev_full_warn_keeps_the_session_warns_once_and_counts_losses() {
    let d = TempDir::new("sink-file-full-warn");
    let out = run_on_dev_full(d.root(), "warn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "before\nafter\n");
    assert!(d.path("shell-finished").exists());
    assert_eq!(err.matches("WARNING").count(), 1, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("resumed"), "{err}");
    let ev = events(&d.path("rec.log"));
    let end = ev.last().unwrap();
    assert_eq!(end["event"], "end");
    assert_eq!(end["end_reason"], "exit");
    assert_eq!(end["messages_written"], 0);
    let lost = end["messages_lost"].as_u64().unwrap();
    assert!(
        lost >= 2,
        "the flush and the final message were lost: {end}"
    );
    assert_eq!(end["messages_dropped"], lost);
}

#[test]
fn rate_limit_drop_leaves_id_gaps_that_the_end_entry_accounts_for() {
    require_program("tlog-play", "tlog");
    let d = TempDir::new("sink-file-ratelimit");
    let log = d.path("rec.log");
    let script = "for j in 1 2; do for i in 1 2 3 4 5 6 7 8; do \
                  echo \"burst $j line $i: quick brown fox\"; done; sleep 1.2; done";
    let out = std::process::Command::new(artifact("tlog-rs-rec"))
        .arg("-o")
        .arg(&log)
        .args(["--payload=64", "--limit-rate=200", "--limit-burst=200"])
        .args(["--limit-action=drop", "--notice=", "sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<u64> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let max = *ids.last().unwrap();
    let dropped = max - ids.len() as u64;
    assert!(dropped > 0, "the limiter dropped something: {ids:?}");
    let end = events(&log).pop().unwrap();
    assert_eq!(end["messages_written"], ids.len() as u64);
    assert_eq!(end["messages_dropped"], dropped, "every gap is counted");
    assert_eq!(
        end["messages_lost"], 0,
        "drops are policy, not sink failures"
    );
    // Like tlog's own drop recordings: tlog-play needs --lax for the gaps.
    let strict = output_with_open_stdin(
        std::process::Command::new("tlog-play").arg("-i").arg(&log),
        Duration::from_secs(20),
    );
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains("Message ID is out of order"));
    let lax = output_with_open_stdin(
        std::process::Command::new("tlog-play")
            .args(["--lax", "-g", "end", "-i"])
            .arg(&log),
        Duration::from_secs(20),
    );
    assert!(
        lax.status.success(),
        "{}",
        String::from_utf8_lossy(&lax.stderr)
    );
}
