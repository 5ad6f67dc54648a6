//! Small pure pieces: nsswitch parsing, host patterns, SSSD list splitting,
//! tlog conf JSON, and the directory checks of the file adapter.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::TempDir;
use tlog_rs_policy::sssd::split_list;
use tlog_rs_policy::sys::{parse_nsswitch, underlying_getpwnam};
use tlog_rs_policy::{host_matches, Policy, RecSettings};

#[test]
fn nsswitch_services_and_actions() {
    let text = "# comment\npasswd:  tlog files [NOTFOUND=return] sss # trailing\ngroup: files\n";
    let s = parse_nsswitch(text, "passwd");
    let names: Vec<_> = s.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["tlog", "files", "sss"]);
    assert_eq!(s[1].return_on, [true, false, false]);
    assert_eq!(s[2].return_on, [false, false, false]);
    let s = parse_nsswitch("passwd: sss [!UNAVAIL=return] files\n", "passwd");
    assert_eq!(
        s[0].return_on,
        [true, false, true],
        "!UNAVAIL = notfound and tryagain"
    );
    // No passwd line: glibc's default is files.
    let s = parse_nsswitch("group: files\n", "passwd");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].name, "files");
    // Last line for a database wins, like glibc.
    let s = parse_nsswitch("passwd: files\npasswd: sss\n", "passwd");
    assert_eq!(s[0].name, "sss");
}

#[test]
fn underlying_lookup_finds_root() {
    let root = underlying_getpwnam("root").unwrap().expect("root exists");
    assert_eq!(root.uid, 0);
    assert_eq!(root.name, b"root");
    assert!(underlying_getpwnam("no-such-user-tlog-rs")
        .unwrap()
        .is_none());
    assert!(underlying_getpwnam("bad\0name").is_err());
}

#[test]
fn host_patterns() {
    assert!(host_matches("db*.example.com", "db1.example.com"));
    assert!(host_matches("DB?.EXAMPLE.com", "db1.example.COM"));
    assert!(!host_matches("db?.example.com", "db12.example.com"));
    assert!(
        host_matches("web1", "web1.example.com"),
        "short name matches first label"
    );
    assert!(!host_matches("web1", "web10.example.com"));
    assert!(
        !host_matches("web1.example", "web1.example.com"),
        "dotted patterns match whole names"
    );
    assert!(host_matches("*", "anything"));
    assert!(host_matches("a*b*c", "aXXbYYc"));
    assert!(!host_matches("a*b*c", "aXXbYY"));
}

#[test]
fn sssd_list_splitting() {
    assert_eq!(split_list("  a  ,, b ,"), ["a", "b"]);
    assert_eq!(split_list("\ta\x0b,\x0cb\r"), ["a", "b"]);
    assert_eq!(split_list("a b;c"), ["a b;c"]);
    assert!(split_list(" , ,").is_empty());
    // Non-ASCII whitespace is not C isspace: kept.
    assert_eq!(split_list("\u{a0}a"), ["\u{a0}a"]);
}

#[test]
fn conf_json_is_tlog_schema() {
    assert_eq!(RecSettings::default().to_conf_json(), "{}");
    let s = RecSettings {
        log_input: Some(true),
        log_output: Some(false),
        limit_burst: Some(1),
        limit_action: Some("drop".into()),
        writer: Some("file".into()),
        file_path: Some("/var/log/tlog \"x\".log".into()),
        latency: Some(3),
        ..Default::default()
    };
    let v: serde_json::Value = serde_json::from_str(&s.to_conf_json()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "log": {"input": true, "output": false},
            "limit": {"burst": 1, "action": "drop"},
            "writer": "file",
            "file": {"path": "/var/log/tlog \"x\".log"},
            "latency": 3
        })
    );
    assert_eq!(s.to_conf_json(), s.clone().to_conf_json(), "deterministic");
}

#[test]
fn insecure_directories_fail() {
    let dir = TempDir::new("dirs");
    let conf = dir.write("sssd/sssd.conf", "[session_recording]\nscope = none\n");
    dir.write("sssd/conf.d/10.conf", "[session_recording]\nscope = none\n");
    let policy = dir.write(
        "policy.toml",
        &format!("[sssd]\nconf = \"{}\"\n", conf.display()),
    );
    assert!(Policy::load(&policy).is_ok());
    // A conf.d anyone can write: anyone could add a snippet.
    let confd = dir.path("sssd/conf.d");
    std::fs::set_permissions(&confd, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = Policy::load(&policy).unwrap_err();
    assert!(
        e.file.ends_with("conf.d") && e.message.contains("go-w"),
        "{e}"
    );
    std::fs::set_permissions(&confd, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The policy's own directory group-writable: the file could be replaced.
    std::fs::set_permissions(dir.root(), std::fs::Permissions::from_mode(0o775)).unwrap();
    let e = Policy::load(&policy).unwrap_err();
    assert!(e.message.contains("go-w"), "{e}");
    std::fs::set_permissions(dir.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(Policy::load(&policy).is_ok());
}
