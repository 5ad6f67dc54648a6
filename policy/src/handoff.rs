//! PAM → recorder hand-off: how `pam_tlog` tells `tlog-rs-rec-session`, in a way
//! the recorded user cannot forge, whether this login is recorded, with which
//! settings, and what the real shell is.
//!
//! Design (see also docs/deployment.md):
//! - `pam_tlog` (root, in the login program) writes `HANDOFF_DIR/<token>`, where
//!   the token is 128 random bits in hex. The directory is root-owned 0711, so
//!   nobody else can list it, create files in it or replace them; each file is
//!   root-owned 0644 and written atomically (temp file + rename). The token
//!   reaches the recorder through the PAM environment as `TLOG_RS_HANDOFF`.
//! - The file binds the decision to the uid, to the boot, and to the PAM process
//!   (pid + start time). The recorder accepts it only if that process is a live
//!   ANCESTOR of the recorder, so a token copied into another login (or kept
//!   after logout) is useless: that login has a different PAM process.
//! - Anything odd (missing, wrong owner or mode, other uid, not an ancestor,
//!   too old, other boot, unparsable) gives `None`, and the recorder records.
//! - The directory is a compile-time constant, not configurable at run time:
//!   the recorder runs as the user with the user's environment, so any run-time
//!   override would be under the user's control. Tests get a private copy of it
//!   by mounting a tmpfs over /run inside a private mount namespace; the `_in`
//!   functions take a directory for unit tests of the checks themselves.
//! - Clean-up: `pam_tlog` removes its file at close_session and, at each
//!   open_session, prunes files whose PAM process is gone.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable carrying the hand-off token.
pub const TOKEN_ENV: &str = "TLOG_RS_HANDOFF";

/// Where hand-off files live. /run is a tmpfs on real systems, so they vanish
/// at reboot; the boot id in each file covers systems where it is not.
pub const HANDOFF_DIR: &str = "/run/tlog-rs/handoff";

/// A hand-off older than this is ignored (the recorder then records). Long
/// enough for ssh connection multiplexing, where later channels of one
/// connection start new shells under the same PAM session.
pub const MAX_AGE_SECS: u64 = 24 * 3600;

/// Largest hand-off file we read; ours are a few hundred bytes.
const MAX_FILE_SIZE: u64 = 64 * 1024;

const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    /// The uid the decision was made for.
    pub uid: u32,
    /// Whether this login is recorded.
    pub record: bool,
    /// The user's real shell (never empty).
    pub shell: String,
    /// Recorder settings as tlog JSON (what TLOG_REC_CONF_TEXT carries).
    pub conf_text: String,
    /// PAM service and deciding rule, for the session start entry.
    pub service: String,
    pub rule: String,
}

/// A process identified so that pid reuse cannot fool us: pid + start time
/// (clock ticks since boot, field 22 of /proc/PID/stat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcId {
    pub pid: u32,
    pub start: u64,
}

impl ProcId {
    /// The calling process.
    pub fn current() -> io::Result<ProcId> {
        Self::of(std::process::id())
    }

    /// Process `pid`, read from /proc.
    pub fn of(pid: u32) -> io::Result<ProcId> {
        let (_, start) = read_stat(pid)?;
        Ok(ProcId { pid, start })
    }

    /// True if this process still runs (same pid, same start time).
    pub fn is_alive(&self) -> bool {
        matches!(read_stat(self.pid), Ok((_, start)) if start == self.start)
    }
}

/// What goes into the file: the hand-off plus what binds it to one login.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    version: u32,
    uid: u32,
    record: bool,
    shell: String,
    conf_text: String,
    service: String,
    rule: String,
    created: u64,
    boot_id: String,
    pam: ProcId,
}

/// Why a hand-off was rejected (the recorder then records; it may log this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    NoToken,
    BadToken,
    Io(String),
    Untrusted(String),
    WrongUid { file: u32, mine: u32 },
    NotAncestor,
    WrongBoot,
    Expired,
    Corrupt(String),
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::NoToken => write!(f, "no {TOKEN_ENV} in the environment"),
            Rejected::BadToken => write!(f, "{TOKEN_ENV} is not a 32-digit hex token"),
            Rejected::Io(e) => write!(f, "cannot read the hand-off: {e}"),
            Rejected::Untrusted(e) => write!(f, "hand-off not trustworthy: {e}"),
            Rejected::WrongUid { file, mine } => {
                write!(
                    f,
                    "hand-off is for uid {file}, this process runs as uid {mine}"
                )
            }
            Rejected::NotAncestor => {
                write!(
                    f,
                    "the PAM process that wrote the hand-off is not an ancestor of this process"
                )
            }
            Rejected::WrongBoot => write!(f, "hand-off was written before the last reboot"),
            Rejected::Expired => write!(f, "hand-off is older than {MAX_AGE_SECS} s"),
            Rejected::Corrupt(e) => write!(f, "hand-off file is corrupt: {e}"),
        }
    }
}

/// Recorder side: the hand-off for this process, if one exists and verifies.
/// `None` means "no trustworthy hand-off": the caller must record.
pub fn read_verified() -> Option<Handoff> {
    read_checked().ok()
}

/// Like `read_verified`, but says why a hand-off was rejected (for the log).
pub fn read_checked() -> Result<Handoff, Rejected> {
    read_checked_login().map(|(h, _)| h)
}

/// Like `read_checked`, plus the PAM process of the login the hand-off
/// belongs to (a live ancestor of the caller). The recorder uses it to tell
/// a recorder nested in the same login from a new login started below one.
pub fn read_checked_login() -> Result<(Handoff, ProcId), Rejected> {
    let token = std::env::var(TOKEN_ENV).map_err(|_| Rejected::NoToken)?;
    let uid = real_uid().map_err(|e| Rejected::Io(e.to_string()))?;
    verify_login_in(Path::new(HANDOFF_DIR), &token, 0, uid)
}

/// Verify the hand-off `token` in `dir`: the directory and file must be owned
/// by `trusted_owner` (root in production) and not writable by anyone else,
/// the file must be for `uid`, of this boot, younger than MAX_AGE_SECS, and
/// written by a process that is a live ancestor of the calling process.
pub fn verify_in(
    dir: &Path,
    token: &str,
    trusted_owner: u32,
    uid: u32,
) -> Result<Handoff, Rejected> {
    verify_login_in(dir, token, trusted_owner, uid).map(|(h, _)| h)
}

/// `verify_in`, also returning the PAM process the hand-off is bound to.
pub fn verify_login_in(
    dir: &Path,
    token: &str,
    trusted_owner: u32,
    uid: u32,
) -> Result<(Handoff, ProcId), Rejected> {
    if !is_token(token) {
        return Err(Rejected::BadToken);
    }
    check_trusted_dir(dir, trusted_owner)?;
    let path = dir.join(token);
    let mut file =
        fs::File::open(&path).map_err(|e| Rejected::Io(format!("{}: {e}", path.display())))?;
    let meta = file.metadata().map_err(|e| Rejected::Io(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(Rejected::Untrusted(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    check_owner_mode(&path, &meta, trusted_owner)?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(Rejected::Corrupt(format!(
            "{} is {} bytes",
            path.display(),
            meta.len()
        )));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| Rejected::Corrupt(format!("{}: {e}", path.display())))?;
    let rec: Record = serde_json::from_str(&text)
        .map_err(|e| Rejected::Corrupt(format!("{}: {e}", path.display())))?;
    if rec.version != FORMAT_VERSION {
        return Err(Rejected::Corrupt(format!(
            "unknown format version {}",
            rec.version
        )));
    }
    if rec.uid != uid {
        return Err(Rejected::WrongUid {
            file: rec.uid,
            mine: uid,
        });
    }
    if rec.boot_id != boot_id() {
        return Err(Rejected::WrongBoot);
    }
    let now = now_secs();
    if now.saturating_sub(rec.created) > MAX_AGE_SECS || rec.created > now + 60 {
        return Err(Rejected::Expired);
    }
    if !is_ancestor(rec.pam) {
        return Err(Rejected::NotAncestor);
    }
    if rec.shell.is_empty() {
        return Err(Rejected::Corrupt("empty shell".into()));
    }
    let handoff = Handoff {
        uid: rec.uid,
        record: rec.record,
        shell: rec.shell,
        conf_text: rec.conf_text,
        service: rec.service,
        rule: rec.rule,
    };
    Ok((handoff, rec.pam))
}

/// PAM side: write `handoff` into HANDOFF_DIR for the calling (PAM) process;
/// returns the token to put into the PAM environment. Creates the directory
/// (root 0711) if needed and refuses to use one that is not trustworthy.
pub fn write(handoff: &Handoff) -> io::Result<String> {
    let dir = Path::new(HANDOFF_DIR);
    ensure_dir(dir)?;
    write_in(dir, handoff, ProcId::current()?)
}

/// Write `handoff` into `dir` (which must exist), bound to process `pam`.
pub fn write_in(dir: &Path, handoff: &Handoff, pam: ProcId) -> io::Result<String> {
    let token = new_token()?;
    let rec = Record {
        version: FORMAT_VERSION,
        uid: handoff.uid,
        record: handoff.record,
        shell: handoff.shell.clone(),
        conf_text: handoff.conf_text.clone(),
        service: handoff.service.clone(),
        rule: handoff.rule.clone(),
        created: now_secs(),
        boot_id: boot_id(),
        pam,
    };
    let text = serde_json::to_string(&rec).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".{token}.tmp"));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        // The umask may have cleared bits; the recorder (the user) must read it.
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.write_all(text.as_bytes())?;
        fs::rename(&tmp, dir.join(&token))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| token)
}

/// Remove the hand-off `token` (close_session). Ignores a malformed token.
pub fn remove(token: &str) -> io::Result<()> {
    remove_in(Path::new(HANDOFF_DIR), token)
}

pub fn remove_in(dir: &Path, token: &str) -> io::Result<()> {
    if !is_token(token) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "malformed hand-off token",
        ));
    }
    match fs::remove_file(dir.join(token)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Remove hand-offs whose PAM process is gone, that are from another boot or
/// unreadable, and left-over temp files. Returns how many were removed.
pub fn prune_stale() -> usize {
    prune_stale_in(Path::new(HANDOFF_DIR))
}

pub fn prune_stale_in(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let boot = boot_id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = if is_token(&name) {
            match fs::read_to_string(entry.path())
                .ok()
                .and_then(|t| serde_json::from_str::<Record>(&t).ok())
            {
                Some(rec) => rec.boot_id != boot || !rec.pam.is_alive(),
                None => true,
            }
        } else {
            // temp files of a writer that died between create and rename
            name.starts_with('.')
                && name.ends_with(".tmp")
                && entry
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 60)
        };
        if stale && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// A token is exactly 32 lowercase hex digits (so it is never a path).
pub fn is_token(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn new_token() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Create `dir` and its parent as root-owned 0755 / 0711 if missing, then
/// check both are trustworthy.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        if !parent.exists() {
            match fs::DirBuilder::new().mode(0o755).create(parent) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        check_trusted_dir(parent, 0).map_err(|e| io::Error::other(e.to_string()))?;
    }
    match fs::DirBuilder::new().mode(0o711).create(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o711))?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    check_trusted_dir(dir, 0).map_err(|e| io::Error::other(e.to_string()))
}

fn check_trusted_dir(dir: &Path, owner: u32) -> Result<(), Rejected> {
    let meta =
        fs::symlink_metadata(dir).map_err(|e| Rejected::Io(format!("{}: {e}", dir.display())))?;
    if !meta.file_type().is_dir() {
        return Err(Rejected::Untrusted(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    check_owner_mode(dir, &meta, owner)
}

fn check_owner_mode(path: &Path, meta: &fs::Metadata, owner: u32) -> Result<(), Rejected> {
    if meta.uid() != owner {
        return Err(Rejected::Untrusted(format!(
            "{} is owned by uid {}, not {owner}",
            path.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Rejected::Untrusted(format!(
            "{} is group- or world-writable (mode {:o})",
            path.display(),
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// True if `pam` is a live strict ancestor of the calling process.
fn is_ancestor(pam: ProcId) -> bool {
    let mut pid = std::os::unix::process::parent_id();
    // pid 0 ends the walk; the bound stops a loop on a corrupt /proc.
    for _ in 0..4096 {
        if pid == 0 {
            return false;
        }
        let Ok((ppid, start)) = read_stat(pid) else {
            return false;
        };
        if pid == pam.pid {
            return start == pam.start;
        }
        pid = ppid;
    }
    false
}

/// (ppid, starttime) of `pid` from /proc/PID/stat. The command name (field 2)
/// may contain spaces and parentheses, so parse after the LAST ')'.
fn read_stat(pid: u32) -> io::Result<(u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat: unexpected format"),
        )
    };
    let rest = &text[text.rfind(')').ok_or_else(bad)? + 1..];
    // rest starts at field 3 (state): ppid is field 4, starttime field 22.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let start = fields
        .get(19)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((ppid, start))
}

/// Real uid of the calling process (first value of `Uid:` in /proc/self/status).
pub fn real_uid() -> io::Result<u32> {
    let text = fs::read_to_string("/proc/self/status")?;
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "/proc/self/status has no Uid line",
            )
        })
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Path of the hand-off file for `token` (for diagnostics).
pub fn path_of(token: &str) -> PathBuf {
    Path::new(HANDOFF_DIR).join(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tlog-handoff-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o711)).unwrap();
        d
    }

    fn sample(uid: u32, record: bool) -> Handoff {
        Handoff {
            uid,
            record,
            shell: "/bin/bash".into(),
            conf_text: r#"{"log":{"input":true}}"#.into(),
            service: "sshd".into(),
            rule: "policy.toml rule 'dbas'".into(),
        }
    }

    fn parent() -> ProcId {
        ProcId::of(std::os::unix::process::parent_id()).unwrap()
    }

    #[test]
    fn round_trip_from_an_ancestor() {
        let dir = tempdir("ok");
        let me = real_uid().unwrap();
        let h = sample(me, true);
        let token = write_in(&dir, &h, parent()).unwrap();
        assert!(is_token(&token));
        let mode = fs::metadata(dir.join(&token)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(verify_in(&dir, &token, me, me), Ok(h));
        remove_in(&dir, &token).unwrap();
        assert!(matches!(
            verify_in(&dir, &token, me, me),
            Err(Rejected::Io(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tokens_are_unique_and_validated() {
        let dir = tempdir("uniq");
        let me = real_uid().unwrap();
        let a = write_in(&dir, &sample(me, true), parent()).unwrap();
        let b = write_in(&dir, &sample(me, true), parent()).unwrap();
        assert_ne!(a, b);
        for bad in [
            "",
            "../etc/passwd",
            &a.to_uppercase(),
            &a[..31],
            "g".repeat(32).as_str(),
        ] {
            assert_eq!(
                verify_in(&dir, bad, me, me),
                Err(Rejected::BadToken),
                "{bad}"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn self_is_not_an_ancestor() {
        // The PAM process itself never runs the recorder; a hand-off whose
        // writer is not above us in the tree (e.g. copied from another login).
        let dir = tempdir("self");
        let me = real_uid().unwrap();
        let token = write_in(&dir, &sample(me, false), ProcId::current().unwrap()).unwrap();
        assert_eq!(verify_in(&dir, &token, me, me), Err(Rejected::NotAncestor));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reused_pid_with_other_start_time_is_rejected() {
        let dir = tempdir("reuse");
        let me = real_uid().unwrap();
        let mut p = parent();
        p.start += 1;
        let token = write_in(&dir, &sample(me, false), p).unwrap();
        assert_eq!(verify_in(&dir, &token, me, me), Err(Rejected::NotAncestor));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_uid_and_other_owner_are_rejected() {
        let dir = tempdir("uid");
        let me = real_uid().unwrap();
        let token = write_in(&dir, &sample(me + 1, false), parent()).unwrap();
        assert_eq!(
            verify_in(&dir, &token, me, me),
            Err(Rejected::WrongUid {
                file: me + 1,
                mine: me
            })
        );
        // Files and directory must belong to the trusted owner (root in production).
        assert!(matches!(
            verify_in(&dir, &token, me + 7, me + 1),
            Err(Rejected::Untrusted(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writable_dir_or_file_is_untrusted() {
        let dir = tempdir("mode");
        let me = real_uid().unwrap();
        let token = write_in(&dir, &sample(me, true), parent()).unwrap();
        fs::set_permissions(dir.join(&token), fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            verify_in(&dir, &token, me, me),
            Err(Rejected::Untrusted(_))
        ));
        fs::set_permissions(dir.join(&token), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o733)).unwrap();
        assert!(matches!(
            verify_in(&dir, &token, me, me),
            Err(Rejected::Untrusted(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_old_and_foreign_boot_files_are_rejected() {
        let dir = tempdir("corrupt");
        let me = real_uid().unwrap();
        let token = write_in(&dir, &sample(me, true), parent()).unwrap();
        let path = dir.join(&token);
        let good = fs::read_to_string(&path).unwrap();
        fs::write(&path, &good[..good.len() / 2]).unwrap();
        assert!(matches!(
            verify_in(&dir, &token, me, me),
            Err(Rejected::Corrupt(_))
        ));

        let mut rec: Record = serde_json::from_str(&good).unwrap();
        rec.created -= MAX_AGE_SECS + 10;
        fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
        assert_eq!(verify_in(&dir, &token, me, me), Err(Rejected::Expired));

        let mut rec: Record = serde_json::from_str(&good).unwrap();
        rec.boot_id = "00000000000000000000000000000000".into();
        fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
        assert_eq!(verify_in(&dir, &token, me, me), Err(Rejected::WrongBoot));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prune_removes_dead_writers_only() {
        let dir = tempdir("prune");
        let me = real_uid().unwrap();
        let live = write_in(&dir, &sample(me, true), parent()).unwrap();
        let mut dead = parent();
        dead.start += 1;
        let gone = write_in(&dir, &sample(me, true), dead).unwrap();
        fs::write(dir.join("0123456789abcdef0123456789abcdef"), "garbage").unwrap();
        assert_eq!(prune_stale_in(&dir), 2);
        assert!(dir.join(&live).exists());
        assert!(!dir.join(&gone).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let (ppid, start) = read_stat(std::process::id()).unwrap();
        assert_eq!(ppid, std::os::unix::process::parent_id());
        assert!(start > 0);
    }
}
