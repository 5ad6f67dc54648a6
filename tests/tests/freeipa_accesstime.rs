//! Time-limited FreeIPA rules (`accessTime`) never fail open, end to end:
//! the example DIT in a real slapd, `tlog-rs sync` (stderr, exit status,
//! syslog through a private rsyslogd), `tlog-rs check --json` with real
//! glibc NSS, and `tlog-rs rules show|list|mod`.
//!
//! tlog-rs does not evaluate accessTime (freeipa-schema/README.md,
//! "Time-limited rules"): an exempt rule with a time limit never applies, a
//! record rule with one records at all times. The evaluator has no clock, so
//! the decision checked here is the one at every time of day, in the window
//! and out of it.

mod freeipa_common;

use std::path::Path;
use std::process::{Command, Output};

use freeipa_common::*;
use serde_json::Value;
use tlog_rs_tests::daemons::{with_private_dev_log, Rsyslog, TempDir};
use tlog_rs_tests::slapd::{SlapdOptions, BASE_DN};
use tlog_rs_tests::{artifact, require_program, require_root};

const WEB1: &str = "web1.example.test";
/// `tlog-rs sync` exit status: synced, but some rules not applied as written.
const EXIT_RULE_WARNINGS: i32 = 3;

fn rule_dn(id: u32) -> String {
    format!("ipaUniqueID=33333333-0000-4000-8000-{id:012},cn=sessionrecording,{BASE_DN}")
}

fn add_rule(ipa: &Ipa, id: u32, body: &str) {
    ipa.slapd.modify(&format!(
        "dn: {}
changetype: add
objectClass: ipaAssociation
objectClass: ipaSessionRecordingRule
ipaUniqueID: 33333333-0000-4000-8000-{id:012}
ipaEnabledFlag: TRUE
{body}",
        rule_dn(id)
    ));
}

fn set(ipa: &Ipa, dn: &str, attr: &str, value: &str) {
    ipa.slapd.modify(&format!(
        "dn: {dn}\nchangetype: modify\nreplace: {attr}\n{attr}: {value}\n"
    ));
}

fn rules(cfg: &Path, args: &[&str]) -> String {
    let o = Command::new(artifact("tlog-rs"))
        .args(["rules", "--policy"])
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "rules {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `tlog-rs sync` in a namespace whose /dev/log is `rs`'s socket.
fn sync_logged(rs: &Rsyslog, cfg: &Path) -> Output {
    let scratch = TempDir::new("ipa-accesstime-ns");
    with_private_dev_log(
        scratch.root(),
        Some(&rs.socket()),
        false,
        artifact("tlog-rs"),
    )
    .args(["sync", "--policy"])
    .arg(cfg)
    .output()
    .expect("run tlog-rs sync")
}

fn decided(v: &[Value]) -> (&str, bool) {
    let (rule, record, _) = one(v);
    (rule, record)
}

fn one(v: &[Value]) -> (&str, bool, &str) {
    (
        v[0]["rule"].as_str().unwrap(),
        v[0]["record"].as_bool().unwrap(),
        v[0]["reason"].as_str().unwrap(),
    )
}

/// The attack: a priority-1 exempt rule limited to one minute a day
/// must not exempt its user around the clock.
#[test]
fn time_limited_exemption_never_exempts_and_sync_reports_it() {
    if !require_root("time_limited_exemption_never_exempts_and_sync_reports_it") {
        return;
    }
    require_program("rsyslogd", "rsyslog");
    let ipa = Ipa::start("ipa-accesstime-exempt", SlapdOptions::default());
    let cfg = ipa.sync_config(WEB1);
    let policy = ipa.policy(WEB1);
    add_rule(
        &ipa,
        1,
        &format!(
            "cn: exempt_alice_nightly\nmemberUser: uid=alice,cn=users,cn=accounts,{BASE_DN}\n\
             hostCategory: all\nserviceCategory: all\nipaSessionRecordingPriority: 1\n\
             ipaSessionRecordingMode: exempt\n"
        ),
    );
    // Control: without a time limit the exemption matches alice and wins.
    let o = sync(&cfg);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = check(&ipa.env, &policy, &[("alice", Some("sshd"))]);
    assert_eq!(
        decided(&v),
        ("ipa rule 'exempt_alice_nightly'", false),
        "{}",
        v[0]
    );

    set(&ipa, &rule_dn(1), "accessTime", "periodic daily 0300-0301");
    let rs = Rsyslog::start("ipa-accesstime");
    let o = sync_logged(&rs, &cfg);
    assert_eq!(o.status.code(), Some(EXIT_RULE_WARNINGS), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let dn = rule_dn(1);
    let warning = err
        .lines()
        .find(|l| l.contains("\"exempt_alice_nightly\""))
        .unwrap_or_else(|| panic!("no warning for the rule: {err}"));
    assert!(
        warning.starts_with("tlog-rs sync: warning: rule \"exempt_alice_nightly\" (exempt rule) is time-limited: accessTime \"periodic daily 0300-0301\"")
            && warning.contains("this exemption is never applied")
            && warning.contains(&format!("[dn: {dn}]")),
        "{warning}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("1 rule(s) not applied as written"), "{out}");
    let logged = rs.wait_lines("exempt_alice_nightly", 1);
    assert!(
        logged
            .iter()
            .any(|l| l.contains("authpriv warning tlog-rs-sync")
                && l.contains("never applied")
                && l.contains(&dn)),
        "{logged:?}"
    );

    // alice is recorded (by privileged_on_production) at any time; check says why.
    let v = check(
        &ipa.env,
        &policy,
        &[
            ("alice", Some("sshd")),
            ("alice", None),
            ("bob", Some("sshd")),
        ],
    );
    let (rule, record, reason) = one(&v);
    assert_eq!(
        (rule, record),
        ("ipa rule 'privileged_on_production'", true)
    );
    assert!(
        reason.contains("'exempt_alice_nightly'") && reason.contains("never applied"),
        "{reason}"
    );
    assert!(v[1]["record"].as_bool().unwrap(), "NSS view: {}", v[1]);
    let bob = v[2]["reason"].as_str().unwrap();
    assert!(
        v[2]["record"].as_bool().unwrap() && !bob.contains("never applied"),
        "{bob}"
    );

    // rules show / list display the time limit and what is done with it.
    let show = rules(&cfg, &["show", "exempt_alice_nightly"]);
    assert!(
        show.contains("time limit:  \"periodic daily 0300-0301\": time limits are not evaluated, so this exemption is never applied"),
        "{show}"
    );
    let list = rules(&cfg, &["list"]);
    let line = list
        .lines()
        .find(|l| l.starts_with("exempt_alice_nightly"))
        .expect(&list);
    assert!(
        line.contains("accessTime=\"periodic daily 0300-0301\" (never-applied)"),
        "{line}"
    );

    // Removing the time limit restores the plain exemption and a clean sync.
    rules(
        &cfg,
        &["mod", "exempt_alice_nightly", "--access-time", "none"],
    );
    let o = sync(&cfg);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = check(&ipa.env, &policy, &[("alice", Some("sshd"))]);
    assert_eq!(decided(&v), ("ipa rule 'exempt_alice_nightly'", false));
}

/// A time-limited record rule records at all times; an HBAC rule's time
/// limit counts for the rules that use it through seeAlso.
#[test]
fn time_limited_record_rules_record_at_all_times() {
    if !require_root("time_limited_record_rules_record_at_all_times") {
        return;
    }
    let ipa = Ipa::start("ipa-accesstime-record", SlapdOptions::default());
    let cfg = ipa.sync_config(WEB1);
    let policy = ipa.policy(WEB1);
    // Control: dave is not recorded on web1 by the example rules.
    sync_ok(&cfg);
    let v = check(&ipa.env, &policy, &[("dave", Some("sshd"))]);
    assert!(!v[0]["record"].as_bool().unwrap(), "{}", v[0]);

    add_rule(
        &ipa,
        2,
        &format!(
            "cn: record_dave_office_hours\nmemberUser: uid=dave,cn=users,cn=accounts,{BASE_DN}\n\
             hostCategory: all\nserviceCategory: all\nipaSessionRecordingPriority: 30\n\
             accessTime: periodic weekly day Mon-Fri 0900-1700\n"
        ),
    );
    let hbac = format!("ipaUniqueID=00000000-0000-4000-8000-000000007001,cn=hbac,{BASE_DN}");
    set(
        &ipa,
        &hbac,
        "accessTime",
        "absolute 201012161032 ~ 201012161033",
    );
    let o = sync(&cfg);
    assert_eq!(o.status.code(), Some(EXIT_RULE_WARNINGS), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("rule \"record_dave_office_hours\" (record rule) is time-limited: accessTime \"periodic weekly day Mon-Fri 0900-1700\"; time limits are not evaluated, so this rule records at all times")
            && err.contains(&format!("[dn: {}]", rule_dn(2))),
        "{err}"
    );
    assert!(
        err.contains("rule \"contractors_via_hbac\" (record rule) is time-limited: its seeAlso HBAC rule \"contractors_ssh_prod\" has accessTime \"absolute 201012161032 ~ 201012161033\""),
        "{err}"
    );

    let v = check(
        &ipa.env,
        &policy,
        &[("dave", Some("sshd")), ("bob", Some("sshd"))],
    );
    let (rule, record, reason) = one(&v);
    assert_eq!(
        (rule, record),
        ("ipa rule 'record_dave_office_hours'", true)
    );
    assert!(
        reason.contains(
            "\"periodic weekly day Mon-Fri 0900-1700\" is not evaluated: it records at all times"
        ),
        "{reason}"
    );
    assert_eq!(
        v[1]["rule"].as_str().unwrap(),
        "ipa rule 'contractors_via_hbac'",
        "{}",
        v[1]
    );
    assert!(v[1]["record"].as_bool().unwrap(), "{}", v[1]);

    let show = rules(&cfg, &["show", "contractors_via_hbac"]);
    assert!(
        show.contains("time limit:  \"absolute 201012161032 ~ 201012161033\": time limits are not evaluated, so this rule records at all times"),
        "{show}"
    );
}
