//! A private OpenLDAP `slapd` for the FreeIPA tests: Debian's slapd, our own
//! schema files from `freeipa-schema/`, the example DIT, a free loopback port,
//! an `ldapi://` socket for SASL EXTERNAL, and optionally TLS with a test CA
//! made by `openssl` in the instance's temp dir. The whole config is built
//! offline with `slapadd`, so startup is fast; Drop stops slapd by its pid.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BASE_DN: &str = "dc=example,dc=test";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=test";
pub const ADMIN_PW: &str = "secret";
/// A read-only service account for `tlog-rs sync` (simple bind).
pub const READER_DN: &str = "uid=tlog-sync,cn=sysaccounts,cn=etc,dc=example,dc=test";
pub const READER_PW: &str = "reader-secret";

/// Directory holding the project's schema and example LDIFs.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("freeipa-schema")
}

/// A free TCP port on 127.0.0.1 (bound then released; slapd binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A fresh directory under the system temp dir, unique per call.
pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "tlog-rs-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// Options for one instance.
#[derive(Default, Clone)]
pub struct SlapdOptions {
    /// Serve TLS (StartTLS on the ldap:// port, and an ldaps:// port).
    pub tls: bool,
    /// Extra LDIF (entries) loaded after the example DIT.
    pub extra_ldif: Option<String>,
    /// Replace the example DIT by this LDIF (must contain the base entry).
    pub dit: Option<String>,
    /// Extra environment for slapd (e.g. KRB5_KTNAME for SASL GSSAPI).
    pub env: Vec<(String, std::ffi::OsString)>,
    /// Extra attribute lines for the cn=config entry (e.g. olcSaslHost,
    /// olcAuthzRegexp), each ending in a newline.
    pub global_config: String,
}

pub struct Slapd {
    pub dir: PathBuf,
    pub port: u16,
    pub tls_port: Option<u16>,
    /// CA certificate that signed the server certificate (when `tls`).
    pub ca_file: Option<PathBuf>,
    pub ldapi_path: PathBuf,
    child: Option<Child>,
}

impl Slapd {
    pub fn uri(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }
    pub fn ldaps_uri(&self) -> Option<String> {
        self.tls_port.map(|p| format!("ldaps://127.0.0.1:{p}"))
    }
    pub fn ldapi_uri(&self) -> String {
        format!(
            "ldapi://{}",
            percent_encode(&self.ldapi_path.to_string_lossy())
        )
    }

    /// Start an instance with the example DIT.
    pub fn start(opts: SlapdOptions) -> Slapd {
        let slapd = crate::require_program("slapd", "slapd");
        let slapadd = crate::require_program("slapadd", "slapd");
        let dir = temp_dir("slapd");
        for d in ["slapd.d", "db", "run"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        let tls = opts.tls.then(|| make_test_pki(&dir));
        let mut full = config_ldif(&dir, tls.as_ref());
        full = full.replacen(
            "olcLogLevel: none\n",
            &format!("olcLogLevel: none\n{}", opts.global_config),
            1,
        );
        let (head, databases) = full.split_once(DATABASES_MARKER).unwrap();
        // Our own schema files, offline, in dependency order, before the databases.
        let mut config = head.to_string();
        for f in ["openldap/ipa-compat.ldif", "openldap/sessionrecording.ldif"] {
            config.push('\n');
            config.push_str(&read(&schema_dir().join(f)));
        }
        config.push('\n');
        config.push_str(databases);
        fs::write(dir.join("config.ldif"), config).unwrap();
        run(Command::new(&slapadd)
            .arg("-F")
            .arg(dir.join("slapd.d"))
            .args(["-n", "0", "-l"])
            .arg(dir.join("config.ldif")));

        let mut data = opts
            .dit
            .clone()
            .unwrap_or_else(|| read(&schema_dir().join("example-dit.ldif")));
        data.push_str(&format!("\n{}\n", sysaccounts_ldif()));
        if let Some(extra) = &opts.extra_ldif {
            data.push('\n');
            data.push_str(extra);
        }
        fs::write(dir.join("data.ldif"), data).unwrap();
        run(Command::new(&slapadd)
            .arg("-F")
            .arg(dir.join("slapd.d"))
            .args(["-n", "1", "-q", "-l"])
            .arg(dir.join("data.ldif")));

        let ldapi_path = dir.join("run").join("ldapi");
        // Retry on the (rare) race where another test grabbed the port.
        for _ in 0..5 {
            let port = free_port();
            let tls_port = opts.tls.then(free_port);
            let mut urls = format!("ldap://127.0.0.1:{port}/ ");
            if let Some(p) = tls_port {
                urls.push_str(&format!("ldaps://127.0.0.1:{p}/ "));
            }
            urls.push_str(&format!(
                "ldapi://{}",
                percent_encode(&ldapi_path.to_string_lossy())
            ));
            let log = fs::File::create(dir.join("slapd.log")).unwrap();
            let child = Command::new(&slapd)
                .args(["-d", "0", "-F"])
                .arg(dir.join("slapd.d"))
                .args(["-h", &urls])
                .envs(opts.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn slapd");
            let mut s = Slapd {
                dir: dir.clone(),
                port,
                tls_port,
                ca_file: tls.as_ref().map(|t| t.ca.clone()),
                ldapi_path: ldapi_path.clone(),
                child: Some(child),
            };
            if s.wait_ready() {
                return s;
            }
            s.stop();
        }
        panic!(
            "slapd did not start; log:\n{}",
            read(&dir.join("slapd.log"))
        );
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() && self.ldapi_path.exists() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stop slapd (SIGTERM, then SIGKILL after 5 s) and reap it.
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

    /// Apply an LDIF change set (ldapmodify syntax) as the directory manager.
    pub fn modify(&self, ldif: &str) {
        let out = self.ldap_tool("ldapmodify", ldif);
        assert!(out.0, "ldapmodify failed: {}\n--- input:\n{ldif}", out.1);
    }

    /// Run an ldap-utils tool bound as the directory manager, feeding `input`;
    /// returns (success, stdout+stderr).
    pub fn ldap_tool(&self, tool: &str, input: &str) -> (bool, String) {
        let mut child = Command::new(tool)
            .args(["-x", "-H", &self.uri(), "-D", ADMIN_DN, "-w", ADMIN_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// `ldapsearch -LLL` as the directory manager; returns the LDIF text.
    pub fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> String {
        let out = Command::new("ldapsearch")
            .args(["-LLL", "-x", "-o", "ldif-wrap=no", "-H", &self.uri()])
            .args(["-D", ADMIN_DN, "-w", ADMIN_PW, "-b", base, filter])
            .args(attrs)
            .output()
            .expect("ldapsearch");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Paths of the test PKI made by `make_test_pki`.
pub struct TestPki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A test CA and a server certificate for 127.0.0.1/localhost signed by it.
pub fn make_test_pki(dir: &Path) -> TestPki {
    let openssl = crate::require_program("openssl", "openssl");
    let p = |n: &str| dir.join(n);
    run(Command::new(&openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=tlog-rs test CA", "-keyout"])
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt")));
    run(Command::new(&openssl)
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(Command::new(&openssl)
        .args(["x509", "-req", "-days", "2", "-in"])
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .args(["-CAcreateserial", "-extfile"])
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("server.crt")));
    TestPki {
        ca: p("ca.crt"),
        cert: p("server.crt"),
        key: p("server.key"),
    }
}

/// A second, unrelated CA (to prove a wrong CA is refused).
pub fn make_other_ca(dir: &Path) -> PathBuf {
    let openssl = crate::require_program("openssl", "openssl");
    let crt = dir.join("other-ca.crt");
    run(Command::new(openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=some other CA", "-keyout"])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&crt));
    crt
}

const DATABASES_MARKER: &str = "# -- databases --\n";

fn config_ldif(dir: &Path, tls: Option<&TestPki>) -> String {
    let d = dir.display();
    let tls_lines = tls
        .map(|t| {
            format!(
                "olcTLSCACertificateFile: {}\nolcTLSCertificateFile: {}\nolcTLSCertificateKeyFile: {}\n",
                t.ca.display(),
                t.cert.display(),
                t.key.display()
            )
        })
        .unwrap_or_default();
    format!(
        "dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/run/slapd.pid
olcArgsFile: {d}/run/slapd.args
olcLogLevel: none
{tls_lines}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
{DATABASES_MARKER}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: size.soft=500 size.hard=500 size.prtotal=unlimited

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {d}/db
olcDbMaxSize: 1073741824
olcSuffix: {BASE_DN}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PW}
olcDbIndex: objectClass eq
olcDbIndex: cn,uid eq
olcDbIndex: member eq
olcDbIndex: memberUser,memberHost,memberService eq
olcDbIndex: fqdn,ipaUniqueID eq
olcDbIndex: ipaEnabledFlag,userCategory,hostCategory,serviceCategory eq
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by users read by * none
"
    )
}

/// The read-only account `tlog-rs sync` binds as (FreeIPA: a sysaccount or the host).
fn sysaccounts_ldif() -> String {
    format!(
        "dn: cn=etc,{BASE_DN}
objectClass: top
objectClass: nsContainer
cn: etc

dn: cn=sysaccounts,cn=etc,{BASE_DN}
objectClass: top
objectClass: nsContainer
cn: sysaccounts

dn: {READER_DN}
objectClass: top
objectClass: account
objectClass: simpleSecurityObject
uid: tlog-sync
userPassword: {READER_PW}
"
    )
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Percent-encode a socket path for an ldapi:// URL.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
