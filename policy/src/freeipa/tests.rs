//! The evaluator, the cache codec and the trust checks.

use std::time::Duration;

use super::*;
use crate::vocab::Action;
use crate::{AuditLevel, LoginFacts};

fn users(all: bool, names: &[&str], groups: &[&str]) -> CacheUsers {
    CacheUsers {
        all,
        names: names.iter().map(|s| s.to_string()).collect(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
    }
}

fn services(all: bool, names: &[&str], groups: &[(&str, &[&str])]) -> CacheServices {
    CacheServices {
        all,
        names: names.iter().map(|s| s.to_string()).collect(),
        groups: groups
            .iter()
            .map(|(n, m)| ServiceGroup {
                name: n.to_string(),
                services: m.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    }
}

fn rule(
    name: &str,
    priority: Option<u32>,
    mode: Action,
    host: Tier,
    u: CacheUsers,
    s: CacheServices,
) -> CacheRule {
    CacheRule {
        name: name.into(),
        id: format!("id-{name}"),
        priority,
        mode,
        host,
        via_hbac: None,
        users: u,
        services: s,
        settings: CacheSettings::default(),
        access_time: vec![],
    }
}

fn cache(host: &str, rules: Vec<CacheRule>) -> CacheFile {
    let map = |pairs: &[(&str, &[&str])]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    };
    CacheFile {
        format: CACHE_FORMAT.into(),
        version: CACHE_VERSION,
        host: host.into(),
        synced_at: 1_700_000_000,
        server: "ldap://ipa.example.test".into(),
        base_dn: "dc=example,dc=test".into(),
        defaults: CacheSettings {
            log_input: Some(false),
            log_output: Some(true),
            log_window: Some(true),
            limit_rate: Some(16384),
            limit_burst: Some(32768),
            limit_action: Some(LimitAction::Pass),
            audit_level: Some(AuditLevel::None),
        },
        rules,
        user_groups: map(&[
            ("alice", &["privileged"]),
            ("bob", &["contractors"]),
            ("carol", &["privileged"]),
        ]),
        group_closure: map(&[
            ("admins", &["privileged"]),
            ("dbas", &["privileged"]),
            ("privileged", &["privileged"]),
            ("contractors", &["contractors"]),
        ]),
        skipped: vec![],
    }
}

/// The reference DIT (freeipa-schema/example-dit.ldif) resolved by hand
/// for one host, as `tlog-rs sync` must resolve it.
fn reference(host: &str) -> IpaRules {
    IpaRules::from_file(reference_file(host))
}

fn reference_file(host: &str) -> CacheFile {
    let production = host != "bastion.example.test";
    let mut rules = vec![];
    if production {
        let mut r = rule(
            "contractors_via_hbac",
            Some(10),
            Action::Record,
            Tier::Group,
            users(false, &[], &["contractors"]),
            services(false, &["sshd"], &[]),
        );
        r.via_hbac = Some("contractors_ssh_prod".into());
        r.settings = CacheSettings {
            log_input: Some(true),
            log_output: Some(true),
            log_window: Some(true),
            audit_level: Some(AuditLevel::Session),
            ..Default::default()
        };
        rules.push(r);
        let mut r = rule(
            "privileged_on_production",
            Some(20),
            Action::Record,
            Tier::Group,
            users(false, &[], &["privileged"]),
            services(false, &["sshd", "login"], &[("Sudo", &["sudo", "sudo-i"])]),
        );
        r.settings = CacheSettings {
            log_input: Some(false),
            limit_rate: Some(65536),
            limit_action: Some(LimitAction::Delay),
            audit_level: Some(AuditLevel::Session),
            ..Default::default()
        };
        rules.push(r);
    } else {
        rules.push(rule(
            "exempt_alice_bastion",
            Some(5),
            Action::Exempt,
            Tier::Name,
            users(false, &["alice"], &[]),
            services(true, &[], &[]),
        ));
    }
    let mut r = rule(
        "everyone_su_login_audit",
        Some(100),
        Action::Record,
        Tier::All,
        users(true, &[], &[]),
        services(false, &["su", "su-l"], &[]),
    );
    r.settings.audit_level = Some(AuditLevel::Login);
    rules.push(r);
    cache(host, rules)
}

fn facts(user: &str, service: Option<&str>) -> LoginFacts {
    LoginFacts {
        user: user.into(),
        host: "ignored".into(),
        service: service.map(String::from),
        ..Default::default()
    }
}

fn winner(rules: &IpaRules, user: &str, service: &str) -> Option<(String, bool)> {
    rules
        .evaluate(&facts(user, Some(service)))
        .map(|m| (m.rule, m.record))
}

const PROD: [&str; 2] = ["web1.example.test", "db1.example.test"];

#[test]
fn reference_table_alice() {
    for h in PROD {
        let r = reference(h);
        for svc in ["sshd", "login", "sudo", "sudo-i"] {
            let m = r.evaluate(&facts("alice", Some(svc))).expect(svc);
            assert_eq!(m.rule, "privileged_on_production", "{h} {svc}");
            assert!(m.record);
            assert_eq!(m.priority, Some(20));
            assert_eq!(m.audit_level, AuditLevel::Session);
            assert_eq!(m.settings.log_input, Some(false));
            assert_eq!(m.settings.limit_rate, Some(65536));
            assert_eq!(m.settings.limit_action.as_deref(), Some("delay"));
            // unset in the rule -> domain defaults
            assert_eq!(m.settings.limit_burst, Some(32768));
            assert_eq!(m.settings.log_output, Some(true));
        }
        let m = r.evaluate(&facts("alice", Some("su"))).unwrap();
        assert_eq!(m.rule, "everyone_su_login_audit");
        assert!(m.record);
        assert_eq!(m.audit_level, AuditLevel::Login);
    }
    let bastion = reference("bastion.example.test");
    for svc in ["sshd", "su", "login", "cron"] {
        assert_eq!(
            winner(&bastion, "alice", svc),
            Some(("exempt_alice_bastion".into(), false)),
            "{svc}"
        );
    }
}

#[test]
fn reference_table_bob_carol_dave() {
    for h in PROD {
        let r = reference(h);
        let m = r.evaluate(&facts("bob", Some("sshd"))).unwrap();
        assert_eq!(m.rule, "contractors_via_hbac");
        assert!(m.record);
        assert_eq!(m.audit_level, AuditLevel::Session);
        assert_eq!(
            (
                m.settings.log_input,
                m.settings.log_output,
                m.settings.log_window
            ),
            (Some(true), Some(true), Some(true))
        );
        assert_eq!(winner(&r, "bob", "sudo"), None);
        assert_eq!(winner(&r, "bob", "login"), None);
        for svc in ["sshd", "sudo", "login"] {
            assert_eq!(
                winner(&r, "carol", svc),
                Some(("privileged_on_production".into(), true)),
                "carol {svc}"
            );
            assert_eq!(winner(&r, "dave", svc), None, "dave {svc}");
        }
    }
    let bastion = reference("bastion.example.test");
    assert_eq!(winner(&bastion, "bob", "sshd"), None);
    for h in [
        "web1.example.test",
        "db1.example.test",
        "bastion.example.test",
    ] {
        let r = reference(h);
        for u in ["carol", "dave"] {
            for svc in ["su", "su-l"] {
                let m = r.evaluate(&facts(u, Some(svc))).unwrap();
                assert_eq!(m.rule, "everyone_su_login_audit");
                assert_eq!(m.audit_level, AuditLevel::Login);
            }
        }
    }
}

#[test]
fn settings_become_tlog_conf_json() {
    let m = reference("web1.example.test")
        .evaluate(&facts("alice", Some("sshd")))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&m.settings.to_conf_json()).unwrap();
    assert_eq!(v["log"]["input"], false);
    assert_eq!(v["log"]["output"], true);
    assert_eq!(v["limit"]["rate"], 65536);
    assert_eq!(v["limit"]["burst"], 32768);
    assert_eq!(v["limit"]["action"], "delay");
}

#[test]
fn nss_groups_count_through_ipa_nesting() {
    let r = reference("web1.example.test");
    // eve is unknown to LDAP membership, but NSS says she is in dbas,
    // which IPA nests in privileged.
    let mut f = facts("eve", Some("sshd"));
    assert!(r.evaluate(&f).is_none());
    f.groups = vec!["dbas".into()];
    assert_eq!(r.evaluate(&f).unwrap().rule, "privileged_on_production");
    f.groups = vec![];
    f.primary_group = Some("contractors".into());
    assert_eq!(r.evaluate(&f).unwrap().priority, Some(10));
}

#[test]
fn priority_then_record_then_specificity_then_name() {
    let all_svc = || services(true, &[], &[]);
    // lower priority number wins over a more specific rule
    let r = IpaRules::from_file(cache(
        "h",
        vec![
            rule(
                "specific",
                Some(20),
                Action::Exempt,
                Tier::Name,
                users(false, &["alice"], &[]),
                all_svc(),
            ),
            rule(
                "broad",
                Some(10),
                Action::Record,
                Tier::All,
                users(true, &[], &[]),
                all_svc(),
            ),
            rule(
                "unnumbered",
                None,
                Action::Exempt,
                Tier::Name,
                users(false, &["alice"], &[]),
                all_svc(),
            ),
        ],
    ));
    assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "broad");
    // absent priority comes after every numbered rule
    let r = IpaRules::from_file(cache(
        "h",
        vec![
            rule(
                "unnumbered",
                None,
                Action::Exempt,
                Tier::Name,
                users(false, &["alice"], &[]),
                all_svc(),
            ),
            rule(
                "numbered",
                Some(1000),
                Action::Record,
                Tier::All,
                users(true, &[], &[]),
                all_svc(),
            ),
        ],
    ));
    assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "numbered");
    // equal priority: record beats a more specific exempt
    let r = IpaRules::from_file(cache(
        "h",
        vec![
            rule(
                "exempt",
                Some(5),
                Action::Exempt,
                Tier::Name,
                users(false, &["alice"], &[]),
                all_svc(),
            ),
            rule(
                "record",
                Some(5),
                Action::Record,
                Tier::All,
                users(true, &[], &[]),
                all_svc(),
            ),
        ],
    ));
    assert_eq!(winner(&r, "alice", "sshd"), Some(("record".into(), true)));
    // equal priority and mode: host specificity beats user specificity
    let r = IpaRules::from_file(cache(
        "h",
        vec![
            rule(
                "user_name",
                Some(5),
                Action::Record,
                Tier::Group,
                users(false, &["alice"], &[]),
                all_svc(),
            ),
            rule(
                "host_name",
                Some(5),
                Action::Record,
                Tier::Name,
                users(true, &[], &[]),
                all_svc(),
            ),
        ],
    ));
    assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "host_name");
    // same host tier: user name > group > all
    let r = IpaRules::from_file(cache(
        "h",
        vec![
            rule(
                "by_all",
                Some(5),
                Action::Record,
                Tier::All,
                users(true, &[], &[]),
                all_svc(),
            ),
            rule(
                "by_group",
                Some(5),
                Action::Record,
                Tier::All,
                users(false, &[], &["privileged"]),
                all_svc(),
            ),
        ],
    ));
    assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "by_group");
    // same host and user tier: service name > service group > all
    let r = IpaRules::from_file(cache(
        "h",
        vec![
            rule(
                "svc_all",
                Some(5),
                Action::Record,
                Tier::All,
                users(true, &[], &[]),
                all_svc(),
            ),
            rule(
                "svc_group",
                Some(5),
                Action::Record,
                Tier::All,
                users(true, &[], &[]),
                services(false, &[], &[("Sudo", &["sudo"])]),
            ),
            rule(
                "svc_name",
                Some(5),
                Action::Record,
                Tier::All,
                users(true, &[], &[]),
                services(false, &["sudo"], &[]),
            ),
        ],
    ));
    assert_eq!(winner(&r, "alice", "sudo").unwrap().0, "svc_name");
    assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "svc_all");
    // full tie: the rule name decides (deterministic)
    let r = IpaRules::from_file(cache(
        "h",
        vec![
            rule(
                "zeta",
                Some(5),
                Action::Record,
                Tier::All,
                users(true, &[], &[]),
                all_svc(),
            ),
            rule(
                "alpha",
                Some(5),
                Action::Record,
                Tier::All,
                users(true, &[], &[]),
                all_svc(),
            ),
        ],
    ));
    assert_eq!(winner(&r, "alice", "sshd").unwrap().0, "alpha");
}

#[test]
fn unknown_service_never_records_less() {
    let r = IpaRules::from_file(cache(
        "h",
        vec![
            rule(
                "exempt_sshd",
                Some(1),
                Action::Exempt,
                Tier::All,
                users(true, &[], &[]),
                services(false, &["sshd"], &[]),
            ),
            rule(
                "record_su",
                Some(2),
                Action::Record,
                Tier::All,
                users(false, &["bob"], &[]),
                services(false, &["su"], &[]),
            ),
        ],
    ));
    // sshd for bob: exempt; su: recorded; unknown (NSS): the exemption
    // cannot be assumed, the recording can.
    assert!(!winner(&r, "bob", "sshd").unwrap().1);
    assert!(r.evaluate(&facts("bob", None)).unwrap().record);
    assert!(r.may_record(&facts("bob", Some("sshd"))));
    assert!(!r.may_record(&facts("dave", None)));
}

#[test]
fn memberships_lookup_in_one_string() {
    let m = Memberships::from_pairs(vec![
        ("zed", vec!["b", "a", "a"]),
        ("alice", vec!["privileged"]),
        ("bad,name", vec!["x"]),
        ("empty", vec![]),
    ]);
    assert_eq!(m.len(), 3);
    assert_eq!(m.get("zed"), Some(vec!["a", "b"]));
    assert_eq!(m.get("alice"), Some(vec!["privileged"]));
    assert_eq!(m.get("empty"), Some(vec![]));
    assert_eq!(m.get("bad,name"), None);
    assert_eq!(m.get("bob"), None);
    // An unsorted (hand-edited) table still answers correctly.
    let text = serde_json::to_string(&"zed\ta\nalice\tb\n").unwrap();
    let m: Memberships = serde_json::from_str(&text).unwrap();
    assert_eq!(m.get("alice"), Some(vec!["b"]));
    assert_eq!(m.get("zed"), Some(vec!["a"]));
}

#[test]
fn stale_after_max_age_or_from_the_future() {
    let r = reference("web1.example.test");
    let t = r.synced_at();
    let day = Duration::from_secs(86400);
    assert!(!r.is_stale(t + Duration::from_secs(10), day));
    assert!(r.is_stale(t + day + Duration::from_secs(1), day));
    assert!(!r.is_stale(t - Duration::from_secs(60), day));
    assert!(r.is_stale(t - Duration::from_secs(3600), day));
}

#[test]
fn cache_roundtrip_and_precise_errors() {
    let file = reference_file("web1.example.test");
    let text = serde_json::to_string_pretty(&file).unwrap();
    let back = IpaRules::from_json(&text, "c.json").unwrap();
    assert_eq!(back.rules(), file.rules.as_slice());
    assert_eq!(serde_json::from_str::<CacheFile>(&text).unwrap(), file);
    assert!(text.contains("\"alice\\tprivileged\\n"), "{text}");

    let cut = &text[..text.len() / 2];
    let e = IpaRules::from_json(cut, "c.json").unwrap_err();
    assert!(e.message.starts_with("truncated FreeIPA cache"), "{e}");
    assert!(
        e.line.is_some() && e.to_string().starts_with("c.json:"),
        "{e}"
    );

    let bad = text.replacen("\"record\"", "\"recrod\"", 1);
    let e = IpaRules::from_json(&bad, "c.json").unwrap_err();
    assert!(
        e.message.starts_with("corrupt FreeIPA cache") && e.message.contains("recrod"),
        "{e}"
    );
    let line = bad.lines().position(|l| l.contains("recrod")).unwrap() + 1;
    assert_eq!(e.line, Some(line));

    let e = IpaRules::from_json(
        &text.replacen("\"version\": 2", "\"version\": 9", 1),
        "c.json",
    )
    .unwrap_err();
    assert!(e.message.contains("version 9 is not supported"), "{e}");
    let e = IpaRules::from_json("", "c.json").unwrap_err();
    assert!(e.message.contains("empty"), "{e}");
}

/// The case: a priority-1 exempt rule limited to one minute a
/// day, over a record-everyone rule.
fn time_limited(exempt_time: &[&str], record_time: &[&str]) -> IpaRules {
    let mut ex = rule(
        "exempt_alice_nightly",
        Some(1),
        Action::Exempt,
        Tier::All,
        users(false, &["alice"], &[]),
        services(true, &[], &[]),
    );
    ex.access_time = exempt_time.iter().map(|s| s.to_string()).collect();
    let mut rec = rule(
        "record_everyone",
        Some(50),
        Action::Record,
        Tier::All,
        users(true, &[], &[]),
        services(true, &[], &[]),
    );
    rec.access_time = record_time.iter().map(|s| s.to_string()).collect();
    IpaRules::from_file(cache("web1.example.test", vec![ex, rec]))
}

#[test]
fn time_limited_exemption_is_never_applied() {
    // Control: without a time limit the exemption wins.
    let plain = time_limited(&[], &[]);
    assert_eq!(
        winner(&plain, "alice", "sshd"),
        Some(("exempt_alice_nightly".into(), false))
    );
    assert!(!plain.may_record(&facts("alice", None)));
    // With one, valid or not, it never applies: alice is recorded.
    for value in [
        "periodic daily 0300-0301",
        "absolute 201012161032 ~ 201012161033",
        "not a time",
        "",
    ] {
        let r = time_limited(&[value], &[]);
        let m = r.evaluate(&facts("alice", Some("sshd"))).unwrap();
        assert_eq!(
            (m.rule.as_str(), m.record),
            ("record_everyone", true),
            "{value:?}"
        );
        assert_eq!(m.unapplied_exemptions, vec!["exempt_alice_nightly"]);
        assert!(m.time_limit.is_empty());
        let note = m.time_note();
        assert!(
            note.contains("'exempt_alice_nightly'") && note.contains("never applied"),
            "{note}"
        );
        assert!(r.may_record(&facts("alice", None)), "{value:?}");
        // Others are not concerned.
        let m = r.evaluate(&facts("bob", Some("sshd"))).unwrap();
        assert!(m.record && m.unapplied_exemptions.is_empty() && m.time_note().is_empty());
    }
}

#[test]
fn time_limited_exemption_alone_gives_no_verdict() {
    let mut ex = rule(
        "exempt_alice_nightly",
        Some(1),
        Action::Exempt,
        Tier::Name,
        users(false, &["alice"], &[]),
        services(true, &[], &[]),
    );
    ex.access_time = vec!["periodic daily 0300-0301".into()];
    let r = IpaRules::from_file(cache("web1.example.test", vec![ex]));
    // No exempt verdict: lower sources (sssd.conf) still decide.
    assert!(r.evaluate(&facts("alice", Some("sshd"))).is_none());
}

#[test]
fn time_limited_record_rule_records_at_all_times() {
    let r = time_limited(&[], &["periodic weekly day Mon-Fri 0900-1700"]);
    let m = r.evaluate(&facts("bob", Some("sshd"))).unwrap();
    assert!(m.record);
    assert_eq!(m.time_limit, vec!["periodic weekly day Mon-Fri 0900-1700"]);
    let note = m.time_note();
    assert!(
        note.contains("\"periodic weekly day Mon-Fri 0900-1700\"")
            && note.contains("records at all times"),
        "{note}"
    );
    // And it never outranks a plain exemption it did not outrank before.
    let m = r.evaluate(&facts("alice", Some("sshd"))).unwrap();
    assert_eq!((m.rule.as_str(), m.record), ("exempt_alice_nightly", false));
}

#[test]
fn time_limit_handling_by_mode() {
    assert_eq!(
        TimeLimitHandling::for_mode(Action::Exempt),
        TimeLimitHandling::ExemptionNeverApplied
    );
    assert!(TimeLimitHandling::for_mode(Action::Record)
        .to_string()
        .contains("records at all times"));
    assert_eq!(
        quote_values(&["a\nb".into(), "c".into()]),
        "\"a\\nb\", \"c\""
    );
}

#[test]
fn cache_versions_and_time_limits_on_disk() {
    let mut file = reference_file("web1.example.test");
    // Without time limits nothing new is written.
    let text = serde_json::to_string_pretty(&file).unwrap();
    assert!(!text.contains("access_time"), "{text}");
    // Version 1 (written before time limits existed) still loads.
    let v1 = text.replacen("\"version\": 2", "\"version\": 1", 1);
    assert!(IpaRules::from_json(&v1, "c.json").is_ok());
    let e = IpaRules::from_json(
        &text.replacen("\"version\": 2", "\"version\": 3", 1),
        "c.json",
    )
    .unwrap_err();
    assert!(e.message.contains("version 3 is not supported"), "{e}");
    // A time limit round-trips, and a malformed one is still a string.
    file.rules[0].access_time = vec!["periodic daily 0300-0301".into()];
    let text = serde_json::to_string_pretty(&file).unwrap();
    let back = IpaRules::from_json(&text, "c.json").unwrap();
    assert_eq!(back.rules(), file.rules.as_slice());
    // A non-string time limit is a corrupt cache (fail-secure upstream).
    let bad = text.replacen("\"periodic daily 0300-0301\"", "42", 1);
    let e = IpaRules::from_json(&bad, "c.json").unwrap_err();
    assert!(e.message.starts_with("corrupt FreeIPA cache"), "{e}");
}

#[test]
fn load_cache_refuses_writable_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("tlog-rs-ipa-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("cache.json");
    let text = serde_json::to_string(&reference_file("web1.example.test")).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(load_cache(&p).is_ok());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = load_cache(&p).unwrap_err();
    assert!(e.message.contains("world-writable"), "{e}");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = load_cache(&p).unwrap_err();
    assert!(
        e.message.contains("directory") && e.message.contains("world-writable"),
        "{e}"
    );
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(load_cache(&p).is_ok(), "sticky directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = load_cache(&dir.join("missing.json")).unwrap_err();
    assert!(e.message.contains("not found"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
