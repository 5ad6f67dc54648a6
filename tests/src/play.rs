//! Harness for the playback tests (tests/tests/play_*.rs): running
//! `tlog-rs play/list/export` and Debian's `tlog-play` side by side,
//! synthetic recordings with known timing, and a private tmux server for
//! interactive playback.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tlog_rs_format::{Encoder, RecHeader};

use crate::{artifact, require_program};

pub fn tlog_rs() -> PathBuf {
    artifact("tlog-rs")
}

/// What tlog-play writes at exit: reset attributes, show the cursor, a
/// newline and, by mistake, a NUL. tlog-rs writes it without the NUL.
pub const TLOG_EXIT: &[u8] = b"\x1b[0m\x1b[?25h\n\0";
pub const OUR_EXIT: &[u8] = b"\x1b[0m\x1b[?25h\n";

/// Run with stdin a pipe that stays open until the program exits (tlog-play
/// spins on /dev/null); returns its output.
pub fn run_open_stdin(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let _keep_open = child.stdin.take();
    child.wait_with_output().expect("wait")
}

/// `tlog-play -g end` of `log` plus `extra` args: its full output and rc.
pub fn tlog_play_end(log: &Path, extra: &[&str]) -> Output {
    let tp = require_program("tlog-play", "tlog");
    run_open_stdin(
        Command::new(tp)
            .args(["-g", "end", "-i"])
            .arg(log)
            .args(extra),
    )
}

/// `tlog-rs play -g end` of `log` plus `extra` args.
pub fn our_play_end(log: &Path, extra: &[&str]) -> Output {
    run_open_stdin(
        Command::new(tlog_rs())
            .args(["play", "-g", "end"])
            .arg(log)
            .args(extra),
    )
}

/// Assert that tlog-rs plays `log` exactly like tlog-play (output, minus
/// tlog's NUL, and success), and return the output.
pub fn assert_same_dump(log: &Path, extra: &[&str]) -> Vec<u8> {
    let theirs = tlog_play_end(log, extra);
    let ours = our_play_end(log, extra);
    assert!(
        theirs.status.success(),
        "tlog-play failed on {}: {}",
        log.display(),
        String::from_utf8_lossy(&theirs.stderr)
    );
    assert!(
        ours.status.success(),
        "tlog-rs play failed on {}: {}",
        log.display(),
        String::from_utf8_lossy(&ours.stderr)
    );
    assert!(
        theirs.stdout.ends_with(TLOG_EXIT),
        "tlog-play output ends with its exit sequence"
    );
    let expected = &theirs.stdout[..theirs.stdout.len() - 1];
    if ours.stdout != expected {
        let at = ours
            .stdout
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.stdout.len().min(expected.len()));
        panic!(
            "{}: tlog-rs play -g end differs from tlog-play at byte {at} (ours {} bytes, tlog-play {} bytes without NUL)",
            log.display(),
            ours.stdout.len(),
            expected.len()
        );
    }
    ours.stdout
}

/// One step of a synthetic recording: output at `ms`.
pub struct Step {
    pub ms: u64,
    pub out: Vec<u8>,
}

/// Write a recording with exact, known packet times through the format
/// crate's encoder (what tlog-rec would write for that terminal output).
pub fn write_recording(path: &Path, rec: &str, window: (u16, u16), steps: &[Step]) {
    let header = RecHeader {
        host: "testhost".into(),
        rec: rec.into(),
        user: "auditee".into(),
        term: "xterm".into(),
        session: 7,
    };
    let mut enc = Encoder::new(
        header,
        2048,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_700_000),
    );
    enc.window(Duration::ZERO, window.0, window.1);
    let mut text = Vec::new();
    for s in steps {
        enc.output(Duration::from_millis(s.ms), &s.out);
        // A message every few seconds, like the recorder's latency timer.
        if s.ms % 5000 == 0 {
            enc.flush();
        }
        while let Some(m) = enc.pop_message() {
            text.extend_from_slice(&m);
        }
    }
    enc.cut();
    enc.flush();
    while let Some(m) = enc.pop_message() {
        text.extend_from_slice(&m);
    }
    std::fs::write(path, text).expect("write recording");
}

/// A 60 s, 80x24 "session" with one burst of output per second exactly
/// (t = 1 s .. 60 s): colours, wide characters, clears, scrolling, cursor
/// addressing and a full-screen program on the alternate screen (25..35 s).
/// Position P shows the screen after the burst at floor(P) seconds.
pub fn busy_session() -> Vec<Step> {
    let mut steps = Vec::new();
    for k in 1..=60u64 {
        let mut s = String::new();
        match k {
            25 => s.push_str(
                "\x1b[?1049h\x1b[H\x1b[2J\x1b[44m top bar of a full-screen program \x1b[0m",
            ),
            26..=34 => s.push_str(&format!(
                "\x1b[{};{}H\x1b[1mcell {k}\x1b[0m",
                (k - 24) * 2,
                k * 2 - 40
            )),
            35 => s.push_str("\x1b[?1049l"),
            _ => {}
        }
        if !(25..=34).contains(&k) {
            if k % 7 == 0 {
                s.push_str(&format!("\x1b[2J\x1b[H== page {k} ==\r\n"));
            }
            let words = "lorem ipsum 你好 ".repeat((k % 5) as usize);
            s.push_str(&format!("\x1b[3{}mline {k}: {words}\x1b[0m\r\n", k % 8));
            if k % 4 == 0 {
                for j in 0..6 {
                    s.push_str(&format!("  detail {k}.{j}\r\n"));
                }
            }
        }
        steps.push(Step {
            ms: k * 1000,
            out: s.into_bytes(),
        });
    }
    steps
}

/// The screen after a straight replay to `at` (e.g. "12" or "1:02.5"), as
/// rows with trailing blanks trimmed, from the same emulator the player
/// uses but without its timeline or checkpoints.
pub fn screen_at(log: &Path, at: &str) -> Vec<String> {
    let out = Command::new(tlog_rs())
        .args(["play", "--print-screen-at", at])
        .arg(log)
        .stdin(Stdio::null())
        .output()
        .expect("tlog-rs");
    assert!(
        out.status.success(),
        "print-screen-at failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 screen")
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// A private tmux server (its own socket), killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Start `cmd` (a shell command line) in a detached `cols`x`rows` window.
    pub fn start(tag: &str, cols: u16, rows: u16, cmd: &str) -> Tmux {
        static N: AtomicUsize = AtomicUsize::new(0);
        require_program("tmux", "tmux");
        let socket = format!(
            "tlog-rs-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let t = Tmux { socket };
        let ok = t
            .cmd()
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .arg(format!("TERM=xterm-256color {cmd}; sleep 600"))
            .status()
            .expect("tmux runs")
            .success();
        assert!(ok, "tmux new-session failed");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Type keys (tmux key names: "Left", "Enter", "Space", "BSpace", or
    /// literal text with `-l`).
    pub fn keys(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "0"])
            .args(keys)
            .status()
            .expect("tmux")
            .success();
        assert!(ok, "tmux send-keys {keys:?}");
    }

    /// The visible pane, one string per row, trailing blanks trimmed.
    pub fn capture(&self) -> Vec<String> {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "0"])
            .output()
            .expect("tmux capture");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}
