//! `tlog-rs sync` keeps the audit rules file in step with FreeIPA: the
//! example DIT in a real slapd, a host of the production host group (rule
//! privileged_on_production, audit level session), the rules file in a
//! temp dir (`--audit-rules`), NSS users from a private /etc. The file is
//! written when the rules change, left alone when they do not, and
//! rewritten with the new auid when a user joins a FreeIPA group. Members
//! come from the sync's cache (directory membership) and from NSS groups
//! nested in a rule's group.

mod freeipa_common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Output;

use freeipa_common::Ipa;
use tlog_rs_tests::require_root;
use tlog_rs_tests::slapd::{SlapdOptions, BASE_DN};
use tlog_rs_tests::{artifact, text};

const DB1: &str = "db1.example.test";

/// `tlog-rs ARGS` in the namespace (NSS sees the test users).
fn in_ns(ipa: &Ipa, args: &[&OsStr]) -> Output {
    let bin = artifact("tlog-rs");
    let argv: Vec<&OsStr> = std::iter::once(bin.as_os_str())
        .chain(args.iter().copied())
        .collect();
    ipa.env.output(&argv)
}

/// `tlog-rs sync --policy CFG --audit-rules RULES`.
fn sync_output(ipa: &Ipa, cfg: &Path, rules: &Path) -> Output {
    in_ns(
        ipa,
        &[
            "sync".as_ref(),
            "--policy".as_ref(),
            cfg.as_os_str(),
            "--audit-rules".as_ref(),
            rules.as_os_str(),
        ],
    )
}

/// A successful sync's stdout.
fn sync(ipa: &Ipa, cfg: &Path, rules: &Path) -> String {
    let o = sync_output(ipa, cfg, rules);
    assert!(
        o.status.success(),
        "sync: {}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// What `tlog-rs audit-rules` generates for the same policy and host.
fn generated(ipa: &Ipa, cfg: &Path) -> String {
    let o = in_ns(
        ipa,
        &[
            "audit-rules".as_ref(),
            "--policy".as_ref(),
            cfg.as_os_str(),
            "--host".as_ref(),
            DB1.as_ref(),
            "--output".as_ref(),
            "-".as_ref(),
        ],
    );
    assert!(o.status.success(), "audit-rules: {}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn sync_regenerates_the_audit_rules_when_membership_changes() {
    if !require_root("sync_regenerates_the_audit_rules_when_membership_changes") {
        return;
    }
    let ipa = Ipa::start("ipa-audit-rules", SlapdOptions::default());
    let cfg = ipa.sync_config(DB1);
    let rules = ipa.dir.join("50-tlog-rs.rules");

    // No rules file: the host does not use audit levels; none is created.
    let out = sync(&ipa, &cfg, &rules);
    assert!(!out.contains("audit rules"), "{out}");
    assert!(!rules.exists());

    // An installed (here empty) file is brought in line with the policy.
    fs::write(&rules, "").unwrap();
    let out = sync(&ipa, &cfg, &rules);
    assert!(out.contains("audit rules changed: wrote"), "{out}");
    let first = fs::read_to_string(&rules).unwrap();
    assert_eq!(first, generated(&ipa, &cfg));
    // alice is in admins ⊂ privileged (directory), eve in dbas (local
    // group nested in privileged): session rules by their auids. dave is in
    // no rule's group.
    for who in ["alice (uid 1001)", "eve (uid 1005)"] {
        assert!(
            first.contains(&format!("## Level \"session\": {who}")),
            "{first}"
        );
    }
    assert!(!first.contains("dave"), "{first}");

    // Nothing changed in FreeIPA: the file is not touched.
    let ino = fs::metadata(&rules).unwrap().ino();
    let out = sync(&ipa, &cfg, &rules);
    assert!(!out.contains("audit rules"), "{out}");
    assert_eq!(fs::metadata(&rules).unwrap().ino(), ino);

    // dave (1004) joins admins in FreeIPA: the next sync adds his auid.
    ipa.slapd.modify(&format!(
        "dn: cn=admins,cn=groups,cn=accounts,{BASE_DN}\nchangetype: modify\nadd: member\nmember: uid=dave,cn=users,cn=accounts,{BASE_DN}\n"
    ));
    let out = sync(&ipa, &cfg, &rules);
    assert!(out.contains("audit rules changed: wrote"), "{out}");
    let second = fs::read_to_string(&rules).unwrap();
    assert!(
        second.contains("## Level \"session\": dave (uid 1004)"),
        "{second}"
    );
    assert!(
        second.contains("-F auid>=1001 -F auid<=1005 -F key=tlog-rs-exec"),
        "{second}"
    );
    assert_eq!(second, generated(&ipa, &cfg));
    assert_eq!(fs::metadata(&rules).unwrap().mode() & 0o777, 0o640);

    // A file that cannot be rewritten fails the sync (exit 1), loudly.
    fs::write(&rules, "").unwrap();
    let blocker = ipa.dir.join("blocked");
    fs::create_dir_all(blocker.join("50-tlog-rs.rules")).unwrap();
    let o = sync_output(&ipa, &cfg, &blocker.join("50-tlog-rs.rules"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("audit rules file could not be regenerated"),
        "{}",
        text(&o.stderr)
    );
}
