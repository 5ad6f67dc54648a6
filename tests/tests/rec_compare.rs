//! tlog-rs-rec writes the same messages as Debian's tlog-rec (12.1) for the
//! same program output.
//!
//! The comparison, precisely: both recorders run the same program in pipe
//! mode, whose output comes in chunks of at most 4096 bytes separated by
//! 0.3 s sleeps (each chunk one write(), so both read the same packets). Then, message by message:
//! - the number of messages and their `id`s are equal;
//! - `ver`, `user`, `term`, `session`, `in_txt`, `in_bin`, `out_txt`,
//!   `out_bin` are equal (same payload split, same text/binary runs);
//! - `timing` is equal once every delay `+N` is written as `+` (same records,
//!   same runs, same window records); the delays themselves may differ by
//!   scheduling jitter (at most 500 ms each, generous for a loaded CI
//!   machine) but have the same number of digits (so they cost the same
//!   payload);
//! - only `rec`, `time` and `pos` (and the delay values) may differ.

use std::process::{Command, Stdio};

use tlog_rs_tests::rec::{messages, pseudo_random, rec_bin, sq, TempDir};
use tlog_rs_tests::require_program;

fn split_delays(timing: &str) -> (String, Vec<u64>) {
    let mut shape = String::new();
    let mut delays = Vec::new();
    let mut chars = timing.chars().peekable();
    while let Some(c) = chars.next() {
        shape.push(c);
        if c == '+' {
            let mut n = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(*d);
                chars.next();
            }
            delays.push(n.parse().expect("delay digits"));
        }
    }
    (shape, delays)
}

fn compare(payload: &str) {
    let tlog_rec = require_program("tlog-rec", "tlog");
    let dir = TempDir::new(&format!("compare-{payload}"));
    let mut chunks: Vec<Vec<u8>> = vec![
        b"plain text line\n".to_vec(),
        "escapes: tab\t quote\" backslash\\ ctl\x01\x1b[1m del\x7f caf\u{e9} \u{4f60}\u{597d}\n"
            .as_bytes()
            .to_vec(),
        b"invalid: \xff\xfe lone \x80 overlong \xc0\xaf surrogate \xed\xa0\x80 cut \xe2\x82"
            .to_vec(),
        b"\xac continued euro, now 4-byte \xf0\x9f\x98".to_vec(),
        b"\x80 and trailing\n".to_vec(),
    ];
    // At most 4096 bytes each: one write, one read of tlog's buffer size, so
    // no scheduling delay can fall inside a chunk.
    chunks.push(pseudo_random(4_000, 11));
    chunks.push(tlog_rs_tests::rec::text_lines(4_000, 5)[..4_000].to_vec());
    chunks.push(pseudo_random(4_096, 12));
    chunks.push(b"ends with an incomplete sequence \xe4\xbd".to_vec());
    let mut script = String::new();
    for (i, c) in chunks.iter().enumerate() {
        let f = dir.write(&format!("chunk{i}"), c);
        if i > 0 {
            script.push_str("sleep 0.3; ");
        }
        script.push_str(&format!("cat {}; ", sq(&f.display().to_string())));
    }
    let run = |prog: &std::path::Path, log: &std::path::Path| {
        let out = Command::new(prog)
            .arg(format!("--payload={payload}"))
            .arg("-o")
            .arg(log)
            .args(["/bin/sh", "-c", &script])
            .stdin(Stdio::null())
            .env("TERM", "xterm")
            .output()
            .expect("run recorder");
        assert!(
            out.status.success(),
            "{} failed: {}",
            prog.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let (theirs_log, ours_log) = (dir.path("tlog.log"), dir.path("tlog-rs.log"));
    let theirs_out = run(&tlog_rec, &theirs_log);
    let ours_out = run(&rec_bin(), &ours_log);
    assert_eq!(theirs_out, ours_out, "the program printed different things");
    let (theirs, ours) = (messages(&theirs_log), messages(&ours_log));
    assert_eq!(theirs.len(), ours.len(), "number of messages differs");
    assert!(theirs.len() > 1 || payload == "2048");
    for (i, (t, o)) in theirs.iter().zip(&ours).enumerate() {
        let ctx = format!("message {}:\n tlog:    {t}\n tlog-rs: {o}", i + 1);
        for field in [
            "ver", "user", "term", "session", "id", "in_txt", "in_bin", "out_txt", "out_bin",
        ] {
            assert_eq!(t[field], o[field], "field {field} differs in {ctx}");
        }
        let (tshape, tdel) = split_delays(t["timing"].as_str().unwrap());
        let (oshape, odel) = split_delays(o["timing"].as_str().unwrap());
        assert_eq!(
            tshape, oshape,
            "timing differs beyond delay values in {ctx}"
        );
        for (a, b) in tdel.iter().zip(&odel) {
            assert!(
                a.abs_diff(*b) <= 500,
                "delays {a} and {b} differ too much in {ctx}"
            );
            assert_eq!(
                a.to_string().len(),
                b.to_string().len(),
                "delay widths differ in {ctx}"
            );
        }
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(t), keys(o), "field sets differ in {ctx}");
    }
    // Field order and formatting are byte-exact too: compare the raw lines
    // with rec, time, pos and delays masked.
    let mask = |line: &str| {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut l = line.to_string();
        for f in ["rec", "time", "pos"] {
            let key = format!("\"{f}\":");
            let start = l.find(&key).expect("field present") + key.len();
            let end = start + l[start..].find(',').expect("not the last field");
            l.replace_range(start..end, "X");
        }
        let t = v["timing"].as_str().unwrap();
        l.replacen(t, &split_delays(t).0, 1)
    };
    let raw = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    let (traw, oraw) = (raw(&theirs_log), raw(&ours_log));
    for (t, o) in traw.lines().zip(oraw.lines()) {
        assert_eq!(mask(t), mask(o));
    }
}

#[test]
fn same_messages_as_tlog_rec_payload_64() {
    compare("64");
}

#[test]
fn same_messages_as_tlog_rec_default_payload() {
    compare("2048");
}
