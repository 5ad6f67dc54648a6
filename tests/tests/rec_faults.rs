//! What tlog-rs-rec does when the log cannot be written, and when the
//! recorder itself is signalled or killed, with the session start/end
//! entries as evidence. (Missing journal socket and /dev/log are covered by
//! the sinks' own tests.)

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use tlog_rs_tests::rec::{events, messages, rec_bin, wait_for, TempDir};
use tlog_rs_tests::require_root;

/// A copy of tlog-rs-rec that another user can run even if the build
/// directory is private (e.g. a checkout under /root).
fn rec_copy_for_others(dir: &TempDir) -> String {
    let p = dir.path("tlog-rs-rec");
    std::fs::copy(rec_bin(), &p).unwrap();
    Command::new("chmod").arg("755").arg(&p).status().unwrap();
    p.display().to_string()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn unwritable_log_refuses_the_session() {
    let dir = TempDir::new("fault-open");
    let marker = dir.path("ran");
    let log = dir.path("no/such/dir/rec.log");
    let out = Command::new(rec_bin())
        .arg("-o")
        .arg(&log)
        .args(["/bin/sh", "-c", &format!("touch {}", marker.display())])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to start the session"), "{err}");
    assert!(err.contains(log.to_str().unwrap()), "{err}");
    assert!(!marker.exists(), "the program ran without a log");
}

#[test]
fn unwritable_log_file_for_the_user_refuses_the_session() {
    if !require_root("unwritable_log_file_for_the_user_refuses_the_session") {
        return;
    }
    let dir = TempDir::new("fault-perm");
    let log = dir.write("root-only.log", b"");
    Command::new("chmod").arg("600").arg(&log).status().unwrap();
    let marker = dir.path("ran");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(rec_copy_for_others(&dir))
        .arg("-o")
        .arg(&log)
        .args(["/bin/sh", "-c", &format!("touch {}", marker.display())])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
    assert!(!marker.exists());
}

/// Record with the log file replaced by /dev/full (bind mount in a private
/// namespace) so that writes fail mid-session with ENOSPC.
fn dev_full_session(dir: &TempDir, mode: &str) -> (std::process::Output, std::path::PathBuf) {
    let log = dir.write("full.log", b"");
    let marker = dir.path("second-ran");
    let script = format!(
        "echo first; sleep 2; echo second; touch {}",
        marker.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind /dev/full {log} && exec \"$@\"",
            log = log.display()
        ))
        .arg("sh")
        .arg(rec_bin())
        .arg("-o")
        .arg(&log)
        .args([
            "--latency=1",
            &format!("--sink-failure={mode}"),
            "/bin/sh",
            "-c",
            &script,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out, marker)
}

#[test]
fn dev_full_mid_session_ends_the_session_in_strict_mode() {
    if !require_root("dev_full_mid_session_ends_the_session_in_strict_mode") {
        return;
    }
    let dir = TempDir::new("fault-full");
    let (out, marker) = dev_full_session(&dir, "strict");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("ending the session"), "{err}");
    assert_eq!(out.stdout, b"first\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!marker.exists(), "the session went on unrecorded");
    let ev = events(&dir.path("full.log"));
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0]["event"], "start");
    assert_eq!(ev[1]["event"], "end");
    assert_eq!(ev[1]["end_reason"], "sink_failure");
    assert_eq!(ev[1]["exit_status"], 1);
}

#[test]
fn dev_full_mid_session_warns_and_counts_in_warn_mode() {
    if !require_root("dev_full_mid_session_warns_and_counts_in_warn_mode") {
        return;
    }
    let dir = TempDir::new("fault-full-warn");
    let (out, marker) = dev_full_session(&dir, "warn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("NOT being recorded") || err.contains("WARNING"),
        "{err}"
    );
    assert_eq!(out.stdout, b"first\nsecond\n");
    assert!(marker.exists());
    let ev = events(&dir.path("full.log"));
    let end = ev.iter().find(|e| e["event"] == "end").expect("end entry");
    assert_eq!(end["end_reason"], "exit");
    assert!(end["messages_lost"].as_u64().unwrap() >= 1, "{end}");
    assert_eq!(end["messages_written"], 0);
}

/// Start a recording whose program prints its pid and sleeps; return the
/// recorder child, the program's pid and the log path.
fn sleeping_session(dir: &TempDir) -> (std::process::Child, i32, std::path::PathBuf) {
    let log = dir.path("rec.log");
    let mut child = Command::new(rec_bin())
        .arg("-o")
        .arg(&log)
        .args(["/bin/sh", "-c", "echo started $$; exec sleep 30"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid: i32 = line
        .trim()
        .strip_prefix("started ")
        .unwrap()
        .parse()
        .unwrap();
    (child, pid, log)
}

fn recorder_signal(sig: libc::c_int) {
    let dir = TempDir::new(&format!("fault-sig{sig}"));
    let (mut child, prog, log) = sleeping_session(&dir);
    // SAFETY: signalling the recorder we started.
    unsafe { libc::kill(child.id() as i32, sig) };
    let status = child.wait().unwrap();
    // The recorder dies of the same signal (its parent sees 128+sig).
    assert_eq!(status.signal(), Some(sig), "{status:?}");
    // The pending output was flushed to the log at once (latency is 10 s).
    let m = messages(&log);
    assert!(m[0]["out_txt"].as_str().unwrap().starts_with("started "));
    let ev = events(&log);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[1]["end_reason"], "recorder_signal");
    assert_eq!(ev[1]["signal"], sig);
    assert_eq!(ev[1]["exit_status"], 128 + sig);
    assert_eq!(ev[1]["messages_written"], 1);
    // The session does not go on unrecorded.
    assert!(
        wait_for(Duration::from_secs(2), || !alive(prog)),
        "program survived"
    );
}

#[test]
fn sigterm_of_the_recorder_flushes_and_logs_the_end() {
    recorder_signal(libc::SIGTERM);
}

#[test]
fn sighup_of_the_recorder_flushes_and_logs_the_end() {
    recorder_signal(libc::SIGHUP);
}

#[test]
fn sigkill_of_the_recorder_leaves_no_end_entry() {
    let dir = TempDir::new("fault-kill");
    let (mut child, prog, log) = sleeping_session(&dir);
    child.kill().unwrap();
    child.wait().unwrap();
    let ev = events(&log);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["event"], "start");
    // SAFETY: cleaning up the orphaned program.
    unsafe { libc::kill(prog, libc::SIGKILL) };
}

#[test]
fn recorder_is_not_dumpable_for_its_user() {
    if !require_root("recorder_is_not_dumpable_for_its_user") {
        return;
    }
    let dir = TempDir::new("fault-dump");
    Command::new("chmod")
        .arg("777")
        .arg(&dir.0)
        .status()
        .unwrap();
    let as_nobody = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(args);
        c
    };
    let log = dir.path("rec.log");
    let rec_path = rec_copy_for_others(&dir);
    let mut rec = as_nobody(&[&rec_path, "-o", log.to_str().unwrap(), "/bin/sleep", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut plain = as_nobody(&["/bin/sleep", "5"]).spawn().unwrap();
    assert!(wait_for(Duration::from_secs(2), || log.exists()));
    let read_environ = |pid: u32| {
        as_nobody(&["cat", &format!("/proc/{pid}/environ")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    // Control: the same user can read a normal process of its own.
    assert!(read_environ(plain.id()), "control process not readable");
    assert!(
        !read_environ(rec.id()),
        "the user can read the recorder's memory-backed /proc files"
    );
    let _ = rec.kill();
    let _ = plain.kill();
    let _ = rec.wait();
    let _ = plain.wait();
}

#[test]
fn sigterm_in_pty_mode_restores_the_terminal() {
    let dir = TempDir::new("fault-pty-term");
    let log = dir.path("rec.log");
    let rec = rec_bin().display().to_string();
    // While recording, the terminal is raw (-isig -icanon); after the
    // recorder is killed with SIGTERM it is back to normal.
    let out = tlog_rs_tests::rec::in_pty(&format!(
        "{rec} -o {} sh -c 'echo inpty; sleep 5' </dev/null & P=$!; sleep 0.7; \
         echo during: $(stty -a | grep -o -- '-\\?icanon\\|-\\?isig'); kill -TERM $P; wait $P; \
         echo rc=$?; echo after: $(stty -a | grep -o -- '-\\?icanon\\|-\\?isig')",
        log.display()
    ));
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("during: -isig -icanon"), "{text}");
    assert!(text.contains("rc=143"), "{text}");
    assert!(text.contains("after: isig icanon"), "{text}");
    let ev = events(&log);
    assert_eq!(ev[1]["end_reason"], "recorder_signal");
    assert!(ev[1]["tty"].as_str().unwrap().starts_with("/dev/pts/"));
}
