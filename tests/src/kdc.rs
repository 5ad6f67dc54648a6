//! A throwaway MIT Kerberos KDC (Debian's krb5-kdc) for the GSSAPI tests:
//! realm `TLOGRS.TEST` on a free loopback port, its database, kdc.conf and
//! krb5.conf in a temp dir. Every Kerberos program the tests start gets
//! `KRB5_CONFIG`/`KRB5_KDC_PROFILE` pointing there (see `env`), so the
//! host's /etc/krb5.conf and /etc/krb5.keytab are never read or touched.
//! Host names are taken literally (`rdns`/`dns_canonicalize_hostname` off),
//! so `ldap/localhost` is the service principal of a slapd on 127.0.0.1.
//! Drop stops the KDC by its pid.

use std::ffi::OsString;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::slapd::{free_port, temp_dir};

pub const REALM: &str = "TLOGRS.TEST";
const MASTER_PW: &str = "kdc-master-secret";

pub struct Kdc {
    pub dir: PathBuf,
    pub port: u16,
    pub krb5_conf: PathBuf,
    pub kdc_conf: PathBuf,
    child: Option<Child>,
}

impl Kdc {
    /// Create the realm database and start `krb5kdc` in the foreground.
    pub fn start() -> Kdc {
        let krb5kdc = crate::require_program("krb5kdc", "krb5-kdc");
        let kdb5_util = crate::require_program("kdb5_util", "krb5-kdc");
        let dir = temp_dir("kdc");
        for _ in 0..5 {
            let port = free_port();
            let mut kdc = Kdc {
                krb5_conf: dir.join("krb5.conf"),
                kdc_conf: dir.join("kdc.conf"),
                dir: dir.clone(),
                port,
                child: None,
            };
            kdc.write_configs();
            if !dir.join("principal").exists() {
                kdc.run(
                    Command::new(&kdb5_util).args(["-r", REALM, "create", "-s", "-P", MASTER_PW]),
                );
            }
            let log = fs::File::create(dir.join("krb5kdc.out")).unwrap();
            let child = Command::new(&krb5kdc)
                .args(["-n", "-r", REALM])
                .envs(kdc.env())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn krb5kdc");
            kdc.child = Some(child);
            if kdc.wait_ready() {
                return kdc;
            }
            kdc.stop();
        }
        panic!(
            "krb5kdc did not start; log:\n{}\n{}",
            fs::read_to_string(dir.join("kdc.log")).unwrap_or_default(),
            fs::read_to_string(dir.join("krb5kdc.out")).unwrap_or_default()
        );
    }

    /// Environment for any Kerberos client, server or admin tool of this realm.
    /// The replay cache is off so slapd writes nothing under /var/tmp.
    pub fn env(&self) -> Vec<(String, OsString)> {
        vec![
            ("KRB5_CONFIG".into(), self.krb5_conf.clone().into()),
            ("KRB5_KDC_PROFILE".into(), self.kdc_conf.clone().into()),
            ("KRB5RCACHETYPE".into(), "none".into()),
        ]
    }

    /// `name@REALM` with a random key.
    pub fn add_principal(&self, name: &str) {
        self.kadmin(&format!("addprinc -randkey {name}"));
    }

    pub fn delete_principal(&self, name: &str) {
        self.kadmin(&format!("delprinc -force {name}"));
    }

    /// Export `name`'s keys into the keytab file `path` (new random key, so
    /// an older keytab of the same principal stops working).
    pub fn keytab(&self, name: &str, path: &Path) {
        self.kadmin(&format!("ktadd -k {} {name}", path.display()));
    }

    pub fn kadmin(&self, query: &str) {
        let kadmin = crate::require_program("kadmin.local", "krb5-admin-server");
        self.run(Command::new(kadmin).args(["-r", REALM, "-q", query]));
    }

    /// Stop the KDC (SIGTERM, then SIGKILL after 5 s) and reap it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn run(&self, cmd: &mut Command) {
        let out = cmd.envs(self.env()).output().expect("spawn kerberos tool");
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn write_configs(&self) {
        let d = self.dir.display();
        let port = self.port;
        fs::write(
            &self.kdc_conf,
            format!(
                "[kdcdefaults]
 kdc_ports = {port}
 kdc_tcp_ports = {port}

[realms]
 {REALM} = {{
  database_name = {d}/principal
  key_stash_file = {d}/stash
  acl_file = {d}/kadm5.acl
  kdc_listen = 127.0.0.1:{port}
  kdc_tcp_listen = 127.0.0.1:{port}
  max_life = 1h
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
 }}

[logging]
 kdc = FILE:{d}/kdc.log
 admin_server = FILE:{d}/kadmin.log
"
            ),
        )
        .unwrap();
        fs::write(self.dir.join("kadm5.acl"), "").unwrap();
        // MEMORY ccache: each client process gets its tickets from the keytab
        // into its own memory, nothing lands in /tmp/krb5cc_*.
        fs::write(
            &self.krb5_conf,
            format!(
                "[libdefaults]
 default_realm = {REALM}
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 default_ccache_name = MEMORY:tlogrs
 default_keytab_name = FILE:{d}/default.keytab
 default_client_keytab_name = FILE:{d}/default-client.keytab
 udp_preference_limit = 1

[realms]
 {REALM} = {{
  kdc = 127.0.0.1:{port}
 }}

[domain_realm]
 localhost = {REALM}
 .example.test = {REALM}
"
            ),
        )
        .unwrap();
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
