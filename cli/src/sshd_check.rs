//! `tlog-rs validate`'s sshd check: does sshd's effective configuration
//! (`sshd -T`) let a selected user's session run without the login shell,
//! i.e. without the recorder?
//!
//! sshd runs every command, subsystem and forced command through the
//! user's login shell (`shell -c CMD`), which NSS makes the recorder, with
//! one exception: `internal-sftp`, which sshd serves itself. So the bypasses
//! are `Subsystem NAME internal-sftp` and `ForceCommand internal-sftp`
//! (any other ForceCommand still runs through the shell and is recorded).
//!
//! The global configuration is read with `sshd -T -f FILE`; each user the
//! policy names (and each listed member of a group it names) with
//! `sshd -T -f FILE -C user=NAME`, which applies `Match User`/`Match Group`
//! blocks. `Match` blocks on the client's address or host are not applied
//! (the client is unknown). Findings are warnings: they do not change
//! validate's exit status.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where sshd's configuration lives unless `--sshd-config` says otherwise.
pub const DEFAULT_SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
/// At most this many users are checked one by one (each is one `sshd -T`).
const MAX_USERS: usize = 200;

/// A setting that serves sessions without the login shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bypass {
    /// `Subsystem NAME internal-sftp`
    Subsystem(String),
    /// `ForceCommand internal-sftp`
    ForceCommand,
}

impl fmt::Display for Bypass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bypass::Subsystem(name) => write!(f, "Subsystem {name} internal-sftp"),
            Bypass::ForceCommand => f.write_str("ForceCommand internal-sftp"),
        }
    }
}

/// sshd's own test: the command's first word is `internal-sftp`.
fn is_internal_sftp(cmd: &str) -> bool {
    cmd.split([' ', '\t']).next() == Some("internal-sftp")
}

/// The bypasses in `sshd -T` output (lower-case keywords, one per line).
pub fn bypasses(effective: &str) -> Vec<Bypass> {
    let mut out = Vec::new();
    for line in effective.lines() {
        let mut words = line.splitn(2, ' ');
        let (key, rest) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        match key {
            "subsystem" => {
                if let Some((name, cmd)) = rest.split_once(' ') {
                    if is_internal_sftp(cmd.trim_start()) {
                        out.push(Bypass::Subsystem(name.to_string()));
                    }
                }
            }
            "forcecommand" if is_internal_sftp(rest) => out.push(Bypass::ForceCommand),
            _ => {}
        }
    }
    out
}

/// What the check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not checked, and why (no sshd, no configuration).
    Skipped(String),
    /// Checked; one warning per finding (empty: nothing bypasses).
    Checked(Vec<String>),
}

/// `sshd` in PATH, else in the usual sbin directories (often not in root's
/// PATH under sudo or cron).
fn find_sshd() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join("sshd"))
        .find(|p| p.is_file())
}

fn effective(sshd: &Path, config: &Path, user: Option<&str>) -> Result<String, String> {
    let mut c = Command::new(sshd);
    c.arg("-T").arg("-f").arg(config);
    if let Some(u) = user {
        c.arg("-C").arg(format!("user={u}"));
    }
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sshd.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{} -T -f {} failed: {}",
            sshd.display(),
            config.display(),
            err.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn warning(b: &Bypass, who: &str, config: &Path) -> String {
    let what = match b {
        Bypass::Subsystem(n) => format!("sshd serves the {n} subsystem itself"),
        Bypass::ForceCommand => "sshd serves sftp itself".to_string(),
    };
    format!(
        "sshd ({}): {b} {who}: {what}, without the login shell, so these sftp sessions \
         are not recorded; use the external sftp-server program instead",
        config.display()
    )
}

/// Check sshd's configuration for `users` (the users the policy selects,
/// group members included). `explicit`: the configuration was named on
/// the command line (then a missing file is a warning, not a skip).
pub fn check(sshd: Option<&Path>, config: &Path, explicit: bool, users: &[String]) -> Outcome {
    let sshd = match sshd {
        Some(p) if p.is_file() => p.to_path_buf(),
        Some(p) => {
            return Outcome::Skipped(format!(
                "sshd not found at {}: sshd check skipped",
                p.display()
            ))
        }
        None => match find_sshd() {
            Some(p) => p,
            None => return Outcome::Skipped("sshd is not installed: sshd check skipped".into()),
        },
    };
    if !config.exists() {
        if explicit {
            return Outcome::Checked(vec![format!(
                "sshd configuration {} does not exist",
                config.display()
            )]);
        }
        return Outcome::Skipped(format!("no {}: sshd check skipped", config.display()));
    }
    let global = match effective(&sshd, config, None) {
        Ok(text) => bypasses(&text),
        Err(e) => return Outcome::Checked(vec![e]),
    };
    let mut out: Vec<String> = global
        .iter()
        .map(|b| warning(b, "for every user", config))
        .collect();
    for u in users.iter().take(MAX_USERS) {
        match effective(&sshd, config, Some(u)) {
            Ok(text) => out.extend(
                bypasses(&text)
                    .iter()
                    .filter(|b| !global.contains(b))
                    .map(|b| warning(b, &format!("for selected user {u}"), config)),
            ),
            Err(e) => out.push(e),
        }
    }
    if users.len() > MAX_USERS {
        out.push(format!(
            "sshd: only the first {MAX_USERS} of {} selected users were checked one by one",
            users.len()
        ));
    }
    Outcome::Checked(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_internal_sftp_bypasses_the_shell() {
        let t = "port 22\nsubsystem sftp internal-sftp -l INFO\nsubsystem backup /usr/bin/backup\n\
                 forcecommand none\nsubsystem files internal-sftp\n";
        assert_eq!(
            bypasses(t),
            [
                Bypass::Subsystem("sftp".into()),
                Bypass::Subsystem("files".into())
            ]
        );
        assert_eq!(
            bypasses("forcecommand internal-sftp -d /srv\n"),
            [Bypass::ForceCommand]
        );
        // Run through the login shell, so recorded.
        assert!(bypasses("forcecommand /usr/bin/rsync --server\n").is_empty());
        assert!(bypasses("forcecommand internal-sftpx\n").is_empty());
        assert!(bypasses("subsystem sftp /usr/lib/openssh/sftp-server\n").is_empty());
        assert_eq!(
            Bypass::Subsystem("sftp".into()).to_string(),
            "Subsystem sftp internal-sftp"
        );
    }

    #[test]
    fn missing_sshd_or_config_is_said() {
        let none = Path::new("/nonexistent/sshd");
        assert!(matches!(
            check(Some(none), Path::new("/etc/ssh/sshd_config"), false, &[]),
            Outcome::Skipped(s) if s.contains("sshd not found at /nonexistent/sshd")
        ));
    }
}
