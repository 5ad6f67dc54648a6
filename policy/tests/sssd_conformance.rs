//! SSSD 2.8 `[session_recording]` conformance: every case of
//! sssd-conformance.txt through `Policy::load` + `decide`.

mod common;

use common::{facts_from_db, TempDir};
use tlog_rs_policy::{Policy, Source};
use tlog_rs_tests::sssd_table as table;

const TABLE: &str = include_str!("sssd-conformance.txt");

#[test]
fn table_has_the_spec_cases() {
    let t = table::parse(TABLE);
    assert!(t.cases.len() >= 35, "only {} cases parsed", t.cases.len());
    for c in &t.cases {
        assert!(!c.files.is_empty(), "case {} has no files", c.name);
        assert!(
            !c.record.is_empty() || !c.not.is_empty(),
            "case {} expects nothing",
            c.name
        );
    }
}

#[test]
fn sssd_conformance_table() {
    let t = table::parse(TABLE);
    let mut failures = Vec::new();
    for case in &t.cases {
        let dir = TempDir::new(&case.name);
        for (rel, text, mode) in &case.files {
            dir.write_mode(rel, text, *mode);
        }
        let conf = dir.path("sssd.conf");
        let policy_toml = format!("[sssd]\nconf = \"{}\"\n", conf.display());
        let policy_path = dir.write("policy.toml", &policy_toml);
        let loaded = Policy::load(&policy_path);
        match (&loaded, &case.error) {
            (Err(e), Some(want)) => {
                let (file, line) = want.rsplit_once(':').unwrap();
                let line: usize = line.parse().unwrap();
                if !(e.file.ends_with(file) && e.line == Some(line)) {
                    failures.push(format!("{}: error {e} is not at {want}", case.name));
                }
            }
            (Err(e), None) => failures.push(format!("{}: unexpected load error {e}", case.name)),
            (Ok(_), Some(want)) => {
                failures.push(format!("{}: loaded, expected error at {want}", case.name))
            }
            (Ok(_), None) => {}
        }
        for (users, want) in [(&case.record, true), (&case.not, false)] {
            for user in users {
                let facts = facts_from_db(&t.passwd, &t.group, user, Some("sshd"));
                let d = match &loaded {
                    Ok(p) => p.decide(&facts),
                    Err(e) => Policy::failsafe_decision(e, &facts),
                };
                if d.record != want {
                    failures.push(format!(
                        "{}: {user} record={} want {want} ({}: {})",
                        case.name, d.record, d.rule, d.reason
                    ));
                }
                if loaded.is_err() {
                    assert_eq!(d.source, Source::Error);
                } else if d.record {
                    assert_eq!(d.source, Source::Sssd, "{}: {user}", case.name);
                }
                // The exported shell is never empty (SSSD's bug c).
                for (k, v) in d.env() {
                    assert!(!v.is_empty(), "{}: {user}: {k} is empty", case.name);
                }
                if d.record {
                    let want_shell = if facts.passwd_shell.is_empty() {
                        "/bin/sh"
                    } else {
                        facts.passwd_shell.as_str()
                    };
                    assert_eq!(d.shell, want_shell, "{}: {user}", case.name);
                }
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
