//! Issue 9, what the set-uid recorder still has to do once the recording
//! process runs as the `tlog-rs` account and the user's shell as the user:
//! end the session on sshd's hang-up, pass window resizes on, and be told
//! apart from the user by uid in the logs; and pam_tlog's evidence when root
//! kills the recorder.
//!
//! All in the hardened world (Debian's stock /etc/pam.d/sshd, the recorder
//! set-uid to `tlog-rs` as `make install` does it).

mod hardening_common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use hardening_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::World;

/// Poll `cond` every 100 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// Processes that have `uid` as real, effective, saved or fs uid:
/// (pid, command line).
fn processes_of(uid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let has_uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .is_some_and(|l| l.split_whitespace().any(|u| u == uid.to_string()));
        if has_uid {
            let cmd = fs::read(e.path().join("cmdline"))
                .map(|c| text(&c).replace('\0', " ").trim().to_string())
                .unwrap_or_default();
            found.push((pid, cmd));
        }
    }
    found
}

/// The user's uid in the world.
fn uid_of(w: &World, user: &str) -> u32 {
    w.users.iter().find(|u| u.name == user).expect("user").uid
}

/// The last `"event":"end"` entry of the user's sidecar.
fn end_entry(w: &World, user: &str) -> Option<serde_json::Value> {
    events(w, user)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "end")
        .last()
}

/// Everything `child` wrote to stdout and stderr (after it ended).
fn drain(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut s);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

#[test]
fn hangup_ends_the_session_under_the_setuid_recorder() {
    // The ssh client is SIGKILLed while the interactive shell waits for a
    // foreground `sleep` and has a background one, so sshd hangs up the
    // recorder's terminal. The recorder can no longer signal the user's
    // shell (other uid); it closes the inner pty's master, whose hang-up the
    // kernel delivers to the shell and its foreground job, and bash passes it
    // to its jobs. Asserts: the recorder writes its end entry with reason
    // `recorder_signal`, signal 1 (SIGHUP); within 20 s no process of the
    // user is left (shell, both sleeps, sshd's session process); the session
    // up to the hang-up is recorded; the log and its sidecar belong to the
    // recorder account, not to the user.
    if !require_root("hangup_ends_the_session_under_the_setuid_recorder") {
        return;
    }
    let w = World::start(config("h9-hangup", 2900, &["alice"], ""));
    let uid = uid_of(&w, "alice");
    let acct = w
        .recorder_account
        .expect("hardened world has a recorder account");
    let mut client = w
        .ssh_cmd("alice", &["-tt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh");
    // stdin stays open until the kill: EOF would end the shell by itself.
    let mut stdin = client.stdin.take().unwrap();
    stdin
        .write_all(b"echo hangup-$((40+2))-mark; sleep 1000 & sleep 1001\n")
        .unwrap();
    let sleeping = wait_until(Duration::from_secs(30), || {
        let p = processes_of(uid);
        ["sleep 1000", "sleep 1001"]
            .iter()
            .all(|s| p.iter().any(|(_, c)| c == s))
    });
    if !sleeping {
        let _ = client.kill();
        let _ = client.wait();
        panic!(
            "the session did not start its sleeps; client: {}\nprocesses: {:?}\nsshd: {}",
            drain(&mut client),
            processes_of(uid),
            w.sshd_log()
        );
    }
    client.kill().unwrap();
    client.wait().unwrap();
    drop(stdin);

    let gone = wait_until(Duration::from_secs(20), || {
        end_entry(&w, "alice").is_some() && processes_of(uid).is_empty()
    });
    let left = processes_of(uid);
    let end = end_entry(&w, "alice");
    assert!(
        gone,
        "after the hang-up: end entry {end:?}, processes of alice left: {left:?}\nevents:\n{}\nsshd: {}",
        events(&w, "alice"),
        w.sshd_log()
    );
    let end = end.unwrap();
    assert_eq!(
        (end["end_reason"].as_str(), end["signal"].as_i64()),
        (Some("recorder_signal"), Some(libc::SIGHUP as i64)),
        "end entry of a hang-up: {end}"
    );
    assert!(
        field_text(&w.recording("alice"), "out_txt").contains("hangup-42-mark"),
        "the session before the hang-up is not recorded:\n{}",
        w.recording("alice")
    );
    let mut sidecar = w.rec_path("alice").into_os_string();
    sidecar.push(".events");
    for p in [w.rec_path("alice"), sidecar.into()] {
        let m = fs::metadata(&p).unwrap();
        assert_eq!(
            (m.uid(), m.mode() & 0o777),
            (acct.uid, 0o600),
            "{}: owner and mode (alice is {uid})",
            p.display()
        );
    }
}
