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
//! blocks. `Match` blocks on the client's address or host cannot be applied
//! (the client is unknown), so the files themselves (with their `Include`s)
//! are scanned for internal-sftp under such a block. Findings are warnings:
//! they do not change validate's exit status.

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

/// Where sshd reads relative `Include` paths from.
const SSHD_DIR: &str = "/etc/ssh";

/// internal-sftp under a `Match` that depends on the client (address,
/// host, local port...), which `sshd -T -C user=` cannot evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditional {
    pub file: PathBuf,
    pub line: usize,
    /// The `Match` criteria, as written.
    pub criteria: String,
    pub bypass: Bypass,
}

/// The `Match` block a line is in, as far as this check cares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    /// Outside any `Match`, or `Match All`: `sshd -T` shows it.
    Global,
    /// User/Group criteria only: `sshd -T -C user=` applies it.
    ByUser,
    /// Depends on the client: the criteria text.
    ByClient(String),
}

/// `Keyword value` or `Keyword=value`, comments and blank lines skipped.
fn keyword(line: &str) -> Option<(String, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    Some((line[..end].to_ascii_lowercase(), rest))
}

fn block_of(criteria: &str) -> Block {
    let words: Vec<&str> = criteria.split_whitespace().collect();
    if words.first().is_some_and(|w| w.eq_ignore_ascii_case("all")) {
        return Block::Global;
    }
    let by_user = words
        .iter()
        .step_by(2)
        .all(|w| w.eq_ignore_ascii_case("user") || w.eq_ignore_ascii_case("group"));
    if by_user {
        Block::ByUser
    } else {
        Block::ByClient(criteria.to_string())
    }
}

/// `*` and `?` in a file name.
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pat[1..], name) || (!name.is_empty() && glob_match(pat, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pat[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pat[1..], &name[1..]),
        _ => false,
    }
}

/// The files an `Include` pattern names, sorted like sshd's glob(3).
fn include_paths(pattern: &str) -> Vec<PathBuf> {
    let pattern = pattern.trim_matches('"');
    let p = if pattern.starts_with('/') {
        PathBuf::from(pattern)
    } else {
        Path::new(SSHD_DIR).join(pattern)
    };
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
    let Some(name) = name.filter(|n| n.contains(['*', '?'])) else {
        return vec![p];
    };
    let dir = p.parent().unwrap_or(Path::new("/"));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| glob_match(name.as_bytes(), e.file_name().as_encoded_bytes()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Scan one configuration file (and what it includes) for internal-sftp
/// under client-dependent `Match` blocks.
pub fn scan_conditional(path: &Path) -> Vec<Conditional> {
    let mut out = Vec::new();
    scan(path, Block::Global, 0, &mut out);
    out
}

/// `block`: the includer's block at the `Include`. sshd restores it when
/// the included file ends, so a `Match` there does not leak out.
fn scan(path: &Path, mut block: Block, depth: usize, out: &mut Vec<Conditional>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for (i, line) in text.lines().enumerate() {
        let Some((key, rest)) = keyword(line) else {
            continue;
        };
        let bypass = match key.as_str() {
            "match" => {
                block = block_of(rest);
                continue;
            }
            "include" if depth < 16 => {
                for p in rest.split_whitespace().flat_map(include_paths) {
                    scan(&p, block.clone(), depth + 1, out);
                }
                continue;
            }
            "forcecommand" if is_internal_sftp(rest) => Bypass::ForceCommand,
            "subsystem" => match rest.split_once(char::is_whitespace) {
                Some((name, cmd)) if is_internal_sftp(cmd.trim_start()) => {
                    Bypass::Subsystem(name.to_string())
                }
                _ => continue,
            },
            _ => continue,
        };
        if let Block::ByClient(criteria) = &block {
            out.push(Conditional {
                file: path.to_path_buf(),
                line: i + 1,
                criteria: criteria.clone(),
                bypass,
            });
        }
    }
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
    out.extend(scan_conditional(config).iter().map(|c| {
        format!(
            "sshd ({}:{}): {} under \"Match {}\": sshd applies it by the client's address \
             or host, which this check cannot evaluate; selected users it applies to get \
             unrecorded sftp sessions",
            c.file.display(),
            c.line,
            c.bypass,
            c.criteria
        )
    }));
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
    fn client_dependent_match_blocks_are_found_through_includes() {
        let dir = std::env::temp_dir().join(format!("tlog-rs-sshd-scan-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        let main = dir.join("sshd_config");
        std::fs::write(
            &main,
            format!(
                "# comment\nInclude {}/d/*.conf\nSubsystem sftp internal-sftp\n\
                 Match User alice\n  ForceCommand internal-sftp\n\
                 Match Address 10.0.0.0/8 User bob\n  ForceCommand=internal-sftp -l INFO\n\
                 Match all\nForceCommand internal-sftp\n",
                dir.display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("d/10-x.conf"),
            "match host *.example.org\n\tforcecommand internal-sftp\n",
        )
        .unwrap();
        std::fs::write(dir.join("d/20-y.conf"), "Match LocalPort 2222\n").unwrap();
        std::fs::write(dir.join("d/ignored.txt"), "ForceCommand internal-sftp\n").unwrap();
        let found = scan_conditional(&main);
        std::fs::remove_dir_all(&dir).unwrap();
        let got: Vec<(String, usize, &str)> = found
            .iter()
            .map(|c| {
                (
                    c.file.file_name().unwrap().to_string_lossy().into_owned(),
                    c.line,
                    c.criteria.as_str(),
                )
            })
            .collect();
        // "Match LocalPort 2222" ends with its file, as in sshd: the
        // Subsystem after the Include is global (sshd -T reports it).
        assert_eq!(
            got,
            [
                ("10-x.conf".to_string(), 2, "host *.example.org"),
                ("sshd_config".to_string(), 7, "Address 10.0.0.0/8 User bob"),
            ]
        );
        assert!(found.iter().all(|c| c.bypass == Bypass::ForceCommand));
        assert!(glob_match(b"*.conf", b"a.conf") && !glob_match(b"*.conf", b"a.txt"));
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
