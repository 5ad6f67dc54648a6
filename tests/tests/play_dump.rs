//! `tlog-rs play` to a file or pipe: byte-identical to Debian's tlog-play
//! (without its NUL) on tlog 12.1's own samples and on recordings made here
//! by tlog-rec and tlog-rs-rec; timed playback takes the recorded time;
//! errors stop at the offending line after playing what came before; a
//! /dev/null stdin does not spin.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tlog_rs_tests::play::{
    assert_same_dump, our_play_end, tlog_play_end, tlog_rs, OUR_EXIT, TLOG_EXIT,
};
use tlog_rs_tests::rec::{in_pty, pseudo_random, sq, TempDir};
use tlog_rs_tests::{require_program, target_dir};

/// The recorder's stdin in these pty runs: a pipe that stays open until the
/// recorded program is done, however slow the machine (EOF would end the
/// session early; a tty would make Debian's utempter fail). A FIFO, because
/// the shell `script` starts may be dash.
const OPEN_STDIN: &str = "f=$(mktemp -u); mkfifo \"$f\"; sleep 300 >\"$f\" & keep=$!;";
const CLOSE_STDIN: &str = "<\"$f\"; kill $keep; rm -f \"$f\"";

/// The tlog 12.1 samples in the shared reference directory, next to the
/// repository (CI has a copy there); None if not present.
fn samples_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/tlog-samples");
    d.is_dir().then_some(d)
}

#[test]
fn tlog_12_1_samples_play_like_tlog_play() {
    let Some(dir) = samples_dir() else {
        eprintln!("SKIP: shared/reference/tlog-samples not found next to the repository");
        return;
    };
    for name in [
        "pipe-mode",
        "pty-mode-input-resize",
        "multi-message-payload64",
        "rec-session",
    ] {
        let log = dir.join(format!("{name}.log"));
        let ours = assert_same_dump(&log, &[]);
        // And the output tlog-play gave when the samples were made.
        let stored = std::fs::read(dir.join(format!("{name}.play.out"))).unwrap();
        assert_eq!(
            ours,
            stored[..stored.len() - 1],
            "{name}: stored tlog-play output"
        );
    }
    let lax = dir.join("drop-ratelimit.log");
    assert_same_dump(&lax, &["--lax"]);
}

/// Commands whose recordings exercise the format: invalid UTF-8, escapes,
/// control bytes, several messages, and (in a pty) colours and a resize.
const PIPE_CMD: &str = r#"printf 'caf\303\251 bad:\377\376 trunc:\342\202 end\t"q" \\ \001\177\n'; for i in 1 2 3 4 5; do echo "line $i $(seq -s ' ' 1 30)"; done; printf '\342\202'; sleep 0.1; printf '\254 euro\n'"#;
/// Run under `script` with $T the outer terminal (the recorder's), so a
/// resize of $T is what the recorder sees.
const PTY_CMD: &str = r#"printf '\033[1;31mred\033[0m \033[7mrev\033[0m\n'; sleep 0.2; stty -F $T cols 120 rows 40; sleep 0.3; tput cols; printf '\344\275\240\345\245\275\r\n\033[2J\033[Hcleared\n'"#;

fn record_debian(dir: &TempDir, name: &str, extra: &[&str], cmd: &str, pty: bool) -> PathBuf {
    let tlog_rec = require_program("tlog-rec", "tlog");
    let log = dir.path(name);
    if pty {
        // tlog-rec's stdin: a pipe that stays open (EOF would end the
        // session; a tty would make Debian's utempter fail).
        let line = format!(
            "export T=$(tty); stty cols 90 rows 20; {} {} {} -o {} /bin/bash -c {} {}",
            OPEN_STDIN,
            tlog_rec.display(),
            extra.join(" "),
            sq(log.to_str().unwrap()),
            sq(cmd),
            CLOSE_STDIN
        );
        in_pty(&line);
    } else {
        let st = Command::new(tlog_rec)
            .args(extra)
            .arg("-o")
            .arg(&log)
            .args(["/bin/bash", "-c", cmd])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "tlog-rec {name}");
    }
    assert!(
        std::fs::metadata(&log)
            .map(|m| m.len() > 0)
            .unwrap_or(false),
        "tlog-rec wrote {name}"
    );
    log
}

#[test]
fn recordings_by_debian_tlog_rec_play_like_tlog_play() {
    let dir = TempDir::new("play-dump-debian");
    let pipe = record_debian(&dir, "pipe.log", &["--payload=64"], PIPE_CMD, false);
    assert!(
        std::fs::read_to_string(&pipe).unwrap().lines().count() > 5,
        "several messages"
    );
    assert_same_dump(&pipe, &[]);
    let pty = record_debian(&dir, "pty.log", &["--log-input"], PTY_CMD, true);
    assert!(
        std::fs::read_to_string(&pty).unwrap().contains("=120x40"),
        "resize recorded"
    );
    assert_same_dump(&pty, &[]);
    // Random bytes: runs of binary and text, packets split at 4 KiB.
    let bin = dir.write("random.bin", &pseudo_random(300_000, 7));
    let binlog = record_debian(
        &dir,
        "bin.log",
        &[],
        &format!("cat {}", sq(bin.to_str().unwrap())),
        false,
    );
    let out = assert_same_dump(&binlog, &[]);
    assert_eq!(
        out[..out.len() - OUR_EXIT.len()],
        std::fs::read(&bin).unwrap()[..],
        "binary output is the file"
    );
}

#[test]
fn recordings_by_tlog_rs_rec_play_like_tlog_play() {
    let rec = target_dir().join("tlog-rs-rec");
    if !rec.exists() {
        eprintln!("SKIP: tlog-rs-rec not built (cargo build --workspace)");
        return;
    }
    let dir = TempDir::new("play-dump-ours");
    let log = dir.path("ours.log");
    let st = Command::new(&rec)
        .args(["--payload=64", "-o"])
        .arg(&log)
        .args(["/bin/bash", "-c", PIPE_CMD])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "tlog-rs-rec");
    assert_same_dump(&log, &[]);
    let pty = dir.path("ours-pty.log");
    in_pty(&format!(
        "export T=$(tty); stty cols 90 rows 20; {} {} -o {} /bin/bash -c {} {}",
        OPEN_STDIN,
        rec.display(),
        sq(pty.to_str().unwrap()),
        sq(PTY_CMD),
        CLOSE_STDIN
    ));
    assert!(
        std::fs::read_to_string(&pty).unwrap().contains("=120x40"),
        "resize recorded"
    );
    assert_same_dump(&pty, &[]);
}

/// Time `tlog-rs play FILE > pipe` with an open, idle stdin.
fn timed_play(log: &Path, extra: &[&str]) -> (Duration, Vec<u8>) {
    let t = Instant::now();
    let out = tlog_rs_tests::play::run_open_stdin(
        Command::new(tlog_rs()).arg("play").args(extra).arg(log),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (t.elapsed(), out.stdout)
}

#[test]
fn timed_playback_takes_the_recorded_time() {
    let dir = TempDir::new("play-timing");
    let log = record_debian(
        &dir,
        "t.log",
        &[],
        "echo start; sleep 1.5; echo middle; sleep 0.5; echo end",
        false,
    );
    let (d1, out) = timed_play(&log, &[]);
    let (d2, out2) = timed_play(&log, &["-s", "2"]);
    let (d3, _) = timed_play(&log, &["-g", "1.5"]);
    // The recorded span is ~2.0 s: generous bounds, no tight timing.
    assert!(
        d1 >= Duration::from_millis(1600) && d1 <= Duration::from_millis(2600),
        "speed 1 took {d1:?}"
    );
    assert!(
        d2 >= Duration::from_millis(800) && d2 <= Duration::from_millis(1400),
        "speed 2 took {d2:?}"
    );
    assert!(
        d3 <= Duration::from_millis(900),
        "-g 1.5 skips the first 1.5 s: took {d3:?}"
    );
    assert_eq!(out, b"start\nmiddle\nend\n\x1b[0m\x1b[?25h\n");
    assert_eq!(out, out2);
}

#[test]
// The child is reaped with wait4, which also gives its CPU time.
#[allow(clippy::zombie_processes)]
fn dev_null_stdin_does_not_spin() {
    let dir = TempDir::new("play-devnull");
    let log = record_debian(&dir, "idle.log", &[], "echo a; sleep 1; echo b", false);
    let child = Command::new(tlog_rs())
        .args(["play"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 reaps only our own child.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut ru), pid);
        ru
    };
    let cpu = Duration::from_secs((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) as u64)
        + Duration::from_micros((ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) as u64);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "exit status {status}"
    );
    assert!(
        cpu < Duration::from_millis(300),
        "a 1 s playback used {cpu:?} of CPU: spinning?"
    );
}

#[test]
fn errors_stop_at_the_offending_line_after_playing_what_came_before() {
    let dir = TempDir::new("play-errors");
    let good = record_debian(
        &dir,
        "good.log",
        &["--payload=64"],
        "for i in $(seq 1 12); do echo \"line $i: the quick brown fox\"; done",
        false,
    );
    let lines: Vec<String> = std::fs::read_to_string(&good)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(lines.len() >= 4, "several messages");
    // Message 3 missing: an id gap at line 3 of the file.
    let mut gap = lines.clone();
    gap.remove(2);
    let gap_log = dir.write("gap.log", (gap.join("\n") + "\n").as_bytes());
    let ours = our_play_end(&gap_log, &[]);
    let theirs = tlog_play_end(&gap_log, &[]);
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(
        theirs.status.code(),
        Some(1),
        "tlog-play rejects the gap too"
    );
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(
        err.contains("gap.log: line 3:") && err.contains("id"),
        "error names file, line and field: {err}"
    );
    assert_eq!(
        ours.stdout,
        theirs.stdout[..theirs.stdout.len() - 1],
        "played up to the error, like tlog-play"
    );
    assert!(ours.stdout.starts_with(b"line 1: the quick brown fox\n"));
    // --lax accepts the gap, like tlog-play --lax.
    assert_same_dump(&gap_log, &["--lax"]);
    // A broken field: the message is named with its line.
    let mut bad = lines.clone();
    bad[1] = bad[1].replace("\"timing\":\"", "\"timing\":\"?");
    let bad_log = dir.write("bad.log", (bad.join("\n") + "\n").as_bytes());
    let ours = our_play_end(&bad_log, &[]);
    assert_eq!(ours.status.code(), Some(1));
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(
        err.contains("bad.log: line 2:") && err.contains("timing"),
        "{err}"
    );
    assert!(ours.stdout.ends_with(OUR_EXIT) && !ours.stdout.ends_with(TLOG_EXIT));
    // Missing file: a plain error.
    let out = our_play_end(&dir.path("missing.log"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.log"));
}

#[test]
fn file_match_selects_one_of_several_recordings() {
    let dir = TempDir::new("play-match");
    let a = record_debian(&dir, "a.log", &[], "echo from-a-1; echo from-a-2", false);
    let b = record_debian(&dir, "b.log", &[], "echo from-b", false);
    let mut both = std::fs::read(&a).unwrap();
    both.extend(std::fs::read(&b).unwrap());
    let both_log = dir.write("both.log", &both);
    let rec_of = |p: &Path| -> String {
        let first = std::fs::read_to_string(p).unwrap();
        let v: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
        v["rec"].as_str().unwrap().to_string()
    };
    for (p, want) in [(&a, "from-a-1\nfrom-a-2\n"), (&b, "from-b\n")] {
        let rec = rec_of(p);
        let out = assert_same_dump(&both_log, &["-m", &rec]);
        assert_eq!(&out[..out.len() - OUR_EXIT.len()], want.as_bytes());
    }
}
