//! Run commands in a private mount namespace with test files in /etc, never
//! touching the host's /etc.
//!
//! How it works: `unshare -m --propagation private` starts a shell that
//! 1. mounts an overlay over `/etc` whose upper layer lives in the test's
//!    temp dir (so paths that do not exist on the host, like `/etc/tlog-rs`,
//!    can be created, and any write to /etc lands in the temp dir);
//! 2. bind-mounts each registered file or directory over its target (a bind
//!    is live: the test can rewrite the source file while commands run);
//! 3. runs the registered setup commands, then `exec`s the command.
//!
//! The namespace (and every mount) disappears with its last process.
//!
//! ```no_run
//! use tlog_rs_tests::nsenv::NsEnv;
//! let mut env = NsEnv::new("my_test");
//! env.etc("passwd", "root:x:0:0::/root:/bin/sh\nalice:x:2001:2001::/tmp:/bin/bash\n")
//!     .etc("group", "root:x:0:\nalice:x:2001:\n")
//!     .etc("nsswitch.conf", "passwd: files\ngroup: files\n")
//!     .etc("tlog-rs/policy.toml", "[[rule]]\nname = \"all\"\nall_users = true\n");
//! let out = env.output(&["getent", "passwd", "alice"]);
//! assert!(out.status.success());
//! ```
//!
//! Needs root (CAP_SYS_ADMIN) and util-linux's `unshare`; callers check
//! `require_root` first. Each `NsEnv` has its own temp dir (unique per
//! process and instance), removed on drop unless TLOG_RS_KEEP_TMP is set.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A private-/etc environment for commands.
pub struct NsEnv {
    root: PathBuf,
    binds: Vec<(PathBuf, PathBuf)>,
    setup: Vec<String>,
}

impl NsEnv {
    /// A new environment with its own temp dir; `test` names it.
    pub fn new(test: &str) -> NsEnv {
        static N: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "tlog-rs-nsenv-{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create nsenv dir");
        // Readable by the throwaway users commands may run as.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        NsEnv {
            root,
            binds: Vec::new(),
            setup: Vec::new(),
        }
    }

    /// The temp dir (outside the namespace; the same path inside).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Write `rel` under the temp dir (mode 0644, parents created).
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        self.write_mode(rel, contents, 0o644)
    }

    /// Write `rel` under the temp dir with `mode`.
    pub fn write_mode(&self, rel: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// Provide `/etc/<rel>` with `contents` inside the namespace: written to
    /// `<root>/etc/<rel>` and bind-mounted over the target.
    pub fn etc(&mut self, rel: &str, contents: impl AsRef<[u8]>) -> &mut Self {
        self.etc_mode(rel, contents, 0o644)
    }

    /// Like `etc`, with the file's mode (a bind mount shows the source's
    /// mode and owner), e.g. 0600 for sssd.conf.
    pub fn etc_mode(&mut self, rel: &str, contents: impl AsRef<[u8]>, mode: u32) -> &mut Self {
        let src = self.write_mode(&format!("etc/{rel}"), contents, mode);
        self.bind(src, Path::new("/etc").join(rel))
    }

    /// The host copy of `/etc/<rel>` plus `extra` lines (e.g. system users
    /// needed by daemons plus throwaway test users).
    pub fn etc_host_plus(&mut self, rel: &str, extra: &str) -> &mut Self {
        let mut text = std::fs::read_to_string(Path::new("/etc").join(rel)).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(extra);
        self.etc(rel, text)
    }

    /// Bind-mount `src` (file or directory) over `target` inside the
    /// namespace. A missing target under /etc is created in the overlay.
    pub fn bind(&mut self, src: impl Into<PathBuf>, target: impl Into<PathBuf>) -> &mut Self {
        self.binds.push((src.into(), target.into()));
        self
    }

    /// A shell command run inside the namespace after the mounts and before
    /// the command (e.g. `mount -t tmpfs none /var/cache/ldconfig`).
    pub fn setup(&mut self, sh: &str) -> &mut Self {
        self.setup.push(sh.to_string());
        self
    }

    fn script(&self) -> String {
        let q = |p: &Path| shell_quote(p.as_os_str());
        let up = self.root.join(".etc-overlay/up");
        let wk = self.root.join(".etc-overlay/wk");
        let mut s = String::from("set -e\n");
        s.push_str(&format!("mkdir -p {} {}\n", q(&up), q(&wk)));
        s.push_str(&format!(
            "mount -t overlay tlog_rs_nsenv_etc -o lowerdir=/etc,upperdir={},workdir={} /etc\n",
            q(&up),
            q(&wk)
        ));
        for (src, target) in &self.binds {
            let t = q(target);
            s.push_str(&format!("mkdir -p \"$(dirname {t})\"\n"));
            if src.is_dir() {
                s.push_str(&format!("[ -d {t} ] || mkdir -p {t}\n"));
            } else {
                s.push_str(&format!("[ -e {t} ] || : > {t}\n"));
            }
            s.push_str(&format!("mount --bind {} {t}\n", q(src)));
        }
        for cmd in &self.setup {
            s.push_str(cmd);
            s.push('\n');
        }
        s.push_str("exec \"$@\"\n");
        s
    }

    /// A `Command` that runs `argv` inside the namespace. Add env, stdin,
    /// etc. as usual; its cwd inside is inherited.
    pub fn command<S: AsRef<OsStr>>(&self, argv: &[S]) -> Command {
        assert!(!argv.is_empty(), "NsEnv::command needs a program");
        let mut c = Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(self.script())
            .arg("nsenv");
        for a in argv {
            c.arg(a);
        }
        c
    }

    /// Run `argv` inside the namespace and collect its output.
    pub fn output<S: AsRef<OsStr>>(&self, argv: &[S]) -> Output {
        self.command(argv)
            .stdin(Stdio::null())
            .output()
            .expect("run unshare (util-linux)")
    }

    /// Run a shell script inside the namespace (`sh -c SCRIPT`).
    pub fn sh(&self, script: &str) -> Output {
        self.output(&["sh", "-c", script])
    }
}

impl Drop for NsEnv {
    fn drop(&mut self) {
        if std::env::var_os("TLOG_RS_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Quote for POSIX sh.
pub fn shell_quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    format!("'{}'", s.replace('\'', "'\\''"))
}
