//! Host groups from FreeIPA on the central side: `tlog-rs sync --hostgroups`
//! against a real slapd holding the example DIT (nested host groups:
//! production = webservers + dbservers), central.toml's `hostgroups_file`,
//! then `tlog-rs search --hostgroup` over recordings of those hosts. Also:
//! central.toml's own [hostgroups] wins over the file's, a failed sync
//! keeps the old file byte for byte, and `--central` against a directory
//! without the access/retention containers fails naming containers.ldif.

mod freeipa_common;

use std::fs;
use std::path::Path;

use freeipa_common::{text, Ipa};
use tlog_rs_tests::require_root;
use tlog_rs_tests::slapd::SlapdOptions;
use tlog_rs_tests::tlog_rs;

const WEB1: &str = "web1.example.test";
const DB1: &str = "db1.example.test";
const BASTION: &str = "bastion.example.test";

fn recs_in(conf: &Path, hostgroup: &str) -> Vec<String> {
    let o = tlog_rs(&[
        "search",
        "--config",
        conf.to_str().unwrap(),
        "--hostgroup",
        hostgroup,
        "--json",
    ]);
    assert!(
        o.status.success(),
        "search --hostgroup {hostgroup}: {}",
        text(&o)
    );
    let mut v: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["rec"].as_str().unwrap().to_string()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn freeipa_host_groups_drive_central_search() {
    if !require_root("freeipa_host_groups_drive_central_search") {
        return;
    }
    let ipa = Ipa::start("central-hostgroups", SlapdOptions::default());
    let file = ipa.dir.join("hostgroups.toml");
    let sync_cfg = ipa.sync_config("central.example.test");
    let o = tlog_rs(&[
        "sync",
        "--policy",
        sync_cfg.to_str().unwrap(),
        "--hostgroups",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "sync --hostgroups: {}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("synced 3 host group(s) with 2 host(s)"),
        "{out}"
    );
    let written = fs::read_to_string(&file).unwrap();
    assert!(
        written.contains(&format!("production = [\"{DB1}\", \"{WEB1}\"]")),
        "{written}"
    );
    // The rules cache is not the target of this sync.
    assert!(!ipa.cache("central.example.test").exists());
    // This directory has no access/retention containers: --central says
    // which file creates them and writes nothing.
    let central = ipa.dir.join("freeipa-central.toml");
    let o = tlog_rs(&[
        "sync",
        "--policy",
        sync_cfg.to_str().unwrap(),
        "--central",
        central.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "cn=access,cn=sessionrecording,dc=example,dc=test: the container does not exist: load freeipa-schema/containers.ldif"
        ),
        "{}",
        text(&o)
    );
    assert!(!central.exists());

    let store = ipa.dir.join("store");
    for (host, rec) in [(WEB1, "r-web1"), (DB1, "r-db1"), (BASTION, "r-bastion")] {
        freeipa_common::day_file_recording(&store, host, rec, "2026-06-01");
    }
    let conf = ipa.dir.join("central.toml");
    fs::write(
        &conf,
        format!(
            "db = \"{}\"\nhostgroups_file = \"{}\"\n[sources]\njsonl = [\"{}\"]\n[hostgroups]\ndbservers = [\"{BASTION}\"]\n",
            ipa.dir.join("central.db").display(),
            file.display(),
            store.display()
        ),
    )
    .unwrap();
    let o = tlog_rs(&["index", "--config", conf.to_str().unwrap()]);
    assert!(o.status.success(), "index: {}", text(&o));

    // Nested: production holds the hosts of webservers and dbservers.
    assert_eq!(recs_in(&conf, "production"), ["r-db1", "r-web1"]);
    assert_eq!(recs_in(&conf, "webservers"), ["r-web1"]);
    // central.toml's own dbservers wins over FreeIPA's.
    assert_eq!(recs_in(&conf, "dbservers"), ["r-bastion"]);
    let o = tlog_rs(&[
        "search",
        "--config",
        conf.to_str().unwrap(),
        "--hostgroup",
        "nosuch",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("production"),
        "the error lists the known groups: {}",
        text(&o)
    );

    // A sync that cannot reach the directory keeps the file as it was.
    let dead = ipa.write_sync_config(
        "dead",
        "uris = [\"ldap://127.0.0.1:1\"]\nbase_dn = \"dc=example,dc=test\"\nhost = \"central.example.test\"\nbind = \"external\"\n",
    );
    let o = tlog_rs(&[
        "sync",
        "--policy",
        dead.to_str().unwrap(),
        "--hostgroups",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is kept as it was"),
        "{}",
        text(&o)
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), written);
}
