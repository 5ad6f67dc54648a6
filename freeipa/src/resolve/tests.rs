//! The reference DIT (freeipa-schema/example-dit.ldif) resolved per host and
//! evaluated: the expected-results table of the design, without a server.

use super::*;
use tlog_rs_policy::freeipa::IpaRules;
use tlog_rs_policy::{AuditLevel, LoginFacts};

/// Minimal LDIF reader for the example file (no base64, no continuation).
fn parse_ldif(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut dn = None;
        let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
        for line in block
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (k, v) = line.split_once(": ").expect(line);
            if k == "dn" {
                dn = Some(v.to_string());
            } else {
                attrs
                    .entry(k.to_lowercase())
                    .or_default()
                    .push(v.to_string());
            }
        }
        if let Some(dn) = dn {
            out.push(Entry::new(&dn, attrs));
        }
    }
    out
}

fn example() -> Vec<Entry> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../freeipa-schema/example-dit.ldif"
    );
    parse_ldif(&std::fs::read_to_string(p).unwrap())
}

fn has_class(e: &Entry, c: &str) -> bool {
    e.get("objectclass")
        .iter()
        .any(|o| o.eq_ignore_ascii_case(c))
}

/// What `fetch` reads, simulated over the parsed entries.
fn snapshot(entries: &[Entry], host: &str) -> Snapshot {
    let hbac = entries
        .iter()
        .filter(|e| has_class(e, "ipahbacrule"))
        .map(|e| {
            let usable =
                e.one("ipaenabledflag") == Some("TRUE") && e.one("accessruletype") == Some("allow");
            (e.ndn(), usable.then(|| e.clone()))
        })
        .collect();
    Snapshot {
        base_dn: "dc=example,dc=test".into(),
        host: host.into(),
        server: "ldap://test".into(),
        host_entry: entries
            .iter()
            .find(|e| e.one("fqdn") == Some(host))
            .cloned(),
        hostgroups: entries
            .iter()
            .filter(|e| has_class(e, "ipahostgroup"))
            .cloned()
            .collect(),
        rules: entries
            .iter()
            .filter(|e| has_class(e, "ipasessionrecordingrule"))
            .cloned()
            .collect(),
        hbac,
        usergroups: entries
            .iter()
            .filter(|e| has_class(e, "ipausergroup"))
            .cloned()
            .collect(),
        servicegroups: entries
            .iter()
            .filter(|e| has_class(e, "ipahbacservicegroup"))
            .cloned()
            .collect(),
        container: entries
            .iter()
            .find(|e| has_class(e, "ipasessionrecordingdefaults"))
            .cloned(),
    }
}

fn eval(c: &CacheFile, user: &str, service: &str) -> Option<(String, bool, AuditLevel)> {
    let f = LoginFacts {
        user: user.into(),
        service: Some(service.into()),
        ..Default::default()
    };
    IpaRules::from_file(c.clone())
        .evaluate(&f)
        .map(|m| (m.rule, m.record, m.audit_level))
}

fn rule_name(c: &CacheFile, user: &str, service: &str) -> Option<String> {
    eval(c, user, service).map(|(r, _, _)| r)
}

#[test]
fn reference_table_through_resolution() {
    let entries = example();
    for host in ["web1.example.test", "db1.example.test"] {
        let c = build_cache(&snapshot(&entries, host), 1);
        let names: Vec<&str> = c.rules.iter().map(|r| r.name.as_str()).collect();
        // disabled_record_everything never reaches the cache; the bastion rule is for bastion only.
        assert_eq!(
            names,
            [
                "contractors_via_hbac",
                "everyone_su_login_audit",
                "privileged_on_production"
            ]
        );
        assert!(c.skipped.is_empty(), "{:?}", c.skipped);
        for svc in ["sshd", "login", "sudo", "sudo-i"] {
            let (r, rec, audit) = eval(&c, "alice", svc).unwrap();
            assert_eq!(
                (r.as_str(), rec, audit),
                ("privileged_on_production", true, AuditLevel::Session)
            );
            assert_eq!(
                rule_name(&c, "carol", svc).as_deref(),
                Some("privileged_on_production")
            );
            assert_eq!(rule_name(&c, "dave", svc), None);
        }
        assert_eq!(eval(&c, "alice", "su").unwrap().2, AuditLevel::Login);
        assert_eq!(
            rule_name(&c, "bob", "sshd").as_deref(),
            Some("contractors_via_hbac")
        );
        assert_eq!(rule_name(&c, "bob", "sudo"), None);
        assert_eq!(rule_name(&c, "bob", "login"), None);
        let r = c
            .rules
            .iter()
            .find(|r| r.name == "privileged_on_production")
            .unwrap();
        assert_eq!(r.host, Tier::Group);
        assert_eq!(r.services.groups[0].services, ["sudo", "sudo-i"]);
        assert_eq!(c.user_groups["carol"], ["privileged"]);
        assert_eq!(c.group_closure["dbas"], ["privileged"]);
        assert_eq!(c.defaults.limit_rate, Some(16384));
    }
    let c = build_cache(&snapshot(&entries, "bastion.example.test"), 1);
    let names: Vec<&str> = c.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["everyone_su_login_audit", "exempt_alice_bastion"]);
    for svc in ["sshd", "su", "cron"] {
        assert_eq!(eval(&c, "alice", svc).map(|x| x.1), Some(false), "{svc}");
    }
    assert_eq!(rule_name(&c, "bob", "sshd"), None);
    // An unenrolled host still gets the hostCategory=all rules.
    let c = build_cache(&snapshot(&entries, "laptop.example.test"), 1);
    let names: Vec<&str> = c.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["everyone_su_login_audit"]);
}

#[test]
fn see_also_to_disabled_hbac_rule_is_inert_and_reported() {
    let mut entries = example();
    for e in entries
        .iter_mut()
        .filter(|e| e.one("cn") == Some("contractors_ssh_prod"))
    {
        e.attrs
            .insert("ipaenabledflag".into(), vec!["FALSE".into()]);
    }
    let c = build_cache(&snapshot(&entries, "web1.example.test"), 1);
    assert_eq!(rule_name(&c, "bob", "sshd"), None);
    assert_eq!(c.skipped.len(), 1);
    assert_eq!(c.skipped[0].rule, "contractors_via_hbac");
    assert!(
        c.skipped[0].reason.contains("is disabled"),
        "{}",
        c.skipped[0].reason
    );
}

#[test]
fn invalid_rules_are_skipped_with_a_reason() {
    let mut entries = example();
    let set = |entries: &mut Vec<Entry>, rule: &str, attr: &str, value: &str| {
        for e in entries.iter_mut().filter(|e| e.one("cn") == Some(rule)) {
            e.attrs.insert(attr.into(), vec![value.into()]);
        }
    };
    set(
        &mut entries,
        "contractors_via_hbac",
        "memberuser",
        "uid=dave,cn=users,cn=accounts,dc=example,dc=test",
    );
    set(
        &mut entries,
        "privileged_on_production",
        "usercategory",
        "all",
    );
    set(
        &mut entries,
        "everyone_su_login_audit",
        "ipasessionrecordingmode",
        "maybe",
    );
    let c = build_cache(&snapshot(&entries, "web1.example.test"), 1);
    assert!(c.rules.is_empty(), "{:?}", c.rules);
    let reasons: Vec<String> = c
        .skipped
        .iter()
        .map(|s| format!("{}: {}", s.rule, s.reason))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("contractors_via_hbac: has seeAlso and its own memberuser")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r
            .starts_with("privileged_on_production: usercategory=all together with memberuser")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("\"maybe\": expected record or exempt")),
        "{reasons:?}"
    );
}

#[test]
fn nested_hostgroup_and_group_cycles_terminate() {
    let mut entries = example();
    // production -> webservers -> production: a cycle must not hang.
    for e in entries
        .iter_mut()
        .filter(|e| e.one("cn") == Some("webservers"))
    {
        e.attrs
            .get_mut("member")
            .unwrap()
            .push("cn=production,cn=hostgroups,cn=accounts,dc=example,dc=test".into());
    }
    for e in entries.iter_mut().filter(|e| e.one("cn") == Some("admins")) {
        e.attrs
            .get_mut("member")
            .unwrap()
            .push("cn=privileged,cn=groups,cn=accounts,dc=example,dc=test".into());
    }
    let c = build_cache(&snapshot(&entries, "web1.example.test"), 1);
    assert_eq!(
        rule_name(&c, "alice", "sshd").as_deref(),
        Some("privileged_on_production")
    );
}

fn set_attr(entries: &mut [Entry], cn: &str, attr: &str, value: &str) {
    for e in entries.iter_mut().filter(|e| e.one("cn") == Some(cn)) {
        e.attrs.insert(attr.into(), vec![value.into()]);
    }
}

#[test]
fn time_limited_exemption_is_kept_but_never_applies_and_is_reported() {
    let mut entries = example();
    // Control: the plain exemption decides alice on bastion.
    let c = build(&snapshot(&entries, "bastion.example.test"), 1);
    assert_eq!(eval(&c.cache, "alice", "sshd").map(|x| x.1), Some(false));
    assert!(c.notices.is_empty(), "{:?}", c.notices);

    set_attr(
        &mut entries,
        "exempt_alice_bastion",
        "accesstime",
        "periodic daily 0300-0301",
    );
    let b = build(&snapshot(&entries, "bastion.example.test"), 1);
    let r = b
        .cache
        .rules
        .iter()
        .find(|r| r.name == "exempt_alice_bastion")
        .unwrap();
    assert_eq!(r.access_time, ["periodic daily 0300-0301"]);
    // No exemption at any time: the FreeIPA source has no verdict for alice.
    assert_eq!(eval(&b.cache, "alice", "sshd"), None);
    assert_eq!(b.notices.len(), 1, "{:?}", b.notices);
    let n = b.notices[0].to_string();
    assert!(
        n.starts_with("rule \"exempt_alice_bastion\" (exempt rule) is time-limited: accessTime \"periodic daily 0300-0301\"")
            && n.contains("this exemption is never applied")
            && n.ends_with("[dn: ipaUniqueID=00000000-0000-4000-8000-000000009003,cn=sessionrecording,dc=example,dc=test]"),
        "{n}"
    );
}

#[test]
fn time_limited_record_rule_records_always_and_is_reported() {
    let mut entries = example();
    set_attr(
        &mut entries,
        "privileged_on_production",
        "accesstime",
        "periodic weekly day Mon-Fri 0900-1700",
    );
    let b = build(&snapshot(&entries, "web1.example.test"), 1);
    assert_eq!(
        eval(&b.cache, "alice", "sshd").map(|x| (x.0, x.1)),
        Some(("privileged_on_production".to_string(), true))
    );
    assert_eq!(b.notices.len(), 1, "{:?}", b.notices);
    let n = b.notices[0].to_string();
    assert!(
        n.contains("(record rule) is time-limited") && n.contains("records at all times"),
        "{n}"
    );
    assert!(b.cache.skipped.is_empty());
}

#[test]
fn hbac_rule_time_limit_counts_for_a_see_also_rule() {
    let mut entries = example();
    set_attr(
        &mut entries,
        "contractors_ssh_prod",
        "accesstime",
        "absolute 201012161032 ~ 201012161033",
    );
    let b = build(&snapshot(&entries, "web1.example.test"), 1);
    let r = b
        .cache
        .rules
        .iter()
        .find(|r| r.name == "contractors_via_hbac")
        .unwrap();
    assert_eq!(r.access_time, ["absolute 201012161032 ~ 201012161033"]);
    let n = b.notices[0].to_string();
    assert!(
        n.contains("its seeAlso HBAC rule \"contractors_ssh_prod\" has accessTime \"absolute 201012161032 ~ 201012161033\""),
        "{n}"
    );
    // Still records bob (record rule, at all times).
    assert_eq!(eval(&b.cache, "bob", "sshd").map(|x| x.1), Some(true));
    // Made an exemption, it never applies.
    set_attr(
        &mut entries,
        "contractors_via_hbac",
        "ipasessionrecordingmode",
        "exempt",
    );
    let b = build(&snapshot(&entries, "web1.example.test"), 1);
    assert_eq!(eval(&b.cache, "bob", "sshd"), None);
    assert!(b.notices[0].to_string().contains("never applied"));
}

#[test]
fn ignored_rules_are_reported_with_their_dn() {
    let mut entries = example();
    set_attr(
        &mut entries,
        "everyone_su_login_audit",
        "ipasessionrecordingmode",
        "maybe",
    );
    let b = build(&snapshot(&entries, "web1.example.test"), 1);
    assert_eq!(b.notices.len(), 1, "{:?}", b.notices);
    assert_eq!(
        b.notices[0].to_string(),
        "rule \"everyone_su_login_audit\" ignored: ipaSessionRecordingMode \"maybe\": expected record or exempt \
         [dn: ipaUniqueID=00000000-0000-4000-8000-000000009004,cn=sessionrecording,dc=example,dc=test]"
    );
}
