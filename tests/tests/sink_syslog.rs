//! `tlog-rs-rec -w syslog` against a private rsyslogd behind a private
//! `/dev/log` (mount namespace with an overlay on /dev).

use std::process::Stdio;

use serde_json::Value;
use tlog_rs_tests::daemons::{with_private_dev_log, Rsyslog, TempDir};
use tlog_rs_tests::{artifact, require_program, require_root};

/// More than 2048 bytes of text with multi-byte UTF-8, so that at least one
/// message carries a full default payload.
const SCRIPT: &str = r#"i=0; while [ $i -lt 90 ]; do printf 'line %d: caf\303\251 \344\275\240\345\245\275 "quoted" back\\slash\n' $i; i=$((i+1)); done"#;

/// rsyslog output line: `PRI FACILITY SEVERITY TAG|MSG` (see daemons.rs).
struct Line {
    pri: String,
    facility: String,
    severity: String,
    tag: String,
    msg: String,
}

fn parse(l: &str) -> Line {
    let (head, msg) = l.split_once('|').expect("template has a |");
    let mut h = head.splitn(4, ' ');
    Line {
        pri: h.next().unwrap().into(),
        facility: h.next().unwrap().into(),
        severity: h.next().unwrap().into(),
        tag: h.next().unwrap().into(),
        msg: msg.into(),
    }
}

#[test]
fn syslog_lines_have_facility_priority_and_intact_json() {
    if !require_root("syslog_lines_have_facility_priority_and_intact_json") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let rs = Rsyslog::start("e2e-syslog");
    let scratch = TempDir::new("e2e-syslog-ns");
    let out = with_private_dev_log(
        scratch.root(),
        Some(&rs.socket()),
        false,
        artifact("tlog-rs-rec"),
    )
    .args([
        "-w",
        "syslog",
        "--syslog-facility=local5",
        "--syslog-priority=warning",
    ])
    .args(["--notice=", "sh", "-c", SCRIPT])
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.len() > 3000);

    let ends = rs.wait_lines("\"event\":\"end\"", 1);
    assert_eq!(ends.len(), 1, "no end event in {}", rs.output().display());
    let end_line = parse(&ends[0]);
    assert!(
        end_line.tag.starts_with("tlog-rs["),
        "events use ident tlog-rs: {}",
        end_line.tag
    );
    let end: Value = serde_json::from_str(&end_line.msg).unwrap();
    let rec = end["rec"].as_str().unwrap().to_string();

    let lines: Vec<Line> = rs
        .wait_lines(&format!("\"rec\":\"{rec}\""), 1)
        .iter()
        .map(|l| parse(l))
        .filter(|l| l.tag.starts_with("tlog["))
        .collect();
    assert!(lines.len() >= 2, "several messages");
    let mut text = String::new();
    let mut longest = 0;
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l.pri, ((21 << 3) | 4).to_string(), "local5.warning");
        assert_eq!(l.facility, "local5");
        assert_eq!(l.severity, "warning");
        let m: Value = serde_json::from_str(&l.msg)
            .unwrap_or_else(|e| panic!("JSON damaged in transit ({e}): {}", l.msg));
        assert_eq!(m["id"], i as u64 + 1);
        text.push_str(m["out_txt"].as_str().unwrap());
        longest = longest.max(l.msg.len());
    }
    assert!(
        longest > 2048,
        "a full 2048 payload got through ({longest} bytes)"
    );
    assert_eq!(text, printed, "all output arrived, byte for byte");
    assert_eq!(end["messages_written"], lines.len() as u64);
    assert_eq!(end["messages_dropped"], 0);
}
