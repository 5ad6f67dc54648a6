//! How the FreeIPA cache combines with policy.toml and sssd.conf: priority
//! policy.toml > FreeIPA > sssd.conf, first verdict decides; stale caches.

mod common;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use common::TempDir;
use tlog_rs_policy::freeipa::{
    CacheFile, CacheRule, CacheServices, CacheSettings, CacheUsers, Tier, CACHE_FORMAT,
    CACHE_VERSION,
};
use tlog_rs_policy::{Action, LoginFacts, Policy, Source};

fn rule(name: &str, mode: Action, users: &[&str], settings: CacheSettings) -> CacheRule {
    CacheRule {
        name: name.into(),
        id: format!("00000000-0000-4000-8000-{:012}", name.len()),
        priority: Some(10),
        mode,
        host: Tier::All,
        via_hbac: None,
        users: CacheUsers {
            all: false,
            names: users.iter().map(|s| s.to_string()).collect(),
            groups: vec![],
        },
        services: CacheServices {
            all: true,
            ..Default::default()
        },
        settings,
        access_time: vec![],
    }
}

fn cache_file(dir: &TempDir, synced_at: u64) -> String {
    let file = CacheFile {
        format: CACHE_FORMAT.into(),
        version: CACHE_VERSION,
        host: "web1.example.test".into(),
        synced_at,
        server: "ldap://127.0.0.1:3389".into(),
        base_dn: "dc=example,dc=test".into(),
        defaults: CacheSettings::default(),
        rules: vec![
            rule(
                "record_alice_carol",
                Action::Record,
                &["alice", "carol"],
                CacheSettings {
                    log_input: Some(true),
                    ..Default::default()
                },
            ),
            rule(
                "exempt_bob",
                Action::Exempt,
                &["bob"],
                CacheSettings::default(),
            ),
        ],
        user_groups: HashMap::new(),
        group_closure: HashMap::new(),
        skipped: vec![],
    };
    let p = dir.write(
        "freeipa-rules.json",
        &serde_json::to_string_pretty(&file).unwrap(),
    );
    p.display().to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn facts(user: &str) -> LoginFacts {
    LoginFacts {
        user: user.into(),
        uid: 1000,
        gid: 1000,
        primary_group: None,
        groups: vec![],
        host: "web1.example.test".into(),
        service: Some("sshd".into()),
        passwd_shell: "/bin/bash".into(),
    }
}

fn setup(synced_at: u64, extra: &str) -> (TempDir, Policy) {
    let dir = TempDir::new("ipa-comb");
    let cache = cache_file(&dir, synced_at);
    let sssd = dir.write(
        "sssd.conf",
        "[session_recording]\nscope = all\nexclude_users = carol\n",
    );
    let text = format!(
        "[settings]\nwriter = \"journal\"\n[freeipa]\ncache = \"{cache}\"\n{extra}\n[sssd]\nconf = \"{}\"\n",
        sssd.display()
    );
    let p = dir.write("policy.toml", &text);
    let policy = Policy::load(&p).unwrap_or_else(|e| panic!("{e}"));
    (dir, policy)
}

#[test]
fn ipa_record_rule_decides_with_its_settings() {
    let (_d, p) = setup(now(), "");
    let d = p.decide(&facts("alice"));
    assert!(d.record);
    assert_eq!(d.source, Source::FreeIpa);
    assert_eq!(d.rule, "ipa rule 'record_alice_carol'");
    let conf: serde_json::Value = serde_json::from_str(&d.settings.to_conf_json()).unwrap();
    assert_eq!(conf["log"]["input"], true);
    assert_eq!(conf["writer"], "journal", "global [settings] fill the rest");
}

#[test]
fn ipa_exemption_beats_sssd_scope_all() {
    let (_d, p) = setup(now(), "");
    let d = p.decide(&facts("bob"));
    assert!(!d.record, "{}", d.reason);
    assert_eq!(d.source, Source::FreeIpa);
    // Nobody in IPA: sssd scope=all decides.
    let d = p.decide(&facts("dave"));
    assert!(d.record);
    assert_eq!(d.source, Source::Sssd);
}

#[test]
fn sssd_exclusion_does_not_beat_an_ipa_record_rule() {
    let (_d, p) = setup(now(), "");
    let d = p.decide(&facts("carol"));
    assert!(d.record);
    assert_eq!(d.source, Source::FreeIpa);
}

#[test]
fn toml_exemption_beats_ipa_record_rule() {
    let dir = TempDir::new("ipa-toml");
    let cache = cache_file(&dir, now());
    let p = Policy::from_toml_str(
        &format!(
            "[freeipa]\ncache = \"{cache}\"\n[[rule]]\nname = \"bg\"\naction = \"exempt\"\nusers = [\"alice\"]\n"
        ),
        "policy.toml",
    )
    .unwrap();
    let d = p.decide(&facts("alice"));
    assert!(!d.record);
    assert_eq!(d.source, Source::Toml);
}

#[test]
fn stale_cache_records_everyone_not_decided_locally() {
    let day = 86_400;
    let (_d, p) = setup(now() - 2 * day, "max_age = \"1d\"");
    assert_eq!(p.ipa_stale(), Some(true));
    for u in ["alice", "bob", "carol", "dave"] {
        let d = p.decide(&facts(u));
        assert!(d.record, "{u}: {}", d.reason);
        assert_eq!(d.source, Source::FreeIpa);
        assert_eq!(d.rule, "freeipa cache stale");
    }
    // With on_stale = "use" the old rules still apply.
    let (_d, p) = setup(now() - 2 * day, "max_age = \"1d\"\non_stale = \"use\"");
    assert!(!p.decide(&facts("bob")).record);
    assert!(p.decide(&facts("alice")).record);
    // A fresh cache is not stale.
    let (_d, p) = setup(now() - 60, "max_age = \"1d\"");
    assert_eq!(p.ipa_stale(), Some(false));
}

#[test]
fn sync_connection_table_is_accepted_in_the_same_policy_file() {
    // `tlog-rs sync` reads [freeipa.ldap] from policy.toml; the engine must
    // accept that table, or one combined file would fail secure for everyone.
    let (_d, p) = setup(
        now(),
        "[freeipa.ldap]\nuris = [\"ldaps://ipa1.example.test\"]\nbase_dn = \"dc=example,dc=test\"\n",
    );
    let d = p.decide(&facts("bob"));
    assert_eq!(d.source, Source::FreeIpa, "{}", d.reason);
    assert!(!d.record);
}
