//! A throwaway PostgreSQL server for the central store tests: `initdb`
//! into a temp dir, `postgres` listening on 127.0.0.1 (a free port) and on
//! a unix socket in that dir, trust authentication, fsync off. Run as the
//! `postgres` system account when the tests run as root (the server
//! refuses root). Stopped (fast shutdown) and deleted on Drop.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::rec::TempDir;

/// A server program: on PATH, else Debian's versioned directory (newest).
pub fn pg_program(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .filter_map(|e| {
                let ver = e.file_name().to_str()?.parse().ok()?;
                let p = e.path().join("bin").join(name);
                p.is_file().then_some((ver, p))
            })
            .collect();
        v.sort();
        v.pop().map(|(_, p)| p)
    })
}

fn require_pg(name: &str) -> PathBuf {
    pg_program(name).unwrap_or_else(|| {
        panic!("{name} is not installed: apt-get install postgresql (.ci/run does this)")
    })
}

/// uid and gid of the account the server runs as (None: as ourselves).
fn server_account() -> Option<(u32, u32)> {
    if !crate::is_root() {
        return None;
    }
    for name in ["postgres", "nobody"] {
        let c = CString::new(name).expect("no NUL");
        // SAFETY: getpwnam with a valid C string; the fields are copied
        // before any other passwd call.
        let ids = unsafe {
            let pw = libc::getpwnam(c.as_ptr());
            (!pw.is_null()).then(|| ((*pw).pw_uid, (*pw).pw_gid))
        };
        if ids.is_some() {
            return ids;
        }
    }
    panic!("no postgres or nobody account to run the PostgreSQL server as")
}

pub struct Postgres {
    pub dir: TempDir,
    pub port: u16,
    child: Child,
    account: Option<(u32, u32)>,
}

impl Postgres {
    pub fn start(tag: &str) -> Postgres {
        Self::start_with(tag, false)
    }

    /// With `tls`, the server also speaks TLS with a self-signed
    /// certificate for `localhost` (`cert_path()`).
    pub fn start_with(tag: &str, tls: bool) -> Postgres {
        let initdb = require_pg("initdb");
        let server = require_pg("postgres");
        let dir = TempDir::new(&format!("pg-{tag}"));
        let account = server_account();
        if let Some((uid, gid)) = account {
            chown(&dir.0, uid, gid);
        }
        let data = dir.path("data");
        let out = as_account(Command::new(&initdb), account)
            .args(["-N", "-A", "trust", "-U", "postgres", "-E", "UTF8"])
            .args(["--no-locale", "-D"])
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb: {}", stderr(&out));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut extra: Vec<String> = vec![];
        if tls {
            let (crt, key) = (dir.path("server.crt"), dir.path("server.key"));
            let out = Command::new(crate::require_program("openssl", "openssl"))
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args([
                    "-subj",
                    "/CN=localhost",
                    "-addext",
                    "subjectAltName=DNS:localhost",
                ])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&crt)
                .stdin(Stdio::null())
                .output()
                .expect("run openssl");
            assert!(out.status.success(), "openssl: {}", stderr(&out));
            if let Some((uid, gid)) = account {
                chown(&key, uid, gid);
            }
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("chmod key");
            extra.extend(["-c".into(), "ssl=on".into()]);
            extra.extend(["-c".into(), format!("ssl_cert_file={}", crt.display())]);
            extra.extend(["-c".into(), format!("ssl_key_file={}", key.display())]);
        }
        let log = std::fs::File::create(dir.path("server.log")).expect("server log");
        if let Some((uid, gid)) = account {
            chown(&dir.path("server.log"), uid, gid);
        }
        let child = as_account(Command::new(&server), account)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&dir.0)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=40", "-c", "shared_buffers=16MB"])
            .args(&extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        let mut pg = Postgres {
            dir,
            port,
            child,
            account,
        };
        pg.wait_ready();
        pg
    }

    fn wait_ready(&mut self) {
        for _ in 0..600 {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("postgres exited ({st}): {}", self.log());
            }
            let o = self.psql_raw("postgres", "SELECT 1");
            if o.status.success() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("postgres did not accept connections: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("server.log")).unwrap_or_default()
    }

    /// URL of database `db` over TCP, as the superuser (trust auth).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// URL of database `db` over the unix socket in the server's dir.
    pub fn socket_url(&self, db: &str) -> String {
        let dir = self.dir.0.display().to_string().replace('/', "%2F");
        format!("postgres://postgres@{dir}:{}/{db}", self.port)
    }

    fn psql_raw(&self, db: &str, sql: &str) -> Output {
        Command::new(require_pg("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir.0)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("run psql")
    }

    /// Run SQL in `db` and return psql's unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let o = self.psql_raw(db, sql);
        assert!(o.status.success(), "psql {sql:?}: {}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// Create database `name` (owned by the superuser); returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// The server's certificate (PEM) when started with TLS.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path("server.crt")
    }

    /// The uid/gid that own the server's files (None: the test's own).
    pub fn account(&self) -> Option<(u32, u32)> {
        self.account
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: fast shutdown (clients are disconnected, no waiting).
        // SAFETY: kill(2) on our own child's pid; no memory is passed.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        for _ in 0..300 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn as_account(mut c: Command, account: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = account {
        c.uid(uid).gid(gid);
        // initdb and postgres look at HOME and the cwd as that user.
        c.current_dir("/").env("HOME", "/");
    }
    c
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
