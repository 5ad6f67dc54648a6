//! policy.toml: rules, combination with sssd.conf and FreeIPA, services and
//! hosts, the NSS view, settings -> env, bad input and the cache.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::TempDir;
use tlog_rs_policy::{
    AuditLevel, ErrorKind, LoginFacts, Policy, PolicyCache, RecSettings, Source, CONTROLLED_ENV,
};

fn facts(user: &str, primary: Option<&str>, groups: &[&str], service: Option<&str>) -> LoginFacts {
    LoginFacts {
        user: user.into(),
        uid: 1000,
        gid: 1000,
        primary_group: primary.map(str::to_string),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        host: "db1.prod.example.com".into(),
        service: service.map(str::to_string),
        passwd_shell: "/bin/zsh".into(),
    }
}

fn policy(text: &str) -> Policy {
    Policy::from_toml_str(text, "policy.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(text: &str) -> tlog_rs_policy::PolicyError {
    match Policy::from_toml_str(text, "policy.toml") {
        Ok(_) => panic!("policy loaded but should fail:\n{text}"),
        Err(e) => e,
    }
}

const DBAS: &str = r#"
recorder = "/usr/bin/tlog-rs-rec-session"

[settings]
writer = "journal"

[[rule]]
name = "break-glass"
action = "exempt"
users = ["breakglass"]

[[rule]]
name = "dbas"
groups = ["dba"]
hosts = ["db*.prod.example.com"]
services = ["sshd", "login"]
audit_level = "login"
[rule.settings]
log_input = true
limit_rate = 65536
limit_action = "delay"

[[rule]]
name = "contractors"
users = ["carl", "breakglass"]
"#;

#[test]
fn group_rule_records_with_settings_and_env() {
    let p = policy(DBAS);
    let d = p.decide(&facts(
        "alice",
        Some("alice"),
        &["alice", "dba"],
        Some("sshd"),
    ));
    assert!(d.record);
    assert_eq!(d.source, Source::Toml);
    assert!(d.rule.contains("'dbas'"), "{}", d.rule);
    assert_eq!(d.audit_level, AuditLevel::Login);
    assert_eq!(d.shell, "/bin/zsh");
    let env: std::collections::HashMap<_, _> = d.env().into_iter().collect();
    let conf: serde_json::Value = serde_json::from_str(&env["TLOG_REC_CONF_TEXT"]).unwrap();
    assert_eq!(
        conf,
        serde_json::json!({"log": {"input": true}, "limit": {"rate": 65536, "action": "delay"}, "writer": "journal"})
    );
    assert_eq!(env["TLOG_REC_SESSION_CONF_TEXT"], env["TLOG_REC_CONF_TEXT"]);
    assert_eq!(env["TLOG_REC_SHELL"], "/bin/zsh");
    assert_eq!(env["TLOG_REC_SESSION_SHELL"], "/bin/zsh");
    assert_eq!(env["TLOG_RS_AUDIT_LEVEL"], "login");
    for k in env.keys() {
        assert!(
            CONTROLLED_ENV.contains(&k.as_str()),
            "{k} not in CONTROLLED_ENV"
        );
    }
}

#[test]
fn primary_group_selects_too() {
    let p = policy(DBAS);
    assert!(
        p.decide(&facts("alice", Some("dba"), &[], Some("sshd")))
            .record
    );
}

#[test]
fn service_and_host_restrict() {
    let p = policy(DBAS);
    let mut f = facts("alice", None, &["dba"], Some("cron"));
    assert!(!p.decide(&f).record, "cron is not a listed service");
    f.service = Some("login".into());
    assert!(p.decide(&f).record);
    f.host = "web1.prod.example.com".into();
    assert!(!p.decide(&f).record, "host pattern db* does not match web1");
    f.host = "DB7.PROD.EXAMPLE.COM".into();
    assert!(p.decide(&f).record, "host names are case-insensitive");
    // Unknown host (gethostname failed): a host-restricted record rule may
    // apply, so it counts; a host-restricted exemption does not.
    f.host = String::new();
    assert!(p.decide(&f).record);
    let p = policy(
        "[[rule]]\nname = \"x\"\naction = \"exempt\"\nusers = [\"alice\"]\nhosts = [\"bastion\"]\n\
         [[rule]]\nname = \"all\"\nall_users = true\n",
    );
    assert!(
        p.decide(&f).record,
        "exemption for bastion must not apply to an unknown host"
    );
    f.host = "bastion.example.com".into();
    assert!(!p.decide(&f).record);
}

#[test]
fn first_matching_rule_wins_and_exempt_is_explicit() {
    let p = policy(DBAS);
    // breakglass is listed by the exempt rule (first) and by contractors (later).
    let d = p.decide(&facts("breakglass", None, &[], Some("sshd")));
    assert!(!d.record);
    assert_eq!(d.source, Source::Toml);
    assert!(d.rule.contains("break-glass"));
    assert!(d.env().is_empty());
    assert!(p.decide(&facts("carl", None, &[], Some("su"))).record);
    let d = p.decide(&facts("nobody-listed", None, &["users"], Some("sshd")));
    assert!(!d.record);
    assert_eq!(d.source, Source::Default);
}

#[test]
fn nss_view_records_if_any_service_could() {
    let p = policy(DBAS);
    // dbas is restricted to sshd/login: NSS (service unknown) must swap the shell.
    assert!(p.may_record(&facts("alice", None, &["dba"], Some("cron"))));
    assert!(p.decide(&facts("alice", None, &["dba"], None)).record);
    // A service-restricted exemption does not exempt in the NSS view.
    let p = policy(
        r#"
[[rule]]
name = "no-sftp"
action = "exempt"
users = ["bob"]
services = ["sftp"]
[[rule]]
name = "all"
all_users = true
"#,
    );
    assert!(p.may_record(&facts("bob", None, &[], None)));
    assert!(!p.decide(&facts("bob", None, &[], Some("sftp"))).record);
    assert!(p.decide(&facts("bob", None, &[], Some("sshd"))).record);
}

#[test]
fn empty_shell_falls_back_to_bin_sh_and_recorder_shell_is_never_exported() {
    let p = policy("[[rule]]\nname = \"all\"\nall_users = true\n");
    let mut f = facts("u", None, &[], Some("sshd"));
    f.passwd_shell = String::new();
    assert_eq!(p.decide(&f).shell, "/bin/sh");
    f.passwd_shell = "/usr/bin/tlog-rs-rec-session".into();
    assert_eq!(p.decide(&f).shell, "/bin/sh");
    f.passwd_shell = "/usr/bin/tlog-rec-session".into();
    assert_eq!(p.decide(&f).shell, "/bin/sh");
}

fn sssd_dir(body: &str) -> (TempDir, String) {
    let dir = TempDir::new("comb");
    let conf = dir.write("sssd.conf", body);
    let toml = format!("[sssd]\nconf = \"{}\"\n", conf.display());
    (dir, toml)
}

#[test]
fn toml_exemption_beats_sssd_all() {
    let (_d, base) = sssd_dir("[session_recording]\nscope = all\n");
    let p = policy(&format!(
        "{base}\n[[rule]]\nname = \"bg\"\naction = \"exempt\"\nusers = [\"root\"]\n"
    ));
    let d = p.decide(&facts("root", None, &[], Some("sshd")));
    assert!(!d.record);
    assert_eq!(d.source, Source::Toml);
    let d = p.decide(&facts("alice", None, &[], Some("sshd")));
    assert!(d.record);
    assert_eq!(d.source, Source::Sssd);
    assert_eq!(d.rule, "sssd.conf scope=all");
}

#[test]
fn sssd_exclusion_does_not_beat_a_toml_record_rule() {
    let (_d, base) = sssd_dir("[session_recording]\nscope = all\nexclude_users = carl\n");
    let p = policy(&format!(
        "{base}\n[[rule]]\nname = \"c\"\nusers = [\"carl\"]\n"
    ));
    assert!(p.decide(&facts("carl", None, &[], Some("sshd"))).record);
    // Without the toml rule, sssd's exclusion decides.
    let p = policy(&base);
    let d = p.decide(&facts("carl", None, &[], Some("sshd")));
    assert!(!d.record);
    assert_eq!(d.source, Source::Sssd);
}

#[test]
fn global_settings_apply_to_sssd_selected_logins() {
    let (_d, base) = sssd_dir("[session_recording]\nscope = some\nusers = alice\n");
    let p = policy(&format!(
        "audit_level = \"none\"\n[settings]\nlog_window = false\n{base}"
    ));
    let d = p.decide(&facts("alice", None, &[], Some("sshd")));
    assert!(d.record);
    assert_eq!(
        d.settings,
        RecSettings {
            log_window: Some(false),
            ..Default::default()
        }
    );
    assert_eq!(d.audit_level, AuditLevel::None);
}

#[test]
fn disabled_rule_and_source_are_ignored() {
    let (_d, base) = sssd_dir("[session_recording]\nscope = all\n");
    let text = base.replace("[sssd]\n", "[sssd]\nenabled = false\n")
        + "[[rule]]\nname = \"x\"\nenabled = false\nusers = [\"alice\"]\n";
    let p = policy(&text);
    assert!(!p.decide(&facts("alice", None, &[], Some("sshd"))).record);
}

// ---- bad input: precise errors, fail-secure decisions ----

#[test]
fn malformed_toml_gives_line() {
    let e = load_err("[[rule]]\nname = \"a\"\nusers = [\"x\"\n");
    assert_eq!(e.file, "policy.toml");
    assert!(e.line.is_some(), "{e}");
    assert_eq!(e.kind, ErrorKind::Invalid);
}

#[test]
fn unknown_keys_are_errors_with_line() {
    let e = load_err("recorder = \"/usr/bin/x\"\n\n[[rule]]\nname = \"a\"\nuser = [\"x\"]\n");
    assert_eq!(e.line, Some(5), "{e}");
    assert!(e.message.contains("unknown field `user`"), "{e}");
    let e = load_err("[settings]\nlog_inptu = true\n");
    assert_eq!(e.line, Some(2), "{e}");
    let e = load_err("[sssd]\nconf = \"/etc/sssd/sssd.conf\"\nscope = \"all\"\n");
    assert_eq!(e.line, Some(3), "{e}");
}

#[test]
fn bad_values_are_errors_with_line() {
    let cases = [
        (
            "[[rule]]\nname = \"a\"\naction = \"skip\"\nusers = [\"x\"]\n",
            3,
            "action",
        ),
        (
            "[[rule]]\nname = \"a\"\nusers = [\"x\"]\naudit_level = \"full\"\n",
            4,
            "audit_level",
        ),
        ("[[rule]]\nname = \"a\"\n", 1, "selects nobody"),
        ("[[rule]]\nname = \"a\"\nusers = []\n", 3, "empty list"),
        (
            "[[rule]]\nname = \"a\"\nusers = [\"x\"]\n[rule.settings]\nlimit_action = \"block\"\n",
            4,
            "limit_action",
        ),
        (
            "[[rule]]\nname = \"a\"\nusers = [\"x\"]\n[[rule]]\nname = \"a\"\nusers = [\"y\"]\n",
            5,
            "duplicate",
        ),
        ("[settings]\nwriter = \"file\"\n", 1, "file_path"),
        ("recorder = \"rec\"\n", 1, "absolute"),
        (
            "[sssd]\nconf = \"/etc/sssd/sssd.conf\"\nconf_dir = \"conf.d\"\n",
            3,
            "absolute",
        ),
        ("[freeipa]\ncache = \"rules.json\"\n", 2, "absolute"),
        (
            "[freeipa]\ncache = \"/x\"\nmax_age = \"3 weeks\"\n",
            3,
            "max_age",
        ),
        (
            "[freeipa]\ncache = \"/x\"\non_stale = \"ignore\"\n",
            3,
            "on_stale",
        ),
    ];
    for (text, line, needle) in cases {
        let e = load_err(text);
        assert_eq!(e.line, Some(line), "{text}: {e}");
        assert!(e.message.contains(needle), "{text}: {e}");
    }
}

#[test]
fn failsafe_decision_records_everyone_including_root() {
    let e = load_err("not toml at all [");
    let mut f = facts("root", Some("root"), &["root"], Some("sshd"));
    f.uid = 0;
    f.passwd_shell = String::new();
    let d = Policy::failsafe_decision(&e, &f);
    assert!(d.record);
    assert_eq!(d.source, Source::Error);
    assert_eq!(d.shell, "/bin/sh");
    assert!(d.reason.contains("policy.toml"), "{}", d.reason);
    assert!(!d.env().is_empty());
}

#[test]
fn missing_and_unreadable_sources_fail() {
    let dir = TempDir::new("bad");
    // Missing policy file.
    let e = Policy::load(&dir.path("nope.toml")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    // Missing sssd.conf named by the policy.
    let e = load_err(&format!(
        "[sssd]\nconf = \"{}/sssd.conf\"\n",
        dir.root().display()
    ));
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.file.ends_with("sssd.conf"));
    // A directory where a file is expected.
    std::fs::create_dir(dir.path("d.conf")).unwrap();
    let e = load_err(&format!(
        "[sssd]\nconf = \"{}/d.conf\"\n",
        dir.root().display()
    ));
    assert!(e.message.contains("not a regular file"), "{e}");
    // Group-writable: someone else could exempt themselves.
    let p = dir.write("policy.toml", "");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o664)).unwrap();
    let e = Policy::load(&p).unwrap_err();
    assert!(e.message.contains("chmod go-w"), "{e}");
    // Not UTF-8.
    let p = dir.path("bin.toml");
    std::fs::write(&p, b"name = \"\xff\"\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Policy::load(&p).unwrap_err();
    assert!(e.message.contains("UTF-8"), "{e}");
    // Unreadable (mode 000) is only meaningful when not root.
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let p = dir.write("secret.toml", "");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        assert_eq!(Policy::load(&p).unwrap_err().kind, ErrorKind::Unreadable);
    }
}

#[test]
fn truncated_freeipa_cache_fails_secure() {
    let dir = TempDir::new("ipa");
    let cache = dir.write(
        "rules.json",
        "{\"format\": \"tlog-rs-freeipa-cache\", \"version\": 1, \"ru",
    );
    let text = format!("[freeipa]\ncache = \"{}\"\n", cache.display());
    let e = load_err(&text);
    assert!(e.file.ends_with("rules.json"), "{e}");
    let d = Policy::failsafe_decision(&e, &facts("alice", None, &[], Some("sshd")));
    assert!(d.record);
    assert_eq!(d.source, Source::Error);
}

#[test]
fn empty_policy_records_nobody() {
    let dir = TempDir::new("empty");
    let p = Policy::load(&dir.write("policy.toml", "# nothing configured\n")).unwrap();
    let d = p.decide(&facts("root", None, &[], Some("sshd")));
    assert!(!d.record);
    assert_eq!(d.source, Source::Default);
    assert_eq!(p.recorder(), tlog_rs_policy::DEFAULT_RECORDER);
}

// ---- cache ----

#[test]
fn cache_does_not_reparse_unchanged_files_and_notices_changes() {
    let dir = TempDir::new("cache");
    let conf = dir.write(
        "sssd.conf",
        "[session_recording]\nscope = some\nusers = alice\n",
    );
    let path = dir.write(
        "policy.toml",
        &format!("[sssd]\nconf = \"{}\"\n", conf.display()),
    );
    let mut cache = PolicyCache::new(path.clone());
    let alice = facts("alice", None, &[], Some("sshd"));
    let bob = facts("bob", None, &[], Some("sshd"));
    assert!(cache.get().unwrap().decide(&alice).record);
    for _ in 0..100 {
        assert!(cache.get().is_ok());
    }
    assert_eq!(cache.reloads(), 0, "unchanged files must not be re-parsed");

    // Change the included sssd.conf (new inode via rename, like editors do).
    let tmp = dir.write(
        "sssd.conf.new",
        "[session_recording]\nscope = some\nusers = bob\n",
    );
    std::fs::rename(&tmp, &conf).unwrap();
    // Without the re-check the loaded policy is taken as it is.
    assert!(cache.get_checked(false).unwrap().decide(&alice).record);
    assert_eq!(cache.reloads(), 0);
    assert!(cache.get().unwrap().decide(&bob).record);
    assert!(!cache.get().unwrap().decide(&alice).record);
    assert_eq!(cache.reloads(), 1);

    // A new conf.d snippet is noticed (the directory is stamped).
    dir.write_mode(
        "conf.d/50-x.conf",
        "[session_recording]\nusers = carol\n",
        0o600,
    );
    let carol = facts("carol", None, &[], Some("sshd"));
    assert!(cache.get().unwrap().decide(&carol).record);
    assert_eq!(cache.reloads(), 2);

    // Broken policy: error is cached too, then recovery.
    std::fs::write(&path, "[[rule]\n").unwrap();
    assert!(cache.get().is_err());
    assert!(cache.get().is_err());
    assert_eq!(cache.reloads(), 3);
    std::fs::write(&path, "[[rule]]\nname = \"a\"\nall_users = true\n").unwrap();
    assert!(cache.get().unwrap().decide(&bob).record);
    assert_eq!(cache.reloads(), 4);
}
