//! Harness for the central delivery tests (tests/tests/central_delivery*.rs):
//! a throwaway PKI made with openssl, the shipped configs of
//! packaging/central/ with their site-specific parts replaced, daemons that
//! can be stopped or killed, and bounded waits.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A file of packaging/central/, as shipped.
pub fn shipped(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/central")
        .join(name);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Replace each `(from, to)` in `text`; panics if a `from` is absent, so a
/// change of the shipped file cannot make a test silently test less.
pub fn substitute(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (from, to) in pairs {
        assert!(out.contains(from), "{from:?} not found in:\n{out}");
        out = out.replace(from, to);
    }
    out
}

/// Poll `ok` every 50 ms until it holds; panic naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// True if some socket listens on TCP `port` (from /proc/net/tcp{,6}: no
/// connection is made, so the server logs nothing).
pub fn listening(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        fs::read_to_string(f).unwrap_or_default().lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // local_address is column 1, st is column 3 (0A = LISTEN)
            cols.len() > 3 && format!("{} ", cols[1]).ends_with(&needle) && cols[3] == "0A"
        })
    })
}

/// A test CA and certificates signed by it, each for one DNS name (CN and
/// subjectAltName, plus IP 127.0.0.1 for clients that check the address of
/// the URL), usable as TLS server and client certificates.
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path, names: &[&str]) -> Pki {
        fs::create_dir_all(dir).unwrap();
        let run = |args: &[&str]| {
            let o = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .expect("openssl runs (apt-get install openssl)");
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=tlog-rs test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        for n in names {
            let ext = format!(
                "subjectAltName=DNS:{n},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n\
                 keyUsage=digitalSignature,keyEncipherment\n"
            );
            fs::write(dir.join(format!("{n}.ext")), ext).unwrap();
            let (key, csr, pem, extf) = (
                format!("{n}.key"),
                format!("{n}.csr"),
                format!("{n}.pem"),
                format!("{n}.ext"),
            );
            run(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={n}"),
                "-keyout",
                &key,
                "-out",
                &csr,
            ]);
            run(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &extf,
                "-out",
                &pem,
            ]);
        }
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }
}

/// A foreground daemon with its stdout and stderr in a file; stopped with
/// SIGTERM on drop.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    pub fn spawn(cmd: &mut Command, log: &Path) -> Daemon {
        let f = fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        Daemon {
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    /// What the daemon printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn signal(&mut self, sig: libc::c_int) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill on our own child's pid; it is not reaped yet, so
            // the pid cannot have been reused.
            unsafe { libc::kill(c.id() as libc::pid_t, sig) };
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (a clean stop), then wait for the exit.
    pub fn stop(&mut self) {
        self.signal(libc::SIGTERM);
    }

    /// SIGKILL (a crash), then reap.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `rsyslogd -n` on `conf` (validated first with `-N1`), pid file and
/// output beside it.
pub fn rsyslogd(conf: &Path) -> Daemon {
    let check = Command::new("rsyslogd")
        .arg("-N1")
        .arg("-f")
        .arg(conf)
        .output()
        .expect("rsyslogd runs (apt-get install rsyslog)");
    assert!(
        check.status.success(),
        "{} is invalid: {}",
        conf.display(),
        String::from_utf8_lossy(&check.stderr)
    );
    Daemon::spawn(
        Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(conf)
            .arg("-i")
            .arg(conf.with_extension("pid")),
        &conf.with_extension("out"),
    )
}

/// Every line of every `*.jsonl` file below `dir`.
pub fn jsonl_lines(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                let text = fs::read_to_string(&p).unwrap();
                out.extend(text.lines().map(str::to_string));
            }
        }
    }
    out
}

/// (new audit events, audit events in the index) from the `audit:` line of
/// `tlog-rs index --stats`.
pub fn audit_counts(stats: &str) -> (u64, u64) {
    let l = stats
        .lines()
        .find(|l| l.starts_with("audit: "))
        .unwrap_or_else(|| panic!("no audit line in {stats}"));
    let n = |after: &str| -> u64 {
        l.split(after)
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no count before {after:?} in {l}"))
    };
    (n(" new events"), n(" audit events"))
}
