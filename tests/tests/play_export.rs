//! `tlog-rs export --format asciicast`: the file is valid asciicast v2
//! (strict checks), and Debian's asciinema plays back exactly the output
//! that tlog-play plays from the same recording.

use std::path::Path;
use std::process::{Command, Stdio};

use tlog_rs_tests::play::{tlog_play_end, tlog_rs, TLOG_EXIT};
use tlog_rs_tests::rec::{in_pty, sq, TempDir};
use tlog_rs_tests::require_program;

fn export(log: &Path, out: &Path, extra: &[&str]) {
    let o = Command::new(tlog_rs())
        .args(["export", "--format", "asciicast"])
        .args(extra)
        .arg(log)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Strict asciicast v2 check; returns (header, events).
fn parse_cast(path: &Path) -> (serde_json::Value, Vec<(f64, String, String)>) {
    let text = std::fs::read_to_string(path).expect("asciicast is UTF-8");
    let mut lines = text.lines();
    let header: serde_json::Value =
        serde_json::from_str(lines.next().expect("header")).expect("header is JSON");
    assert_eq!(header["version"], 2);
    assert!(header["width"].as_u64().is_some_and(|w| w > 0), "width");
    assert!(header["height"].as_u64().is_some_and(|h| h > 0), "height");
    assert!(
        header.get("timestamp").is_none_or(|t| t.is_u64()),
        "timestamp is an integer"
    );
    let mut events = Vec::new();
    let mut last = 0.0;
    for (i, l) in lines.enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("event {i}: {e}: {l}"));
        let a = v
            .as_array()
            .unwrap_or_else(|| panic!("event {i} is not an array"));
        assert_eq!(a.len(), 3, "event {i}");
        let t = a[0].as_f64().unwrap_or_else(|| panic!("event {i}: time"));
        assert!(t >= last, "event {i}: time goes back");
        last = t;
        let code = a[1].as_str().expect("code").to_string();
        assert!(
            ["o", "i", "r"].contains(&code.as_str()),
            "event {i}: code {code}"
        );
        let data = a[2].as_str().expect("data").to_string();
        if code == "r" {
            let (c, r) = data.split_once('x').expect("COLSxROWS");
            assert!(
                c.parse::<u16>().is_ok() && r.parse::<u16>().is_ok(),
                "resize {data}"
            );
        }
        events.push((t, code, data));
    }
    (header, events)
}

/// What asciinema 2.x prints for a cast (`asciinema cat` needs a tty).
fn asciinema_cat(cast: &Path, dir: &TempDir) -> Vec<u8> {
    let asciinema = require_program("asciinema", "asciinema");
    let out = dir.path("cat.out");
    let line = format!(
        "{} cat {} > {}",
        asciinema.display(),
        sq(cast.to_str().unwrap()),
        sq(out.to_str().unwrap())
    );
    let r = in_pty(&line);
    assert!(
        r.status.success(),
        "asciinema cat: {}",
        String::from_utf8_lossy(&r.stdout)
    );
    std::fs::read(out).unwrap()
}

fn tlog_play_text(log: &Path) -> Vec<u8> {
    let o = tlog_play_end(log, &[]);
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout[..o.stdout.len() - TLOG_EXIT.len()])
        .into_owned()
        .into_bytes()
}

#[test]
fn pty_recording_with_input_and_resize_round_trips_through_asciinema() {
    let tlog_rec = require_program("tlog-rec", "tlog");
    let dir = TempDir::new("play-export");
    let log = dir.path("pty.log");
    let cmd = r#"read -r l; echo "got: $l"; printf '\033[32mgreen\033[0m 你好\n'; sleep 0.2; stty -F $T cols 100 rows 30; sleep 0.3; tput cols"#;
    in_pty(&format!(
        "export T=$(tty); stty cols 90 rows 20; (sleep 0.3; echo typed; sleep 2) | {} --log-input -o {} /bin/bash -c {}",
        tlog_rec.display(),
        sq(log.to_str().unwrap()),
        sq(cmd)
    ));
    let cast = dir.path("pty.cast");
    export(&log, &cast, &["--input"]);
    let (header, events) = parse_cast(&cast);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(90), Some(20)),
        "first window"
    );
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["env"]["TERM"], first["term"],
        "TERM of the recording"
    );
    let start = first["time"].as_f64().unwrap() as u64;
    assert_eq!(header["timestamp"].as_u64(), Some(start));
    assert!(
        events.iter().any(|(_, c, d)| c == "r" && d == "100x30"),
        "resize event: {events:?}"
    );
    let input: String = events
        .iter()
        .filter(|(_, c, _)| c == "i")
        .map(|(_, _, d)| d.as_str())
        .collect();
    assert_eq!(input, "typed\n");
    assert_eq!(asciinema_cat(&cast, &dir), tlog_play_text(&log));
    // Without --input there is no input event.
    let cast2 = dir.path("noinput.cast");
    export(&log, &cast2, &[]);
    assert!(parse_cast(&cast2).1.iter().all(|(_, c, _)| c != "i"));
}

#[test]
fn pipe_recording_with_invalid_utf8_round_trips() {
    let tlog_rec = require_program("tlog-rec", "tlog");
    let dir = TempDir::new("play-export-pipe");
    let log = dir.path("pipe.log");
    let cmd = r#"for i in $(seq 1 40); do echo "line $i é 你好"; done; printf 'bad:\377\376 trunc:\342\202 end\n'; sleep 0.3; echo done"#;
    let st = Command::new(tlog_rec)
        .args(["--payload=100", "-o"])
        .arg(&log)
        .args(["/bin/bash", "-c", cmd])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let cast = dir.path("pipe.cast");
    export(&log, &cast, &[]);
    let (header, events) = parse_cast(&cast);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(80), Some(24)),
        "no window record: 80x24"
    );
    assert!(events.last().unwrap().0 >= 0.25, "timing kept (sleep 0.3)");
    assert_eq!(asciinema_cat(&cast, &dir), tlog_play_text(&log));
}
