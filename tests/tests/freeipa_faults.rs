//! `tlog-rs sync` and the cache under faults: server down (with and without a
//! previous cache), corrupt/truncated/stale cache, a server that accepts and
//! never answers, StartTLS/ldaps with a test CA (and a wrong CA refused), a
//! bad bind, a readable password file, URI failover.

mod freeipa_common;

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use freeipa_common::*;
use tlog_rs_tests::require_root;
use tlog_rs_tests::slapd::{make_other_ca, SlapdOptions};

const WEB1: &str = "web1.example.test";

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn server_down_keeps_the_last_good_cache() {
    if !require_root("server_down_keeps_the_last_good_cache") {
        return;
    }
    let mut ipa = Ipa::start("ipa-down", SlapdOptions::default());
    let cfg = ipa.sync_config(WEB1);
    sync_ok(&cfg);
    let cache = ipa.cache(WEB1);
    let md = std::fs::metadata(&cache).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o644, "cache mode");
    assert_eq!(md.uid(), 0, "cache owner");
    let before = std::fs::read(&cache).unwrap();

    ipa.slapd.stop();
    let o = sync(&cfg);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("no LDAP server could be used"), "{err}");
    assert!(
        err.contains("kept the last good cache") && err.contains("host web1.example.test"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&cache).unwrap(),
        before,
        "cache must be untouched"
    );
    // Logins still follow the kept rules.
    let v = &check(&ipa.env, &ipa.policy(WEB1), &[("alice", Some("sshd"))])[0];
    assert_eq!(verdict(v).0, "ipa rule 'privileged_on_production'", "{v}");
}

#[test]
fn server_down_without_cache_fails_secure() {
    if !require_root("server_down_without_cache_fails_secure") {
        return;
    }
    let mut ipa = Ipa::start("ipa-nocache", SlapdOptions::default());
    let cfg = ipa.sync_config(WEB1);
    ipa.slapd.stop();
    let o = sync(&cfg);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("no cache at") && stderr(&o).contains("fail-secure"),
        "{}",
        text(&o)
    );
    assert!(!ipa.cache(WEB1).exists());
    // dave is recorded by no rule, yet with no cache everyone is recorded.
    let v = &check(&ipa.env, &ipa.policy(WEB1), &[("dave", Some("sshd"))])[0];
    assert_eq!(v["record"], true, "{v}");
    assert!(
        v["policy_error"]
            .as_str()
            .unwrap_or("")
            .contains("file not found"),
        "{v}"
    );
}

#[test]
fn corrupt_truncated_writable_or_stale_cache_fails_secure() {
    if !require_root("corrupt_truncated_writable_or_stale_cache_fails_secure") {
        return;
    }
    let ipa = Ipa::start("ipa-corrupt", SlapdOptions::default());
    sync_ok(&ipa.sync_config(WEB1));
    let cache = ipa.cache(WEB1);
    let good = std::fs::read_to_string(&cache).unwrap();
    let policy = ipa.policy(WEB1);
    let dave = |what: &str| {
        let v = check(&ipa.env, &policy, &[("dave", Some("sshd"))]).remove(0);
        assert_eq!(v["record"], true, "{what}: {v}");
        v
    };
    // baseline: dave not recorded
    let v = &check(&ipa.env, &policy, &[("dave", Some("sshd"))])[0];
    assert_eq!(v["record"], false, "{v}");

    std::fs::write(&cache, &good[..good.len() / 2]).unwrap();
    let v = dave("truncated");
    assert!(
        v["policy_error"]
            .as_str()
            .unwrap()
            .contains("truncated FreeIPA cache"),
        "{v}"
    );

    std::fs::write(&cache, good.replacen("\"record\"", "\"rec0rd\"", 1)).unwrap();
    let v = dave("corrupt");
    let e = v["policy_error"].as_str().unwrap();
    assert!(
        e.contains("corrupt FreeIPA cache") && e.contains(&format!("{}:", cache.display())),
        "{v}"
    );

    std::fs::write(&cache, &good).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o666)).unwrap();
    let v = dave("world-writable");
    assert!(
        v["policy_error"]
            .as_str()
            .unwrap()
            .contains("world-writable"),
        "{v}"
    );
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();

    // Older than max_age (1d): the documented stale rule records everyone.
    let synced: u64 = good
        .split("\"synced_at\": ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::fs::write(
        &cache,
        good.replace(
            &format!("\"synced_at\": {synced}"),
            &format!("\"synced_at\": {}", synced - 2 * 86400),
        ),
    )
    .unwrap();
    let v = dave("stale");
    assert!(
        v["reason"].as_str().unwrap().contains("older than max_age"),
        "{v}"
    );
}

#[test]
fn silent_server_times_out_and_failover_reaches_the_next_uri() {
    if !require_root("silent_server_times_out_and_failover_reaches_the_next_uri") {
        return;
    }
    let ipa = Ipa::start("ipa-slow", SlapdOptions::default());
    // Accepts connections and never says anything.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let ldap = format!(
        "uris = [\"ldap://127.0.0.1:{port}\", \"ldaps://127.0.0.1:{port}\"]\nbase_dn = \"dc=example,dc=test\"\nbind = \"external\"\nconnect_timeout = 1\ntimeout = 1\n"
    );
    let cfg = ipa.write_sync_config(WEB1, &ldap);
    let t = Instant::now();
    let o = sync(&cfg);
    let took = t.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert_eq!(
        err.matches("timed out (connect_timeout 1 s").count(),
        2,
        "{err}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");

    // A local socket that accepts and never answers: no connect phase to
    // time out, so the per-operation timeout must end the bind.
    let sock = ipa.dir.join("silent.sock");
    let silent_unix = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let ldap = format!(
        "uris = [\"ldapi://{}\"]\nbase_dn = \"dc=example,dc=test\"\nbind = \"external\"\ntimeout = 1\n",
        tlog_rs_tests::slapd::percent_encode(&sock.to_string_lossy())
    );
    let t = Instant::now();
    let o = sync(&ipa.write_sync_config(WEB1, &ldap));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stderr(&o).contains("timed out"), "{}", text(&o));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    drop(silent_unix);

    // Failover: silent server first, then a refused port, then the real one.
    let refused = tlog_rs_tests::slapd::free_port();
    let ldap = format!(
        "uris = [\"ldap://127.0.0.1:{port}\", \"ldap://127.0.0.1:{refused}\", \"{}\"]\nbase_dn = \"dc=example,dc=test\"\nbind = \"external\"\nconnect_timeout = 1\n",
        ipa.slapd.ldapi_uri()
    );
    let o = sync(&ipa.write_sync_config(WEB1, &ldap));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("from {}", ipa.slapd.ldapi_uri())),
        "{}",
        text(&o)
    );
    drop(silent);
}

#[test]
fn starttls_and_ldaps_with_test_ca_wrong_ca_refused() {
    if !require_root("starttls_and_ldaps_with_test_ca_wrong_ca_refused") {
        return;
    }
    let ipa = Ipa::start(
        "ipa-tls",
        SlapdOptions {
            tls: true,
            ..Default::default()
        },
    );
    let ca = ipa.slapd.ca_file.clone().unwrap();
    let ca_line = format!("ca_file = \"{}\"\nhost = \"{WEB1}\"\n", ca.display());
    // StartTLS on ldap://
    let o = sync(&ipa.write_sync_config(WEB1, &ipa.simple_ldap(&ipa.slapd.uri(), &ca_line)));
    assert!(o.status.success(), "starttls: {}", text(&o));
    // ldaps://
    let o = sync(&ipa.write_sync_config(
        WEB1,
        &ipa.simple_ldap(&ipa.slapd.ldaps_uri().unwrap(), &ca_line),
    ));
    assert!(o.status.success(), "ldaps: {}", text(&o));
    let v = &check(&ipa.env, &ipa.policy(WEB1), &[("alice", Some("sshd"))])[0];
    assert_eq!(v["record"], true, "{v}");

    // A CA that did not sign the server certificate: refused, both ways.
    let other = make_other_ca(&ipa.dir);
    let wrong = format!("ca_file = \"{}\"\nhost = \"{WEB1}\"\n", other.display());
    for uri in [ipa.slapd.uri(), ipa.slapd.ldaps_uri().unwrap()] {
        let o = sync(&ipa.write_sync_config(WEB1, &ipa.simple_ldap(&uri, &wrong)));
        assert_eq!(o.status.code(), Some(1), "{uri}: {}", text(&o));
        assert!(stderr(&o).contains("TLS failed"), "{uri}: {}", text(&o));
        assert!(
            stderr(&o).contains("kept the last good cache"),
            "{}",
            text(&o)
        );
    }
    // No ca_file: the system roots do not know the test CA either.
    let o = sync(&ipa.write_sync_config(
        WEB1,
        &ipa.simple_ldap(&ipa.slapd.uri(), &format!("host = \"{WEB1}\"\n")),
    ));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stderr(&o).contains("TLS failed"), "{}", text(&o));
    // There is no option to switch verification off.
    let o = sync(&ipa.write_sync_config(
        WEB1,
        &ipa.simple_ldap(&ipa.slapd.uri(), "tls_verify = false\n"),
    ));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("unknown field `tls_verify`"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_bind_and_readable_password_file_are_clear_errors() {
    if !require_root("bad_bind_and_readable_password_file_are_clear_errors") {
        return;
    }
    let ipa = Ipa::start(
        "ipa-bind",
        SlapdOptions {
            tls: true,
            ..Default::default()
        },
    );
    let ca_line = format!(
        "ca_file = \"{}\"\n",
        ipa.slapd.ca_file.as_ref().unwrap().display()
    );
    let body = ipa.simple_ldap(&ipa.slapd.uri(), &ca_line);
    ipa.password_file("not-the-password");
    let o = sync(&ipa.write_sync_config(WEB1, &body));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("simple bind as uid=tlog-sync,cn=sysaccounts,cn=etc,dc=example,dc=test failed: invalid credentials"),
        "{}",
        text(&o)
    );
    // A password file others can read is refused before any network traffic.
    let pw = ipa.password_file("reader-secret");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = sync(&ipa.write_sync_config(WEB1, &body));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("lets group or others read it"),
        "{}",
        text(&o)
    );
    assert!(!stderr(&o).contains("no LDAP server"), "{}", text(&o));
    // Config errors name the file and line.
    let cfg = ipa.write_sync_config(
        WEB1,
        &body.replace("bind = \"simple\"", "bind = \"anonymous\""),
    );
    let o = sync(&cfg);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains(&format!("{}:", cfg.display()))
            && stderr(&o).contains("expected \"gssapi\", \"simple\" or \"external\""),
        "{}",
        text(&o)
    );
}
