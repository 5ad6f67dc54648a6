//! Harness for the recorder end-to-end tests (tests/tests/rec_*.rs): temp
//! dirs, running tlog-rs-rec / tlog-rs-rec-session / Debian's tlog-rec, and
//! playing logs back with Debian's tlog-play.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{artifact, require_program};

pub use crate::TempDir;

pub fn rec_bin() -> PathBuf {
    artifact("tlog-rs-rec")
}

pub fn session_bin() -> PathBuf {
    artifact("tlog-rs-rec-session")
}

/// What tlog-play appends when it exits (reset attributes, show cursor, NUL).
pub const PLAY_TRAILER: &[u8] = b"\x1b[0m\x1b[?25h\n\0";

/// Play a log with Debian's tlog-play at full speed (`-g end`) and return what
/// it printed without its exit trailer. stdin is a pipe kept open: tlog-play
/// spins on /dev/null. Panics with tlog-play's stderr if it fails.
pub fn play(log: &Path, extra: &[&str]) -> Vec<u8> {
    let tlog_play = require_program("tlog-play", "tlog");
    let mut child = Command::new(tlog_play)
        .args(["-g", "end", "-i"])
        .arg(log)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tlog-play");
    let _keep_open = child.stdin.take();
    let out = child.wait_with_output().expect("tlog-play output");
    assert!(
        out.status.success(),
        "tlog-play failed on {}: {}",
        log.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut o = out.stdout;
    if o.ends_with(PLAY_TRAILER) {
        o.truncate(o.len() - PLAY_TRAILER.len());
    }
    o
}

/// Run a shell command line under `script` so the recorder sees a tty
/// (PTY mode); stdin is /dev/null. Returns script's output.
pub fn in_pty(cmdline: &str) -> Output {
    let script = require_program("script", "bsdutils");
    Command::new(script)
        .args(["-qec", cmdline, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script")
}

/// Parsed messages of a log file (one JSON object per line).
pub fn messages(log: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// Session start/end entries the file writer put next to the log.
pub fn events(log: &Path) -> Vec<serde_json::Value> {
    let mut p = log.as_os_str().to_owned();
    p.push(".events");
    messages(Path::new(&p))
}

/// Poll until `cond` holds or `timeout` passes; returns whether it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Shell-quote one argument for `sh -c`.
pub fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Deterministic pseudo-random bytes (xorshift), for big test inputs.
pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Base64-like printable text lines (76 chars + '\n') of about `n` bytes.
pub fn text_lines(n: usize, seed: u64) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let raw = pseudo_random(n, seed);
    let mut out = Vec::with_capacity(n + n / 76);
    for (i, b) in raw.iter().enumerate() {
        out.push(ALPHABET[(*b & 63) as usize]);
        if i % 76 == 75 {
            out.push(b'\n');
        }
    }
    out.push(b'\n');
    out
}

/// A shell command run in a private mount namespace where /etc is an overlay
/// holding `/etc/tlog-rs/rec-session.conf` = `conf` (the host's /etc is not
/// touched). Needs root. `body` is a bash script run after the setup.
pub fn with_session_conf(dir: &TempDir, conf: &str, body: &str) -> Command {
    let ovl = dir.path("etc-ovl");
    for d in ["up", "work"] {
        std::fs::create_dir_all(ovl.join(d)).expect("overlay dirs");
    }
    let conf_file = dir.write("rec-session.conf", conf.as_bytes());
    let setup = format!(
        "set -e; mount -t overlay tlogrs-etc -o lowerdir=/etc,upperdir={up},workdir={work} /etc; \
         mkdir -p /etc/tlog-rs; cp {conf} /etc/tlog-rs/rec-session.conf; set +e\n{body}",
        up = ovl.join("up").display(),
        work = ovl.join("work").display(),
        conf = conf_file.display(),
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "bash", "-c", &setup]);
    c
}
