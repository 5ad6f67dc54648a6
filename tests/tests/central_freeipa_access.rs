//! Access and retention from FreeIPA on the central side, against a real
//! slapd holding the example DIT plus the objects of
//! `freeipa_common::central_ldif` (the 389-DS run is in freeipa_389ds.rs):
//! `tlog-rs sync --hostgroups --central` writes both files, central.toml
//! reads them (`hostgroups_file`, `freeipa_file`), and then
//! * `tlog-rs web`: bob, in the FreeIPA-only scoped auditor group
//!   contractors (webservers), logs in through PAM and sees exactly the
//!   recording of web1, and 404 for db1's;
//! * `tlog-rs purge --dry-run`: web1's recording is past FreeIPA's 30 days
//!   and would go without an archive; db1's falls under central.toml's own
//!   dbservers rule (1 day), which wins over FreeIPA's 400 days; bastion's
//!   has no rule. The real purge then archives only db1's.

mod freeipa_common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use freeipa_common::{central_ldif, sync_central_and_check, text, Ipa};
use tlog_rs_tests::slapd::SlapdOptions;
use tlog_rs_tests::web::serve;
use tlog_rs_tests::{require_program, require_root, tlog_rs};

const WEB1: &str = "web1.example.test";
const DB1: &str = "db1.example.test";
const BASTION: &str = "bastion.example.test";
const PASSWORD: &str = "Bob-pw-4312";

/// curl against the test server (self-signed certificate), with a cookie
/// jar; returns (HTTP status, body).
fn curl(jar: &Path, url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sk", "-o", "-", "-w", "\n%{http_code}", "-b"])
        .arg(jar)
        .arg("-c")
        .arg(jar);
    for (k, v) in form {
        c.arg("--data-urlencode").arg(format!("{k}={v}"));
    }
    let o = c.arg(url).stdin(Stdio::null()).output().unwrap();
    assert!(o.status.success(), "curl {url}: {o:?}");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}

#[test]
fn freeipa_access_and_retention_objects_drive_web_and_purge() {
    if !require_root("freeipa_access_and_retention_objects_drive_web_and_purge") {
        return;
    }
    require_program("curl", "curl");
    let openssl = require_program("openssl", "openssl");
    let mut ipa = Ipa::start(
        "central-access",
        SlapdOptions {
            extra_ldif: Some(central_ldif()),
            ..SlapdOptions::default()
        },
    );
    let hostgroups = ipa.dir.join("hostgroups.toml");
    let freeipa = ipa.dir.join("freeipa-central.toml");
    let sync_cfg = ipa.sync_config("central.example.test");
    sync_central_and_check(&sync_cfg, &hostgroups, &freeipa);

    let store = ipa.dir.join("store");
    for (host, rec) in [(WEB1, "r-web1"), (DB1, "r-db1"), (BASTION, "r-bastion")] {
        freeipa_common::day_file_recording(&store, host, rec, "2026-05-28");
    }
    let archive = ipa.dir.join("archive");
    let conf = ipa.dir.join("central.toml");
    fs::write(
        &conf,
        format!(
            "db = \"{}\"\nhostgroups_file = \"{}\"\nfreeipa_file = \"{}\"\n[sources]\njsonl = [\"{}\"]\n\
             [retention]\narchive_dir = \"{}\"\n[[retention.rule]]\nhostgroup = \"dbservers\"\nmax_age = \"1d\"\n",
            ipa.dir.join("central.db").display(),
            hostgroups.display(),
            freeipa.display(),
            store.display(),
            archive.display(),
        ),
    )
    .unwrap();
    let o = tlog_rs(&["index", "--config", conf.to_str().unwrap()]);
    assert!(o.status.success(), "index: {}", text(&o));

    // The web UI: bob is in contractors in NSS (as SSSD would give it).
    let hash = Command::new(&openssl)
        .args(["passwd", "-6", "-salt", "tlogrsipa", PASSWORD])
        .output()
        .unwrap();
    assert!(hash.status.success());
    let hash = String::from_utf8(hash.stdout).unwrap().trim().to_string();
    let mut shadow = fs::read_to_string("/etc/shadow").unwrap_or_default();
    shadow.push_str(&format!("bob:{hash}:19000:0:99999:7:::\n"));
    ipa.env
        .etc(
            "group",
            format!("{}contractors:x:4400:bob\n", freeipa_common::GROUP),
        )
        .etc_mode("shadow", shadow, 0o600)
        .etc(
            "nsswitch.conf",
            "passwd: files\ngroup: files\nshadow: files\nhosts: files\n",
        )
        .etc(
            "pam.d/tlog-rs-web",
            "auth required pam_unix.so\naccount required pam_unix.so\n",
        );
    let server = serve(&ipa.env, &ipa.dir, &conf);
    let base = server.base();
    let jar = ipa.dir.join("cookies");
    let (code, page) = curl(&jar, &format!("{base}/login"), &[]);
    assert_eq!(code, 200, "{page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf token in the login form")
        .to_string();
    let (code, body) = curl(
        &jar,
        &format!("{base}/login"),
        &[("user", "bob"), ("password", PASSWORD), ("csrf", &csrf)],
    );
    assert!(
        (300..400).contains(&code),
        "login: {code} {body}\n{}",
        fs::read_to_string(&server.log).unwrap_or_default()
    );
    let (code, list) = curl(&jar, &format!("{base}/"), &[]);
    assert_eq!(code, 200, "{list}");
    assert!(list.contains(&format!("/r/{WEB1}/r-web1")), "{list}");
    for other in ["r-db1", "r-bastion"] {
        assert!(!list.contains(other), "{other} is out of scope: {list}");
    }
    let (code, _) = curl(&jar, &format!("{base}/r/{WEB1}/r-web1"), &[]);
    assert_eq!(code, 200);
    let (code, _) = curl(&jar, &format!("{base}/r/{DB1}/r-db1"), &[]);
    assert_eq!(code, 404, "a recording out of the FreeIPA scope");

    // Retention: FreeIPA's rules next to central.toml's own.
    let o = tlog_rs(&["purge", "--dry-run", "--config", conf.to_str().unwrap()]);
    assert!(o.status.success(), "purge --dry-run: {}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = |rec: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {rec} ")))
            .unwrap_or_else(|| panic!("{rec} not listed: {out}"))
            .to_string()
    };
    let web = line("r-web1");
    assert!(
        web.starts_with(&format!("would purge {WEB1} r-web1 (older than 30d)")),
        "{web}"
    );
    assert!(!web.contains("archived to"), "FreeIPA said FALSE: {web}");
    let db = line("r-db1");
    assert!(
        db.starts_with(&format!("would purge {DB1} r-db1 (older than 1d)")),
        "central.toml's dbservers rule wins: {db}"
    );
    assert!(db.contains("archived to"), "{db}");
    assert!(!out.contains("r-bastion"), "no rule: kept: {out}");
    assert!(!archive.exists(), "a dry run writes nothing");

    let o = tlog_rs(&["purge", "--config", conf.to_str().unwrap()]);
    assert!(o.status.success(), "purge: {}", text(&o));
    assert!(
        archive.join(DB1).join("r-db1.jsonl.gz").exists(),
        "{}",
        text(&o)
    );
    assert!(!archive.join(WEB1).exists(), "{}", text(&o));
    let o = tlog_rs(&["search", "--config", conf.to_str().unwrap(), "--json"]);
    let left = String::from_utf8_lossy(&o.stdout);
    // A sync that cannot reach the directory keeps the file as it was.
    let written = fs::read_to_string(&freeipa).unwrap();
    let dead = ipa.write_sync_config(
        "dead",
        "uris = [\"ldap://127.0.0.1:1\"]\nbase_dn = \"dc=example,dc=test\"\nhost = \"central.example.test\"\nbind = \"external\"\n",
    );
    let o = tlog_rs(&[
        "sync",
        "--policy",
        dead.to_str().unwrap(),
        "--central",
        freeipa.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is kept as it was"),
        "{}",
        text(&o)
    );
    assert_eq!(fs::read_to_string(&freeipa).unwrap(), written);
    assert!(
        left.contains("\"r-bastion\"") && !left.contains("\"r-web1\""),
        "{left}"
    );
}
