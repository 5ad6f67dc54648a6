//! Private log daemons for tests: a standalone systemd-journald in its own
//! mount namespace, a private rsyslogd on a socket in a temp dir, and a
//! helper to give a command its own `/dev/log`. Nothing touches the host's
//! /run/systemd/journal, /var/log/journal or /dev/log.
//!
//! The recorder's own tests use it through the dev-dependency. Recipes:
//! shared reference test-environment.md §4 (journald) and §5 (rsyslog,
//! /dev/log in a namespace).
//!
//! ```ignore
//! let jd = Journald::start("my-test");
//! // from outside: send to jd.socket(), read with jd.entries(&["TLOG_REC=x"])
//! // inside: jd.command("tlog-play") runs with the private /run.
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::TempDir;

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, then SIGKILL after 5 s; always reaped.
fn stop(child: &mut Child) {
    // SAFETY: kill on our own child's pid; it is not reaped yet, so the pid
    // cannot have been reused.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// systemd-journald in a private mount namespace (private tmpfs on /run,
/// volatile storage, no kmsg, no forwarding, no rate limit).
pub struct Journald {
    child: Child,
    dir: TempDir,
}

impl Journald {
    pub fn start(tag: &str) -> Journald {
        let dir = TempDir::new(&format!("journald-{tag}"));
        let t = dir.root();
        fs::create_dir_all(t.join("var-log-journal")).unwrap();
        fs::write(
            t.join("journald.conf"),
            // Audit= (empty): leave the kernel's audit state alone; journald
            // 252's default (off) would disable audit on the host.
            "[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\n\
             ForwardToWall=no\nForwardToConsole=no\nRateLimitBurst=0\nAudit=\n",
        )
        .unwrap();
        // Config as a drop-in in the private /run, so the host's
        // /etc/systemd/journald.conf is neither read for storage nor touched.
        let script = r#"set -eu
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal /run/systemd/journald.conf.d
cp "$T/journald.conf" /run/systemd/journald.conf.d/zz-tlog-rs-test.conf
if [ -d /var/log/journal ]; then mount --bind "$T/var-log-journal" /var/log/journal; fi
exec /lib/systemd/systemd-journald"#;
        let log = fs::File::create(t.join("journald.log")).unwrap();
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script])
            .env("T", t)
            // journald's own messages must not go to the host's /dev/kmsg
            .env("SYSTEMD_LOG_TARGET", "console")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("unshare (util-linux) runs");
        let jd = Journald { child, dir };
        let exe = format!("/proc/{}/exe", jd.pid());
        wait_until("systemd-journald to start", Duration::from_secs(10), || {
            fs::read_link(&exe).is_ok_and(|p| p.ends_with("systemd-journald"))
                && jd.socket().exists()
        });
        jd
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The namespace's `/run/systemd/journal/socket`, reachable from outside.
    pub fn socket(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/run/systemd/journal/socket",
            self.pid()
        ))
    }

    /// The directory holding the volatile journal files.
    pub fn journal_dir(&self) -> PathBuf {
        let base = PathBuf::from(format!("/proc/{}/root/run/log/journal", self.pid()));
        fs::read_dir(&base)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
            .unwrap_or(base)
    }

    /// `prog` run inside the namespace (`nsenter -t PID -m`), so it sees the
    /// private /run: libsystemd clients, journalctl, tlog-play -r journal.
    pub fn command(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.pid().to_string())
            .arg("-m")
            .arg("--")
            .arg(prog);
        c
    }

    /// All entries matching `matches` (journalctl syntax), as JSON objects,
    /// with full field values (`--all`).
    pub fn entries(&self, matches: &[&str]) -> Vec<serde_json::Value> {
        let out = Command::new("journalctl")
            .args(["--no-pager", "--all", "-o", "json", "-D"])
            .arg(self.journal_dir())
            .args(matches)
            .output()
            .expect("journalctl runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("journalctl -o json line"))
            .collect()
    }

    /// Wait until at least `n` entries match, then return them.
    pub fn wait_entries(&self, matches: &[&str], n: usize) -> Vec<serde_json::Value> {
        let mut got = vec![];
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            got = self.entries(matches);
            if got.len() >= n || Instant::now() >= until {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// journald's own stdout/stderr so far, for assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path("journald.log")).unwrap_or_default()
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A private rsyslogd listening on `socket()` (never on /dev/log), writing
/// every message to `output()` as `PRI FACILITY SEVERITY TAG|MSG` lines where
/// MSG is rsyslog's `%msg%` with its leading space removed.
pub struct Rsyslog {
    child: Child,
    dir: TempDir,
}

impl Rsyslog {
    pub fn start(tag: &str) -> Rsyslog {
        let dir = TempDir::new(&format!("rsyslog-{tag}"));
        let t = dir.root();
        fs::create_dir_all(t.join("work")).unwrap();
        let conf = format!(
            r#"global(workDirectory="{t}/work")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{t}/log.sock")
template(name="t" type="string" string="%pri% %syslogfacility-text% %syslogseverity-text% %syslogtag%|%msg:2:$%\n")
*.* action(type="omfile" file="{t}/out.log" template="t")
"#,
            t = t.display()
        );
        fs::write(t.join("rsyslog.conf"), conf).unwrap();
        let log = fs::File::create(t.join("rsyslogd.log")).unwrap();
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(t.join("rsyslog.conf"))
            .arg("-i")
            .arg(t.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("rsyslogd runs (apt-get install rsyslog)");
        let r = Rsyslog { child, dir };
        wait_until("rsyslogd's socket", Duration::from_secs(10), || {
            r.socket().exists()
        });
        r
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path("log.sock")
    }

    pub fn output(&self) -> PathBuf {
        self.dir.path("out.log")
    }

    /// Wait until at least `n` output lines contain `needle`; return those lines.
    pub fn wait_lines(&self, needle: &str, n: usize) -> Vec<String> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let got: Vec<String> = fs::read_to_string(self.output())
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains(needle))
                .map(str::to_string)
                .collect();
            if got.len() >= n || Instant::now() >= until {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop rsyslogd now (e.g. to test a syslog that goes away).
    pub fn stop(&mut self) {
        stop(&mut self.child);
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A `Command` that runs `prog` in a fresh private mount namespace whose
/// `/dev/log` is `dev_log` (a symlink in an overlay of /dev), or, with
/// `None`, has no `/dev/log` at all. `scratch` holds the overlay dirs.
/// Put `/run/systemd/journal/socket` out of reach too with `no_journal`.
pub fn with_private_dev_log(
    scratch: &Path,
    dev_log: Option<&Path>,
    no_journal: bool,
    prog: impl AsRef<std::ffi::OsStr>,
) -> Command {
    for d in ["dev-up", "dev-wk", "keep-pts", "keep-shm"] {
        fs::create_dir_all(scratch.join(d)).unwrap();
    }
    let link = match dev_log {
        Some(p) => format!("ln -sfn '{}' /dev/log", p.display()),
        None => "rm -f /dev/log".to_string(),
    };
    let journal = if no_journal {
        "mount -t tmpfs -o mode=755 tmpfs /run"
    } else {
        ":"
    };
    let script = format!(
        r#"set -eu
S='{s}'
mount --bind /dev/pts "$S/keep-pts"; mount --bind /dev/shm "$S/keep-shm"
mount -t overlay devovl -o lowerdir=/dev,upperdir="$S/dev-up",workdir="$S/dev-wk" /dev
mount --move "$S/keep-pts" /dev/pts; mount --move "$S/keep-shm" /dev/shm
{link}
{journal}
exec "$@""#,
        s = scratch.display()
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(prog);
    c
}

/// Send raw bytes as one datagram to a unix socket (e.g. a journal socket).
pub fn send_datagram(socket: &Path, data: &[u8]) -> std::io::Result<()> {
    let s = std::os::unix::net::UnixDatagram::unbound()?;
    s.send_to(data, socket).map(|_| ())
}

/// Run `cmd` with stdin a pipe that stays open and never becomes ready
/// (tlog-play spins on a /dev/null or closed stdin), capturing stdout and
/// stderr; killed after `timeout`.
pub fn output_with_open_stdin(cmd: &mut Command, timeout: Duration) -> std::process::Output {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let keep_open = child.stdin.take();
    let mut so = child.stdout.take().expect("piped");
    let mut se = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut v = vec![];
        let _ = so.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = vec![];
        let _ = se.read_to_end(&mut v);
        v
    });
    let until = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(keep_open);
    std::process::Output {
        status,
        stdout: out.join().expect("reader"),
        stderr: err.join().expect("reader"),
    }
}
