//! `tlog-rs validate`: every problem as FILE:LINE: reason, exit 0/1/2; and
//! `tlog-rs check` showing the fail-secure decision for broken inputs.
//! Needs no root: files live in a temp dir and `check` runs for root, who
//! exists everywhere.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;
use tlog_rs_tests::artifact;
use tlog_rs_tests::nsenv::NsEnv;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(artifact("tlog-rs"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_reports_every_problem_with_file_and_line() {
    // NsEnv is only used as a unique temp dir here (no namespace).
    let dir = NsEnv::new("validate");
    let recorder = artifact("tlog-rs"); // any existing file will do as recorder
    let sssd = dir.write(
        "sssd.conf",
        "[session_recording]\nscope = some\nusers = alice\nexclude_users = bob\ndebug_level = 9\ncolour = blue\n",
    );
    let snippet = dir.write("conf.d/10-x.conf", "[session_recording]\nusers = carol\n");
    let good = dir.write(
        "good.toml",
        format!(
            "recorder = \"{}\"\n[sssd]\nconf = \"{}\"\n[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n",
            recorder.display(),
            sssd.display()
        ),
    );
    let (rc, out, _) = run(&["validate", "--policy", good.to_str().unwrap()]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("valid"), "{out}");
    // SSSD-accepted oddities are warnings with their lines.
    assert!(
        out.contains(&format!(
            "warning: {}:4: exclude_users is ignored with scope = some",
            sssd.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("warning: {}:6: unknown key", sssd.display())),
        "{out}"
    );
    assert!(
        !out.contains(":5: unknown key"),
        "debug_level is ignored silently by SSSD: {out}"
    );
    // A snippet SSSD would skip (group/other may read it) is named, not merged.
    assert!(
        out.contains(&format!(
            "warning: {}: SSSD skips this snippet: mode 0644",
            snippet.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("SSSD refuses to start unless only the owner can read it"),
        "{out}"
    );

    // Several errors in one file are all reported.
    let bad = dir.write(
        "bad.toml",
        "[[rule]]\nname = \"a\"\naction = \"maybe\"\nusers = [\"x\"]\n\n[[rule]]\nname = \"b\"\ngroups = []\n",
    );
    let (rc, out, _) = run(&["validate", "--policy", bad.to_str().unwrap()]);
    assert_eq!(rc, 1, "{out}");
    let b = bad.display();
    assert!(
        out.contains(&format!("error: {b}:3: rule \"a\": action = \"maybe\"")),
        "{out}"
    );
    assert!(
        out.contains(&format!("error: {b}:8: rule \"b\": groups = []")),
        "{out}"
    );
    assert!(
        out.contains("every login is recorded (fail-secure)"),
        "{out}"
    );

    // Invalid scope in an included sssd.conf: the sssd file and line.
    let bad_sssd = dir.write("bad-sssd.conf", "[session_recording]\n\nscope = everyone\n");
    let p = dir.write(
        "p.toml",
        format!("[sssd]\nconf = \"{}\"\n", bad_sssd.display()),
    );
    let (rc, out, _) = run(&["validate", "--policy", p.to_str().unwrap()]);
    assert_eq!(rc, 1);
    assert!(
        out.contains(&format!(
            "error: {}:3: [session_recording] scope = \"everyone\"",
            bad_sssd.display()
        )),
        "{out}"
    );

    // A missing recorder is an error even though the policy loads.
    let p = dir.write("norec.toml", "recorder = \"/nonexistent/recorder\"\n");
    let (rc, out, _) = run(&["validate", "--policy", p.to_str().unwrap()]);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("recorder /nonexistent/recorder does not exist"),
        "{out}"
    );
    assert!(!out.contains("fail-secure"), "{out}");

    // Missing file, usage errors.
    let (rc, out, _) = run(&["validate", "--policy", "/nonexistent/policy.toml"]);
    assert_eq!(rc, 1);
    assert!(
        out.contains("/nonexistent/policy.toml: file not found"),
        "{out}"
    );
    assert_eq!(run(&["validate", "--bogus"]).0, 2);
    assert_eq!(run(&["validate", "--policy"]).0, 2);
}

#[test]
fn check_shows_fail_secure_decision_for_broken_inputs() {
    let dir = NsEnv::new("check-broken");
    let truncated = dir.write("ipa.json", "{\"format\": \"tlog-rs-freeipa-cache\", \"vers");
    let cases = [
        (
            "malformed.toml",
            "[[rule]\n".to_string(),
            "malformed.toml:1",
        ),
        (
            "unknown.toml",
            "[[rule]]\nname = \"x\"\nuserz = [\"root\"]\n".into(),
            "unknown.toml:3",
        ),
        (
            "ipa.toml",
            format!("[freeipa]\ncache = \"{}\"\n", truncated.display()),
            "ipa.json",
        ),
    ];
    for (name, text, want) in cases {
        let p = dir.write(name, text);
        let (rc, out, err) = run(&[
            "check",
            "root",
            "--service",
            "sshd",
            "--json",
            "--policy",
            p.to_str().unwrap(),
        ]);
        assert_eq!(rc, 1, "{name}: {out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["record"], true, "{name}");
        assert_eq!(v["source"], "error", "{name}");
        assert_eq!(v["rule"], "fail-secure");
        assert!(
            v["policy_error"].as_str().unwrap().contains(want),
            "{name}: {v}"
        );
        assert!(!v["env"]["TLOG_REC_SESSION_SHELL"]
            .as_str()
            .unwrap()
            .is_empty());
        // The text form says so in words.
        let (_, text_out, _) = run(&["check", "root", "--policy", p.to_str().unwrap()]);
        assert!(text_out.contains("ERROR:"), "{text_out}");
        assert!(text_out.contains("decision:  RECORDED"), "{text_out}");
        assert!(text_out.contains("fail-secure"), "{text_out}");
    }
}

#[test]
fn validate_warns_when_the_recorder_is_not_set_uid_to_its_own_account() {
    let dir = NsEnv::new("validate-setuid");
    let plain = dir.write("rec-plain", "#!/bin/sh\n");
    let policy = dir.write("p.toml", format!("recorder = \"{}\"\n", plain.display()));
    let (rc, out, _) = run(&["validate", "--policy", policy.to_str().unwrap()]);
    assert_eq!(rc, 0, "a warning, not an error: {out}");
    assert!(
        out.contains(&format!(
            "warning: the recorder {} is not set-uid to its own account",
            plain.display()
        )),
        "{out}"
    );
    if !tlog_rs_tests::is_root() {
        return;
    }
    // Set-uid to a non-root account: protected, no warning.
    let protected = dir.write("rec-setuid", "#!/bin/sh\n");
    std::os::unix::fs::chown(&protected, Some(64_999), Some(0)).unwrap();
    std::fs::set_permissions(&protected, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let policy = dir.write(
        "p2.toml",
        format!("recorder = \"{}\"\n", protected.display()),
    );
    let (rc, out, _) = run(&["validate", "--policy", policy.to_str().unwrap()]);
    assert_eq!(rc, 0, "{out}");
    assert!(!out.contains("not set-uid"), "{out}");
}
