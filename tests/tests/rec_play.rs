//! Debian's tlog-play plays what tlog-rs-rec recorded, byte for byte.

use std::process::{Command, Stdio};

use tlog_rs_tests::rec::{self, in_pty, messages, play, rec_bin, sq, TempDir};

/// Record `sh -c script` in pipe mode; return (stdout, log path).
fn record_pipe(dir: &TempDir, opts: &[&str], script: &str) -> (Vec<u8>, std::path::PathBuf) {
    let log = dir.path("rec.log");
    let out = Command::new(rec_bin())
        .arg("-o")
        .arg(&log)
        .args(opts)
        .args(["/bin/sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("run tlog-rs-rec");
    assert!(
        out.status.success(),
        "tlog-rs-rec failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.stdout, log)
}

#[test]
fn text_and_escapes_play_back_identically() {
    let dir = TempDir::new("play-text");
    let (stdout, log) = record_pipe(
        &dir,
        &[],
        r#"echo hello; sleep 0.2; printf 'caf\303\251 tab\t"q" \\ \001\177 \344\275\240\345\245\275\n'; printf 'no newline'"#,
    );
    assert!(stdout.starts_with(b"hello\ncaf\xc3\xa9"));
    assert_eq!(play(&log, &[]), stdout);
    let m = messages(&log);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["ver"], "2.3");
    assert_eq!(m[0]["id"], 1);
    assert_eq!(m[0]["pos"], 0);
    // The 0.2 s sleep shows up as a delay in the timing.
    assert!(
        m[0]["timing"].as_str().unwrap().contains("+2"),
        "{}",
        m[0]["timing"]
    );
}

#[test]
fn invalid_utf8_and_binary_play_back_identically() {
    let dir = TempDir::new("play-bin");
    let data = rec::pseudo_random(256 * 1024, 7);
    let bin = dir.write("random.bin", &data);
    // Incomplete sequences split across writes, then raw random bytes.
    let script = format!(
        r#"printf 'trunc:\342\202'; sleep 0.1; printf '\254 ok \377\376 \340\200 \n'; cat {}"#,
        sq(&bin.display().to_string())
    );
    let (stdout, log) = record_pipe(&dir, &[], &script);
    assert!(stdout.starts_with("trunc:€ ok ".as_bytes()));
    assert_eq!(&stdout[stdout.len() - data.len()..], &data[..]);
    assert_eq!(play(&log, &[]), stdout);
    let m = messages(&log);
    assert!(m
        .iter()
        .any(|m| !m["out_bin"].as_array().unwrap().is_empty()));
}

#[test]
fn payload_64_gives_many_messages_in_order() {
    let dir = TempDir::new("play-p64");
    let (stdout, log) = record_pipe(
        &dir,
        &["--payload=64"],
        r#"for i in 1 2 3 4 5 6; do echo "line $i: the quick brown fox"; sleep 0.05; done; printf '\377%.0s' 1 2 3 4 5 6 7 8 9 10; echo"#,
    );
    let m = messages(&log);
    assert!(m.len() >= 5, "only {} messages", m.len());
    for (i, msg) in m.iter().enumerate() {
        assert_eq!(msg["id"], i as u64 + 1);
        let payload = msg["timing"].as_str().unwrap().len()
            + serde_json::to_string(&msg["out_txt"]).unwrap().len()
            - 2
            + msg["out_bin"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.to_string().len() + 1)
                .sum::<usize>();
        assert!(payload <= 64 + 1, "message {} has payload {payload}", i + 1);
    }
    assert_eq!(play(&log, &[]), stdout);
}

#[test]
fn twenty_megabytes_of_output() {
    let dir = TempDir::new("play-20m");
    let text = rec::text_lines(20_000_000, 3);
    let f = dir.write("big.txt", &text);
    let (stdout, log) = record_pipe(&dir, &[], &format!("cat {}", sq(&f.display().to_string())));
    assert_eq!(stdout.len(), text.len());
    assert!(
        play(&log, &[]) == text,
        "playback differs from the 20 MB output"
    );
}

#[test]
fn stdout_and_stderr_stay_separate_and_both_are_recorded() {
    let dir = TempDir::new("play-stderr");
    let log = dir.path("rec.log");
    let out = Command::new(rec_bin())
        .arg("-o")
        .arg(&log)
        .args([
            "/bin/sh",
            "-c",
            "echo to-out; sleep 0.1; echo to-err >&2; exit 3",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"to-out\n");
    assert_eq!(out.stderr, b"to-err\n");
    assert_eq!(play(&log, &[]), b"to-out\nto-err\n");
}

#[test]
fn log_input_records_what_was_typed() {
    let dir = TempDir::new("play-input");
    let log = dir.path("rec.log");
    let mut child = Command::new(rec_bin())
        .arg("-o")
        .arg(&log)
        .args([
            "--log-input",
            "/bin/sh",
            "-c",
            "read a; echo \"got $a\"; cat",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"first\n\xffbin\n").unwrap();
        // EOF on our stdin closes the program's stdin: `cat` ends.
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"got first\n\xffbin\n");
    let m = messages(&log);
    let in_txt: String = m
        .iter()
        .map(|m| m["in_txt"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(in_txt, "first\n\u{fffd}bin\n");
    assert_eq!(m[0]["in_bin"], serde_json::json!([255]));
    assert_eq!(play(&log, &[]), out.stdout);
    // Without --log-input nothing typed is logged.
    let log2 = dir.path("noinput.log");
    let out = Command::new(rec_bin())
        .arg("-o")
        .arg(&log2)
        .args(["/bin/cat"])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(messages(&log2).iter().all(|m| m["in_txt"] == ""));
}

#[test]
fn pty_mode_window_changes_and_playback() {
    let dir = TempDir::new("play-pty");
    let log = dir.path("rec.log");
    let inner = "read -r line; echo \"got: $line\"; sleep 0.2; stty -F $T cols 132 rows 43; sleep 0.3; tput cols; tput lines; printf '\\344\\275\\240\\n'; echo bye";
    let cmdline = format!(
        "export TERM=xterm; stty cols 80 rows 24; export T=$(tty); (sleep 0.4; printf 'echo typed \\377\\n'; sleep 0.8) | {} --log-input -o {} /bin/bash -c {}",
        rec_bin().display(),
        log.display(),
        sq(inner)
    );
    let out = in_pty(&cmdline);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The program ran on a pty: CRLF line ends, and saw the new size.
    let printed = out.stdout;
    assert!(
        printed.windows(9).any(|w| w == b"132\r\n43\r\n"),
        "{}",
        String::from_utf8_lossy(&printed)
    );
    let m = messages(&log);
    let timing: String = m
        .iter()
        .map(|m| m["timing"].as_str().unwrap().to_string())
        .collect();
    assert!(timing.starts_with("=80x24"), "{timing}");
    assert!(timing.contains("=132x43"), "{timing}");
    assert_eq!(m[0]["in_txt"], "echo typed \u{fffd}\n");
    assert_eq!(play(&log, &[]), printed);
}

#[test]
fn latency_flushes_while_the_program_runs() {
    let dir = TempDir::new("play-latency");
    let log = dir.path("rec.log");
    let mut child = Command::new(rec_bin())
        .arg("-o")
        .arg(&log)
        .args(["--latency=1", "/bin/sh", "-c", "echo early; sleep 4"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let flushed = rec::wait_for(std::time::Duration::from_millis(2500), || {
        messages(&log).iter().any(|m| m["out_txt"] == "early\n")
    });
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(flushed, "no message within the 1 s latency");
    assert!(still_running, "the program ended before the check");
}

#[test]
fn pty_mode_exit_status_is_shell_like() {
    let dir = TempDir::new("play-pty-exit");
    let log = dir.path("rec.log");
    let rec = rec_bin().display().to_string();
    let out = in_pty(&format!(
        "{rec} -o {} /bin/sh -c 'echo on-pty; exit 5' </dev/null",
        log.display()
    ));
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.stdout, b"on-pty\r\n");
    let out = in_pty(&format!(
        "{rec} -o {} /bin/sh -c 'kill -9 $$' </dev/null",
        log.display()
    ));
    assert_eq!(out.status.code(), Some(137));
    let ev = rec::events(&log);
    assert_eq!(ev.len(), 4);
    assert!(
        ev[0]["tty"].as_str().unwrap().starts_with("/dev/pts/"),
        "{}",
        ev[0]
    );
    assert_eq!(ev[3]["end_reason"], "signal");
    assert_eq!(ev[3]["exit_status"], 137);
}

#[test]
fn pipe_mode_is_binary_clean_both_ways() {
    // Like scp through a recorded ssh session: binary stdin reaches the
    // program unchanged, EOF is passed on, binary stdout comes back unchanged.
    let dir = TempDir::new("play-scp");
    let log = dir.path("rec.log");
    let data = rec::pseudo_random(1 << 20, 99);
    let input = dir.write("in.bin", &data);
    let out = Command::new(rec_bin())
        .arg("-o")
        .arg(&log)
        .args(["--log-input", "/bin/cat"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == data, "binary data changed on the way through");
    assert!(play(&log, &[]) == data);
    let in_bins: usize = messages(&log)
        .iter()
        .map(|m| m["in_bin"].as_array().unwrap().len())
        .sum();
    assert!(
        in_bins > 100_000,
        "input was not logged as binary: {in_bins}"
    );
}

#[test]
fn interactive_shell_on_a_terminal() {
    // stdin, stdout and stderr all on a terminal (script's pty), keystrokes
    // typed with pauses, like a login over ssh -t.
    let dir = TempDir::new("play-interactive");
    let log = dir.path("rec.log");
    let rec = rec_bin().display().to_string();
    let inner = format!(
        "stty rows 30 cols 100; {rec} -o {} /bin/sh -i; echo rc=$?; echo after: $(stty -a | grep -o -- '-\\?isig')",
        log.display()
    );
    let cmdline = format!(
        "(sleep 0.5; printf 'echo hi-$((1+2))\\r'; sleep 0.4; printf 'stty size\\r'; sleep 0.4; printf 'exit 3\\r'; sleep 1) | script -qec {} /dev/null",
        sq(&inner)
    );
    let out = Command::new("sh").arg("-c").arg(&cmdline).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(text.contains("\nhi-3\n"), "{text}");
    assert!(
        text.contains("\n30 100\n"),
        "window size not copied: {text}"
    );
    assert!(text.contains("rc=3"), "{text}");
    assert!(
        text.contains("after: isig"),
        "terminal not restored: {text}"
    );
    let ev = rec::events(&log);
    assert_eq!(ev[1]["exit_status"], 3);
    assert!(ev[1]["bytes_in"].as_u64().unwrap() >= 20, "{}", ev[1]);
    let played = String::from_utf8_lossy(&play(&log, &[])).replace('\r', "");
    assert!(
        played.contains("hi-3\n") && played.contains("30 100\n"),
        "{played}"
    );
}
