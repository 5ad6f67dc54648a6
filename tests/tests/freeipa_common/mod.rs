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
