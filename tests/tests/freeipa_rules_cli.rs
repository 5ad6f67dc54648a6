//! `tlog-rs rules` against a real slapd: every verb, its effect seen through
//! `tlog-rs sync` + `tlog-rs check`, invalid input refused before the server
//! is contacted, directory-level mistakes and server refusals in words.

mod freeipa_common;

use std::path::Path;
use std::process::{Command, Output};

use freeipa_common::*;
use tlog_rs_tests::artifact;
use tlog_rs_tests::require_root;
use tlog_rs_tests::slapd::{SlapdOptions, READER_DN};

const WEB1: &str = "web1.example.test";

fn rules(cfg: &Path, args: &[&str]) -> Output {
    Command::new(artifact("tlog-rs"))
        .args(["rules", "--policy"])
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

fn ok(cfg: &Path, args: &[&str]) -> String {
    let o = rules(cfg, args);
    assert!(o.status.success(), "rules {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(cfg: &Path, args: &[&str], code: i32) -> String {
    let o = rules(cfg, args);
    assert_eq!(o.status.code(), Some(code), "rules {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_verb_and_its_effect_on_logins() {
    if !require_root("every_verb_and_its_effect_on_logins") {
        return;
    }
    let ipa = Ipa::start("ipa-rules", SlapdOptions::default());
    let cfg = ipa.sync_config(WEB1);
    let policy = ipa.policy(WEB1);

    let list = ok(&cfg, &["list"]);
    let line = list
        .lines()
        .find(|l| l.starts_with("privileged_on_production"))
        .expect(&list);
    assert!(
        line.contains(" yes ")
            && line.contains(" 20 ")
            && line.contains("users=@privileged hosts=@production"),
        "{line}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("disabled_record_everything") && l.contains(" no ")),
        "{list}"
    );
    assert!(
        list.contains("via HBAC rule contractors_ssh_prod"),
        "{list}"
    );

    let show = ok(&cfg, &["show", "privileged_on_production"]);
    assert!(
        show.contains("services:    login,sshd,@Sudo")
            || show.contains("services:    sshd,login,@Sudo"),
        "{show}"
    );
    assert!(
        show.contains("RateLimit:   65536") && show.contains("LimitAction: delay"),
        "{show}"
    );

    // add: dave on web1 for sshd, recorded with input logging and audit login
    let out = ok(
        &cfg,
        &[
            "add",
            "dave_web1",
            "--users",
            "dave",
            "--hosts",
            WEB1,
            "--services",
            "sshd",
            "--priority",
            "3",
            "--audit",
            "login",
            "--log-input",
            "yes",
            "--rate",
            "4096",
            "--description",
            "dave on web1",
        ],
    );
    assert!(
        out.starts_with("added rule dave_web1 (ipaUniqueID="),
        "{out}"
    );
    sync_ok(&cfg);
    let v = &check(&ipa.env, &policy, &[("dave", Some("sshd"))])[0];
    assert_eq!(
        verdict(v),
        ("ipa rule 'dave_web1'".into(), true, "login".into()),
        "{v}"
    );
    let env = v["env"].to_string();
    assert!(
        env.contains(r#"\"input\":true"#) && env.contains(r#"\"rate\":4096"#),
        "{env}"
    );

    // mod: exempt instead; also replace users by a group (carol's dbas)
    ok(
        &cfg,
        &[
            "mod",
            "dave_web1",
            "--mode",
            "exempt",
            "--users",
            "",
            "--groups",
            "dbas",
            "--priority",
            "2",
        ],
    );
    sync_ok(&cfg);
    let res = check(
        &ipa.env,
        &policy,
        &[("dave", Some("sshd")), ("carol", Some("sshd"))],
    );
    assert_eq!(res[0]["record"], false, "{}", res[0]);
    assert_ne!(res[0]["rule"], "ipa rule 'dave_web1'", "{}", res[0]);
    assert_eq!(verdict(&res[1]).0, "ipa rule 'dave_web1'", "{}", res[1]);
    assert_eq!(res[1]["record"], false, "carol exempt now: {}", res[1]);
    let show = ok(&cfg, &["show", "dave_web1"]);
    assert!(
        show.contains("mode:        exempt")
            && show.contains("users:       @dbas")
            && show.contains("priority:    2"),
        "{show}"
    );

    // disable / enable
    ok(&cfg, &["disable", "dave_web1"]);
    sync_ok(&cfg);
    let v = &check(&ipa.env, &policy, &[("carol", Some("sshd"))])[0];
    assert_eq!(verdict(v).0, "ipa rule 'privileged_on_production'", "{v}");
    ok(&cfg, &["enable", "dave_web1"]);
    sync_ok(&cfg);
    let v = &check(&ipa.env, &policy, &[("carol", Some("sshd"))])[0];
    assert_eq!(verdict(v).0, "ipa rule 'dave_web1'", "{v}");

    // an HBAC-linked rule, added disabled
    ok(
        &cfg,
        &[
            "add",
            "via_hbac",
            "--hbac-rule",
            "contractors_ssh_prod",
            "--disabled",
            "--priority",
            "1",
            "--mode",
            "exempt",
        ],
    );
    assert!(ok(&cfg, &["show", "via_hbac"]).contains("HBAC rule:   contractors_ssh_prod"));

    // del
    assert_eq!(
        ok(&cfg, &["del", "dave_web1"]).trim(),
        "deleted rule dave_web1"
    );
    let e = err(&cfg, &["show", "dave_web1"], 2);
    assert!(e.contains("no rule named dave_web1"), "{e}");
    sync_ok(&cfg);
    let v = &check(&ipa.env, &policy, &[("carol", Some("sshd"))])[0];
    assert_eq!(verdict(v).0, "ipa rule 'privileged_on_production'", "{v}");
}

#[test]
fn invalid_input_never_reaches_the_server() {
    if !require_root("invalid_input_never_reaches_the_server") {
        return;
    }
    let mut ipa = Ipa::start("ipa-rules-bad", SlapdOptions::default());
    let cfg = ipa.sync_config(WEB1);
    // With the server gone, any contact would fail with "no LDAP server";
    // these must fail on their own words, exit 2.
    ipa.slapd.stop();
    for (args, want) in [
        (
            vec![
                "add",
                "x",
                "--users",
                "all",
                "--hosts",
                "web1",
                "--services",
                "all",
            ],
            "is not a fully qualified host name",
        ),
        (vec!["add", "x", "--users", "alice"], "would match nobody"),
        (
            vec!["mod", "x", "--priority", "-5"],
            "expected a whole number",
        ),
        (
            vec!["mod", "x", "--audit", "everything"],
            "expected none, login, session",
        ),
        (vec!["add", "x y"], "rule name \"x y\""),
        (vec!["enable"], "missing rule NAME"),
    ] {
        let e = err(&cfg, &args, 2);
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(
            !e.contains("no LDAP server"),
            "{args:?} contacted the server: {e}"
        );
    }
    let e = err(&cfg, &["list"], 1);
    assert!(e.contains("no LDAP server could be used"), "{e}");
}

#[test]
fn directory_mistakes_and_server_refusals_are_readable() {
    if !require_root("directory_mistakes_and_server_refusals_are_readable") {
        return;
    }
    let ipa = Ipa::start("ipa-rules-srv", SlapdOptions::default());
    let cfg = ipa.sync_config(WEB1);
    let e = err(
        &cfg,
        &[
            "add",
            "x",
            "--users",
            "alcie",
            "--hosts",
            "all",
            "--services",
            "all",
        ],
        2,
    );
    assert!(
        e.contains("user alcie does not exist (uid=alcie,cn=users,cn=accounts,dc=example,dc=test)"),
        "{e}"
    );
    let e = err(
        &cfg,
        &[
            "add",
            "x",
            "--groups",
            "admins",
            "--hostgroups",
            "nosuch",
            "--services",
            "all",
        ],
        2,
    );
    assert!(e.contains("hostgroup nosuch does not exist"), "{e}");
    let e = err(
        &cfg,
        &[
            "add",
            "privileged_on_production",
            "--users",
            "all",
            "--hosts",
            "all",
            "--services",
            "all",
        ],
        2,
    );
    assert!(e.contains("already exists"), "{e}");
    let e = err(&cfg, &["add", "x", "--hbac-rule", "no_such_hbac"], 2);
    assert!(e.contains("no HBAC rule named no_such_hbac"), "{e}");
    // the rule has memberUser groups; 'all' would contradict them
    let e = err(
        &cfg,
        &["mod", "privileged_on_production", "--users", "all"],
        2,
    );
    assert!(
        e.contains("userCategory=all and memberUser entries together"),
        "{e}"
    );
    let e = err(&cfg, &["mod", "contractors_via_hbac", "--hosts", "all"], 2);
    assert!(e.contains("uses an HBAC rule (seeAlso)"), "{e}");
    // The read-only sync account may not write: the server's refusal, in words.
    let pw = ipa.password_file("reader-secret");
    let e = err(
        &cfg,
        &[
            "--bind-dn",
            READER_DN,
            "--password-file",
            pw.to_str().unwrap(),
            "disable",
            "privileged_on_production",
        ],
        1,
    );
    assert!(
        e.contains("modify refused by the server: insufficient access rights (50)"),
        "{e}"
    );
}
