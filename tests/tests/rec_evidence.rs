//! Evidence the recorder leaves about itself (issue "Hardening"): a stop and
//! resume of the recorder is an entry in the `.events` sidecar, job-control
//! stops are ignored, and the end entry names the id range of the messages.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use tlog_rs_tests::rec::{events, messages, rec_bin, wait_for, TempDir};

/// A recording (file writer, pipe mode) whose program reads one line and
/// echoes it. Returns once the program runs.
fn reading_session(dir: &TempDir) -> (Child, BufReader<ChildStdout>, std::path::PathBuf) {
    let log = dir.path("rec.log");
    let mut child = Command::new(rec_bin())
        .arg("-o")
        .arg(&log)
        .args(["/bin/sh", "-c", "echo started; read x; echo got $x; exit 3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "started\n");
    (child, out, log)
}

/// Process state letter from /proc/PID/stat ('T' = stopped).
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
        .unwrap_or('?')
}

/// Feed the line, then wait (bounded) for the echo and the session's end.
/// A stopped recorder fails here instead of hanging the test.
fn finish(mut child: Child, mut out: BufReader<ChildStdout>) -> std::process::ExitStatus {
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\n").unwrap();
    drop(stdin);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        let _ = tx.send(line);
    });
    let echoed = rx.recv_timeout(Duration::from_secs(30));
    let mut status = None;
    let ended = echoed.is_ok()
        && wait_for(Duration::from_secs(30), || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(echoed.as_deref(), Ok("got hello\n"), "the session stalled");
    status.expect("the recording did not end")
}

fn sig(pid: u32, s: libc::c_int) {
    // SAFETY: signalling the recorder this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, s) }, 0);
}

#[test]
fn a_stopped_and_resumed_recorder_leaves_a_resumed_entry() {
    let dir = TempDir::new("evidence-stop");
    let (child, out, log) = reading_session(&dir);
    let pid = child.id();
    sig(pid, libc::SIGSTOP);
    assert!(
        wait_for(Duration::from_secs(10), || state(pid) == 'T'),
        "not stopped"
    );
    assert!(events(&log).iter().all(|e| e["event"] != "resumed"));
    sig(pid, libc::SIGCONT);
    assert!(
        wait_for(Duration::from_secs(10), || events(&log)
            .iter()
            .any(|e| e["event"] == "resumed")),
        "no resumed entry: {:?}",
        events(&log)
    );
    let status = finish(child, out);
    assert_eq!(status.code(), Some(3));

    let ev = events(&log);
    let kinds: Vec<_> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "resumed", "end"], "{ev:?}");
    let (start, resumed, end) = (&ev[0], &ev[1], &ev[2]);
    assert_eq!(resumed["rec"], start["rec"]);
    assert!(resumed["end"].is_null());
    let t = |e: &serde_json::Value| e["time"].as_f64().unwrap();
    assert!(t(start) <= t(resumed) && t(resumed) <= t(end), "{ev:?}");
    // "started\n" was logged before the stop: the entry says so.
    assert!(resumed["bytes_out"].as_u64().unwrap() >= 8, "{resumed}");
    assert_eq!(end["end_reason"], "exit");
    assert_eq!(end["exit_status"], 3);
}

#[test]
fn job_control_stops_do_not_stop_the_recorder() {
    let dir = TempDir::new("evidence-tstp");
    let (child, out, log) = reading_session(&dir);
    let pid = child.id();
    for s in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        sig(pid, s);
    }
    // A stopped recorder would not pass the line on: finish() would time out.
    let status = finish(child, out);
    assert_eq!(status.code(), Some(3));
    let ev = events(&log);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[1]["end_reason"], "exit");
}

#[test]
fn the_end_entry_names_the_id_range_of_the_messages() {
    let dir = TempDir::new("evidence-ids");
    let (child, out, log) = reading_session(&dir);
    assert_eq!(finish(child, out).code(), Some(3));
    let ids: Vec<u64> = messages(&log)
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert!(!ids.is_empty());
    let end = events(&log).pop().unwrap();
    assert_eq!(end["event"], "end");
    assert_eq!(end["first_id"], ids[0]);
    assert_eq!(end["last_id"], *ids.last().unwrap());
    assert_eq!(end["messages_written"], ids.len() as u64);
    assert_eq!(events(&log)[0]["first_id"], serde_json::Value::Null);
}

/// A pipe whose buffer is already full: whoever writes to it blocks.
fn full_pipe() -> (std::fs::File, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just returned these fds; we own them.
    let (r, w) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    // SAFETY: F_SETFL on our own fd; the fill below must not block.
    unsafe { libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) };
    let page = [b'.'; 4096];
    // SAFETY: writing from a valid buffer to our own fd.
    while unsafe { libc::write(fds[1], page.as_ptr().cast(), page.len()) } > 0 {}
    // SAFETY: as above; the recorder gets a blocking stdout.
    unsafe { libc::fcntl(fds[1], libc::F_SETFL, 0) };
    (r, w)
}

#[test]
fn the_latency_flush_happens_while_the_output_is_blocked() {
    // The user's side does not take output (a stalled client): the recorder
    // blocks writing "marker" to it. The data was logged to the encoder
    // before the write, and the latency deadline must still get it to the
    // log, so that a SIGKILL now loses nothing older than the latency.
    let dir = TempDir::new("evidence-blocked");
    let log = dir.path("rec.log");
    let (_reader, full) = full_pipe();
    let mut child = Command::new(rec_bin())
        .args(["--latency=1", "-o"])
        .arg(&log)
        .args(["/bin/sh", "-c", "echo marker; exec sleep 20"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(full))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let logged = |m: &str| {
        messages(&log)
            .iter()
            .any(|v| v["out_txt"].as_str().unwrap_or("").contains(m))
    };
    let flushed = wait_for(Duration::from_secs(30), || logged("marker"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        flushed,
        "the blocked recorder held the output past the latency"
    );
}
