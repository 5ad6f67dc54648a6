//! Issue 9, the privilege design: the recorder is out of the recorded
//! user's reach.
//!
//! Asserts, for ssh with and without a tty and `su -`: the session shell's
//! parent is the recorder, running with real, effective, saved and fs uid of
//! the `tlog-rs` account; the user can neither signal it (kill(2) EPERM),
//! ptrace it, nor open its /proc environ, mem or fd directory
//! (tests/fixtures/reach_probe.c, run as the user with the recorder's pid).

mod hardening_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use hardening_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::World;

fn build_probe(w: &World) -> std::path::PathBuf {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/reach_probe.c");
    let bin = w.dir.join("reach_probe");
    let out = Command::new("gcc")
        .args(["-Wall", "-o"])
        .arg(&bin)
        .arg(src)
        .output()
        .expect("gcc");
    assert!(out.status.success(), "gcc reach_probe.c: {}", seen(&out));
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn recorded_user_cannot_signal_trace_or_read_her_recorder() {
    if !require_root("recorded_user_cannot_signal_trace_or_read_her_recorder") {
        return;
    }
    let w = World::start(config("h9-reach", 2800, &["alice"], ""));
    let acct_uid = w.recorder_account.map(|a| a.uid);
    let probe = build_probe(&w);
    for way in ALL_WAYS {
        let cmd = format!("{} $PPID; echo reach-done-$((40+2))", probe.display());
        let out = session(&w, "alice", way, Some(&cmd), b"", &[]);
        let client = seen(&out);
        assert!(
            client.contains("reach-done-42") && client.contains("PROBE-comm"),
            "{way:?}: the session did not run: {client}"
        );
        let reached: Vec<&str> = ["kill", "ptrace", "environ", "mem", "fd"]
            .into_iter()
            .filter(|what| client.contains(&format!("PROBE-{what}-ok")))
            .collect();
        assert!(
            reached.is_empty(),
            "{way:?}: the recorded user reached her recorder by {reached:?}:\n{client}"
        );
        let uids: Vec<u32> = client
            .lines()
            .find_map(|l| l.strip_prefix("PROBE-uids"))
            .map(|l| {
                l.split_whitespace()
                    .filter_map(|u| u.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let acct_uid = acct_uid.expect("hardened world has a recorder account");
        assert_eq!(
            uids,
            vec![acct_uid; 4],
            "{way:?}: the recorder's real/effective/saved/fs uids are not all tlog-rs ({acct_uid}):\n{client}"
        );
        let comm = client
            .lines()
            .find_map(|l| l.strip_prefix("PROBE-comm "))
            .unwrap_or("")
            .trim();
        assert!(
            // tlog-rec-session: the name Cockpit matches (_COMM).
            comm.starts_with("tlog-rs-rec") || comm.starts_with("tlog-rec"),
            "{way:?}: the shell's parent is {comm:?}, not the recorder:\n{client}"
        );
    }
}

/// AT_SECURE from a process's auxiliary vector (read as root).
fn at_secure(pid: u32) -> Option<u64> {
    let auxv = fs::read(format!("/proc/{pid}/auxv")).ok()?;
    auxv.chunks_exact(16).find_map(|pair| {
        let key = u64::from_ne_bytes(pair[..8].try_into().unwrap());
        let val = u64::from_ne_bytes(pair[8..].try_into().unwrap());
        (key == libc::AT_SECURE).then_some(val)
    })
}

#[test]
fn recorder_runs_in_secure_execution_mode() {
    // Asserts: for ssh with and without a tty and su -, the kernel started the
    // recorder with AT_SECURE = 1, so the loader ignores LD_PRELOAD,
    // LD_LIBRARY_PATH, LD_AUDIT... for it, whatever the user's environment.
    if !require_root("recorder_runs_in_secure_execution_mode") {
        return;
    }
    let w = World::start(config("h9-atsecure", 2830, &["alice"], ""));
    for (i, way) in ALL_WAYS.into_iter().enumerate() {
        // The session tells its recorder's pid and waits until it was read.
        let dir = w.dir.join(format!("handshake-{i}"));
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let cmd = format!(
            "echo $PPID > {d}/pid.tmp && mv {d}/pid.tmp {d}/pid; \
             n=0; while [ ! -e {d}/go ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; echo secure-done",
            d = dir.display()
        );
        let secure = std::thread::scope(|s| {
            let session = s.spawn(|| seen(&session(&w, "alice", way, Some(&cmd), b"", &[])));
            let mut secure = None;
            for _ in 0..600 {
                if let Some(pid) = fs::read_to_string(dir.join("pid"))
                    .ok()
                    .and_then(|p| p.trim().parse::<u32>().ok())
                {
                    secure = Some(at_secure(pid));
                    break;
                }
                if session.is_finished() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            fs::write(dir.join("go"), "").unwrap();
            let client = session.join().unwrap();
            assert!(
                client.contains("secure-done"),
                "{way:?}: session did not run: {client}"
            );
            secure
        });
        assert_eq!(
            secure,
            Some(Some(1)),
            "{way:?}: the recorder's AT_SECURE (None: pid or auxv not found)"
        );
    }
}
