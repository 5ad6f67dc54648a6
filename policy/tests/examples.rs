//! Every sssd-conf-examples/*.conf selects exactly the users its
//! `# expect-record:` / `# expect-not:` lines say (facts from test-db/).

mod common;

use std::path::{Path, PathBuf};

use common::{facts_from_db, TempDir};
use tlog_rs_policy::Policy;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sssd-conf-examples")
}

fn expectations(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("# {key}:")))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect()
}

#[test]
fn examples_record_whom_they_say() {
    let dir = examples_dir();
    let passwd = std::fs::read_to_string(dir.join("test-db/passwd")).unwrap();
    let group = std::fs::read_to_string(dir.join("test-db/group")).unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        n += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let record = expectations(&text, "expect-record");
        let not = expectations(&text, "expect-not");
        assert!(
            !record.is_empty() && !not.is_empty(),
            "{}: no expectations",
            path.display()
        );
        // A private copy: no conf.d next to it.
        let tmp = TempDir::new("example");
        let conf = tmp.write_mode("sssd.conf", &text, 0o600);
        let p = tmp.write(
            "policy.toml",
            &format!("[sssd]\nconf = \"{}\"\n", conf.display()),
        );
        let policy = Policy::load(&p).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            Policy::validate(&p).warnings.is_empty(),
            "{}",
            path.display()
        );
        for (users, want) in [(&record, true), (&not, false)] {
            for u in users {
                let d = policy.decide(&facts_from_db(&passwd, &group, u, Some("sshd")));
                assert_eq!(d.record, want, "{}: {u}: {}", path.display(), d.reason);
            }
        }
    }
    assert_eq!(n, 4, "expected the four documented examples");
}
