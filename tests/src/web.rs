//! `tlog-rs web` for the tests: a self-signed certificate, the server in a
//! private /etc (an [`NsEnv`]) on a free loopback port, killed when dropped.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::nsenv::NsEnv;
use crate::rec::wait_for;
use crate::slapd::free_port;
use crate::{artifact, require_program};

/// The running server; killed when it goes out of scope, however the test
/// ends.
pub struct WebServer {
    child: Child,
    pub port: u16,
    /// Its stderr.
    pub log: PathBuf,
}

impl WebServer {
    /// The server's pid (NsEnv::command execs: the child is the server).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `tlog-rs web --config conf` over TLS inside `env`; its certificate,
/// key and log go to `dir`. Panics with the server's log if it never listens.
pub fn serve(env: &NsEnv, dir: &Path, conf: &Path) -> WebServer {
    let openssl = require_program("openssl", "openssl");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let o = Command::new(&openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port = free_port();
    let log = dir.join("server.log");
    let child = env
        .command(&[
            artifact("tlog-rs").to_str().unwrap(),
            "web",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
            conf.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = WebServer { child, port, log };
    let up = wait_for(Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(
        up,
        "tlog-rs web did not start: {}",
        fs::read_to_string(&server.log).unwrap_or_default()
    );
    server
}
