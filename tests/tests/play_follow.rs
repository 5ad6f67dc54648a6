//! `tlog-rs play -f` on a recording that Debian's tlog-rec is still
//! writing: every line arrives while the session runs, paced like the
//! session, and the player keeps following until stopped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tlog_rs_tests::play::tlog_rs;
use tlog_rs_tests::rec::{wait_for, TempDir};
use tlog_rs_tests::require_program;

#[test]
fn follow_shows_each_line_of_a_live_recording() {
    let tlog_rec = require_program("tlog-rec", "tlog");
    let dir = TempDir::new("play-follow");
    let log = dir.path("live.log");
    let n = 12;
    let mut rec = Command::new(tlog_rec)
        .args(["--latency=1", "-o"])
        .arg(&log)
        .args([
            "/bin/bash",
            "-c",
            &format!("for i in $(seq 1 {n}); do echo follow-line-$i; sleep 0.2; done"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || log.exists()),
        "tlog-rec created the log"
    );
    let start = Instant::now();
    let mut player = Command::new(tlog_rs())
        .args(["play", "-f"])
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _keep_open = player.stdin.take();
    let (tx, rx) = mpsc::channel();
    let out = player.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut rec_done = None;
    while seen.len() < n && start.elapsed() < Duration::from_secs(20) {
        if rec_done.is_none() && rec.try_wait().unwrap().is_some() {
            rec_done = Some(Instant::now());
        }
        if let Ok(x) = rx.recv_timeout(Duration::from_millis(50)) {
            seen.push(x);
        }
    }
    let rec_done = rec_done.unwrap_or_else(|| {
        rec.wait().unwrap();
        Instant::now()
    });
    let lines: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
    let want: Vec<String> = (1..=n).map(|i| format!("follow-line-{i}")).collect();
    assert_eq!(lines, want, "every line, in order");
    assert!(
        seen[0].1 < rec_done,
        "the first line arrived while the session was still running"
    );
    // Paced like the session (200 ms apart), not dumped in one go.
    let spread = seen[n - 1].1 - seen[0].1;
    assert!(
        spread >= Duration::from_millis(1200),
        "lines spread over {spread:?}"
    );
    // Still following after the recording ended; stops cleanly on SIGTERM.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        player.try_wait().unwrap().is_none(),
        "play -f keeps following"
    );
    // SAFETY: kill on the pid of the child we spawned.
    unsafe { libc::kill(player.id() as libc::pid_t, libc::SIGTERM) };
    let st = player.wait().unwrap();
    assert_eq!(
        st.code(),
        Some(128 + libc::SIGTERM),
        "exit status after SIGTERM"
    );
}

#[test]
fn follow_on_a_terminal_shows_lines_as_they_are_recorded() {
    let tlog_rec = require_program("tlog-rec", "tlog");
    let dir = TempDir::new("play-follow-tty");
    let log = dir.path("live.log");
    let n = 10;
    let mut rec = Command::new(tlog_rec)
        .args(["--latency=1", "-o"])
        .arg(&log)
        .args([
            "/bin/bash",
            "-c",
            &format!("for i in $(seq 1 {n}); do echo tty-line-$i; sleep 0.3; done"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || log.exists()),
        "tlog-rec created the log"
    );
    let t = tlog_rs_tests::play::Tmux::start(
        "follow",
        80,
        25,
        &format!("{} play -f {}", tlog_rs().display(), log.display()),
    );
    // Early lines show up while the session is still running.
    // Pipe-mode output has bare LFs, so lines step right: compare trimmed.
    let shown =
        |pane: &[String], i: usize| pane.iter().any(|l| l.trim() == format!("tty-line-{i}"));
    assert!(
        wait_for(Duration::from_secs(10), || shown(&t.capture(), 2)),
        "line 2 shown:\n{}",
        t.capture().join("\n")
    );
    assert!(
        rec.try_wait().unwrap().is_none(),
        "…before the recording ended"
    );
    assert!(rec.wait().unwrap().success());
    assert!(
        wait_for(Duration::from_secs(10), || (1..=n)
            .all(|i| shown(&t.capture(), i))),
        "all lines:\n{}",
        t.capture().join("\n")
    );
    let pane = t.capture();
    assert!(
        pane.iter().any(|l| l.contains("(following)")),
        "status says following:\n{}",
        pane.join("\n")
    );
}
