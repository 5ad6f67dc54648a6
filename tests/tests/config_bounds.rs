//! Absurd numeric settings are refused with the key and the allowed range:
//! by the recorder at start (environment, command line), exit status 1 and
//! no program run, never an allocation abort; and by `tlog-rs validate`.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use tlog_rs_tests::play::tlog_rs;
use tlog_rs_tests::rec::{rec_bin, TempDir};

#[test]
fn recorder_refuses_out_of_range_settings_without_aborting() {
    let dir = TempDir::new("bounds");
    let marker = dir.path("ran");
    let cases: [(&str, &[&str], &str); 5] = [
        (
            r#"{"payload": 999999999999}"#,
            &[],
            "TLOG_REC_CONF_TEXT:1: \"payload\": must be between 32 and 1048576 bytes, got 999999999999",
        ),
        (
            r#"{"latency": 86401}"#,
            &[],
            "TLOG_REC_CONF_TEXT:1: \"latency\": must be between 1 and 86400 seconds, got 86401",
        ),
        (
            "{\n \"limit\": {\"rate\": 1073741825}}",
            &[],
            "TLOG_REC_CONF_TEXT:2: \"limit.rate\": must be between 0 and 1073741824 bytes per second, got 1073741825",
        ),
        (
            r#"{"limit": {"burst": -1}}"#,
            &[],
            "\"limit.burst\": must be between 0 and 1073741824 bytes, got -1",
        ),
        (
            "{}",
            &["--payload=2097152"],
            "command line: \"payload\": must be between 32 and 1048576 bytes, got 2097152",
        ),
    ];
    for (env, args, want) in cases {
        let out = Command::new(rec_bin())
            .env("TLOG_REC_CONF_TEXT", env)
            .args(args)
            .arg("-o")
            .arg(dir.path("rec.log"))
            .args(["/bin/touch", marker.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            None,
            "{env}: killed by a signal: {err}"
        );
        assert_eq!(out.status.code(), Some(1), "{env}: {err}");
        assert!(err.contains(want), "{env}: {err}");
        assert!(!marker.exists(), "{env}: the program ran");
    }
    // The upper limits themselves are accepted.
    let out = Command::new(rec_bin())
        .env(
            "TLOG_REC_CONF_TEXT",
            r#"{"payload": 1048576, "latency": 86400, "limit": {"rate": 1073741824, "burst": 0}}"#,
        )
        .arg("-o")
        .arg(dir.path("rec.log"))
        .args(["/bin/touch", marker.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success() && marker.exists(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_names_key_line_and_range() {
    let dir = TempDir::new("bounds-validate");
    let policy = dir.write(
        "policy.toml",
        b"recorder = \"/bin/sh\"\n[settings]\nlog_input = true\npayload = 999999999999\n",
    );
    let out = Command::new(tlog_rs())
        .args(["validate", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("policy.toml:2")
            && text.contains(
                "payload = 999999999999: must be between 32 and 1048576 bytes, got 999999999999"
            ),
        "{text}"
    );
}
