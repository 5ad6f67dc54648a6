//! The FreeIPA-format schema (freeipa-schema/389ds/) in a real 389 Directory
//! Server, and the same rule semantics through `tlog-rs sync` + `check`.
//!
//! 389-DS is created with `dscreate from-file` inside a private mount
//! namespace (tmpfs over /etc/dirsrv, /var/lib/dirsrv, /var/log/dirsrv,
//! /run), so nothing lands on the host. PID 1 is not systemd here, and
//! lib389's DirSrv.start/stop always call `systemctl` unless run through
//! dscontainer (which insists on /data); a 10-line stand-in `systemctl` in
//! the namespace's PATH starts/stops ns-slapd directly. Our schema files are
//! installed the documented way: copied into the instance's schema directory,
//! then a restart.

mod freeipa_common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use freeipa_common::*;
use tlog_rs_tests::nsenv::NsEnv;
use tlog_rs_tests::slapd::{free_port, schema_dir, temp_dir};
use tlog_rs_tests::{require_program, require_root};

const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
# Stand-in for systemctl: PID 1 is not systemd in this namespace.
verb=$1; [ "$verb" = "--quiet" ] && shift && verb=$1
for a in "$@"; do case $a in dirsrv@*) inst=${a#dirsrv@};; esac; done
pidf=/run/dirsrv/slapd-$inst.pid
case $verb in
  start) /usr/sbin/ns-slapd -D /etc/dirsrv/slapd-$inst -i $pidf || exit 1
         for i in $(seq 100); do [ -s $pidf ] && exit 0; sleep 0.1; done; exit 1;;
  stop) [ -s $pidf ] || exit 0; p=$(cat $pidf); kill $p
        for i in $(seq 200); do kill -0 $p 2>/dev/null || { rm -f $pidf; exit 0; }; sleep 0.1; done; exit 1;;
  is-active) [ -s $pidf ] && kill -0 $(cat $pidf) 2>/dev/null && exit 0; exit 3;;
  *) exit 0;;
esac
"#;

struct Ds389 {
    pid: Option<i32>,
}

impl Drop for Ds389 {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            // SAFETY: kill(2) on the ns-slapd this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            for _ in 0..100 {
                // SAFETY: signal 0 only probes whether the pid still exists.
                if unsafe { libc::kill(pid, 0) } != 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

/// A running 389-DS with our schema and the example DIT: the server (stopped
/// on drop), its temp dir, LDAP port and ldapi socket.
fn start_389ds(tag: &str) -> (Ds389, PathBuf, u16, PathBuf) {
    require_program("dscreate", "389-ds-base");
    let t = temp_dir(tag);
    let bin = t.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("systemctl"), FAKE_SYSTEMCTL).unwrap();
    std::fs::set_permissions(
        bin.join("systemctl"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let port = free_port();
    let inst = format!("tlogrs{}", std::process::id());
    let sock = t.join("ldapi.sock");
    std::fs::write(
        t.join("ds.inf"),
        format!(
            "[general]\nfull_machine_name = localhost\nstart = False\nstrict_host_checking = False\nsystemd = False\n\
             [slapd]\ninstance_name = {inst}\nport = {port}\nsecure_port = {}\nroot_password = Directory_Manager_Password\n\
             self_sign_cert = False\nldapi = {}\n\
             [backend-userroot]\nsample_entries = no\nsuffix = dc=example,dc=test\n",
            free_port(),
            sock.display()
        ),
    )
    .unwrap();
    let sd = schema_dir();
    let script = format!(
        r#"set -e
T={t}
cp -a /etc/dirsrv $T/etc-dirsrv
for d in /etc/dirsrv /var/lib/dirsrv /var/log/dirsrv /run /etc/systemd/system; do mount -t tmpfs tmpfs $d; done
cp -a $T/etc-dirsrv/. /etc/dirsrv/
mkdir -p /run/dirsrv /run/lock/dirsrv
chown dirsrv:dirsrv /var/lib/dirsrv /var/log/dirsrv /run/dirsrv /run/lock/dirsrv
export PATH=$T/bin:$PATH
dscreate from-file $T/ds.inf > $T/dscreate.log 2>&1 || {{ echo "dscreate failed"; tail -20 $T/dscreate.log; exit 1; }}
systemctl stop dirsrv@{inst} 2>/dev/null || true
cp {sd}/389ds/ipa-compat.ldif /etc/dirsrv/slapd-{inst}/schema/60ipa-compat.ldif
cp {sd}/389ds/75sessionrecording.ldif /etc/dirsrv/slapd-{inst}/schema/75sessionrecording.ldif
systemctl start dirsrv@{inst} || {{ echo "start failed"; tail -20 /var/log/dirsrv/slapd-{inst}/errors; exit 1; }}
ldapadd -x -H ldap://127.0.0.1:{port} -D "cn=Directory Manager" -w Directory_Manager_Password -f {sd}/example-dit.ldif > $T/add.log 2>&1 || {{ echo "ldapadd failed"; tail $T/add.log; exit 1; }}
echo "pid=$(cat /run/dirsrv/slapd-{inst}.pid)"
"#,
        t = t.display(),
        sd = sd.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let pid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .and_then(|p| p.trim().parse().ok());
    let ds = Ds389 { pid };
    assert!(
        out.status.success() && pid.is_some(),
        "389-DS setup failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (ds, t, port, sock)
}

#[test]
fn schema_loads_into_389ds_and_rules_evaluate_the_same() {
    if !require_root("schema_loads_into_389ds_and_rules_evaluate_the_same") {
        return;
    }
    let (_ds, t, _port, sock) = start_389ds("ds389");

    let mut env = NsEnv::new("ds389");
    env.etc("passwd", PASSWD)
        .etc("group", GROUP)
        .etc("nsswitch.conf", "passwd: files\ngroup: files\n");
    let sock_uri = tlog_rs_tests::slapd::percent_encode(&sock.to_string_lossy());
    for host in ["web1.example.test", "bastion.example.test"] {
        let cache = t.join(format!("cache-{host}.json"));
        let cfg = t.join(format!("sync-{host}.toml"));
        // SASL EXTERNAL over ldapi: 389-DS autobinds root as the directory manager.
        std::fs::write(
            &cfg,
            format!(
                "[freeipa]\ncache = \"{}\"\n[freeipa.ldap]\nuris = [\"ldapi://{sock_uri}\"]\nbase_dn = \"dc=example,dc=test\"\nhost = \"{host}\"\nbind = \"external\"\n",
                cache.display()
            ),
        )
        .unwrap();
        sync_ok(&cfg);
        let policy = t.join(format!("policy-{host}.toml"));
        std::fs::write(
            &policy,
            format!(
                "[freeipa]\ncache = \"{}\"\nmax_age = \"1d\"\n",
                cache.display()
            ),
        )
        .unwrap();
        if host.starts_with("web1") {
            let res = check(
                &env,
                &policy,
                &[
                    ("alice", Some("sudo")),
                    ("carol", Some("sshd")),
                    ("bob", Some("sshd")),
                    ("bob", Some("login")),
                    ("dave", Some("su")),
                    ("dave", Some("sshd")),
                ],
            );
            assert_eq!(
                verdict(&res[0]),
                (
                    "ipa rule 'privileged_on_production'".into(),
                    true,
                    "session".into()
                ),
                "{}",
                res[0]
            );
            assert_eq!(
                verdict(&res[1]).0,
                "ipa rule 'privileged_on_production'",
                "{}",
                res[1]
            );
            assert_eq!(
                verdict(&res[2]).0,
                "ipa rule 'contractors_via_hbac'",
                "{}",
                res[2]
            );
            assert_eq!(res[3]["record"], false, "{}", res[3]);
            assert_eq!(
                verdict(&res[4]),
                (
                    "ipa rule 'everyone_su_login_audit'".into(),
                    true,
                    "login".into()
                ),
                "{}",
                res[4]
            );
            assert_eq!(res[5]["record"], false, "{}", res[5]);
        } else {
            let res = check(
                &env,
                &policy,
                &[("alice", Some("sshd")), ("bob", Some("sshd"))],
            );
            assert_eq!(
                verdict(&res[0]),
                (
                    "ipa rule 'exempt_alice_bastion'".into(),
                    false,
                    "none".into()
                ),
                "{}",
                res[0]
            );
            assert_eq!(res[1]["record"], false, "{}", res[1]);
        }
    }
    let _ = std::fs::remove_dir_all(&t);
}

/// The central side's access and retention objects in 389-DS (added over
/// LDAP as the directory manager), synced by `tlog-rs sync --central`: the
/// same file and the same reports as with OpenLDAP.
#[test]
fn access_and_retention_objects_sync_from_389ds() {
    if !require_root("access_and_retention_objects_sync_from_389ds") {
        return;
    }
    let (_ds, t, port, sock) = start_389ds("ds389-central");
    let mut add = Command::new("ldapadd")
        .args(["-x", "-H", &format!("ldap://127.0.0.1:{port}")])
        .args([
            "-D",
            "cn=Directory Manager",
            "-w",
            "Directory_Manager_Password",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(central_ldif().as_bytes())
        .unwrap();
    let o = add.wait_with_output().unwrap();
    assert!(o.status.success(), "ldapadd: {}", text(&o));
    let sock_uri = tlog_rs_tests::slapd::percent_encode(&sock.to_string_lossy());
    let cfg = t.join("sync-central.toml");
    std::fs::write(
        &cfg,
        format!(
            "[freeipa]\ncache = \"{}\"\n[freeipa.ldap]\nuris = [\"ldapi://{sock_uri}\"]\nbase_dn = \"dc=example,dc=test\"\nhost = \"central.example.test\"\nbind = \"external\"\n",
            t.join("unused-cache.json").display()
        ),
    )
    .unwrap();
    sync_central_and_check(
        &cfg,
        &t.join("hostgroups.toml"),
        &t.join("freeipa-central.toml"),
    );
    let _ = std::fs::remove_dir_all(&t);
}
