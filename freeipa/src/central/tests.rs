use super::*;

const B: &str = "cn=accounts,dc=example,dc=test";

fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> Entry {
    Entry::new(
        dn,
        attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
    )
}

fn ug(cn: &str) -> String {
    format!("cn={cn},cn=groups,{B}")
}

fn hg(cn: &str) -> String {
    format!("cn={cn},cn=hostgroups,{B}")
}

fn groups(f: fn(&str) -> String, names: &[&str]) -> Vec<Entry> {
    names
        .iter()
        .map(|n| entry(&f(n), &[("cn", &[n])]))
        .collect()
}

fn obj(cn: &str, attrs: &[(&str, &[&str])]) -> Entry {
    let mut a = attrs.to_vec();
    a.push(("cn", std::slice::from_ref(&cn)));
    entry(&format!("ipaUniqueID={cn},cn=x,dc=example,dc=test"), &a)
}

fn build_with(access: &[Entry], retention: &[Entry]) -> Central {
    build(
        access,
        retention,
        &groups(ug, &["sec", "nj-audit", "dbas", "admins"]),
        &groups(hg, &["production", "webservers"]),
    )
}

#[test]
fn access_objects_become_one_entry_per_auditor_group() {
    // Another spelling of the DNs: names are found case-insensitively.
    let web = "CN=webservers, cn=hostgroups,".to_string() + B;
    let a = obj(
        "nj",
        &[
            ("memberUser", &[&ug("sec"), &ug("nj-audit")]),
            ("memberHost", &[&web, &hg("production")]),
            ("ipaSessionRecordingAuditedGroup", &[&ug("dbas")]),
            ("ipaSessionRecordingPurge", &["TRUE"]),
        ],
    );
    let c = build_with(&[a], &[]);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    let got: Vec<(&str, &[String], &[String], bool)> = c
        .auditors
        .iter()
        .map(|a| {
            (
                a.group.as_str(),
                a.hostgroups.as_slice(),
                a.usergroups.as_slice(),
                a.purge,
            )
        })
        .collect();
    let hosts = ["production".to_string(), "webservers".to_string()];
    let users = ["dbas".to_string()];
    assert_eq!(
        got,
        [
            ("nj-audit", &hosts[..], &users[..], true),
            ("sec", &hosts[..], &users[..], true)
        ]
    );
    let b = obj(
        "b",
        &[
            ("memberUser", &[&ug("sec")]),
            ("memberHost", &[&hg("webservers")]),
        ],
    );
    assert!(
        !build_with(&[b], &[]).auditors[0].purge,
        "purge defaults to false"
    );
}

#[test]
fn retention_objects_become_one_rule_per_scope() {
    let r = obj(
        "keep-prod",
        &[
            ("memberHost", &[&hg("production")]),
            ("memberUser", &[&ug("dbas")]),
            ("ipaSessionRecordingMaxAge", &["90d"]),
            ("ipaSessionRecordingArchive", &["FALSE"]),
        ],
    );
    let c = build_with(&[], &[r]);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    let got: Vec<(RetentionScope, String, bool)> = c
        .retention
        .iter()
        .map(|r| (r.scope.clone(), r.max_age.to_string(), r.archive))
        .collect();
    assert_eq!(
        got,
        [
            (
                RetentionScope::HostGroup("production".into()),
                "90d".into(),
                false
            ),
            (
                RetentionScope::UserGroup("dbas".into()),
                "90d".into(),
                false
            ),
        ]
    );
}

#[test]
fn invalid_objects_are_skipped_with_name_dn_and_reason() {
    let user = format!("uid=alice,cn=users,{B}");
    let host = format!("fqdn=web1.example.test,cn=computers,{B}");
    let good = obj(
        "good",
        &[
            ("memberUser", &[&ug("sec")]),
            ("memberHost", &[&hg("production")]),
        ],
    );
    let access = [
        good,
        obj(
            "user-auditor",
            &[
                ("memberUser", &[&user]),
                ("memberHost", &[&hg("production")]),
            ],
        ),
        obj(
            "host-scope",
            &[("memberUser", &[&ug("sec")]), ("memberHost", &[&host])],
        ),
        obj("no-scope", &[("memberUser", &[&ug("sec")])]),
        obj("no-auditors", &[("memberHost", &[&hg("production")])]),
        obj(
            "all-hosts",
            &[("memberUser", &[&ug("sec")]), ("hostCategory", &["all"])],
        ),
        obj(
            "bad-purge",
            &[
                ("memberUser", &[&ug("sec")]),
                ("memberHost", &[&hg("production")]),
                ("ipaSessionRecordingPurge", &["yes"]),
            ],
        ),
    ];
    let retention = [
        obj("no-age", &[("memberHost", &[&hg("production")])]),
        obj(
            "bad-age",
            &[
                ("memberHost", &[&hg("production")]),
                ("ipaSessionRecordingMaxAge", &["3 years"]),
            ],
        ),
        obj("r-no-scope", &[("ipaSessionRecordingMaxAge", &["9d"])]),
        obj(
            "gone-group",
            &[
                ("memberUser", &[&ug("nosuch")]),
                ("ipaSessionRecordingMaxAge", &["9d"]),
            ],
        ),
    ];
    let c = build_with(&access, &retention);
    assert_eq!(c.auditors.len(), 1, "only the good object is kept");
    assert!(c.retention.is_empty());
    let why: HashMap<&str, &str> = c
        .notices
        .iter()
        .map(|n| (n.name.as_str(), n.why.as_str()))
        .collect();
    assert_eq!(why.len(), 10, "{:?}", c.notices);
    let expect = [
        (
            "user-auditor",
            "is not a user group (auditors are user groups",
        ),
        ("host-scope", "is not a host group"),
        ("no-scope", "no scope"),
        ("no-auditors", "no auditors"),
        (
            "all-hosts",
            "hostCategory: all is not supported (for every recording use web.auditors_group",
        ),
        (
            "bad-purge",
            "ipaSessionRecordingPurge \"yes\" is not TRUE or FALSE",
        ),
        ("no-age", "no ipaSessionRecordingMaxAge"),
        (
            "bad-age",
            "ipaSessionRecordingMaxAge \"3 years\": expected a number and a unit",
        ),
        ("r-no-scope", "no scope"),
        ("gone-group", "memberUser \"cn=nosuch,"),
    ];
    for (name, want) in expect {
        assert!(why[name].contains(want), "{name}: {}", why[name]);
    }
    let n = c.notices.iter().find(|n| n.name == "bad-age").unwrap();
    let line = n.to_string();
    assert!(
        line.starts_with("retention object \"bad-age\" skipped: "),
        "{line}"
    );
    assert!(
        line.contains("[dn: ipaUniqueID=bad-age,cn=x,dc=example,dc=test]"),
        "{line}"
    );
}

#[test]
fn the_file_loads_through_central_toml_and_central_toml_wins() {
    let access = [obj(
        "nj \"quoted\"",
        &[
            ("memberUser", &[&ug("nj-audit"), &ug("sec")]),
            ("memberHost", &[&hg("webservers")]),
            ("ipaSessionRecordingPurge", &["TRUE"]),
        ],
    )];
    let retention = [
        obj(
            "prod",
            &[
                ("memberHost", &[&hg("production")]),
                ("ipaSessionRecordingMaxAge", &["36h"]),
            ],
        ),
        obj(
            "dbas",
            &[
                ("memberUser", &[&ug("dbas")]),
                ("ipaSessionRecordingMaxAge", &["400d"]),
                ("ipaSessionRecordingArchive", &["FALSE"]),
            ],
        ),
    ];
    let mut built = build_with(&access, &retention);
    let text = to_toml(&built, "ldap://x");
    // Names with control characters still give a file TOML reads.
    built.auditors[0].from.0 = "bell\u{7}\r\nnext".into();
    toml::from_str::<toml::Value>(&to_toml(&built, "ldap://x")).unwrap();
    assert!(
        text.starts_with("# Written by `tlog-rs sync --central` from ldap://x"),
        "{text}"
    );
    assert!(text.contains("# nj \"quoted\" (ipaUniqueID="), "{text}");
    let dir = std::env::temp_dir().join(format!("tlog-rs-central-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("freeipa.toml");
    std::fs::write(&f, &text).unwrap();
    let central = format!(
        "freeipa_file = \"{}\"\n[hostgroups]\nwebservers = [\"w1\"]\nproduction = [\"w1\", \"d1\"]\n\
         [retention]\narchive_dir = \"/srv/archive\"\n[[retention.rule]]\nusergroup = \"dbas\"\nmax_age = \"9d\"\n\
         [[web.auditors]]\ngroup = \"sec\"\nusergroups = [\"admins\"]\n",
        f.display()
    );
    let c = tlog_rs_index::config::Config::parse(&central, Path::new("/etc/tlog-rs/central.toml"))
        .unwrap();
    use tlog_rs_index::config::RetentionScope as S;
    let auditors: Vec<(&str, &[String], bool)> = c
        .web
        .auditors
        .iter()
        .map(|a| (a.group.as_str(), a.hostgroups.as_slice(), a.purge))
        .collect();
    let web = ["webservers".to_string()];
    // sec: central.toml's own entry only; nj-audit from FreeIPA.
    assert_eq!(
        auditors,
        [("sec", &[][..], false), ("nj-audit", &web[..], true)]
    );
    let rules: Vec<(S, String, bool)> = c
        .retention
        .rules
        .iter()
        .map(|r| (r.scope.clone(), r.max_age.to_string(), r.archive))
        .collect();
    assert_eq!(
        rules,
        [
            (S::UserGroup("dbas".into()), "9d".into(), true),
            (S::HostGroup("production".into()), "36h".into(), true),
        ],
        "central.toml's dbas rule wins over FreeIPA's"
    );

    // A FreeIPA host group central.toml does not know: the error names
    // the file and line.
    let e = tlog_rs_index::config::Config::parse(
        &format!(
            "freeipa_file = \"{}\"\n[hostgroups]\nwebservers = [\"w1\"]\n",
            f.display()
        ),
        Path::new("/etc/tlog-rs/central.toml"),
    )
    .unwrap_err();
    assert_eq!(e.file, f, "{e}");
    let line = text
        .lines()
        .position(|l| l.starts_with("hostgroup = \"production\""))
        .unwrap()
        + 1;
    assert_eq!(e.line, Some(line), "{e}");
    assert!(
        e.message.contains("unknown host group \"production\""),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
