//! No journal socket, no /dev/log: the documented `sink_failure` behaviour
//! (strict refuses the session; warn runs it, warns once, counts the loss).
//! Each case runs in a private mount namespace with an empty /run and a /dev
//! overlay, so the host's journald and syslog are never involved.

use std::path::Path;
use std::process::{Output, Stdio};

use tlog_rs_tests::daemons::{with_private_dev_log, Rsyslog, TempDir};
use tlog_rs_tests::{artifact, require_program, require_root};

fn run(scratch: &Path, dev_log: Option<&Path>, writer: &str, mode: &str) -> Output {
    let marker = scratch.join("shell-ran");
    with_private_dev_log(scratch, dev_log, true, artifact("tlog-rs-rec"))
        .args(["-w", writer, &format!("--sink-failure={mode}"), "--notice="])
        .arg("sh")
        .arg("-c")
        .arg(format!("echo shell output; touch '{}'", marker.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn strict_refuses(writer: &str, path_named: &str) {
    let scratch = TempDir::new(&format!("fault-strict-{writer}"));
    let out = run(scratch.root(), None, writer, "strict");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        !scratch.path("shell-ran").exists(),
        "no recording, no shell"
    );
    assert!(out.stdout.is_empty());
    assert!(
        err.contains(path_named) && err.contains("No such file"),
        "{err}"
    );
}

fn warn_runs_and_reports(writer: &str, path_named: &str) {
    let scratch = TempDir::new(&format!("fault-warn-{writer}"));
    let out = run(scratch.root(), None, writer, "warn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert!(scratch.path("shell-ran").exists());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "shell output\n");
    assert_eq!(err.matches("WARNING").count(), 1, "warned once: {err}");
    assert!(
        err.contains("NOT being recorded") && err.contains(path_named),
        "{err}"
    );
    // Nothing can store the end entry, so its words (with the loss count) go
    // to stderr, the only channel left.
    let end = err
        .lines()
        .find(|l| l.contains("tlog-rs session end"))
        .unwrap_or_else(|| panic!("end entry reported: {err}"));
    let lost: u64 = end
        .split_whitespace()
        .find_map(|w| w.strip_prefix("lost="))
        .expect("lost= in end entry")
        .parse()
        .unwrap();
    assert!(lost >= 1, "{end}");
    assert!(
        end.contains("messages=0") && end.contains("reason=exit"),
        "{end}"
    );
}

#[test]
fn no_journal_socket_strict_refuses_the_session() {
    if !require_root("no_journal_socket_strict_refuses_the_session") {
        return;
    }
    strict_refuses("journal", "/run/systemd/journal/socket");
}

#[test]
fn no_journal_socket_warn_keeps_the_session_and_counts_losses() {
    if !require_root("no_journal_socket_warn_keeps_the_session_and_counts_losses") {
        return;
    }
    warn_runs_and_reports("journal", "/run/systemd/journal/socket");
}

#[test]
fn no_dev_log_strict_refuses_the_session() {
    if !require_root("no_dev_log_strict_refuses_the_session") {
        return;
    }
    strict_refuses("syslog", "/dev/log");
}

#[test]
fn no_dev_log_warn_keeps_the_session_and_counts_losses() {
    if !require_root("no_dev_log_warn_keeps_the_session_and_counts_losses") {
        return;
    }
    warn_runs_and_reports("syslog", "/dev/log");
}

/// Journal down but syslog up: the warning and the unstored end entry reach
/// syslog (authpriv.warning, ident tlog-rs), the auditors' trail.
#[test]
fn journal_failure_is_reported_to_syslog() {
    if !require_root("journal_failure_is_reported_to_syslog") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let rs = Rsyslog::start("fault-journal-to-syslog");
    let scratch = TempDir::new("fault-journal-to-syslog");
    let out = run(scratch.root(), Some(&rs.socket()), "journal", "warn");
    assert_eq!(out.status.code(), Some(0));
    let lines = rs.wait_lines("tlog-rs session end", 1);
    assert_eq!(lines.len(), 1, "end entry reached syslog");
    assert!(
        lines[0].starts_with(&format!("{} authpriv warning tlog-rs[", (10 << 3) | 4)),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("lost="), "{}", lines[0]);
    let warned = rs.wait_lines("NOT being recorded", 1);
    assert_eq!(warned.len(), 1, "warned once in syslog too");
    assert!(
        warned[0].contains("/run/systemd/journal/socket"),
        "{}",
        warned[0]
    );
}

/// Strict refusal with syslog up: auditors see the refused session.
#[test]
fn strict_refusal_is_reported_to_syslog() {
    if !require_root("strict_refusal_is_reported_to_syslog") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let rs = Rsyslog::start("fault-refusal-to-syslog");
    let scratch = TempDir::new("fault-refusal-to-syslog");
    let out = run(scratch.root(), Some(&rs.socket()), "journal", "strict");
    assert_eq!(out.status.code(), Some(1));
    assert!(!scratch.path("shell-ran").exists());
    let lines = rs.wait_lines("session refused", 1);
    assert_eq!(lines.len(), 1, "refusal reached syslog");
    assert!(
        lines[0].starts_with(&format!("{} authpriv warning tlog-rs[", (10 << 3) | 4)),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("/run/systemd/journal/socket") && lines[0].contains("user=root"),
        "{}",
        lines[0]
    );
}

/// Strict, write error mid-session (log file on /dev/full): the session is
/// ended and the failure is left in the syslog audit trail.
#[test]
fn strict_mid_session_failure_is_reported_to_syslog() {
    if !require_root("strict_mid_session_failure_is_reported_to_syslog") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let rs = Rsyslog::start("fault-strict-end-to-syslog");
    let scratch = TempDir::new("fault-strict-end-to-syslog");
    // The log file is /dev/full: the session starts (events go to the
    // sidecar), then the first flush fails and the session ends.
    let log = scratch.path("rec.log");
    std::os::unix::fs::symlink("/dev/full", &log).unwrap();
    let out = with_private_dev_log(
        scratch.root(),
        Some(&rs.socket()),
        true,
        artifact("tlog-rs-rec"),
    )
    .arg("-o")
    .arg(&log)
    .args(["--sink-failure=strict", "--notice=", "--latency=1"])
    .args(["sh", "-c", "echo x; sleep 3"])
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = rs.wait_lines("session recording failed", 1);
    assert_eq!(lines.len(), 1, "the failure reached syslog");
    assert!(lines[0].contains("No space left on device"), "{}", lines[0]);
}
