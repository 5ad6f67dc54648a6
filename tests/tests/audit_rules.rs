//! `tlog-rs audit-rules` against the real kernel: the generated file loads
//! with `auditctl -R`, `--check` is clean, then names a deleted rule and a
//! stale one. Asserts: the audit state (`auditctl -s` settings, `auditctl
//! -l`) is exactly what it was before; our rules are removed by key even
//! when the test fails (Drop guard). Skips (with a message) where audit
//! netlink is refused (containers, non-initial namespaces) or locked.
//! Audit is never enabled here: rules load while `enabled 0`.

use std::process::Command;

use tlog_rs_tests::nsenv::NsEnv;
use tlog_rs_tests::{artifact, require_program, require_root};

const KEYS: &[&str] = &[
    "tlog-rs-exec",
    "tlog-rs-file",
    "tlog-rs-net",
    "tlog-rs-exit",
    "tlog-rs-stale",
];

fn auditctl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("auditctl").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The settings of `auditctl -s` (counters such as lost/backlog excluded).
fn settings() -> Vec<String> {
    let (_, out, _) = auditctl(&["-s"]);
    out.lines()
        .filter(|l| {
            [
                "enabled ",
                "failure ",
                "rate_limit ",
                "backlog_limit ",
                "backlog_wait_time ",
                "loginuid_immutable ",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

/// Deletes every rule with one of our keys and restores `enabled`, also
/// when the test panics.
struct Restore {
    enabled: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        for k in KEYS {
            // Deletes only the rules with this key (never a plain -D).
            let _ = auditctl(&["-D", "-k", k]);
        }
        let _ = auditctl(&["-e", &self.enabled]);
    }
}

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
fn audit_rules_load_check_drift_and_restore() {
    if !require_root("audit_rules_load_check_drift_and_restore") {
        return;
    }
    require_program("auditctl", "auditd");
    let (ok, status, err) = auditctl(&["-s"]);
    if !ok {
        eprintln!(
            "SKIP audit_rules_load_check_drift_and_restore: audit netlink refused \
             (container or non-initial namespace?): {}",
            err.trim()
        );
        return;
    }
    let enabled = status
        .lines()
        .find_map(|l| l.strip_prefix("enabled "))
        .unwrap()
        .trim()
        .to_string();
    if enabled == "2" {
        eprintln!(
            "SKIP audit_rules_load_check_drift_and_restore: audit rules are locked (enabled 2)"
        );
        return;
    }
    let before_s = settings();
    let (_, before_l, _) = auditctl(&["-l"]);
    assert!(
        !before_l.contains("key=tlog-rs-"),
        "rules of ours are already loaded: {before_l}"
    );

    let env = NsEnv::new("audit-rules");
    // daemon (1) and bin (2): accounts that never log in, so the rules can
    // match nothing even if audit were enabled.
    let policy = env.write(
        "policy.toml",
        "[[rule]]\nname = \"svc\"\nusers = [\"daemon\", \"bin\"]\naudit_level = \"session\"\n",
    );
    let out = env.root().join("50-tlog-rs.rules");
    let p = policy.to_str().unwrap();
    let (rc, _, err) = run(&[
        "audit-rules",
        "--policy",
        p,
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let rules: Vec<&str> = text.lines().filter(|l| l.starts_with("-a ")).collect();
    assert_eq!(rules.len(), 12, "{text}");
    assert!(
        rules.iter().all(|r| r.contains("-F auid>=1 -F auid<=2")),
        "{text}"
    );
    // No temp file left next to the output.
    let left: Vec<_> = std::fs::read_dir(env.root())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    {
        let _restore = Restore {
            enabled: enabled.clone(),
        };
        let (ok, _, err) = auditctl(&["-R", out.to_str().unwrap()]);
        assert!(ok, "auditctl -R refused the generated rules: {err}");

        let (rc, stdout, err) = run(&["audit-rules", "--policy", p, "--check"]);
        assert_eq!(rc, 0, "{stdout}{err}");
        assert!(stdout.contains("audit rules match the policy"), "{stdout}");

        // Drift: one rule deleted in the kernel.
        let victim = rules
            .iter()
            .find(|r| r.contains("arch=b32") && r.contains("tlog-rs-net"))
            .unwrap();
        let del: Vec<&str> = victim
            .replacen("-a ", "-d ", 1)
            .leak()
            .split_whitespace()
            .collect();
        let (ok, _, err) = auditctl(&del);
        assert!(ok, "{err}");
        let (rc, stdout, _) = run(&["audit-rules", "--policy", p, "--check"]);
        assert_eq!(rc, 1, "{stdout}");
        assert!(stdout.contains(&format!("missing: {victim}")), "{stdout}");
        assert!(stdout.contains("1 missing, 0 extra"), "{stdout}");

        // Drift: a stale rule with one of our keys.
        let (ok, _, err) = auditctl(&[
            "-a",
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "execve",
            "-F",
            "auid=4242",
            "-k",
            "tlog-rs-stale",
        ]);
        assert!(ok, "{err}");
        let (rc, stdout, _) = run(&["audit-rules", "--policy", p, "--check"]);
        assert_eq!(rc, 1, "{stdout}");
        assert!(
            stdout.contains(
                "extra: -a always,exit -F arch=b64 -S execve -F auid=4242 -F key=tlog-rs-stale"
            ),
            "{stdout}"
        );
        assert!(stdout.contains("1 missing, 1 extra"), "{stdout}");
    }

    assert_eq!(settings(), before_s, "auditctl -s settings changed");
    let (_, after_l, _) = auditctl(&["-l"]);
    assert_eq!(after_l, before_l, "auditctl -l changed");
}

#[test]
fn audit_rules_broken_policy_audits_everyone() {
    // No kernel needed: a broken policy records everyone (fail-secure), so
    // every logged-in uid gets the session rules, and the exit status says so.
    let env = NsEnv::new("audit-rules-broken");
    let policy = env.write("policy.toml", "[[rule]]\nname = 1\n");
    let (rc, stdout, err) = run(&[
        "audit-rules",
        "--policy",
        policy.to_str().unwrap(),
        "--output",
        "-",
    ]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("policy.toml"), "{err}");
    let rules: Vec<&str> = stdout.lines().filter(|l| l.starts_with("-a ")).collect();
    assert!(!rules.is_empty(), "{stdout}");
    assert!(
        rules
            .iter()
            .all(|r| r.contains("-F auid!=unset -F key=tlog-rs-")),
        "{stdout}"
    );
}

#[test]
fn audit_export_reports_bad_lines_and_exports_the_rest() {
    let env = NsEnv::new("audit-export");
    let log = env.write(
        "audit.log",
        "type=USER_AUTH msg=audit(1700000001.300:103): pid=850 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=192.0.2.7 addr=192.0.2.7 terminal=ssh res=failed'\n\
         type=SYSCALL msg=audit(1700000001.3:104): arch=c000003e\n\
         type=CWD msg=audit(1700000001.400:105): cwd=2F612062\n",
    );
    let (rc, stdout, err) = run(&["audit-export", log.to_str().unwrap()]);
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains(&format!("{}:2:35: milliseconds \"3\"", log.display())),
        "{err}"
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{stdout}");
    assert_eq!(events[0]["kind"], "auth");
    assert_eq!(events[0]["acct"], "alice");
    assert_eq!(events[1]["cwd"], "/a b");
    let (rc, _, err) = run(&["audit-export", "/nonexistent/audit.log"]);
    assert_eq!(rc, 3, "{err}");
}
