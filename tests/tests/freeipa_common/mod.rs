//! Shared by the freeipa_* tests: a slapd with the example DIT, `tlog-rs sync`
//! configs, and `tlog-rs check --json` in a private namespace whose
//! /etc/passwd and /etc/group hold the directory's test users.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tlog_rs_tests::artifact;
use tlog_rs_tests::nsenv::{shell_quote, NsEnv};
use tlog_rs_tests::slapd::{temp_dir, Slapd, SlapdOptions, BASE_DN, READER_DN, READER_PW};

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
alice:x:1001:1001:Alice:/tmp:/bin/bash
bob:x:1002:1002:Bob:/tmp:/bin/bash
carol:x:1003:1003:Carol:/tmp:/bin/bash
dave:x:1004:1004:Dave:/tmp:/bin/bash
eve:x:1005:1005:Eve:/tmp:/bin/bash
";
// Only primary groups in NSS, except eve, who is in dbas locally: the
// directory's (nested) memberships must come from the sync.
pub const GROUP: &str = "root:x:0:
alice:x:1001:
bob:x:1002:
carol:x:1003:
dave:x:1004:
eve:x:1005:
dbas:x:2003:eve
";

pub struct Ipa {
    pub slapd: Slapd,
    pub dir: PathBuf,
    pub env: NsEnv,
}

impl Ipa {
    pub fn start(test: &str, opts: SlapdOptions) -> Ipa {
        let slapd = Slapd::start(opts);
        let dir = temp_dir(test);
        let mut env = NsEnv::new(test);
        env.etc("passwd", PASSWD).etc("group", GROUP).etc(
            "nsswitch.conf",
            "passwd: files\ngroup: files\nhosts: files\n",
        );
        Ipa { slapd, dir, env }
    }

    pub fn cache(&self, host: &str) -> PathBuf {
        self.dir.join(format!("cache-{host}.json"))
    }

    /// A sync config using SASL EXTERNAL over the ldapi socket (as root).
    pub fn sync_config(&self, host: &str) -> PathBuf {
        let ldap = format!(
            "uris = [\"{}\"]\nbase_dn = \"{BASE_DN}\"\nhost = \"{host}\"\nbind = \"external\"\n",
            self.slapd.ldapi_uri()
        );
        self.write_sync_config(host, &ldap)
    }

    /// A sync config with the given `[freeipa.ldap]` body.
    pub fn write_sync_config(&self, host: &str, ldap: &str) -> PathBuf {
        let p = self.dir.join(format!("sync-{host}.toml"));
        let text = format!(
            "[freeipa]\ncache = \"{}\"\n\n[freeipa.ldap]\n{ldap}",
            self.cache(host).display()
        );
        std::fs::write(&p, text).unwrap();
        p
    }

    /// policy.toml for `check`: only the FreeIPA source.
    pub fn policy(&self, host: &str) -> PathBuf {
        let p = self.dir.join(format!("policy-{host}.toml"));
        std::fs::write(
            &p,
            format!(
                "[freeipa]\ncache = \"{}\"\nmax_age = \"1d\"\n",
                self.cache(host).display()
            ),
        )
        .unwrap();
        p
    }

    /// Simple-bind password file, mode 0600.
    pub fn password_file(&self, pw: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.join("ldap.pw");
        std::fs::write(&p, format!("{pw}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    pub fn simple_ldap(&self, uri: &str, extra: &str) -> String {
        format!(
            "uris = [\"{uri}\"]\nbase_dn = \"{BASE_DN}\"\nbind = \"simple\"\nbind_dn = \"{READER_DN}\"\npassword_file = \"{}\"\n{extra}",
            self.password_file(READER_PW).display()
        )
    }
}

impl Drop for Ipa {
    fn drop(&mut self) {
        // Kept after a failure, for debugging.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `tlog-rs sync --policy CFG`.
pub fn sync(cfg: &Path) -> Output {
    Command::new(artifact("tlog-rs"))
        .args(["sync", "--policy"])
        .arg(cfg)
        .output()
        .expect("run tlog-rs sync")
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn sync_ok(cfg: &Path) {
    let o = sync(cfg);
    assert!(o.status.success(), "sync failed: {}", text(&o));
}

/// `tlog-rs check USER [--service S] --json --policy P` for each
/// (user, service), in one namespace run. Returns the JSON objects.
pub fn check(env: &NsEnv, policy: &Path, cases: &[(&str, Option<&str>)]) -> Vec<Value> {
    let bin = artifact("tlog-rs");
    let mut script = String::new();
    for (user, service) in cases {
        let svc = service
            .map(|s| format!("--service {s}"))
            .unwrap_or_default();
        script.push_str(&format!(
            "{} check {user} {svc} --json --policy {}; echo\n",
            shell_quote(bin.as_os_str()),
            shell_quote(policy.as_os_str())
        ));
    }
    let out = env.sh(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let vals: Vec<Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!(
                    "bad json {l:?}: {e}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
        })
        .collect();
    assert_eq!(
        vals.len(),
        cases.len(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    vals
}

/// (rule, record, audit level) as check reports them.
pub fn verdict(v: &Value) -> (String, bool, String) {
    (
        v["rule"].as_str().unwrap_or("").to_string(),
        v["record"].as_bool().unwrap(),
        v["audit_level"].as_str().unwrap_or("").to_string(),
    )
}

/// The central side (`tlog-rs sync --central`): the access and retention
/// containers as freeipa-schema/containers.ldif ships them, then objects
/// over the example DIT. contractors (bob) audit the webservers and may not
/// purge; a disabled object and one naming a user as auditor are not used
/// (the second is reported); webservers keep 30 days without an archive,
/// dbservers 400 days.
pub fn central_ldif() -> String {
    let shipped =
        std::fs::read_to_string(tlog_rs_tests::slapd::schema_dir().join("containers.ldif"))
            .unwrap();
    let mut out: String = shipped
        .split("\n\n")
        .filter(|b| b.contains("dn: cn=access,") || b.contains("dn: cn=retention,"))
        .map(|b| {
            // Only the entry, without the comment lines before it.
            let body: Vec<&str> = b.lines().filter(|l| !l.starts_with('#')).collect();
            format!("{}\n\n", body.join("\n"))
        })
        .collect();
    assert_eq!(out.matches("dn: ").count(), 2, "containers.ldif: {shipped}");
    let a = "cn=access,cn=sessionrecording,dc=example,dc=test";
    let r = "cn=retention,cn=sessionrecording,dc=example,dc=test";
    let g = "cn=groups,cn=accounts,dc=example,dc=test";
    let h = "cn=hostgroups,cn=accounts,dc=example,dc=test";
    out.push_str(&format!(
        "dn: ipaUniqueID=00000000-0000-4000-8000-00000000a001,{a}
objectClass: top
objectClass: ipaSessionRecordingAccess
ipaUniqueID: 00000000-0000-4000-8000-00000000a001
cn: contractors_audit_web
ipaEnabledFlag: TRUE
memberUser: cn=contractors,{g}
memberHost: cn=webservers,{h}
ipaSessionRecordingPurge: FALSE

dn: ipaUniqueID=00000000-0000-4000-8000-00000000a002,{a}
objectClass: top
objectClass: ipaSessionRecordingAccess
ipaUniqueID: 00000000-0000-4000-8000-00000000a002
cn: disabled_contractors_db
ipaEnabledFlag: FALSE
memberUser: cn=contractors,{g}
memberHost: cn=dbservers,{h}

dn: ipaUniqueID=00000000-0000-4000-8000-00000000a003,{a}
objectClass: top
objectClass: ipaSessionRecordingAccess
ipaUniqueID: 00000000-0000-4000-8000-00000000a003
cn: alice_as_auditor
ipaEnabledFlag: TRUE
memberUser: uid=alice,cn=users,cn=accounts,dc=example,dc=test
memberHost: cn=production,{h}

dn: ipaUniqueID=00000000-0000-4000-8000-00000000b001,{r}
objectClass: top
objectClass: ipaSessionRecordingRetention
ipaUniqueID: 00000000-0000-4000-8000-00000000b001
cn: web_30d
ipaEnabledFlag: TRUE
memberHost: cn=webservers,{h}
ipaSessionRecordingMaxAge: 30d
ipaSessionRecordingArchive: FALSE

dn: ipaUniqueID=00000000-0000-4000-8000-00000000b002,{r}
objectClass: top
objectClass: ipaSessionRecordingRetention
ipaUniqueID: 00000000-0000-4000-8000-00000000b002
cn: db_400d
ipaEnabledFlag: TRUE
memberHost: cn=dbservers,{h}
ipaSessionRecordingMaxAge: 400d
"
    ));
    out
}

/// `tlog-rs sync --central FILE` (and `--hostgroups HG`) with `cfg`, then
/// the checks both directory servers must pass: exit 3 for the object that
/// names a user as auditor (reported with its name and DN), and the file's
/// entries as central.toml reads them.
pub fn sync_central_and_check(cfg: &Path, hostgroups: &Path, out: &Path) {
    let o = Command::new(artifact("tlog-rs"))
        .args(["sync", "--policy"])
        .arg(cfg)
        .arg("--hostgroups")
        .arg(hostgroups)
        .arg("--central")
        .arg(out)
        .output()
        .expect("run tlog-rs sync");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("access object \"alice_as_auditor\" skipped: memberUser \"uid=alice,cn=users,cn=accounts,dc=example,dc=test\" is not a user group"),
        "{}",
        text(&o)
    );
    assert!(
        err.contains("[dn: ipaUniqueID=00000000-0000-4000-8000-00000000a003,cn=access,cn=sessionrecording,dc=example,dc=test]"),
        "{}",
        text(&o)
    );
    assert_eq!(err.matches("warning:").count(), 1, "{}", text(&o));
    let conf = out.with_extension("central.toml");
    std::fs::write(
        &conf,
        format!(
            "hostgroups_file = \"{}\"\nfreeipa_file = \"{}\"\n",
            hostgroups.display(),
            out.display()
        ),
    )
    .unwrap();
    let c = tlog_rs_index::config::Config::load(Some(&conf))
        .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(out).unwrap_or_default()));
    let auditors: Vec<(&str, Vec<&str>, Vec<&str>, bool)> = c
        .web
        .auditors
        .iter()
        .map(|a| {
            (
                a.group.as_str(),
                a.hostgroups.iter().map(String::as_str).collect(),
                a.usergroups.iter().map(String::as_str).collect(),
                a.purge,
            )
        })
        .collect();
    assert_eq!(
        auditors,
        [("contractors", vec!["webservers"], vec![], false)],
        "the disabled object is not fetched"
    );
    use tlog_rs_index::config::RetentionScope::HostGroup;
    let rules: Vec<_> = c
        .retention
        .rules
        .iter()
        .map(|r| (r.scope.clone(), r.max_age.to_string(), r.archive))
        .collect();
    assert_eq!(
        rules,
        [
            (HostGroup("dbservers".into()), "400d".into(), true),
            (HostGroup("webservers".into()), "30d".into(), false),
        ]
    );
}

/// A one-message recording of `host` (user jdoe, around 2026-05-28) as the
/// central rsyslog's JSON Lines day file `root/HOST/DAY.jsonl`.
pub fn day_file_recording(root: &Path, host: &str, rec: &str, day: &str) {
    use std::time::{Duration, UNIX_EPOCH};
    use tlog_rs_format::{Encoder, RecHeader};
    let h = RecHeader {
        host: host.into(),
        rec: rec.into(),
        user: "jdoe".into(),
        term: "xterm".into(),
        session: 7,
    };
    let mut enc = Encoder::new(h, 64, UNIX_EPOCH + Duration::from_secs(1_780_000_000));
    enc.window(Duration::ZERO, 80, 24);
    enc.output(Duration::from_secs(1), format!("on {host}\r\n").as_bytes());
    enc.flush();
    let mut text = String::new();
    while let Some(m) = enc.pop_message() {
        text.push_str(String::from_utf8(m).unwrap().trim_end());
        text.push('\n');
    }
    let p = root.join(host).join(format!("{day}.jsonl"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}
