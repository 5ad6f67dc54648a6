//! End to end: a user selected ONLY by a FreeIPA rule (bob, through the
//! seeAlso HBAC rule contractors_ssh_prod) logs in over real sshd with our
//! NSS and PAM modules; the session is recorded with that rule's settings
//! (log.input on, which is off by default and in the domain defaults), and
//! Debian's tlog-play plays it. dave, selected by no rule, is not recorded.

mod freeipa_common;

use freeipa_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::slapd::SlapdOptions;
use tlog_rs_tests::sshd::{World, WorldConfig};

#[test]
fn ipa_selected_user_is_recorded_with_the_rules_settings() {
    if !require_root("ipa_selected_user_is_recorded_with_the_rules_settings") {
        return;
    }
    let ipa = Ipa::start("ipa-e2e", SlapdOptions::default());
    sync_ok(&ipa.sync_config("web1.example.test"));
    let cache = ipa.cache("web1.example.test");

    let mut cfg = WorldConfig::new("ipa-e2e");
    cfg.capture_syslog = true;
    cfg.user("bob", &[]).user("dave", &[]);
    // No [[rule]] at all: only the FreeIPA cache can select anyone.
    cfg.policy(&format!(
        "[settings]\nwriter = \"file\"\nfile_path = \"{{T}}/rec/bob/session.log\"\n\n\
         [freeipa]\ncache = \"{}\"\nmax_age = \"1d\"\n",
        cache.display()
    ));
    let w = World::start(cfg);

    let out = w.ssh("bob", &["-tt"], None, b"echo typed-$((40+2))\nexit\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("typed-42"),
        "ssh: {stdout}\n{}\nsshd: {}",
        String::from_utf8_lossy(&out.stderr),
        w.sshd_log()
    );
    let rec = w.recording("bob");
    assert!(
        !rec.is_empty(),
        "bob not recorded; sshd log:\n{}",
        w.sshd_log()
    );
    // log.input came from the IPA rule: the typed command is in the input stream.
    let input: String = rec
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["in_txt"].as_str().map(String::from))
        .collect();
    assert!(
        input.contains("typed-$((40+2))"),
        "no input recorded: {rec}"
    );
    let play = w.play("bob");
    assert!(
        play.status.success(),
        "tlog-play: {}",
        String::from_utf8_lossy(&play.stderr)
    );
    assert!(String::from_utf8_lossy(&play.stdout).contains("typed-42"));

    // dave: no rule selects him for sshd.
    let out = w.ssh("dave", &["-tt"], Some("echo dave-was-here"), b"");
    assert!(String::from_utf8_lossy(&out.stdout).contains("dave-was-here"));
    assert!(
        !w.rec_path("dave").exists() || w.recording("dave").is_empty(),
        "dave recorded"
    );

    // Every sync outcome goes to syslog (authpriv, ident tlog-rs-sync):
    // run one good and one failing sync inside the world, whose /dev/log
    // the harness captures.
    let bin = tlog_rs_tests::artifact("tlog-rs");
    let good = ipa.sync_config("web1.example.test");
    let bad = ipa.write_sync_config(
        "down.example.test",
        "uris = [\"ldap://127.0.0.1:1\"]\nbase_dn = \"dc=example,dc=test\"\nbind = \"external\"\n",
    );
    for cfg in [&good, &bad] {
        w.ns_sh(&format!(
            "{} sync --quiet --policy {}",
            bin.display(),
            cfg.display()
        ));
    }
    let log = w.syslog().join("\n");
    assert!(
        log.contains("tlog-rs-sync") && log.contains("synced 3 rule(s) for host web1.example.test"),
        "{log}"
    );
    assert!(
        log.contains("sync failed: no LDAP server could be used")
            && log.contains("connection refused"),
        "{log}"
    );
}
