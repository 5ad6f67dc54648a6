//! `tlog-rs sync` with `bind = "gssapi"`: SASL/GSSAPI over StartTLS against a
//! private slapd, with real tickets from a throwaway MIT KDC (tests/src/kdc.rs),
//! the client authenticating with its host keytab only (no kinit, no ticket
//! cache on disk, root's KRB5CCNAME ignored), mapped by slapd to the host
//! entry. Also: a missing or stale keytab, a principal the KDC does not know,
//! the KDC down or silent: each a clear error within connect_timeout +
//! timeout, the last good cache kept. `gssapi` is a default feature of
//! tlog-rs-freeipa, so these fail (not skip) on a build without it.

mod freeipa_common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use freeipa_common::*;
use tlog_rs_tests::kdc::{Kdc, REALM};
use tlog_rs_tests::slapd::{SlapdOptions, BASE_DN};
use tlog_rs_tests::{artifact, require_program, require_root};

const WEB1: &str = "web1.example.test";
/// Client principal of web1, as FreeIPA enrols it.
const WEB1_PRINCIPAL: &str = "host/web1.example.test";
/// slapd's service principal: the name in the sync's URI, taken literally.
const LDAP_PRINCIPAL: &str = "ldap/localhost";

struct Realm {
    // Field order = drop order: slapd before the KDC.
    ipa: Ipa,
    kdc: Kdc,
    host_keytab: PathBuf,
}

impl Realm {
    fn start(test: &str) -> Realm {
        require_program("krb5kdc", "krb5-kdc");
        require_program("kadmin.local", "krb5-admin-server");
        let kdc = Kdc::start();
        kdc.add_principal(LDAP_PRINCIPAL);
        let ldap_keytab = kdc.dir.join("ldap.keytab");
        kdc.keytab(LDAP_PRINCIPAL, &ldap_keytab);
        kdc.add_principal(WEB1_PRINCIPAL);
        let host_keytab = kdc.dir.join("web1.keytab");
        kdc.keytab(WEB1_PRINCIPAL, &host_keytab);

        let mut env = kdc.env();
        env.push(("KRB5_KTNAME".into(), ldap_keytab.into()));
        // The SASL identity of a host principal becomes its FreeIPA host
        // entry (the realm part is omitted when it is slapd's own realm).
        let realm = REALM.to_lowercase();
        let global_config = format!(
            "olcSaslHost: localhost\nolcSaslRealm: {REALM}\n\
             olcAuthzRegexp: {{0}}\"^uid=host/([^,]+)(,cn={realm})?,cn=gssapi,cn=auth$\" \
             \"fqdn=$1,cn=computers,cn=accounts,{BASE_DN}\"\n"
        );
        let ipa = Ipa::start(
            test,
            SlapdOptions {
                tls: true,
                env,
                global_config,
                ..Default::default()
            },
        );
        Realm {
            ipa,
            kdc,
            host_keytab,
        }
    }

    /// A gssapi sync config for web1 with this keytab, over StartTLS to
    /// `ldap://localhost:PORT` (the name matches ldap/localhost and the
    /// test certificate).
    fn config(&self, keytab: &Path, timeouts: &str) -> PathBuf {
        let ldap = format!(
            "uris = [\"ldap://localhost:{}\"]\nbase_dn = \"{BASE_DN}\"\nhost = \"{WEB1}\"\n\
             bind = \"gssapi\"\nkeytab = \"{}\"\nca_file = \"{}\"\n{timeouts}",
            self.ipa.slapd.port,
            keytab.display(),
            self.ipa.slapd.ca_file.as_ref().unwrap().display()
        );
        self.ipa.write_sync_config(WEB1, &ldap)
    }

    /// `tlog-rs sync` in the test realm's Kerberos environment, with an
    /// ambient ticket cache (as root's own kinit would leave) that the sync
    /// must neither use nor write: see `ambient_ccache`.
    fn sync(&self, cfg: &Path) -> Output {
        let env: Vec<(String, OsString)> = self.kdc.env();
        let mut ccache = OsString::from("FILE:");
        ccache.push(self.ambient_ccache());
        Command::new(artifact("tlog-rs"))
            .args(["sync", "--policy"])
            .arg(cfg)
            .envs(env)
            .env("KRB5CCNAME", ccache)
            .output()
            .expect("run tlog-rs sync")
    }

    fn ambient_ccache(&self) -> PathBuf {
        self.kdc.dir.join("ambient.ccache")
    }

    fn cache(&self) -> Vec<u8> {
        std::fs::read(self.ipa.cache(WEB1)).expect("read cache")
    }

    /// A failed sync: exit 1, the message contains every `want`, the
    /// cache is byte for byte the last good one.
    fn assert_fails(&self, cfg: &Path, good: &[u8], want: &[&str]) -> String {
        let o = self.sync(cfg);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        for w in want {
            assert!(err.contains(w), "missing {w:?} in:\n{err}");
        }
        assert!(err.contains("kept the last good cache"), "{err}");
        eprintln!("{err}");
        assert_eq!(self.cache(), good, "cache must be untouched");
        err
    }
}

#[test]
fn gssapi_sync_with_host_keytab_then_check_decides() {
    if !require_root("gssapi_sync_with_host_keytab_then_check_decides") {
        return;
    }
    let r = Realm::start("ipa-gssapi");
    let cfg = r.config(&r.host_keytab, "");
    let o = r.sync(&cfg);
    assert!(o.status.success(), "gssapi sync failed: {}", text(&o));
    // The host's tickets stayed in the sync's private memory cache.
    assert!(!r.ambient_ccache().exists(), "sync wrote KRB5CCNAME");
    let cache = String::from_utf8(r.cache()).unwrap();
    assert!(cache.contains("privileged_on_production"), "{cache}");

    // The identity slapd gives this keytab's GSSAPI bind is web1's host
    // entry (olcAuthzRegexp), asked with OpenLDAP's own client (-N: the
    // SASL host name is `localhost` as given; GSSAPI's own security layer
    // here, as libldap's StartTLS would check the certificate against the
    // reverse-resolved name of 127.0.0.1).
    let who = Command::new("ldapwhoami")
        .args(["-N", "-Q", "-Y", "GSSAPI", "-H"])
        .arg(format!("ldap://localhost:{}", r.ipa.slapd.port))
        .envs(r.kdc.env())
        .env("KRB5_CLIENT_KTNAME", &r.host_keytab)
        .env("KRB5CCNAME", "MEMORY:whoami")
        .output()
        .expect("ldapwhoami");
    assert_eq!(
        String::from_utf8_lossy(&who.stdout).trim(),
        format!("dn:fqdn={WEB1},cn=computers,cn=accounts,{BASE_DN}"),
        "{}",
        text(&who)
    );

    let v = check(
        &r.ipa.env,
        &r.ipa.policy(WEB1),
        &[("alice", Some("sshd")), ("dave", Some("sshd"))],
    );
    assert_eq!(
        verdict(&v[0]).0,
        "ipa rule 'privileged_on_production'",
        "{}",
        v[0]
    );
    assert_eq!(v[0]["record"], true, "{}", v[0]);
    assert_eq!(v[1]["record"], false, "{}", v[1]);
}

#[test]
fn gssapi_bad_credentials_keep_the_last_good_cache() {
    if !require_root("gssapi_bad_credentials_keep_the_last_good_cache") {
        return;
    }
    let r = Realm::start("ipa-gssapi-bad");
    let o = r.sync(&r.config(&r.host_keytab, ""));
    assert!(o.status.success(), "{}", text(&o));
    let good = r.cache();

    // No keytab at the configured path.
    let missing = r.kdc.dir.join("no-such.keytab");
    r.assert_fails(
        &r.config(&missing, ""),
        &good,
        &[&format!("keytab {}: No such file", missing.display())],
    );

    // A stale keytab: the host was re-keyed (new kvno) since it was written.
    let stale = r.kdc.dir.join("web1-stale.keytab");
    std::fs::copy(&r.host_keytab, &stale).unwrap();
    r.kdc.keytab(WEB1_PRINCIPAL, &r.host_keytab);
    r.assert_fails(
        &r.config(&stale, ""),
        &good,
        &["SASL GSSAPI bind", "keys do not match the KDC"],
    );

    // The server by IP address: TLS accepts it (IP in the certificate),
    // but there is no ldap/127.0.0.1 service principal.
    let by_ip = r.config(&r.host_keytab, "");
    let text_ip = std::fs::read_to_string(&by_ip)
        .unwrap()
        .replace("ldap://localhost:", "ldap://127.0.0.1:");
    std::fs::write(&by_ip, text_ip).unwrap();
    r.assert_fails(
        &by_ip,
        &good,
        &["SASL GSSAPI bind", "no ldap/<server> principal", "FQDN"],
    );

    // A principal the KDC does not know (host removed from the realm).
    r.kdc.delete_principal(WEB1_PRINCIPAL);
    r.assert_fails(
        &r.config(&r.host_keytab, ""),
        &good,
        &[
            "SASL GSSAPI bind",
            "web1.example.test@TLOGRS.TEST",
            "does not know this principal",
        ],
    );
}

#[test]
fn gssapi_kdc_down_fails_within_the_timeout() {
    if !require_root("gssapi_kdc_down_fails_within_the_timeout") {
        return;
    }
    let mut r = Realm::start("ipa-gssapi-kdc-down");
    let cfg = r.config(&r.host_keytab, "connect_timeout = 2\ntimeout = 3\n");
    let o = r.sync(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let good = r.cache();

    r.kdc.stop();
    let t0 = Instant::now();
    r.assert_fails(&cfg, &good, &["SASL GSSAPI bind", "KDC is unreachable"]);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(2 + 3 + 2), "took {took:?}");
}

#[test]
fn gssapi_silent_kdc_is_given_up_after_the_timeout() {
    if !require_root("gssapi_silent_kdc_is_given_up_after_the_timeout") {
        return;
    }
    let r = Realm::start("ipa-gssapi-kdc-silent");
    let cfg = r.config(&r.host_keytab, "connect_timeout = 1\ntimeout = 2\n");
    let o = r.sync(&cfg);
    assert!(o.status.success(), "{}", text(&o));
    let good = r.cache();

    // A "KDC" that accepts and never answers: libkrb5 alone would retry
    // for about 25 s; the sync must give up after connect_timeout + timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let conf = std::fs::read_to_string(&r.kdc.krb5_conf).unwrap().replace(
        &format!("127.0.0.1:{}", r.kdc.port),
        &format!("127.0.0.1:{port}"),
    );
    std::fs::write(&r.kdc.krb5_conf, conf).unwrap();
    let t0 = Instant::now();
    r.assert_fails(
        &cfg,
        &good,
        &["SASL GSSAPI bind", "timed out after 3 s", "not answering"],
    );
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(3 + 3), "took {took:?}");
    drop(silent);
}
