//! A throwaway login world: real OpenSSH sshd on a free loopback port, inside
//! a private mount namespace, with our NSS and PAM modules active, throwaway
//! users with key auth, and the recorder writing to per-user files.
//!
//! The host is never edited. Inside the namespace:
//! - `/etc` is an overlay whose upper layer is in the world's temp dir, so
//!   `/etc/passwd`, `/etc/group`, `/etc/shadow`, `/etc/nsswitch.conf`,
//!   `/etc/pam.d/{sshd,su,login}`, `/etc/tlog-rs/*` and `/etc/ld.so.cache` are
//!   private copies (an overlay rather than one bind per file, because
//!   `/etc/tlog-rs` does not exist on the host and a bind needs a target);
//! - `/etc/ld.so.cache` is rebuilt to include the world's `lib/` directory,
//!   where `libnss_tlog.so.2` lives, so glibc in sshd, su, login, getent... loads
//!   it by soname (`passwd: tlog files` in nsswitch.conf);
//! - `/run` is a tmpfs (sshd privsep dir, and the hand-off dir
//!   /run/tlog-rs/handoff is private to the world);
//! - `/var/log/{wtmp,lastlog,btmp}` are private files.
//!
//! Usage:
//! ```ignore
//! let mut cfg = WorldConfig::new("basics");
//! cfg.user("alice", &["dbas"]).user("bob", &[]);
//! cfg.group("dbas");
//! cfg.policy(r#"[[rule]]
//! name = "dbas"
//! groups = ["dbas"]
//! action = "record"
//! "#);
//! let w = World::start(cfg);
//! let out = w.ssh("alice", &["-tt"], Some("echo hi"), b"");
//! let rec = w.recording("alice");             // text of {T}/rec/alice/session.log
//! let play = w.play("alice");                  // Debian tlog-play on it
//! let su = w.ns_sh("su - alice -c id");       // any command inside the namespace
//! ```
//! The policy text gets a `recorder = "..."` line and a `[settings]` table
//! (file writer to `{T}/rec/<user>/session.log` is per rule, see `file_settings`)
//! unless it sets them itself; `{T}` in any text is replaced by the world dir.
//! Dropping the `World` stops sshd and removes the directory (set
//! TLOG_RS_KEEP_TEST_DIRS=1 to keep it for debugging).

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{artifact, require_program};

#[derive(Debug, Clone)]
pub struct UserSpec {
    pub name: String,
    pub uid: u32,
    /// Supplementary groups (created by `group`).
    pub groups: Vec<String>,
    /// Passwd shell; default /bin/bash.
    pub shell: String,
}

#[derive(Debug, Clone)]
pub struct WorldConfig {
    pub tag: String,
    pub users: Vec<UserSpec>,
    pub groups: Vec<(String, u32)>,
    /// policy.toml text, or None for no policy file at all.
    pub policy: Option<String>,
    /// Extra files: (path relative to /etc, content), e.g. ("sssd/sssd.conf", ...).
    pub etc_files: Vec<(String, String, u32)>,
    /// The `passwd:` line of nsswitch.conf.
    pub nss_passwd: String,
    /// Arguments for the pam_tlog line; None = no pam_tlog line at all.
    pub pam_tlog_args: Option<String>,
    /// Extra sshd_config lines (AcceptEnv ...).
    pub sshd_extra: String,
    /// Also install the recorder at its default path /usr/bin/tlog-rs-rec-session
    /// (an overlay of /usr in the namespace): for worlds without a policy file.
    pub default_recorder: bool,
    /// Give the namespace its own /dev/log (an overlay of /dev) bound to a
    /// socket the World reads: `World::syslog()` returns what PAM logged.
    pub capture_syslog: bool,
    /// Keep the host's Debian PAM stacks (sshd, su, su-l, common-*) and only
    /// append the pam_tlog line to pam.d/sshd and pam.d/su.
    pub stock_pam: bool,
    /// With `stock_pam`: append pam_tlog to common-session instead (before
    /// sshd's `pam_env user_readenv=1`, the placement of issue 9 attack 5).
    pub pam_in_common_session: bool,
    /// Install the recorder as in production: set-uid to a `tlog-rs` system
    /// account added to the world, which also owns the recording dirs.
    pub setuid_recorder: bool,
    /// The `Subsystem sftp` command of sshd_config.
    pub sftp_subsystem: String,
}

impl WorldConfig {
    pub fn new(tag: &str) -> WorldConfig {
        WorldConfig {
            tag: tag.to_string(),
            users: Vec::new(),
            groups: Vec::new(),
            policy: None,
            etc_files: Vec::new(),
            nss_passwd: "tlog files".into(),
            pam_tlog_args: Some(String::new()),
            sshd_extra: String::new(),
            default_recorder: false,
            capture_syslog: false,
            stock_pam: false,
            pam_in_common_session: false,
            setuid_recorder: false,
            sftp_subsystem: "/usr/lib/openssh/sftp-server".into(),
        }
    }

    /// The acceptance setup of issue 9: Debian's stock PAM stacks, the
    /// set-uid recorder, and an sshd that lets the user set any variable.
    /// With `TLOG_RS_TESTS_RECORDER_NOT_SETUID` set (tests/prehardening.sh)
    /// the recorder is installed as before issue 9: plain, no account.
    pub fn hardened(&mut self) -> &mut Self {
        self.stock_pam = true;
        self.setuid_recorder = std::env::var_os("TLOG_RS_TESTS_RECORDER_NOT_SETUID").is_none();
        self.sshd_extra = "AcceptEnv LANG LC_* TLOG_* LD_*\nPermitUserEnvironment yes".into();
        self
    }

    /// Add a user with a private group (gid = uid) and supplementary groups.
    pub fn user(&mut self, name: &str, groups: &[&str]) -> &mut Self {
        let uid = 2001 + self.users.len() as u32;
        self.users.push(UserSpec {
            name: name.into(),
            uid,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            shell: "/bin/bash".into(),
        });
        self
    }

    /// Add an account sharing the uid (and gid) of the already added user
    /// `of` (`useradd -o -u UID`), with its own name, home and key. It comes
    /// after `of` in /etc/passwd, so getpwuid gives `of`.
    pub fn alias(&mut self, name: &str, of: &str) -> &mut Self {
        let uid = self
            .users
            .iter()
            .find(|u| u.name == of)
            .unwrap_or_else(|| panic!("alias {name}: no user {of} added before"))
            .uid;
        self.users.push(UserSpec {
            name: name.into(),
            uid,
            groups: Vec::new(),
            shell: "/bin/bash".into(),
        });
        self
    }

    pub fn group(&mut self, name: &str) -> &mut Self {
        let gid = 3001 + self.groups.len() as u32;
        self.groups.push((name.into(), gid));
        self
    }

    pub fn policy(&mut self, text: &str) -> &mut Self {
        self.policy = Some(text.to_string());
        self
    }

    /// A file under the namespace's /etc (mode given).
    pub fn etc_file(&mut self, rel: &str, content: &str, mode: u32) -> &mut Self {
        self.etc_files.push((rel.into(), content.into(), mode));
        self
    }
}

/// Settings table for a rule that records to `{T}/rec/<user>/session.log`:
/// the harness creates one directory per user, owned by the user (the file
/// writer also keeps a sidecar next to the log).
pub fn file_settings(user: &str) -> String {
    format!("writer = \"file\"\nfile_path = \"{{T}}/rec/{user}/session.log\"\n")
}

pub struct World {
    pub dir: PathBuf,
    pub port: u16,
    pub users: Vec<UserSpec>,
    sshd: Option<Child>,
    /// Lines read by the drain thread (a unix datagram socket queues only
    /// ~10 messages: unread, it would block every syslog(3) caller).
    syslog_lines: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
    syslog_stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The `tlog-rs` account of a `setuid_recorder` world.
    pub recorder_account: Option<RecorderAccount>,
}

fn sh(script: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh")
}

fn must(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

fn write(path: &Path, text: &str, mode: u32) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).expect("create_dir_all");
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A fresh world directory under the temp dir, traversable by the users.
fn world_dir(tag: &str) -> PathBuf {
    let base =
        std::env::temp_dir().join(format!("tlog-rs-{tag}-{}-{}", std::process::id(), unique()));
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(&base).expect("mkdir world");
    fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).expect("chmod world");
    base
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    t ^ (N.fetch_add(1, Ordering::Relaxed) << 32)
}

impl World {
    pub fn start(cfg: WorldConfig) -> World {
        require_program("/usr/sbin/sshd", "openssh-server");
        require_program("ssh", "openssh-client");
        require_program("unshare", "util-linux");
        let t = world_dir(&cfg.tag);
        let ts = t.display().to_string();
        let subst = |s: &str| s.replace("{T}", &ts);

        // Our artifacts, copied so the paths are short and readable by users.
        let lib = t.join("lib");
        fs::create_dir_all(&lib).unwrap();
        fs::set_permissions(&lib, fs::Permissions::from_mode(0o755)).unwrap();
        fs::copy(artifact("libnss_tlog.so"), lib.join("libnss_tlog.so.2")).expect("copy nss");
        // The NSS module loads its policy-parsing fallback from tlog-rs/
        // next to itself. (Builds from before that split, which
        // tests/prehardening.sh runs these tests against, have none.)
        let fallback = crate::target_dir().join("libnss_tlog_fallback.so");
        if fallback.exists() {
            fs::create_dir_all(lib.join("tlog-rs")).unwrap();
            fs::copy(&fallback, lib.join("tlog-rs/libnss_tlog_fallback.so"))
                .expect("copy nss fallback");
        }
        fs::copy(artifact("libpam_tlog.so"), lib.join("pam_tlog.so")).expect("copy pam");
        let bin = t.join("bin");
        fs::create_dir_all(&bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let recorder = bin.join("tlog-rs-rec-session");
        fs::copy(artifact("tlog-rs-rec-session"), &recorder).expect("copy recorder");
        if cfg.setuid_recorder {
            require_suid_fs(&t);
        }

        // passwd/group/shadow: host copies + throwaway users.
        let etc = t.join("etc");
        let mut passwd = fs::read_to_string("/etc/passwd").unwrap();
        let mut group = fs::read_to_string("/etc/group").unwrap();
        let mut shadow = fs::read_to_string("/etc/shadow").unwrap_or_default();
        if !passwd.lines().any(|l| l.starts_with("sshd:")) {
            passwd.push_str("sshd:x:105:65534::/run/sshd:/usr/sbin/nologin\n");
        }
        let recorder_account = cfg.setuid_recorder.then(|| {
            let a = RecorderAccount::pick(&passwd, &group);
            a.add_to(&mut passwd, &mut group, &mut shadow);
            a
        });
        for u in &cfg.users {
            let home = t.join("home").join(&u.name);
            writeln!(
                passwd,
                "{}:x:{}:{}:{} (test):{}:{}",
                u.name,
                u.uid,
                u.uid,
                u.name,
                home.display(),
                u.shell
            )
            .unwrap();
            writeln!(group, "{}:x:{}:", u.name, u.uid).unwrap();
            writeln!(shadow, "{}:*:19000:0:99999:7:::", u.name).unwrap();
        }
        for (g, gid) in &cfg.groups {
            let members: Vec<&str> = cfg
                .users
                .iter()
                .filter(|u| u.groups.contains(g))
                .map(|u| u.name.as_str())
                .collect();
            writeln!(group, "{g}:x:{gid}:{}", members.join(",")).unwrap();
        }
        write(&etc.join("passwd"), &passwd, 0o644);
        write(&etc.join("group"), &group, 0o644);
        write(&etc.join("shadow"), &shadow, 0o640);
        write(
            &etc.join("nsswitch.conf"),
            &format!(
                "passwd: {}\ngroup: files\nshadow: files\nhosts: files\n",
                cfg.nss_passwd
            ),
            0o644,
        );

        // PAM: key auth only; our module after pam_unix in the session stack.
        let pam_line = match &cfg.pam_tlog_args {
            Some(args) => format!(
                "session  required {}/pam_tlog.so {}\n",
                lib.display(),
                subst(args)
            ),
            None => String::new(),
        };
        let session = format!("session  required pam_unix.so\n{pam_line}");
        if cfg.stock_pam {
            for (rel, text) in stock_pam_files(&pam_line, cfg.pam_in_common_session) {
                write(&etc.join(rel), &text, 0o644);
            }
        } else {
            write(
            &etc.join("pam.d/sshd"),
            &format!("auth required pam_deny.so\naccount required pam_unix.so\npassword required pam_deny.so\n{session}"),
            0o644,
        );
            let local = format!(
            "auth sufficient pam_rootok.so\nauth required pam_deny.so\naccount required pam_unix.so\npassword required pam_deny.so\n{session}"
        );
            write(&etc.join("pam.d/su"), &local, 0o644);
            write(&etc.join("pam.d/su-l"), &local, 0o644);
            write(&etc.join("pam.d/login"), &local, 0o644);
        }

        // Policy (with the recorder path) and extra files.
        if let Some(p) = &cfg.policy {
            let mut text = String::new();
            if !p.contains("recorder =") && !p.contains("recorder=") {
                writeln!(text, "recorder = \"{}\"", recorder.display()).unwrap();
            }
            text.push_str(&subst(p));
            write(&etc.join("tlog-rs/policy.toml"), &text, 0o644);
        } else {
            fs::create_dir_all(etc.join("tlog-rs")).unwrap();
        }
        for (rel, content, mode) in &cfg.etc_files {
            write(&etc.join(rel), &subst(content), *mode);
        }

        // Homes, keys, recording files.
        let rec = t.join("rec");
        fs::create_dir_all(&rec).unwrap();
        fs::set_permissions(&rec, fs::Permissions::from_mode(0o755)).unwrap();
        for u in &cfg.users {
            let home = t.join("home").join(&u.name);
            fs::create_dir_all(home.join(".ssh")).unwrap();
            let key = t.join(format!("id_{}", u.name));
            must(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", &u.name, "-f"])
                    .arg(&key)
                    .output()
                    .expect("ssh-keygen"),
                "ssh-keygen",
            );
            fs::copy(key.with_extension("pub"), home.join(".ssh/authorized_keys")).unwrap();
            fs::create_dir_all(rec.join(&u.name)).unwrap();
            must(
                sh(&format!(
                    "chmod 700 {h}/.ssh && chmod 600 {h}/.ssh/authorized_keys && chown -R {id}:{id} {h} && chmod 755 {h} \
                     && chown {id}:{id} {r}/{n} && chmod 700 {r}/{n}",
                    h = home.display(),
                    id = u.uid,
                    r = rec.display(),
                    n = u.name
                )),
                "prepare home",
            );
        }
        fs::set_permissions(t.join("home"), fs::Permissions::from_mode(0o755)).ok();
        if let Some(a) = recorder_account {
            a.take_over(&recorder, &rec, &cfg.users);
        }

        must(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(t.join("ssh_host_ed25519_key"))
                .output()
                .expect("ssh-keygen"),
            "host key",
        );
        write(
            &t.join("ld.so.conf"),
            &format!("{}\ninclude /etc/ld.so.conf.d/*.conf\n", lib.display()),
            0o644,
        );
        for f in ["wtmp", "lastlog", "btmp"] {
            fs::write(t.join(f), "").unwrap();
        }
        for d in ["ovl/etc-up", "ovl/etc-wk", "ovl/usr-up", "ovl/usr-wk"] {
            fs::create_dir_all(t.join(d)).unwrap();
        }

        // Bound before sshd starts, so nothing logged at startup is lost.
        let mut syslog = None;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if cfg.capture_syslog {
            let path = t.join("devlog.sock");
            let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind devlog.sock");
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
            let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let (l2, stop2) = (lines.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(n) = sock.recv(&mut buf) {
                        l2.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    }
                }
            });
            syslog = Some(lines);
        }
        let mut last_err = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            write(
                &t.join("sshd_config"),
                &format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {ts}/ssh_host_ed25519_key\nPidFile {ts}/sshd.pid\n\
                     UsePAM yes\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     AuthorizedKeysFile .ssh/authorized_keys\nPermitRootLogin no\nPrintMotd no\nPrintLastLog no\n\
                     LogLevel VERBOSE\nSubsystem sftp {}\n{}\n",
                    cfg.sftp_subsystem,
                    subst(&cfg.sshd_extra)
                ),
                0o644,
            );
            let _ = fs::remove_file(t.join("sshd.pid"));
            let log = fs::File::create(t.join("sshd.log")).unwrap();
            let child = Command::new("unshare")
                .args([
                    "-m",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    NS_SCRIPT,
                    "ns",
                ])
                .arg(&t)
                .arg(if cfg.default_recorder { "1" } else { "0" })
                .arg(if cfg.capture_syslog { "1" } else { "0" })
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("unshare");
            let mut world = World {
                dir: t.clone(),
                port,
                users: cfg.users.clone(),
                sshd: Some(child),
                syslog_lines: syslog.clone(),
                syslog_stop: stop.clone(),
                recorder_account,
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if fs::read_to_string(t.join("sshd.pid"))
                    .map(|s| !s.trim().is_empty())
                    .unwrap_or(false)
                {
                    return world;
                }
                if let Some(c) = world.sshd.as_mut() {
                    if let Ok(Some(_)) = c.try_wait() {
                        break;
                    }
                }
                if Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_err = world.sshd_log();
            world.stop();
            world.dir = PathBuf::new(); // keep the dir for the next attempt
        }
        if std::env::var_os("TLOG_RS_KEEP_TEST_DIRS").is_none() {
            let _ = fs::remove_dir_all(&t);
        }
        panic!("sshd did not start in {}:\n{last_err}", t.display());
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            // SAFETY: kill() with a pid we own (our child) has no memory effects.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    pub fn sshd_pid(&self) -> u32 {
        self.sshd.as_ref().expect("sshd running").id()
    }

    pub fn key(&self, user: &str) -> PathBuf {
        self.dir.join(format!("id_{user}"))
    }

    /// Base ssh command for `user` (client runs on the host: it needs none of
    /// the namespace's files).
    pub fn ssh_cmd(&self, user: &str, opts: &[&str]) -> Command {
        let mut c = Command::new("ssh");
        c.args([
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "LogLevel=ERROR",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-i",
        ])
        .arg(self.key(user))
        .args(["-p", &self.port.to_string()])
        .args(opts)
        .arg(format!("{user}@127.0.0.1"));
        c
    }

    /// Run ssh as `user` with options, an optional remote command and stdin.
    pub fn ssh(&self, user: &str, opts: &[&str], cmd: Option<&str>, stdin: &[u8]) -> Output {
        let mut c = self.ssh_cmd(user, opts);
        if let Some(cmd) = cmd {
            c.arg(cmd);
        }
        run_with_stdin(c, stdin)
    }

    /// Run `sh -c script` inside the world's mount namespace (as root).
    pub fn ns_sh(&self, script: &str) -> Output {
        let mut c = Command::new("nsenter");
        c.args([
            "-t",
            &self.sshd_pid().to_string(),
            "-m",
            "--",
            "sh",
            "-c",
            script,
        ]);
        run_with_stdin(c, b"")
    }

    /// The text of a user's recording file ({T}/rec/<user>/session.log).
    pub fn recording(&self, user: &str) -> String {
        fs::read_to_string(self.rec_path(user)).unwrap_or_default()
    }

    pub fn rec_path(&self, user: &str) -> PathBuf {
        self.dir.join("rec").join(user).join("session.log")
    }

    /// Play a user's recording with Debian's tlog-play (stdin a pipe: with
    /// /dev/null it spins). Returns its output.
    pub fn play(&self, user: &str) -> Output {
        require_program("tlog-play", "tlog");
        let mut c = Command::new("tlog-play");
        c.args(["-r", "file", "-i"])
            .arg(self.rec_path(user))
            .args(["--speed", "1000"]);
        run_with_stdin(c, b"")
    }

    /// Every syslog line received so far (needs `capture_syslog`); waits
    /// briefly for late datagrams.
    pub fn syslog(&self) -> Vec<String> {
        let lines = self
            .syslog_lines
            .as_ref()
            .expect("WorldConfig::capture_syslog was not set");
        std::thread::sleep(Duration::from_millis(200));
        lines.lock().unwrap().clone()
    }

    pub fn sshd_log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// Hand-off files currently present in the namespace.
    pub fn handoffs(&self) -> Vec<String> {
        let out = self.ns_sh("ls -A /run/tlog-rs/handoff 2>/dev/null");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Run a command with `stdin` fed through a pipe, with a timeout of 60 s.
pub fn run_with_stdin(mut c: Command, stdin: &[u8]) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut si = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = si.write_all(&data);
        // keep stdin open briefly so ssh -tt sessions read everything
        std::thread::sleep(Duration::from_millis(200));
        drop(si);
    });
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = done.clone();
    let killer = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if d2.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let out = child.wait_with_output().expect("wait");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = writer.join();
    let _ = killer.join();
    out
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop();
        self.syslog_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if !self.dir.as_os_str().is_empty() && std::env::var_os("TLOG_RS_KEEP_TEST_DIRS").is_none()
        {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs inside `unshare -m`: private /etc (overlay), ld.so.cache, /run,
/// login records; then execs sshd, so the unshare child's pid is sshd's.
const NS_SCRIPT: &str = r#"
set -eu
T=$1
if [ "$2" = 1 ]; then
  mount -t overlay tlog_rs_usr -o lowerdir=/usr,upperdir=$T/ovl/usr-up,workdir=$T/ovl/usr-wk /usr
  cp -p $T/bin/tlog-rs-rec-session /usr/bin/tlog-rs-rec-session
fi
if [ "$3" = 1 ]; then
  mkdir -p $T/ovl/dev-up $T/ovl/dev-wk $T/ovl/keep-pts $T/ovl/keep-shm
  mount --bind /dev/pts $T/ovl/keep-pts; mount --bind /dev/shm $T/ovl/keep-shm
  mount -t overlay tlog_rs_dev -o lowerdir=/dev,upperdir=$T/ovl/dev-up,workdir=$T/ovl/dev-wk /dev
  mount --move $T/ovl/keep-pts /dev/pts; mount --move $T/ovl/keep-shm /dev/shm
  ln -sfn $T/devlog.sock /dev/log
fi
mount -t overlay tlog_rs_etc -o lowerdir=/etc,upperdir=$T/ovl/etc-up,workdir=$T/ovl/etc-wk /etc
cp -r $T/etc/. /etc/
chmod 640 /etc/shadow; chgrp shadow /etc/shadow 2>/dev/null || true
mount -t tmpfs -o mode=700 tmpfs /var/cache/ldconfig
ldconfig -X -f $T/ld.so.conf -C /etc/ld.so.cache
for f in wtmp lastlog btmp; do if [ -e /var/log/$f ]; then mount --bind $T/$f /var/log/$f; fi; done
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -m 755 /run/sshd
exec /usr/sbin/sshd -D -e -f $T/sshd_config
"#;

/// The recorder's system account (`useradd --system tlog-rs` in production).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderAccount {
    pub uid: u32,
    pub gid: u32,
}

impl RecorderAccount {
    pub const NAME: &'static str = "tlog-rs";

    /// The highest system id below 1000 free as both uid and gid.
    fn pick(passwd: &str, group: &str) -> RecorderAccount {
        let used = |db: &str, id: u32| {
            db.lines()
                .any(|l| l.split(':').nth(2) == Some(id.to_string().as_str()))
        };
        let id = (900..1000)
            .rev()
            .find(|&id| !used(passwd, id) && !used(group, id))
            .expect("no free system id in 900..1000 for the tlog-rs account");
        RecorderAccount { uid: id, gid: id }
    }

    fn add_to(&self, passwd: &mut String, group: &mut String, shadow: &mut String) {
        let n = Self::NAME;
        writeln!(
            passwd,
            "{n}:x:{}:{}:tlog-rs session recorder:/nonexistent:/usr/sbin/nologin",
            self.uid, self.gid
        )
        .unwrap();
        writeln!(group, "{n}:x:{}:", self.gid).unwrap();
        writeln!(shadow, "{n}:!:19000::::::").unwrap();
    }

    /// What `make install` does: the recorder set-uid to the account (chown
    /// first: it clears the set-uid bit), and the recording dirs its own.
    fn take_over(&self, recorder: &Path, rec: &Path, users: &[UserSpec]) {
        let mut script = format!(
            "chown {u}:0 {r} && chmod 4755 {r}",
            u = self.uid,
            r = recorder.display()
        );
        for user in users {
            write!(
                script,
                " && chown {u}:{g} {d} && chmod 750 {d}",
                u = self.uid,
                g = self.gid,
                d = rec.join(&user.name).display()
            )
            .unwrap();
        }
        must(sh(&script), "install the set-uid recorder");
    }
}

/// A set-uid recorder needs a file system mounted without `nosuid`.
fn require_suid_fs(dir: &Path) {
    let out = Command::new("findmnt")
        .args(["-n", "-o", "TARGET,OPTIONS", "-T"])
        .arg(dir)
        .output()
        .expect("findmnt (util-linux)");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "findmnt -T {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .split(',')
            .any(|o| o == "nosuid"),
        "setuid_recorder: {} is on a nosuid mount ({line}): the set-uid recorder cannot work; \
         point TMPDIR at a file system mounted without nosuid",
        dir.display()
    );
}

/// Debian's own PAM files with only the pam_tlog line appended: pam.d/sshd
/// and pam.d/su (su-l includes su), or common-session for both.
fn stock_pam_files(pam_line: &str, in_common_session: bool) -> Vec<(String, String)> {
    let files: &[&str] = if in_common_session {
        &["common-session"]
    } else {
        &["sshd", "su"]
    };
    files
        .iter()
        .map(|f| {
            let path = format!("/etc/pam.d/{f}");
            let mut text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("stock_pam needs the host's {path}: {e}"));
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(pam_line);
            (format!("pam.d/{f}"), text)
        })
        .collect()
}

/// Make `link` point at `target` (helper for tests that need a symlink).
pub fn link(target: &Path, link: &Path) {
    let _ = fs::remove_file(link);
    symlink(target, link).expect("symlink");
}
