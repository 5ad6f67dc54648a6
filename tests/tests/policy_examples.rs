//! sssd-conf-examples/*.conf through real glibc NSS: each example is
//! bind-mounted as /etc/sssd/sssd.conf, test-db/ as /etc/passwd and
//! /etc/group, and `tlog-rs check` must record exactly the users named in
//! the example's `# expect-record:` lines and none of `# expect-not:`.

use std::path::Path;

use serde_json::Value;
use tlog_rs_tests::nsenv::{shell_quote, NsEnv};
use tlog_rs_tests::{artifact, require_root};

fn expectations(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("# {key}:")))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect()
}

#[test]
fn examples_through_real_nss() {
    if !require_root("examples_through_real_nss") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sssd-conf-examples");
    let bin = artifact("tlog-rs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let record = expectations(&text, "expect-record");
        let not = expectations(&text, "expect-not");
        let mut env = NsEnv::new("example");
        env.etc("passwd", std::fs::read(dir.join("test-db/passwd")).unwrap())
            .etc("group", std::fs::read(dir.join("test-db/group")).unwrap())
            .etc("nsswitch.conf", "passwd: files\ngroup: files\n")
            .etc_mode("sssd/sssd.conf", &text, 0o600)
            .etc(
                "tlog-rs/policy.toml",
                "[sssd]\nconf = \"/etc/sssd/sssd.conf\"\n",
            );
        let users: Vec<&String> = record.iter().chain(not.iter()).collect();
        let script: String = users
            .iter()
            .map(|u| {
                format!(
                    "{} check {} --service sshd --json\n",
                    shell_quote(bin.as_os_str()),
                    shell_quote(u.as_ref())
                )
            })
            .collect();
        let out = env.sh(&script);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {stdout}{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        for (u, line) in users.iter().zip(stdout.lines()) {
            let v: Value = serde_json::from_str(line).unwrap();
            let want = record.contains(u);
            assert_eq!(
                v["record"],
                Value::Bool(want),
                "{}: {u}: {v}",
                path.display()
            );
            assert_eq!(v["user"], u.as_str());
        }
        assert_eq!(stdout.lines().count(), users.len(), "{stdout}");
    }
    assert_eq!(seen, 4);
}
