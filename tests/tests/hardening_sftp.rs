//! Issue 9, attack 6: internal-sftp runs no shell, so no recorder.
//!
//! Asserts: an sftp transfer by a selected user with `Subsystem sftp
//! internal-sftp`, or with `ForceCommand internal-sftp`, leaves evidence
//! that the selected session was not recorded: pam_tlog's close_session
//! logs "selected session was not recorded" to syslog (authpriv), and writes
//! an `"event":"not_recorded"` line to the file writer's `.events` sidecar.
//! A recorded shell session leaves no such evidence.

mod hardening_common;

use std::process::Command;

use hardening_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::{run_with_stdin, World, WorldConfig};

fn world(tag: &str, base_uid: u32, force_command: bool) -> World {
    let mut cfg: WorldConfig = config(tag, base_uid, &["alice"], "");
    cfg.capture_syslog = true;
    cfg.sftp_subsystem = "internal-sftp".into();
    if force_command {
        cfg.sshd_extra
            .push_str("\nMatch User alice\n  ForceCommand internal-sftp\n");
    }
    World::start(cfg)
}

/// Upload a file and fetch it back with sftp in batch mode.
fn sftp_roundtrip(w: &World, user: &str) -> std::process::Output {
    let src = w.dir.join("upload.txt");
    std::fs::write(&src, "sftp-payload-7\n").unwrap();
    let back = w.dir.join("download.txt");
    let batch = format!(
        "put {} up.txt\nget up.txt {}\n",
        src.display(),
        back.display()
    );
    let mut c = Command::new("sftp");
    c.args([
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "BatchMode=yes",
        "-i",
    ])
    .arg(w.key(user))
    .args(["-P", &w.port.to_string(), "-b", "-"])
    .arg(format!("{user}@127.0.0.1"));
    let out = run_with_stdin(c, batch.as_bytes());
    assert!(
        out.status.success()
            && std::fs::read_to_string(&back).unwrap_or_default() == "sftp-payload-7\n",
        "sftp transfer failed: {}",
        seen(&out)
    );
    out
}

fn assert_evidence(w: &World, what: &str) {
    // sshd closes the PAM session after the client has gone: wait for it.
    let found = |w: &World| {
        w.syslog()
            .iter()
            .any(|l| l.contains("selected session was not recorded"))
            && events(w, "alice").contains("not_recorded")
    };
    for _ in 0..25 {
        if found(w) {
            break;
        }
    }
    let syslog = w.syslog();
    assert!(
        syslog.iter().any(|l| is_authpriv(l)
            && l.contains("selected session was not recorded")
            && l.contains("alice")),
        "{what}: no authpriv \"selected session was not recorded\" line in syslog:\n{}",
        syslog.join("\n")
    );
    let ev = events(w, "alice");
    assert!(
        ev.lines()
            .any(|l| l.contains("\"event\":\"not_recorded\"") && l.contains("alice")),
        "{what}: no not_recorded entry in the .events sidecar:\n{ev}"
    );
}

/// A syslog datagram `<PRI>...` with facility authpriv (10).
fn is_authpriv(line: &str) -> bool {
    line.strip_prefix('<')
        .and_then(|r| r.split_once('>'))
        .and_then(|(pri, _)| pri.parse::<u32>().ok())
        .is_some_and(|pri| pri >> 3 == 10)
}

#[test]
fn internal_sftp_subsystem_leaves_evidence() {
    // Asserts: `Subsystem sftp internal-sftp`: a recorded shell session leaves no
    // evidence; an sftp transfer leaves the authpriv line and the not_recorded entry.
    if !require_root("internal_sftp_subsystem_leaves_evidence") {
        return;
    }
    let w = world("h9-sftp-subsys", 2780, false);
    // A shell session in the same world is recorded and is no evidence.
    let out = w.ssh("alice", &[], Some("echo shell-$((40+2))"), b"");
    assert!(seen(&out).contains("shell-42"), "{}", seen(&out));
    assert!(w.recording("alice").contains("shell-42"));
    let ev = events(&w, "alice");
    assert!(
        ev.contains("\"event\":\"end\"") && !ev.contains("not_recorded"),
        "a recorded session left not_recorded evidence:\n{ev}"
    );
    sftp_roundtrip(&w, "alice");
    assert_evidence(&w, "Subsystem sftp internal-sftp");
}

#[test]
fn force_command_internal_sftp_leaves_evidence() {
    // Asserts: `ForceCommand internal-sftp` for alice: an sftp transfer leaves the
    // authpriv line and the not_recorded entry.
    if !require_root("force_command_internal_sftp_leaves_evidence") {
        return;
    }
    let w = world("h9-sftp-force", 2790, true);
    sftp_roundtrip(&w, "alice");
    assert_evidence(&w, "ForceCommand internal-sftp");
}
