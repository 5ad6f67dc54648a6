//! PAM → recorder hand-off: how `pam_tlog` tells `tlog-rs-rec-session`, in a way
//! the recorded user cannot forge or suppress, whether this login is recorded,
//! with which settings, and what the real shell is.
//!
//! Design (see also docs/deployment.md):
//! - `pam_tlog` (root, in the login program) writes `HANDOFF_DIR/<pid>-<start>-<uid>`:
//!   its own process (pid + start time) and the uid of the login. The directory
//!   is root-owned 0711, so nobody else can list it, create files in it or
//!   replace them; each file is root-owned 0644 and written atomically.
//! - Nothing travels in the environment. The recorder walks its own ancestors
//!   and takes the file of the nearest one that has a hand-off for its real
//!   uid. The user controls the environment (pam_env `user_readenv`,
//!   `~/.ssh/environment`, `AcceptEnv`), so any pam.d order works: there is
//!   nothing to override. A file of another login is useless: that login's PAM
//!   process is not an ancestor.
//! - Anything odd (wrong owner or mode, other uid, too old, other boot,
//!   unparsable) is rejected, and the recorder then records with the strictest
//!   settings.
//! - The directory is a compile-time constant, not configurable at run time.
//!   Tests get a private copy by mounting a tmpfs over /run inside a private
//!   mount namespace; the `_in` functions take a directory for unit tests.
//! - Clean-up: `pam_tlog` removes its file at close_session (same process as
//!   open_session, so it recomputes the key) and, at each open_session, prunes
//!   files whose PAM process is gone.
//! - Consumption: the recorder, running as the recorder account, marks in
//!   `CONSUMED_DIR` (owned by that account) that it started and ended
//!   recording a login. pam_tlog reads that mark at close_session, so a
//!   selected login where no recorder ran (internal-sftp, ForceCommand) or
//!   where the recorder died leaves evidence. See [`Consumption`].

use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::atomic_file::Durability;
use crate::trusted_file::{self, Links, Owner, Untrusted};
use crate::vocab::Graphical;
use tlog_rs_sys::proc::proc_stat;

/// The variable that carried the hand-off token before hand-offs were keyed by
/// process. Nothing reads it any more; PAM still removes it from the
/// environment so a user-supplied value cannot confuse older tools.
pub const TOKEN_ENV: &str = "TLOG_RS_HANDOFF";

/// Where hand-off files live. /run is a tmpfs on real systems, so they vanish
/// at reboot; the boot id in each file covers systems where it is not.
pub const HANDOFF_DIR: &str = "/run/tlog-rs/handoff";

/// Where the recorder account marks the logins it recorded.
pub const CONSUMED_DIR: &str = "/run/tlog-rs/consumed";

/// A hand-off older than this is ignored (the recorder then records). Long
/// enough for ssh connection multiplexing, where later channels of one
/// connection start new shells under the same PAM session.
pub const MAX_AGE_SECS: u64 = 24 * 3600;

/// Largest hand-off file we read; ours are a few hundred bytes.
const MAX_FILE_SIZE: u64 = 64 * 1024;

/// How far up the process tree the recorder looks for its PAM process.
const MAX_ANCESTORS: usize = 64;

/// 3: `graphical`. Older files are rejected (the recorder then records).
const FORMAT_VERSION: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
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
    /// Which source decided (`policy.toml`, `sssd`, `freeipa`, ...).
    #[serde(default)]
    pub source: String,
    /// PAM_RHOST, empty when PAM had none.
    #[serde(default)]
    pub rhost: String,
    /// PAM_TTY, empty when PAM had none.
    #[serde(default)]
    pub tty: String,
    /// Group names of the user at login.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Audit level of the decision (`none`, `login`, `session`).
    #[serde(default)]
    pub audit_level: String,
    /// Set for a graphical login (format 3): the desktop is not recorded,
    /// and this is the rule's choice for terminals opened inside it. Only
    /// this trusted statement lets the recorder run a shell unrecorded for
    /// a login that `record` selects.
    #[serde(default)]
    pub graphical: Option<Graphical>,
    /// The recorder's account as pam_tlog found it at open_session, so that
    /// close_session neither parses the policy again nor stats the recorder.
    #[serde(default)]
    pub recorder_account: RecorderAccount,
    /// sshd's `SSH_CONNECTION`, checked against PAM_RHOST; `None` when
    /// not sshd or when the check failed.
    #[serde(default)]
    pub ssh: Option<crate::ssh_connection::SshConnection>,
}

/// The recorder's set-uid account, as found at open_session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecorderAccount {
    /// Not written (a hand-off from before this field): look it up.
    #[default]
    Unknown,
    /// The recorder is not installed set-uid to its own account.
    NotSetUid,
    /// Its account's uid; the consumption directory is prepared for it.
    Uid(u32),
}

impl From<Option<u32>> for RecorderAccount {
    fn from(uid: Option<u32>) -> Self {
        uid.map_or(RecorderAccount::NotSetUid, RecorderAccount::Uid)
    }
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
        let stat = proc_stat(pid)?;
        Ok(ProcId {
            pid,
            start: stat.start_time,
        })
    }

    /// True if this process still runs (same pid, same start time).
    pub fn is_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Ok(s) if s.start_time == self.start)
    }
}

/// Names one hand-off: the PAM process that wrote it and the login's uid.
/// Its text form `<pid>-<start>-<uid>` is the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffKey {
    pub pam: ProcId,
    pub uid: u32,
}

impl fmt::Display for HandoffKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.pam.pid, self.pam.start, self.uid)
    }
}

impl FromStr for HandoffKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("\"{s}\" is not a hand-off key (<pid>-<start>-<uid>)");
        let mut parts = s.split('-');
        let mut num = || -> Result<u64, String> {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 20 {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let pid = u32::try_from(num()?).map_err(|_| bad())?;
        let start = num()?;
        let uid = u32::try_from(num()?).map_err(|_| bad())?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(HandoffKey {
            pam: ProcId { pid, start },
            uid,
        })
    }
}

/// What goes into the file: the hand-off plus what binds it to one login.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    version: u32,
    #[serde(flatten)]
    handoff: Handoff,
    created: u64,
    boot_id: String,
    pam: ProcId,
}

/// Why no hand-off was accepted (the recorder then records; it may log this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// No ancestor of this process left a hand-off for this uid.
    NotFound,
    Io(String),
    Untrusted(String),
    WrongUid {
        file: u32,
        mine: u32,
    },
    WrongBoot,
    Expired,
    Corrupt(String),
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::NotFound => write!(f, "no PAM hand-off for this login"),
            Rejected::Io(e) => write!(f, "cannot read the hand-off: {e}"),
            Rejected::Untrusted(e) => write!(f, "hand-off not trustworthy: {e}"),
            Rejected::WrongUid { file, mine } => write!(
                f,
                "hand-off is for uid {file}, this process runs as uid {mine}"
            ),
            Rejected::WrongBoot => write!(f, "hand-off was written before the last reboot"),
            Rejected::Expired => write!(f, "hand-off is older than {MAX_AGE_SECS} s"),
            Rejected::Corrupt(e) => write!(f, "hand-off file is corrupt: {e}"),
        }
    }
}

/// Recorder side: the hand-off of the nearest ancestor that wrote one for our
/// real uid, with its key. `Err` means "no trustworthy hand-off": record.
pub fn find_for_self() -> Result<(Handoff, HandoffKey), Rejected> {
    let uid = real_uid().map_err(|e| Rejected::Io(e.to_string()))?;
    // No directory: pam_tlog never wrote a hand-off on this boot.
    if !Path::new(HANDOFF_DIR).exists() {
        return Err(Rejected::NotFound);
    }
    find_in(
        Path::new(HANDOFF_DIR),
        std::os::unix::process::parent_id(),
        0,
        uid,
    )
}

/// Recorder side, when no ancestor left a hand-off: a live graphical login
/// of our real uid (a terminal started outside the display manager's
/// process tree, e.g. by systemd --user). See [`find_graphical_in`].
pub fn find_graphical_for_self() -> Option<(Handoff, HandoffKey)> {
    let uid = real_uid().ok()?;
    find_graphical_in(Path::new(HANDOFF_DIR), 0, uid)
}

/// The trustworthy hand-off of a graphical login of `uid` whose PAM process
/// still runs. When several are live, one saying `record-terminals` wins
/// (the stricter choice). Such a shell gains nothing the desktop does not
/// already give this user under the rule. The directory cannot be listed
/// by the recorder (0711), so the candidates are the running processes.
pub fn find_graphical_in(
    dir: &Path,
    trusted_owner: u32,
    uid: u32,
) -> Option<(Handoff, HandoffKey)> {
    check_trusted_dir(dir, trusted_owner).ok()?;
    let mut found: Vec<(Handoff, HandoffKey)> = fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| ProcId::of(pid).ok())
        .map(|pam| HandoffKey { pam, uid })
        .filter_map(|k| Some((read_key_in(dir, k, trusted_owner).ok()?, k)))
        .filter(|(h, _)| h.graphical.is_some())
        .collect();
    found.sort_by_key(|(h, k)| (h.graphical != Some(Graphical::RecordTerminals), k.pam.pid));
    found.into_iter().next()
}

/// Look for `<ancestor>-<uid>` files in `dir`, starting at process `from` and
/// walking up. The directory and file must be owned by `trusted_owner` (root
/// in production) and not writable by anyone else; the file must be for
/// `uid`, of this boot, younger than MAX_AGE_SECS, and name the ancestor it
/// was found under.
pub fn find_in(
    dir: &Path,
    from: u32,
    trusted_owner: u32,
    uid: u32,
) -> Result<(Handoff, HandoffKey), Rejected> {
    check_trusted_dir(dir, trusted_owner)?;
    let mut pid = from;
    for _ in 0..MAX_ANCESTORS {
        if pid == 0 {
            break;
        }
        let Ok(stat) = proc_stat(pid) else { break };
        let key = HandoffKey {
            pam: ProcId {
                pid,
                start: stat.start_time,
            },
            uid,
        };
        match read_key_in(dir, key, trusted_owner) {
            Err(Rejected::NotFound) => pid = stat.ppid,
            r => return r.map(|h| (h, key)),
        }
    }
    Err(Rejected::NotFound)
}

/// Read and verify the hand-off `key` in `dir` (PAM's close_session and the
/// recorder both use it). `NotFound` when there is no such file.
pub fn read_key_in(dir: &Path, key: HandoffKey, trusted_owner: u32) -> Result<Handoff, Rejected> {
    let path = dir.join(key.to_string());
    let (mut file, meta) = match trusted_file::open(&path, Owner::Uid(trusted_owner), Links::Refuse)
    {
        Ok(f) => f,
        Err(Untrusted::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Rejected::NotFound)
        }
        Err(e) => return Err(Rejected::of(&path, e)),
    };
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
    if rec.handoff.uid != key.uid {
        return Err(Rejected::WrongUid {
            file: rec.handoff.uid,
            mine: key.uid,
        });
    }
    if rec.pam != key.pam {
        return Err(Rejected::Corrupt(format!(
            "{} names another PAM process",
            path.display()
        )));
    }
    if rec.boot_id != boot_id() {
        return Err(Rejected::WrongBoot);
    }
    let now = now_secs();
    if now.saturating_sub(rec.created) > MAX_AGE_SECS || rec.created > now + 60 {
        return Err(Rejected::Expired);
    }
    if rec.handoff.shell.is_empty() {
        return Err(Rejected::Corrupt("empty shell".into()));
    }
    Ok(rec.handoff)
}

/// PAM side: write `handoff` into HANDOFF_DIR for the calling (PAM) process.
/// Creates the directory (root 0711) if needed and refuses to use one that is
/// not trustworthy.
pub fn write(handoff: &Handoff) -> io::Result<HandoffKey> {
    let dir = Path::new(HANDOFF_DIR);
    ensure_dir(dir, 0o711, 0)?;
    write_in(dir, handoff, ProcId::current()?)
}

/// Write `handoff` into `dir` (which must exist), bound to process `pam`.
pub fn write_in(dir: &Path, handoff: &Handoff, pam: ProcId) -> io::Result<HandoffKey> {
    let key = HandoffKey {
        pam,
        uid: handoff.uid,
    };
    let rec = Record {
        version: FORMAT_VERSION,
        handoff: handoff.clone(),
        created: now_secs(),
        boot_id: boot_id(),
        pam,
    };
    let text = serde_json::to_string(&rec).map_err(io::Error::other)?;
    write_atomic(&dir.join(key.to_string()), text.as_bytes(), 0o644)?;
    Ok(key)
}

/// The hand-off directory is a tmpfs and a hand-off lives one login: no fsync.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    crate::atomic_file::write_atomic(path, bytes, mode, Durability::Rename)
}

/// Remove the hand-off `key` (close_session).
pub fn remove(key: HandoffKey) -> io::Result<()> {
    remove_in(Path::new(HANDOFF_DIR), key)
}

pub fn remove_in(dir: &Path, key: HandoffKey) -> io::Result<()> {
    match fs::remove_file(dir.join(key.to_string())) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Remove hand-offs (and consumption marks) whose PAM process is gone, that
/// are from another boot or unreadable, and left-over temp files. Returns how
/// many hand-offs were removed.
pub fn prune_stale() -> usize {
    let n = prune_stale_in(Path::new(HANDOFF_DIR));
    prune_stale_in(Path::new(CONSUMED_DIR));
    n
}

pub fn prune_stale_in(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = if name.starts_with('.') {
            // temp files of a writer that died between create and rename
            name.ends_with(".tmp")
                && entry
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 60)
        } else {
            // `<key>` (hand-off) or `<key>.<recorder pid>` (mark). A new
            // process with a reused pid has another start time, so a dead
            // writer is "not alive" even after pid reuse.
            let key = name.split('.').next().unwrap_or_default();
            key.parse::<HandoffKey>()
                .map_or(true, |key| !key.pam.is_alive())
        };
        if stale && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// What the recorder left in CONSUMED_DIR for one login, as pam_tlog sees it
/// at close_session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumption {
    /// No recorder marked this login: no recorder ran (internal-sftp,
    /// ForceCommand, a subsystem) or it was killed before it started.
    NotConsumed,
    /// Recorders started and all wrote their end: the recording ids.
    Ended(Vec<String>),
    /// At least one recorder started and never marked its end (killed with
    /// SIGKILL, or the machine stopped): the ids of those.
    Lost(Vec<String>),
    /// Recorders that have not ended yet are still running: the session
    /// outlives its login (`ssh host cmd` whose client went away: sshd
    /// closes the PAM session, the command runs on, recorded). Their ids.
    Running(Vec<String>),
}

/// One recorder's mark: it started recording `rec`, or it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkState {
    Started,
    Ended,
}

impl fmt::Display for MarkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MarkState::Started => "started",
            MarkState::Ended => "ended",
        })
    }
}

impl FromStr for MarkState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "started" => Ok(MarkState::Started),
            "ended" => Ok(MarkState::Ended),
            _ => Err(format!("unknown mark state \"{s}\"")),
        }
    }
}

/// Recorder side: mark that recorder process `recorder` started or ended
/// recording `rec` for the login `key`. Only meaningful when the recorder runs
/// as its own account, which must own CONSUMED_DIR (else the mark is refused:
/// pam_tlog would not trust it anyway).
pub fn mark(key: HandoffKey, recorder: ProcId, state: MarkState, rec: &str) -> io::Result<()> {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    mark_in(Path::new(CONSUMED_DIR), me, key, recorder, state, rec)
}

/// The mark is `<key>.<pid>` holding `<state> <rec> <start time>`: the
/// start time tells pam_tlog whether that very recorder still runs (a
/// reused pid has another one).
pub fn mark_in(
    dir: &Path,
    owner: u32,
    key: HandoffKey,
    recorder: ProcId,
    state: MarkState,
    rec: &str,
) -> io::Result<()> {
    check_trusted_dir(dir, owner).map_err(|e| io::Error::other(e.to_string()))?;
    let path = dir.join(format!("{key}.{}", recorder.pid));
    write_atomic(
        &path,
        format!("{state} {rec} {}\n", recorder.start).as_bytes(),
        0o644,
    )
}

/// Everything close_session needs from the consumption directory, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marks {
    pub consumption: Consumption,
    /// Pids of the recorders whose trusted marks name this login.
    pub pids: Vec<u32>,
    /// Every entry named for this login, trusted or not (to remove).
    pub paths: Vec<PathBuf>,
}

/// PAM side: what the recorders (account `recorder_uid`) marked for `key`,
/// the pids of the recorders that marked it (from the mark names
/// `<key>.<pid>`, for ending their utmp entries) and every entry of this
/// login to remove, from one directory read. Marks owned by anyone else are
/// not trusted.
pub fn marks_in(dir: &Path, recorder_uid: u32, key: HandoffKey) -> Marks {
    let prefix = format!("{key}.");
    let (mut ended, mut lost, mut running, mut pids, mut paths) =
        (vec![], vec![], vec![], vec![], vec![]);
    let trusted_dir = check_trusted_dir(dir, recorder_uid).is_ok();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            // Not UTF-8: removed like any other mark of this login, never trusted.
            if name.to_string_lossy().starts_with(&prefix) {
                paths.push(entry.path());
            }
            continue;
        };
        let path = entry.path();
        paths.push(path.clone());
        if !trusted_dir {
            continue;
        }
        let Ok((mut file, meta)) =
            trusted_file::open(&path, Owner::Uid(recorder_uid), Links::Refuse)
        else {
            continue;
        };
        let pid = suffix.parse::<u32>().ok();
        pids.extend(pid);
        let mut text = String::new();
        if meta.len() > 4096 || file.read_to_string(&mut text).is_err() {
            continue;
        }
        let mut fields = text.trim_end().split(' ');
        let (Some(state), Some(rec)) = (fields.next(), fields.next()) else {
            continue;
        };
        // The marking recorder, if its mark names its start time.
        let recorder = pid.zip(fields.next().and_then(|t| t.parse().ok()));
        match state.parse() {
            // That very recorder (pid and start time) still runs.
            Ok(MarkState::Started)
                if recorder.is_some_and(|(pid, start)| ProcId { pid, start }.is_alive()) =>
            {
                running.push(rec.to_string())
            }
            Ok(MarkState::Started) => lost.push(rec.to_string()),
            Ok(MarkState::Ended) => ended.push(rec.to_string()),
            Err(_) => {}
        }
    }
    pids.sort_unstable();
    let consumption = if !lost.is_empty() {
        Consumption::Lost(lost)
    } else if !running.is_empty() {
        Consumption::Running(running)
    } else if !ended.is_empty() {
        Consumption::Ended(ended)
    } else {
        Consumption::NotConsumed
    };
    Marks {
        consumption,
        pids,
        paths,
    }
}

/// [`marks_in`] the system's consumption directory.
pub fn marks(recorder_uid: u32, key: HandoffKey) -> Marks {
    marks_in(Path::new(CONSUMED_DIR), recorder_uid, key)
}

/// Remove what [`marks_in`] found.
pub fn remove_found_marks(m: &Marks) {
    for p in &m.paths {
        let _ = fs::remove_file(p);
    }
}

/// PAM side: create CONSUMED_DIR owned by the recorder account, 0755, so
/// only the recorder can mark. Root runs this; it repairs owner and mode.
pub fn ensure_consumed_dir(recorder_uid: u32) -> io::Result<()> {
    let dir = Path::new(CONSUMED_DIR);
    ensure_dir(dir, 0o755, recorder_uid)
}

/// The account a recorder binary runs as: its owner when it is set-uid to a
/// non-root account. `None` when the binary is not set-uid (then the
/// recorder runs as the user and cannot protect itself or its marks).
pub fn recorder_account(recorder: &Path) -> Option<u32> {
    let meta = fs::metadata(recorder).ok()?;
    (meta.mode() & libc::S_ISUID != 0 && meta.uid() != 0).then_some(meta.uid())
}

/// Create `dir` (and a missing parent as root 0755) with `mode`, owned by
/// `owner`, then check it is trustworthy. Root runs this (pam_tlog).
fn ensure_dir(dir: &Path, mode: u32, owner: u32) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        if !parent.exists() {
            match fs::DirBuilder::new().mode(0o755).create(parent) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        check_trusted_dir(parent, 0).map_err(|e| io::Error::other(e.to_string()))?;
    }
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.file_type().is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if meta.uid() != owner {
        std::os::unix::fs::lchown(dir, Some(owner), Some(0))?;
    }
    if meta.mode() & 0o7777 != mode {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))?;
    }
    check_trusted_dir(dir, owner).map_err(|e| io::Error::other(e.to_string()))
}

fn check_trusted_dir(dir: &Path, owner: u32) -> Result<(), Rejected> {
    trusted_file::check_dir(dir, Owner::Uid(owner), Links::Refuse).map_err(|e| Rejected::of(dir, e))
}

impl Rejected {
    fn of(path: &Path, e: Untrusted) -> Rejected {
        match e {
            Untrusted::Io(e) => Rejected::Io(format!("{}: {e}", path.display())),
            e => Rejected::Untrusted(format!("{}: {e}", path.display())),
        }
    }
}

/// Real uid of the calling process.
pub fn real_uid() -> io::Result<u32> {
    // SAFETY: getuid cannot fail.
    Ok(unsafe { libc::getuid() })
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

/// Path of the hand-off file for `key` (for diagnostics).
pub fn path_of(key: HandoffKey) -> PathBuf {
    Path::new(HANDOFF_DIR).join(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str, mode: u32) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tlog-handoff-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(mode)).unwrap();
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
            source: "policy.toml".into(),
            rhost: "192.0.2.7".into(),
            tty: "ssh".into(),
            groups: vec!["dbas".into()],
            audit_level: "session".into(),
            graphical: None,
            recorder_account: RecorderAccount::Uid(1),
            ssh: "192.0.2.7 51234 198.51.100.1 22".parse().ok(),
        }
    }

    fn parent() -> ProcId {
        ProcId::of(std::os::unix::process::parent_id()).unwrap()
    }

    fn me() -> u32 {
        real_uid().unwrap()
    }

    /// Our own euid owns the test dirs (root in CI, anyone on a laptop).
    fn owner() -> u32 {
        // SAFETY: geteuid cannot fail.
        unsafe { libc::geteuid() }
    }

    #[test]
    fn found_through_an_ancestor_and_removed() {
        let dir = tempdir("ok", 0o711);
        let h = sample(me(), true);
        let key = write_in(&dir, &h, parent()).unwrap();
        let mode = fs::metadata(dir.join(key.to_string())).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(
            find_in(&dir, std::process::id(), owner(), me()),
            Ok((h.clone(), key))
        );
        assert_eq!(read_key_in(&dir, key, owner()), Ok(h));
        remove_in(&dir, key).unwrap();
        assert_eq!(
            find_in(&dir, std::process::id(), owner(), me()),
            Err(Rejected::NotFound)
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_graphical_statement_round_trips_and_old_formats_are_rejected() {
        let dir = tempdir("graphical", 0o711);
        let mut h = sample(me(), true);
        h.graphical = Some(Graphical::RecordTerminals);
        let key = write_in(&dir, &h, parent()).unwrap();
        let path = dir.join(key.to_string());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""graphical":"record-terminals""#), "{text}");
        assert_eq!(read_key_in(&dir, key, owner()), Ok(h));
        // A format-2 file (no graphical field) is not trusted.
        let mut rec: Record = serde_json::from_str(&text).unwrap();
        rec.version = 2;
        rec.handoff.graphical = None;
        fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
        assert!(matches!(
            read_key_in(&dir, key, owner()),
            Err(Rejected::Corrupt(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_live_graphical_login_is_found_without_an_ancestor_and_the_stricter_wins() {
        let dir = tempdir("gfallback", 0o711);
        // A text login of ours: not a graphical statement.
        write_in(&dir, &sample(me(), true), parent()).unwrap();
        assert_eq!(find_graphical_in(&dir, owner(), me()), None);
        let mut g = sample(me(), true);
        g.graphical = Some(Graphical::Skip);
        let skip = write_in(&dir, &g, ProcId::current().unwrap()).unwrap();
        assert_eq!(
            find_graphical_in(&dir, owner(), me()),
            Some((g.clone(), skip))
        );
        // Another uid's desktop is not ours; a dead PAM process is no login.
        assert_eq!(find_graphical_in(&dir, owner(), me() + 1), None);
        let mut dead = parent();
        dead.start += 1;
        let mut r = g.clone();
        r.graphical = Some(Graphical::RecordTerminals);
        write_in(&dir, &r, dead).unwrap();
        assert_eq!(find_graphical_in(&dir, owner(), me()).unwrap().1, skip);
        let rt = write_in(&dir, &r, parent()).unwrap();
        assert_eq!(find_graphical_in(&dir, owner(), me()), Some((r, rt)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_round_trip_and_reject_junk() {
        let key = HandoffKey {
            pam: ProcId {
                pid: 42,
                start: 123456,
            },
            uid: 1001,
        };
        assert_eq!(key.to_string(), "42-123456-1001");
        assert_eq!("42-123456-1001".parse::<HandoffKey>(), Ok(key));
        for bad in [
            "",
            "42-123456",
            "42-123456-1001-1",
            "../42-1-1",
            "-1-2-3",
            "42-+1-1001",
            "4294967296-1-1",
            "a-b-c",
        ] {
            assert!(bad.parse::<HandoffKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_handoff_of_another_uid_is_not_found_and_a_mislabeled_one_is_rejected() {
        let dir = tempdir("uid", 0o711);
        write_in(&dir, &sample(me() + 1, true), parent()).unwrap();
        assert_eq!(
            find_in(&dir, std::process::id(), owner(), me()),
            Err(Rejected::NotFound)
        );
        // A file renamed to our key still says whom it is for.
        let theirs = HandoffKey {
            pam: parent(),
            uid: me() + 1,
        };
        let mine = HandoffKey {
            pam: parent(),
            uid: me(),
        };
        fs::rename(dir.join(theirs.to_string()), dir.join(mine.to_string())).unwrap();
        assert_eq!(
            find_in(&dir, std::process::id(), owner(), me()),
            Err(Rejected::WrongUid {
                file: me() + 1,
                mine: me()
            })
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_handoff_of_a_process_that_is_not_an_ancestor_is_not_found() {
        // Written for ourselves: the walk starts at our parent, so the PAM
        // process itself (or any other login's) never matches.
        let dir = tempdir("self", 0o711);
        let own = write_in(&dir, &sample(me(), true), ProcId::current().unwrap()).unwrap();
        assert_eq!(
            find_in(&dir, std::os::unix::process::parent_id(), owner(), me()),
            Err(Rejected::NotFound)
        );
        remove_in(&dir, own).unwrap();
        // Same pid, other start time (pid reuse): another key.
        let mut p = parent();
        p.start += 1;
        write_in(&dir, &sample(me(), true), p).unwrap();
        assert_eq!(
            find_in(&dir, std::process::id(), owner(), me()),
            Err(Rejected::NotFound)
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writable_dir_or_file_or_other_owner_is_untrusted() {
        let dir = tempdir("mode", 0o711);
        let key = write_in(&dir, &sample(me(), true), parent()).unwrap();
        let path = dir.join(key.to_string());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            find_in(&dir, std::process::id(), owner(), me()),
            Err(Rejected::Untrusted(_))
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            find_in(&dir, std::process::id(), owner() + 7, me()),
            Err(Rejected::Untrusted(_))
        ));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o733)).unwrap();
        assert!(matches!(
            find_in(&dir, std::process::id(), owner(), me()),
            Err(Rejected::Untrusted(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_old_and_foreign_boot_files_are_rejected() {
        let dir = tempdir("corrupt", 0o711);
        let key = write_in(&dir, &sample(me(), true), parent()).unwrap();
        let path = dir.join(key.to_string());
        let good = fs::read_to_string(&path).unwrap();
        let find = || find_in(&dir, std::process::id(), owner(), me());
        fs::write(&path, &good[..good.len() / 2]).unwrap();
        assert!(matches!(find(), Err(Rejected::Corrupt(_))));

        let mut rec: Record = serde_json::from_str(&good).unwrap();
        rec.created -= MAX_AGE_SECS + 10;
        fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
        assert_eq!(find(), Err(Rejected::Expired));

        let mut rec: Record = serde_json::from_str(&good).unwrap();
        rec.boot_id = "00000000000000000000000000000000".into();
        fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
        assert_eq!(find(), Err(Rejected::WrongBoot));

        let mut rec: Record = serde_json::from_str(&good).unwrap();
        rec.pam.start += 1;
        fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
        assert!(matches!(find(), Err(Rejected::Corrupt(_))));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prune_removes_dead_writers_and_their_marks_only() {
        let dir = tempdir("prune", 0o711);
        let live = write_in(&dir, &sample(me(), true), parent()).unwrap();
        let mut dead = parent();
        dead.start += 1;
        let gone = write_in(&dir, &sample(me(), true), dead).unwrap();
        fs::write(dir.join(format!("{live}.77")), "started r\n").unwrap();
        fs::write(dir.join(format!("{gone}.78")), "started r\n").unwrap();
        fs::write(dir.join("garbage"), "x").unwrap();
        assert_eq!(prune_stale_in(&dir), 3);
        assert!(dir.join(live.to_string()).exists());
        assert!(dir.join(format!("{live}.77")).exists());
        assert!(!dir.join(gone.to_string()).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn consumption_marks_tell_recorded_lost_and_never_started() {
        let dir = tempdir("marks", 0o755);
        let key = HandoffKey {
            pam: parent(),
            uid: me(),
        };
        let other = HandoffKey {
            pam: ProcId::current().unwrap(),
            uid: me(),
        };
        let consumption = |uid, key| marks_in(&dir, uid, key).consumption;
        assert_eq!(consumption(owner(), key), Consumption::NotConsumed);
        let gone = |pid| ProcId { pid, start: 1 };
        mark_in(&dir, owner(), other, gone(9), MarkState::Started, "o").unwrap();
        assert_eq!(consumption(owner(), key), Consumption::NotConsumed);
        // A pid above any pid_max: that recorder is gone.
        const DEAD: u32 = 4_194_400;
        mark_in(&dir, owner(), key, gone(DEAD), MarkState::Started, "r1").unwrap();
        assert_eq!(
            consumption(owner(), key),
            Consumption::Lost(vec!["r1".into()])
        );
        mark_in(&dir, owner(), key, gone(DEAD), MarkState::Ended, "r1").unwrap();
        assert_eq!(
            consumption(owner(), key),
            Consumption::Ended(vec!["r1".into()])
        );
        let m = marks_in(&dir, owner(), key);
        assert_eq!(m.pids, [DEAD]);
        // Marks are trusted only from the recorder account.
        let m_other = marks_in(&dir, owner() + 1, key);
        assert_eq!(m_other.consumption, Consumption::NotConsumed);
        assert!(m_other.pids.is_empty());
        assert_eq!(
            m.paths.len(),
            m_other.paths.len(),
            "untrusted marks are removed too"
        );
        remove_found_marks(&m);
        assert_eq!(consumption(owner(), key), Consumption::NotConsumed);
        assert!(marks_in(&dir, owner(), key).paths.is_empty());
        assert_eq!(
            consumption(owner(), other),
            Consumption::Lost(vec!["o".into()])
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A recorder that has not ended but still runs (as the recorder
    /// account) is recording a session that outlives its login, not lost.
    #[test]
    fn a_live_recorder_without_its_end_is_running_not_lost() {
        let dir = tempdir("marks-live", 0o755);
        let key = HandoffKey {
            pam: parent(),
            uid: me(),
        };
        let account = owner();
        let consumption = || marks_in(&dir, account, key).consumption;
        // This test process stands for the recorder.
        let me_now = ProcId::current().unwrap();
        mark_in(&dir, account, key, me_now, MarkState::Started, "live").unwrap();
        assert_eq!(consumption(), Consumption::Running(vec!["live".into()]));
        // The same pid with another start time is another process (pid
        // reuse): that recorder is gone.
        let reused = ProcId {
            pid: me_now.pid,
            start: me_now.start + 1,
        };
        mark_in(&dir, account, key, reused, MarkState::Started, "live").unwrap();
        assert_eq!(consumption(), Consumption::Lost(vec!["live".into()]));
        // A mark without a start time (an older recorder) cannot prove it runs.
        fs::write(dir.join(format!("{key}.{}", me_now.pid)), "started live\n").unwrap();
        assert_eq!(consumption(), Consumption::Lost(vec!["live".into()]));
        fs::remove_dir_all(&dir).unwrap();
    }
}
