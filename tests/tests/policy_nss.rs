//! The SSSD conformance table (policy/tests/sssd-conformance.txt) again, this
//! time through `tlog-rs check` with real glibc NSS: the table's passwd and
//! group are bind-mounted as /etc/passwd and /etc/group in a private mount
//! namespace, sssd.conf and policy.toml sit at their real paths
//! (/etc/sssd, /etc/tlog-rs), and `check` runs with its defaults.

use tlog_rs_tests::sssd_table as table;

use serde_json::Value;
use tlog_rs_tests::nsenv::{shell_quote, NsEnv};
use tlog_rs_tests::{artifact, require_root};

const TABLE: &str = include_str!("../../policy/tests/sssd-conformance.txt");

fn world(test: &str, t: &table::Table) -> NsEnv {
    let mut env = NsEnv::new(test);
    env.etc("passwd", &t.passwd).etc("group", &t.group).etc(
        "nsswitch.conf",
        "passwd: files\ngroup: files\nhosts: files\n",
    );
    env
}

/// Run `tlog-rs check USER --service sshd --json` for each user in one
/// namespace; returns (user, exit code, json).
fn check_all(env: &NsEnv, users: &[&String], extra: &str) -> Vec<(String, i32, Value)> {
    let bin = artifact("tlog-rs");
    let mut script = String::new();
    for u in users {
        script.push_str(&format!(
            "{} check {} --service sshd --json {extra}; echo \"rc=$?\"\n",
            shell_quote(bin.as_os_str()),
            shell_quote(u.as_ref())
        ));
    }
    let out = env.sh(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "namespace script failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let mut res = Vec::new();
    let mut i = 0;
    for u in users {
        let json: Value =
            serde_json::from_str(lines.get(i).copied().unwrap_or("")).unwrap_or_else(|e| {
                panic!(
                    "{u}: bad json ({e}): {stdout}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let rc: i32 = lines[i + 1].trim_start_matches("rc=").parse().unwrap();
        res.push((u.to_string(), rc, json));
        i += 2;
    }
    res
}

#[test]
fn sssd_conformance_through_real_nss() {
    if !require_root("sssd_conformance_through_real_nss") {
        return;
    }
    let t = table::parse(TABLE);
    assert!(t.cases.len() >= 35);
    let mut failures = Vec::new();
    for case in &t.cases {
        let mut env = world(&case.name, &t);
        for (rel, text, mode) in &case.files {
            env.etc_mode(&format!("sssd/{rel}"), text, *mode);
        }
        env.etc(
            "tlog-rs/policy.toml",
            "[sssd]\nconf = \"/etc/sssd/sssd.conf\"\n",
        );
        let users: Vec<&String> = case.record.iter().chain(case.not.iter()).collect();
        for (user, rc, json) in check_all(&env, &users, "") {
            let want = case.record.contains(&user);
            if json["record"] != Value::Bool(want) {
                failures.push(format!("{}: {user}: {json}", case.name));
            }
            match &case.error {
                Some(at) => {
                    let err = json["policy_error"].as_str().unwrap_or("");
                    if rc != 1 || json["source"] != "error" || !err.contains(&format!("{at}:")) {
                        failures.push(format!(
                            "{}: {user}: want error at {at}, rc={rc} {json}",
                            case.name
                        ));
                    }
                }
                None => {
                    if rc != 0 || !json["policy_error"].is_null() {
                        failures.push(format!("{}: {user}: rc={rc} {json}", case.name));
                    }
                    if want && json["source"] != "sssd.conf" {
                        failures.push(format!("{}: {user}: source {}", case.name, json["source"]));
                    }
                }
            }
            if want {
                let shell = json["shell"].as_str().unwrap();
                assert!(!shell.is_empty());
                assert_eq!(json["env"]["TLOG_REC_SESSION_SHELL"], shell);
            } else {
                assert_eq!(json["env"], serde_json::json!({}), "{}: {user}", case.name);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn facts_come_from_nss() {
    if !require_root("facts_come_from_nss") {
        return;
    }
    let t = table::parse(TABLE);
    let mut env = world("facts", &t);
    env.etc(
        "tlog-rs/policy.toml",
        "[[rule]]\nname = \"everyone\"\nall_users = true\n",
    );
    let users = ["user1", "user4", "user8"].map(String::from);
    let res = check_all(
        &env,
        &users.iter().collect::<Vec<_>>(),
        "--host web1.example.test",
    );
    let (_, rc, u1) = &res[0];
    assert_eq!(*rc, 0, "{u1}");
    assert_eq!(u1["uid"], 1001);
    assert_eq!(u1["primary_group"], "group1");
    assert_eq!(u1["groups"], serde_json::json!(["group1", "group2"]));
    assert_eq!(u1["host"], "web1.example.test");
    assert_eq!(u1["service"], "sshd");
    assert_eq!(u1["shell"], "/bin/bash");
    assert_eq!(u1["rule"], "policy.toml rule 'everyone' (line 1)");
    assert_eq!(u1["nss_shell"], "/usr/bin/tlog-rs-rec-session");
    // No group has user4's gid: no primary group, supplementary still seen.
    let (_, _, u4) = &res[1];
    assert_eq!(u4["primary_group"], Value::Null);
    assert_eq!(u4["groups"], serde_json::json!(["group3"]));
    // Empty passwd shell: /bin/sh like login(1), never an empty export.
    let (_, _, u8) = &res[2];
    assert_eq!(u8["passwd_shell"], "");
    assert_eq!(u8["shell"], "/bin/sh");
    assert_eq!(u8["env"]["TLOG_REC_SHELL"], "/bin/sh");
    assert_eq!(u8["env"]["TLOG_REC_SESSION_SHELL"], "/bin/sh");
}

#[test]
fn check_text_output_and_exit_codes() {
    if !require_root("check_text_output_and_exit_codes") {
        return;
    }
    let t = table::parse(TABLE);
    let mut env = world("text", &t);
    env.etc(
        "tlog-rs/policy.toml",
        "[[rule]]\nname = \"dbas\"\ngroups = [\"group2\"]\n[rule.settings]\nlog_input = true\n",
    );
    let bin = artifact("tlog-rs");
    let b = shell_quote(bin.as_os_str());
    let out = env.sh(&format!(
        "{b} check user1 --service sshd; echo rc=$?; {b} check user3; echo rc=$?; \
         {b} check nosuchuser; echo rc=$?; {b} check; echo rc=$?"
    ));
    let s = String::from_utf8_lossy(&out.stdout);
    let e = String::from_utf8_lossy(&out.stderr);
    let blocks: Vec<&str> = s.split("rc=").collect();
    assert!(blocks[0].contains("decision:  RECORDED"), "{s}");
    assert!(blocks[0].contains("rule 'dbas'"), "{s}");
    assert!(blocks[0].contains("group \"group2\" is listed"), "{s}");
    assert!(
        blocks[0].contains("TLOG_REC_SESSION_CONF_TEXT={\"log\":{\"input\":true}}"),
        "{s}"
    );
    assert!(blocks[1].starts_with("0\n"), "{s}");
    assert!(blocks[1].contains("decision:  not recorded"), "{s}");
    assert!(blocks[1].contains("and removes: TLOG_REC_SHELL"), "{s}");
    assert!(
        blocks[0].contains("NSS shell: /usr/bin/tlog-rs-rec-session"),
        "{s}"
    );
    assert!(blocks[1].contains("NSS shell: /bin/bash"), "{s}");
    assert!(
        blocks[0].contains("hand-off:  /run/tlog-rs/handoff/<pam pid>-<start>-<uid>"),
        "{s}"
    );
    assert!(blocks[2].starts_with("0\n"), "{s}");
    assert!(blocks[3].starts_with("3\n"), "unknown user: {s}");
    assert!(e.contains("no such user \"nosuchuser\""), "{e}");
    assert!(
        blocks[4].starts_with("2\n"),
        "missing USER is a usage error: {s}"
    );
}
