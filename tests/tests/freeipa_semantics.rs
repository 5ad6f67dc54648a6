//! FreeIPA rule semantics end to end: the example DIT in a real slapd,
//! `tlog-rs sync` per host, then `tlog-rs check --json` with real glibc NSS
//! (test users in a private /etc). Expected results: the design table in
//! freeipa-schema/README.md.

mod freeipa_common;

use freeipa_common::*;
use serde_json::Value;
use tlog_rs_tests::require_root;
use tlog_rs_tests::slapd::{SlapdOptions, BASE_DN};

const WEB1: &str = "web1.example.test";
const DB1: &str = "db1.example.test";
const BASTION: &str = "bastion.example.test";

fn rule_of(v: &Value) -> String {
    verdict(v).0
}

#[test]
fn reference_table_through_sync_and_check() {
    if !require_root("reference_table_through_sync_and_check") {
        return;
    }
    let ipa = Ipa::start("ipa-table", SlapdOptions::default());
    for host in [WEB1, DB1, BASTION] {
        sync_ok(&ipa.sync_config(host));
    }
    for host in [WEB1, DB1] {
        let p = ipa.policy(host);
        // direct user via nested group (admins ⊂ privileged), service group Sudo
        let res = check(
            &ipa.env,
            &p,
            &[
                ("alice", Some("sshd")),
                ("alice", Some("login")),
                ("alice", Some("sudo")),
                ("alice", Some("sudo-i")),
                ("carol", Some("sshd")),
                ("carol", Some("sudo")),
                ("carol", Some("login")),
            ],
        );
        for v in &res {
            assert_eq!(
                verdict(v),
                (
                    "ipa rule 'privileged_on_production'".into(),
                    true,
                    "session".into()
                ),
                "{host}: {v}"
            );
            assert_eq!(v["source"], "freeipa");
        }
        // settings: rule over container defaults -> TLOG_REC_SESSION_CONF_TEXT
        let conf: Value = serde_json::from_str(
            res[0]["env"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.ends_with("CONF_TEXT"))
                .map(|(_, v)| v.as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(conf["log"]["input"], false, "{conf}");
        assert_eq!(conf["log"]["output"], true, "{conf}");
        assert_eq!(conf["limit"]["rate"], 65536, "{conf}");
        assert_eq!(conf["limit"]["burst"], 32768, "{conf}");
        assert_eq!(conf["limit"]["action"], "delay", "{conf}");

        // su: everyone_su_login_audit (priority 100), audit login
        for v in check(
            &ipa.env,
            &p,
            &[
                ("alice", Some("su")),
                ("carol", Some("su-l")),
                ("dave", Some("su")),
            ],
        ) {
            assert_eq!(
                verdict(&v),
                (
                    "ipa rule 'everyone_su_login_audit'".into(),
                    true,
                    "login".into()
                ),
                "{host}: {v}"
            );
        }
        // bob: only via the seeAlso HBAC rule (contractors, production, sshd)
        let res = check(
            &ipa.env,
            &p,
            &[
                ("bob", Some("sshd")),
                ("bob", Some("sudo")),
                ("bob", Some("login")),
            ],
        );
        assert_eq!(
            verdict(&res[0]),
            (
                "ipa rule 'contractors_via_hbac'".into(),
                true,
                "session".into()
            )
        );
        let conf = res[0]["settings"].to_string();
        assert!(
            conf.contains("\"input\":true") || res[0].to_string().contains("\\\"input\\\":true"),
            "{}",
            res[0]
        );
        for v in &res[1..] {
            assert!(!v["record"].as_bool().unwrap(), "service restriction: {v}");
            assert_ne!(v["source"], "freeipa", "{v}");
        }
        // dave: nothing but su; the disabled record-everything rule never applies
        for v in check(
            &ipa.env,
            &p,
            &[
                ("dave", Some("sshd")),
                ("dave", Some("sudo")),
                ("dave", Some("login")),
            ],
        ) {
            assert!(!v["record"].as_bool().unwrap(), "{v}");
        }
        // eve is in dbas only through NSS: nesting (dbas ⊂ privileged) still applies
        let v = &check(&ipa.env, &p, &[("eve", Some("sshd"))])[0];
        assert_eq!(rule_of(v), "ipa rule 'privileged_on_production'", "{v}");
    }
    let p = ipa.policy(BASTION);
    for v in check(
        &ipa.env,
        &p,
        &[
            ("alice", Some("sshd")),
            ("alice", Some("su")),
            ("alice", Some("cron")),
        ],
    ) {
        assert_eq!(verdict(&v).0, "ipa rule 'exempt_alice_bastion'", "{v}");
        assert!(!v["record"].as_bool().unwrap(), "exempt: {v}");
    }
    // bastion is not in production: bob's HBAC-linked rule does not apply
    let v = &check(&ipa.env, &p, &[("bob", Some("sshd"))])[0];
    assert!(!v["record"].as_bool().unwrap(), "{v}");
    let v = &check(&ipa.env, &p, &[("carol", Some("su"))])[0];
    assert_eq!(rule_of(v), "ipa rule 'everyone_su_login_audit'", "{v}");
}

/// Rules added to the directory for one case each.
fn add_rule(ipa: &Ipa, id: u32, body: &str) {
    ipa.slapd.modify(&format!(
        "dn: ipaUniqueID=22222222-0000-4000-8000-{id:012},cn=sessionrecording,{BASE_DN}
changetype: add
objectClass: ipaAssociation
objectClass: ipaSessionRecordingRule
ipaUniqueID: 22222222-0000-4000-8000-{id:012}
ipaEnabledFlag: TRUE
{body}"
    ));
}

fn set(ipa: &Ipa, dn: &str, attr: &str, value: &str) {
    ipa.slapd.modify(&format!(
        "dn: {dn}\nchangetype: modify\nreplace: {attr}\n{attr}: {value}\n"
    ));
}

#[test]
fn hosts_hostgroups_categories_priority_and_ties() {
    if !require_root("hosts_hostgroups_categories_priority_and_ties") {
        return;
    }
    let ipa = Ipa::start("ipa-ties", SlapdOptions::default());
    let web1 = format!("fqdn={WEB1},cn=computers,cn=accounts,{BASE_DN}");
    let hg = |n: &str| format!("cn={n},cn=hostgroups,cn=accounts,{BASE_DN}");
    let svc = |n: &str| format!("cn={n},cn=hbacservices,cn=hbac,{BASE_DN}");
    // dave, priority 50, three rules naming web1 by host, hostgroup and nested hostgroup:
    // the host name is the most specific.
    add_rule(&ipa, 1, &format!("cn: dave_by_host\nmemberUser: uid=dave,cn=users,cn=accounts,{BASE_DN}\nmemberHost: {web1}\nserviceCategory: all\nipaSessionRecordingPriority: 50\nipaSessionRecordingAuditLevel: session\n"));
    add_rule(&ipa, 2, &format!("cn: dave_by_hostgroup\nmemberUser: uid=dave,cn=users,cn=accounts,{BASE_DN}\nmemberHost: {}\nserviceCategory: all\nipaSessionRecordingPriority: 50\n", hg("webservers")));
    add_rule(&ipa, 3, &format!("cn: dave_by_nested_hostgroup\nuserCategory: all\nmemberHost: {}\nmemberService: {}\nipaSessionRecordingPriority: 60\nipaSessionRecordingMode: exempt\n", hg("production"), svc("login")));
    sync_ok(&ipa.sync_config(WEB1));
    sync_ok(&ipa.sync_config(DB1));
    let res = check(
        &ipa.env,
        &ipa.policy(WEB1),
        &[("dave", Some("sshd")), ("dave", Some("login"))],
    );
    assert_eq!(rule_of(&res[0]), "ipa rule 'dave_by_host'", "{}", res[0]);
    assert_eq!(
        rule_of(&res[1]),
        "ipa rule 'dave_by_host'",
        "priority 50 beats 60: {}",
        res[1]
    );
    // db1: only the nested hostgroup rule (production ⊃ dbservers ∋ db1) applies, exempt for login
    let res = check(
        &ipa.env,
        &ipa.policy(DB1),
        &[("dave", Some("login")), ("dave", Some("sshd"))],
    );
    assert_eq!(
        verdict(&res[0]).0,
        "ipa rule 'dave_by_nested_hostgroup'",
        "{}",
        res[0]
    );
    assert!(!res[0]["record"].as_bool().unwrap());
    assert!(!res[1]["record"].as_bool().unwrap(), "{}", res[1]);

    // Equal priority, record vs exempt: record wins even against a more specific exempt.
    add_rule(&ipa, 4, &format!("cn: exempt_dave_web1\nmemberUser: uid=dave,cn=users,cn=accounts,{BASE_DN}\nmemberHost: {web1}\nserviceCategory: all\nipaSessionRecordingPriority: 40\nipaSessionRecordingMode: exempt\n"));
    add_rule(&ipa, 5, "cn: record_everyone_40\nuserCategory: all\nhostCategory: all\nserviceCategory: all\nipaSessionRecordingPriority: 40\n");
    sync_ok(&ipa.sync_config(WEB1));
    let v = &check(&ipa.env, &ipa.policy(WEB1), &[("dave", Some("sshd"))])[0];
    assert_eq!(verdict(v).0, "ipa rule 'record_everyone_40'", "{v}");
    assert!(v["record"].as_bool().unwrap());
    // A lower number makes the exemption win.
    set(
        &ipa,
        &format!("ipaUniqueID=22222222-0000-4000-8000-000000000004,cn=sessionrecording,{BASE_DN}"),
        "ipaSessionRecordingPriority",
        "39",
    );
    sync_ok(&ipa.sync_config(WEB1));
    let v = &check(&ipa.env, &ipa.policy(WEB1), &[("dave", Some("sshd"))])[0];
    assert_eq!(verdict(v).0, "ipa rule 'exempt_dave_web1'", "{v}");
    assert!(!v["record"].as_bool().unwrap());
    // Disabling it brings the category-all rule back.
    set(
        &ipa,
        &format!("ipaUniqueID=22222222-0000-4000-8000-000000000004,cn=sessionrecording,{BASE_DN}"),
        "ipaEnabledFlag",
        "FALSE",
    );
    sync_ok(&ipa.sync_config(WEB1));
    let v = &check(&ipa.env, &ipa.policy(WEB1), &[("dave", Some("sshd"))])[0];
    assert_eq!(verdict(v).0, "ipa rule 'record_everyone_40'", "{v}");
}

#[test]
fn see_also_follows_the_hbac_rule_state() {
    if !require_root("see_also_follows_the_hbac_rule_state") {
        return;
    }
    let ipa = Ipa::start("ipa-seealso", SlapdOptions::default());
    let hbac = format!("ipaUniqueID=00000000-0000-4000-8000-000000007001,cn=hbac,{BASE_DN}");
    let cfg = ipa.sync_config(WEB1);
    sync_ok(&cfg);
    let v = &check(&ipa.env, &ipa.policy(WEB1), &[("bob", Some("sshd"))])[0];
    assert!(v["record"].as_bool().unwrap(), "{v}");
    // Disabled HBAC rule: the linked recording rule is inert, and the sync
    // says so (exit 3: synced with rule warnings).
    set(&ipa, &hbac, "ipaEnabledFlag", "FALSE");
    let o = sync(&cfg);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rule \"contractors_via_hbac\" ignored: seeAlso HBAC rule")
            && err.contains("is disabled"),
        "{err}"
    );
    let v = &check(&ipa.env, &ipa.policy(WEB1), &[("bob", Some("sshd"))])[0];
    assert!(!v["record"].as_bool().unwrap(), "{v}");
    // Re-enabled, but the HBAC rule now only names dave: bob no longer matches, dave does.
    set(&ipa, &hbac, "ipaEnabledFlag", "TRUE");
    set(
        &ipa,
        &hbac,
        "memberUser",
        &format!("uid=dave,cn=users,cn=accounts,{BASE_DN}"),
    );
    sync_ok(&cfg);
    let res = check(
        &ipa.env,
        &ipa.policy(WEB1),
        &[("bob", Some("sshd")), ("dave", Some("sshd"))],
    );
    assert!(!res[0]["record"].as_bool().unwrap(), "{}", res[0]);
    assert_eq!(
        rule_of(&res[1]),
        "ipa rule 'contractors_via_hbac'",
        "{}",
        res[1]
    );
}
