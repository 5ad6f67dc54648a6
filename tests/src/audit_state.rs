//! The kernel audit state around a live audit test: a private auditd (own
//! config and log dir), our rules, and the guarantee that the host's audit
//! state (`auditctl -s` settings, `auditctl -l`) is exactly as before
//! afterwards (a Drop guard stops auditd, deletes our rules by key and
//! restores `enabled`).
//!
//! ```ignore
//! let Some(mut audit) = AuditState::prepare(TEST) else { return };  // SKIP printed
//! let log = audit.start_auditd(&dir, None);                        // node = host name
//! audit.load_rules(&rules_file);
//! ... make the activity, wait for its records in `log` ...
//! audit.restore_and_check();                                       // asserts equality
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The keys of the rules `tlog-rs audit-rules` generates.
pub const KEYS: &[&str] = &[
    "tlog-rs-exec",
    "tlog-rs-file",
    "tlog-rs-net",
    "tlog-rs-exit",
];

/// `auditctl ARGS`: (success, stdout, stderr).
pub fn auditctl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("auditctl").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The settings of `auditctl -s` that a test could change (counters left out).
pub fn settings() -> Vec<String> {
    let (_, out, _) = auditctl(&["-s"]);
    out.lines()
        .filter(|l| {
            [
                "enabled ",
                "failure ",
                "pid ",
                "rate_limit ",
                "backlog_limit ",
                "backlog_wait_time ",
                "loginuid_immutable ",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

/// auditd.conf for a private daemon under `dir` (log in `dir/log`, plugins
/// in `dir/plugins.d`). `name`: the node name, else the host name.
pub fn auditd_conf(dir: &Path, name: Option<&str>) -> String {
    let naming = match name {
        Some(n) => format!("name_format = user\nname = {n}\n"),
        None => "name_format = hostname\n".to_string(),
    };
    format!(
        "local_events = yes\nwrite_logs = yes\nlog_file = {log}\nlog_group = root\n\
         log_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 1\nmax_log_file = 100\n\
         num_logs = 2\npriority_boost = 0\n{naming}\
         max_log_file_action = ROTATE\nspace_left = 2\nspace_left_action = IGNORE\n\
         admin_space_left = 1\nadmin_space_left_action = IGNORE\ndisk_full_action = IGNORE\n\
         disk_error_action = IGNORE\nuse_libwrap = no\ntcp_listen_queue = 5\n\
         tcp_max_per_addr = 1\ntcp_client_max_idle = 0\ntransport = TCP\n\
         end_of_event_timeout = 2\nplugin_dir = {plugins}\nq_depth = 2000\n\
         overflow_action = SYSLOG\nmax_restarts = 10\n",
        log = dir.join("log/audit.log").display(),
        plugins = dir.join("plugins.d").display(),
    )
}

pub struct AuditState {
    enabled: String,
    before_s: Vec<String>,
    before_l: String,
    auditd: Option<Child>,
}

impl AuditState {
    /// Record the audit state, or None (with a SKIP line naming `test`)
    /// where a live test cannot run: audit netlink refused (a non-initial
    /// user namespace, e.g. a container), rules locked (`enabled 2`), or an
    /// audit daemon already running (never displaced).
    pub fn prepare(test: &str) -> Option<AuditState> {
        let (ok, status, err) = auditctl(&["-s"]);
        if !ok {
            eprintln!(
                "SKIP {test}: audit netlink refused (container?): {}",
                err.trim()
            );
            return None;
        }
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let enabled = field("enabled ");
        if enabled == "2" {
            eprintln!("SKIP {test}: audit rules are locked (enabled 2)");
            return None;
        }
        if field("pid ") != "0" {
            eprintln!(
                "SKIP {test}: an audit daemon already runs (pid {})",
                field("pid ")
            );
            return None;
        }
        let (_, before_l, _) = auditctl(&["-l"]);
        // The guard deletes rules by our keys: never on a host that has some.
        assert!(
            !before_l.contains("key=tlog-rs-"),
            "rules of ours are already loaded: {before_l}"
        );
        Some(AuditState {
            enabled,
            before_s: settings(),
            before_l,
            auditd: None,
        })
    }

    /// Start auditd with a private config in `dir`; returns its log file
    /// once the daemon has written DAEMON_START.
    pub fn start_auditd(&mut self, dir: &Path, name: Option<&str>) -> PathBuf {
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::create_dir_all(dir.join("plugins.d")).unwrap();
        let conf = dir.join("auditd.conf");
        std::fs::write(&conf, auditd_conf(dir, name)).unwrap();
        let mut p = std::fs::metadata(&conf).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o640);
        std::fs::set_permissions(&conf, p).unwrap();
        let child = Command::new("auditd")
            .arg("-n")
            .arg("-c")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.auditd = Some(child);
        let log = dir.join("log/audit.log");
        // auditd registers itself and writes DAEMON_START once it listens.
        wait_for(&log, "auditd start", |t| t.contains("DAEMON_START"));
        log
    }

    /// Load a rules file (`auditctl -R`).
    pub fn load_rules(&self, rules: &Path) {
        let (ok, _, err) = auditctl(&["-R", rules.to_str().unwrap()]);
        assert!(ok, "auditctl -R {}: {err}", rules.display());
    }

    /// Stop auditd, delete our rules, restore `enabled`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.auditd.take() {
            // SAFETY: kill(2) on the pid of our own child, not yet reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        for k in KEYS {
            let _ = auditctl(&["-D", "-k", k]);
        }
        let _ = auditctl(&["-e", &self.enabled]);
    }

    /// Stop, then assert the settings and the rule list are as before.
    pub fn restore_and_check(mut self) {
        self.stop();
        assert_eq!(settings(), self.before_s, "auditctl -s settings changed");
        let (_, after_l, _) = auditctl(&["-l"]);
        assert_eq!(after_l, self.before_l, "auditctl -l changed");
    }
}

impl Drop for AuditState {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Wait (up to 30 s) until the log's text satisfies `done`.
pub fn wait_for(log: &Path, what: &str, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(log).is_ok_and(|t| done(&t)) {
        assert!(
            Instant::now() < deadline,
            "{what}: not in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
