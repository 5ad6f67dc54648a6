//! End-to-end: selection from an sssd.conf `[session_recording]` section,
//! by user and by group, through real glibc NSS, PAM and sshd. (Selection
//! from policy.toml by user and by group is in modules_basics.rs.)

use tlog_rs_tests::require_root;
use tlog_rs_tests::sshd::{World, WorldConfig};
use tlog_rs_tests::text;

#[test]
fn sssd_section_selects_by_user_and_by_group() {
    if !require_root("sssd_section_selects_by_user_and_by_group") {
        return;
    }
    let mut cfg = WorldConfig::new("sources-sssd");
    // One shared log, as in production: the set-uid recorder owns it.
    cfg.setuid_recorder = true;
    cfg.user("carol", &[])
        .user("dave", &["auditees"])
        .user("erin", &["staff"]);
    cfg.group("auditees").group("staff");
    cfg.etc_file(
        "sssd/sssd.conf",
        "[sssd]\nservices = nss, pam\n\n[session_recording]\nscope = some\nusers = carol\ngroups = auditees\n",
        0o600,
    );
    cfg.policy(
        "[settings]\nwriter = \"file\"\nfile_path = \"{T}/rec/shared/session.log\"\n\n\
         [sssd]\nconf = \"/etc/sssd/sssd.conf\"\n",
    );
    let w = World::start(cfg);
    let dir = w.dir.join("rec/shared");
    let a = w.recorder_account.expect("a setuid_recorder world");
    let prep = w.ns_sh(&format!(
        "mkdir -p {d} && chown {u}:{g} {d} && chmod 750 {d}",
        d = dir.display(),
        u = a.uid,
        g = a.gid
    ));
    assert!(prep.status.success());

    for (user, recorded) in [("carol", true), ("dave", true), ("erin", false)] {
        let mark = format!("{user}-sssd-mark-{}", user.len() * 11);
        let out = w.ssh(user, &[], Some(&format!("echo {mark}")), b"");
        assert!(
            text(&out.stdout).contains(&mark),
            "{user}: {}",
            text(&out.stderr)
        );
        let rec = std::fs::read_to_string(dir.join("session.log")).unwrap_or_default();
        assert_eq!(
            rec.contains(&mark),
            recorded,
            "{user}: recorded should be {recorded}; recording:\n{rec}"
        );
        let shell = text(&w.ns_sh(&format!("getent passwd {user}")).stdout);
        assert_eq!(
            shell.trim_end().ends_with("tlog-rs-rec-session"),
            recorded,
            "{user}: {shell}"
        );
    }
    // The recording names the user in each message (what auditors search by).
    let rec = std::fs::read_to_string(dir.join("session.log")).unwrap();
    let users: std::collections::BTreeSet<String> = rec
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["user"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        users.into_iter().collect::<Vec<_>>(),
        vec!["carol".to_string(), "dave".to_string()]
    );
}
