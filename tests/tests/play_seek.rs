//! Interactive playback in a real terminal (tmux): pause, step, speed,
//! rewind and seek. After every action the pane must show exactly the
//! screen of a straight replay to that position (same emulator, no
//! checkpoints), and the status line must say where we are.

use std::time::Duration;

use tlog_rs_tests::play::{busy_session, screen_at, tlog_rs, write_recording, Tmux};
use tlog_rs_tests::rec::{wait_for, TempDir};

/// "[paused] 0:24 / 1:00  x4" -> (paused, seconds, speed text).
fn status(pane: &[String]) -> Option<(bool, u64, String)> {
    let line = pane
        .iter()
        .rev()
        .find(|l| l.contains("[paused] ") || l.contains("[playing] "))?;
    let paused = line.contains("[paused] ");
    let at = line.find("[paused] ").or_else(|| line.find("[playing] "))?;
    let line = &line[at..];
    let mut words = line.split_whitespace().skip(1);
    let pos = words.next()?;
    let (m, s) = pos.split_once(':')?;
    let secs = m.parse::<u64>().ok()? * 60 + s.parse::<u64>().ok()?;
    let speed = line
        .split_whitespace()
        .find(|w| w.starts_with('x'))?
        .to_string();
    Some((paused, secs, speed))
}

/// Wait until the pane is paused at `secs` with the recording's screen at
/// that point in its first 24 rows; panic with both screens if not.
fn expect_screen(t: &Tmux, log: &std::path::Path, secs: u64, what: &str) {
    let want = screen_at(log, &secs.to_string());
    let mut pane = Vec::new();
    let ok = wait_for(Duration::from_secs(10), || {
        pane = t.capture();
        let rows: Vec<&str> = pane.iter().take(24).map(String::as_str).collect();
        let want_rows: Vec<&str> = want.iter().take(24).map(String::as_str).collect();
        let padded: Vec<&str> = rows
            .iter()
            .copied()
            .chain(std::iter::repeat(""))
            .take(24)
            .collect();
        let want_padded: Vec<&str> = want_rows
            .iter()
            .copied()
            .chain(std::iter::repeat(""))
            .take(24)
            .collect();
        status(&pane).is_some_and(|(p, s, _)| p && s == secs) && padded == want_padded
    });
    assert!(
        ok,
        "{what}: expected paused at {secs} s with screen\n{}\n---- pane ----\n{}",
        want.join("\n"),
        pane.join("\n")
    );
}

#[test]
fn pause_step_speed_rewind_and_seek_match_straight_replay() {
    let dir = TempDir::new("play-seek");
    let log = dir.path("busy.log");
    write_recording(&log, "seek-test", (80, 24), &busy_session());
    // One row more than the recording: the status line has its own row.
    // Checkpoints every few hundred bytes, so seeks go through many of them.
    let cmd = format!(
        "{} play -p --checkpoint-bytes 300 {}",
        tlog_rs().display(),
        log.display()
    );
    let t = Tmux::start("seek", 80, 25, &cmd);

    expect_screen(&t, &log, 0, "start paused");
    t.keys(&["."]);
    expect_screen(&t, &log, 1, "step");
    t.keys(&["."]);
    expect_screen(&t, &log, 2, "second step");
    t.keys(&["-l", "20G"]);
    expect_screen(&t, &log, 20, "typed time + G (tlog-play's goto)");

    // x4, play a little, pause: wherever it stopped, the screen must match.
    t.keys(&["}", "}"]);
    assert!(
        wait_for(Duration::from_secs(5), || status(&t.capture())
            .is_some_and(|(_, _, sp)| sp == "x4")),
        "speed x4 shown"
    );
    t.keys(&["Space"]);
    std::thread::sleep(Duration::from_millis(800));
    t.keys(&["Space"]);
    let mut stopped = None;
    assert!(wait_for(Duration::from_secs(5), || {
        stopped = status(&t.capture()).filter(|s| s.0).map(|s| s.1);
        stopped.is_some()
    }));
    let s = stopped.unwrap();
    assert!(s > 20, "playing at x4 moved on from 20 s (now {s} s)");
    expect_screen(&t, &log, s, "paused after playing at x4");

    // Rewind 10 s (left arrow), across the alternate-screen part.
    t.keys(&["Left"]);
    expect_screen(&t, &log, s - 10, "rewind 10 s");
    // g + time + Enter goes anywhere: forward into the full-screen program…
    t.keys(&["g", "-l", "29.5"]);
    t.keys(&["Enter"]);
    expect_screen(&t, &log, 29, "g 29.5 Enter");
    // …and back out of it.
    t.keys(&["g", "-l", "0:12"]);
    t.keys(&["Enter"]);
    expect_screen(&t, &log, 12, "g 0:12 Enter");
    t.keys(&["Right"]);
    expect_screen(&t, &log, 22, "forward 10 s");
    t.keys(&["BSpace"]);
    assert!(
        wait_for(Duration::from_secs(5), || status(&t.capture())
            .is_some_and(|(_, _, sp)| sp == "x1")),
        "speed reset"
    );
    t.keys(&["G"]);
    expect_screen(&t, &log, 60, "G to the end (still paused)");
    // At the end and playing: tlog-play exits there, and so do we, leaving
    // the last screen without the status line.
    t.keys(&["Space"]);
    let last = screen_at(&log, "60");
    assert!(
        wait_for(Duration::from_secs(10), || {
            let pane = t.capture();
            status(&pane).is_none() && pane.iter().take(23).eq(last.iter().take(23))
        }),
        "G played to the end and exited leaving the last screen:\n{}",
        t.capture().join("\n")
    );
}

#[test]
fn window_size_mismatch_is_reported_and_clipped() {
    let dir = TempDir::new("play-window");
    let log = dir.path("wide.log");
    write_recording(&log, "window-test", (100, 30), &busy_session());
    let t = Tmux::start(
        "window",
        60,
        20,
        &format!("{} play -p -g 8 {}", tlog_rs().display(), log.display()),
    );
    let want = screen_at(&log, "8");
    let mut pane = Vec::new();
    let ok = wait_for(Duration::from_secs(10), || {
        pane = t.capture();
        pane.last()
            .is_some_and(|l| l.contains("recording 100x30, terminal 60x20: clipped"))
    });
    assert!(ok, "size notice on the status line:\n{}", pane.join("\n"));
    // Rows are clipped to the terminal (the last column is kept free), not
    // wrapped or scrolled: row i of the pane is the start of row i.
    for (i, row) in pane.iter().take(19).enumerate() {
        let w = want.get(i).map(|r| take_cols(r, 59)).unwrap_or_default();
        assert_eq!(row.trim_end(), w.trim_end(), "row {i}");
    }
}

/// The first `n` terminal columns of a row (CJK ideographs are 2 wide).
fn take_cols(s: &str, n: usize) -> String {
    let mut cols = 0;
    let mut out = String::new();
    for c in s.chars() {
        let w = if ('\u{4e00}'..='\u{9fff}').contains(&c) {
            2
        } else {
            1
        };
        if cols + w > n {
            break;
        }
        cols += w;
        out.push(c);
    }
    out
}

#[test]
fn status_line_can_be_turned_off() {
    let dir = TempDir::new("play-nostatus");
    let log = dir.path("busy.log");
    write_recording(&log, "nostatus-test", (80, 24), &busy_session());
    let cmd = format!(
        "{} play -p --no-status -g 9 {}",
        tlog_rs().display(),
        log.display()
    );
    // Same size as the recording: no size notice either.
    let t = Tmux::start("nostatus", 80, 24, &cmd);
    let want = screen_at(&log, "9");
    let rows = |pane: &[String]| pane.iter().take(24).cloned().collect::<Vec<_>>();
    let mut want24: Vec<String> = want.iter().take(24).cloned().collect();
    want24.resize(24, String::new());
    assert!(
        wait_for(Duration::from_secs(10), || rows(&t.capture()) == want24),
        "screen at 9 s"
    );
    std::thread::sleep(Duration::from_millis(300));
    let pane = t.capture();
    assert!(
        status(&pane).is_none(),
        "no status line:\n{}",
        pane.join("\n")
    );
    // The goto prompt still shows while typing, then goes away.
    t.keys(&["g", "-l", "3"]);
    assert!(
        wait_for(Duration::from_secs(5), || t
            .capture()
            .iter()
            .any(|l| l.contains("goto: 3_"))),
        "prompt shown"
    );
    t.keys(&["Enter"]);
    let want3 = screen_at(&log, "3");
    assert!(
        wait_for(Duration::from_secs(5), || {
            let p = t.capture();
            status(&p).is_none() && p.iter().zip(&want3).all(|(a, b)| a == b)
        }),
        "at 3 s without status:\n{}",
        t.capture().join("\n")
    );
}

#[test]
fn keys_work_when_output_goes_to_a_file() {
    let dir = TempDir::new("play-keys-file");
    let log = dir.path("busy.log");
    write_recording(&log, "keys-file", (80, 24), &busy_session());
    let out = dir.path("out");
    let done = dir.path("done");
    let cmd = format!(
        "{} play -p {} > {}; touch {}",
        tlog_rs().display(),
        log.display(),
        out.display(),
        done.display()
    );
    let t = Tmux::start("keys-file", 80, 25, &cmd);
    let len = || std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(len(), 0, "paused: nothing written");
    // `.` writes the next packet (the burst at 1 s) and stays paused.
    t.keys(&["."]);
    let first = busy_session()[0].out.clone();
    assert!(
        wait_for(Duration::from_secs(5), || len() == first.len() as u64),
        "one step written"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        first,
        "still paused after the step"
    );
    // G: everything, at once, then exit.
    t.keys(&["G"]);
    assert!(
        wait_for(Duration::from_secs(5), || done.exists()),
        "G played to the end and exited"
    );
    let all: Vec<u8> = busy_session()
        .iter()
        .flat_map(|s| s.out.clone())
        .chain(b"\x1b[0m\x1b[?25h\n".iter().copied())
        .collect();
    assert_eq!(std::fs::read(&out).unwrap(), all);
}
