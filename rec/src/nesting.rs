//! "Already recorded" detection without a global lock (tlog's lock file makes
//! concurrent sessions without audit go unrecorded).
//!
//! A recording tlog-rs-rec-session exports `TLOG_RS_RECORDER=<pid>:<start>`
//! to its program. A nested tlog-rs-rec-session skips recording only if that
//! marker names a live process that
//! - is one of OUR ANCESTORS (so a fresh login, whose ancestors are sshd,
//!   login or su, never qualifies, whatever its environment says),
//! - has the same start time (the pid was not reused),
//! - is a tlog-rs-rec-session (its comm, set by the recorder itself),
//! - runs with our real uid (su to another user records again: fail secure).
//!
//! Anything else (forged, stale, foreign) is ignored and recording happens.

use crate::identity;

pub const MARKER_ENV: &str = "TLOG_RS_RECORDER";
/// The comm (`/proc/<pid>/comm`, max 15 bytes) tlog-rs-rec-session sets:
/// tlog's own name, because Cockpit lists journal recordings by `_COMM`
/// (see `sink::journal`). The ad-hoc tlog-rs-rec uses another one: its log
/// destination is the user's choice, so it never counts as "already recorded".
pub const SESSION_COMM: &str = crate::sink::journal::COCKPIT_COMM_SESSION;
pub const ADHOC_COMM: &str = crate::sink::journal::COCKPIT_COMM_REC;

/// The marker value for this process.
pub fn own_marker() -> Option<String> {
    let start = identity::process_start_time(std::process::id())?;
    Some(format!("{}:{start}", std::process::id()))
}

fn real_uid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Why a marker is not honoured, or Ok if we are inside a live recording.
pub fn check_marker(value: &str) -> Result<u32, &'static str> {
    let (pid, start) = value.split_once(':').ok_or("malformed marker")?;
    let pid: u32 = pid.parse().map_err(|_| "malformed marker")?;
    let start: u64 = start.parse().map_err(|_| "malformed marker")?;
    if !tlog_rs_sys::proc::is_ancestor_of(pid, std::process::id()) {
        return Err("marked recorder is not an ancestor");
    }
    if identity::process_start_time(pid) != Some(start) {
        return Err("marked recorder is gone (start time differs)");
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim_end() != SESSION_COMM {
        return Err("marked process is not a tlog-rs recorder");
    }
    // A set-uid recorder runs as its own account (our effective uid before
    // any drop); an unprotected one as the user.
    // SAFETY: getuid/geteuid cannot fail.
    let ours = unsafe { [libc::getuid(), libc::geteuid()] };
    if !real_uid_of(pid).is_some_and(|u| ours.contains(&u)) {
        return Err("marked recorder belongs to another user");
    }
    Ok(pid)
}

/// True if this process runs inside a session a live tlog-rs-rec-session
/// ancestor is already recording.
///
/// `login` is the PAM process of this login, from a verified hand-off. If
/// the marked recorder is an ancestor of that PAM process, a new login (su,
/// sudo -i, ...) happened below the recording: that login is recorded on
/// its own. This also defeats a user's own process that merely claims to be
/// a recorder (right comm, uid and ancestry): a login below it gets a fresh
/// hand-off whose PAM process is its descendant, so the claim is ignored.
pub fn already_recorded(login: Option<tlog_rs_policy::handoff::ProcId>) -> bool {
    let Ok(value) = std::env::var(MARKER_ENV) else {
        return false;
    };
    let Ok(recorder) = check_marker(&value) else {
        return false;
    };
    match login {
        Some(pam) => !tlog_rs_sys::proc::is_ancestor_of(recorder, pam.pid),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_markers_are_ignored() {
        assert!(check_marker("garbage").is_err());
        assert!(check_marker("1:0").is_err()); // init is an ancestor, wrong start/comm
        let me = own_marker().unwrap();
        // We are not our own ancestor.
        assert_eq!(check_marker(&me), Err("marked recorder is not an ancestor"));
        // SAFETY: getppid cannot fail.
        let ppid = unsafe { libc::getppid() };
        let start = identity::process_start_time(ppid as u32).unwrap();
        // The parent (cargo's test runner) is an ancestor but not a recorder.
        assert_eq!(
            check_marker(&format!("{ppid}:{start}")),
            Err("marked process is not a tlog-rs recorder")
        );
        assert!(check_marker(&format!("{ppid}:{}", start + 1)).is_err());
    }
}
