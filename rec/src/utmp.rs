//! The session's inner pty in utmp (`who`, `w`) and wtmp (`last`), as
//! tlog-rec does, through libutempter's set-gid `utmp` helper.
//!
//! Why the helper (see rec/README.md, "utmp and wtmp"): utmp and wtmp are
//! root:utmp 0664, and the recorder never has root nor group utmp. The
//! helper takes the user from its real uid and the line from the pty master
//! on its standard input, and refuses a pty that belongs to someone else. So
//! the entry is added before the privilege drop, while our real uid is still
//! the user's. After the drop (set-uid recorder) the helper would refuse the
//! user's pty, so the logout record is written by pam_tlog's close_session,
//! as root, for the entries whose pid is a recorder of that login. Without
//! the split (developer build) the recorder removes its entry itself.
//!
//! Failures are not errors: no helper installed, no /var/run/utmp (common in
//! containers), a read-only wtmp. The session is recorded all the same.

use std::fs;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to tell the helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Del,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Del => "del",
        }
    }
}

/// The helper, looked up at run time: `/usr/libexec/utempter/utempter`
/// (Fedora), `/usr/lib/utempter/utempter`, or a multiarch directory
/// `/usr/lib/<triplet>/utempter/utempter` (Debian), our own architecture
/// first. Only a root-owned file nobody else can write is used.
pub fn helper() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = ["/usr/libexec", "/usr/lib", "/usr/lib64"]
        .iter()
        .map(|d| Path::new(d).join("utempter/utempter"))
        .collect();
    let mut multiarch: Vec<PathBuf> = fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("-linux-"))
        })
        .collect();
    // Ours first (x86_64-linux-gnu for an x86_64 build), then the others.
    multiarch.sort_by_key(|p| {
        !p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(std::env::consts::ARCH))
    });
    candidates.extend(multiarch.into_iter().map(|d| d.join("utempter/utempter")));
    candidates.into_iter().find(|p| trusted(p))
}

fn trusted(p: &Path) -> bool {
    use tlog_rs_policy::trusted_file::{check, Kind, Owner};
    fs::metadata(p).is_ok_and(|m| check(&m, Kind::File, Owner::Uid(0)).is_ok())
}

/// Run the helper for the pty whose master is `master`, with `host` as the
/// remote host (omitted when empty). Err says why nothing was written.
pub fn update(op: Op, master: BorrowedFd<'_>, host: Option<&str>) -> Result<(), String> {
    let helper = helper().ok_or("libutempter's helper is not installed")?;
    let stdin = master
        .try_clone_to_owned()
        .map_err(|e| format!("dup: {e}"))?;
    let mut cmd = Command::new(&helper);
    cmd.arg(op.as_str());
    // The helper records "host" only when adding; empty means local.
    if let Some(h) = host.filter(|h| !h.is_empty() && op == Op::Add) {
        cmd.arg(h);
    }
    let status = cmd
        .env_clear()
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{}: {e}", helper.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} {}: {status}", helper.display(), op.as_str()))
    }
}

extern "C" {
    // glibc; not in the libc crate.
    fn updwtmpx(file: *const libc::c_char, ut: *const libc::utmpx);
}

/// glibc's _PATH_WTMP.
const WTMP: &std::ffi::CStr = c"/var/log/wtmp";

/// pam_tlog's close_session, as root: end the utmp entries (USER_PROCESS)
/// whose pid is one of `pids` (the recorders of the login), and write their
/// logout to wtmp. Returns how many were ended. No utmp file: 0.
pub fn end_entries(pids: &[u32]) -> usize {
    if pids.is_empty() {
        return 0;
    }
    let mut found: Vec<libc::utmpx> = Vec::new();
    // SAFETY: glibc's utmp iteration on its default file; each entry is
    // copied before the next call reuses the static buffer.
    unsafe {
        libc::setutxent();
        loop {
            let e = libc::getutxent();
            if e.is_null() {
                break;
            }
            let e = *e;
            if e.ut_type == libc::USER_PROCESS
                && u32::try_from(e.ut_pid).is_ok_and(|p| pids.contains(&p))
            {
                found.push(e);
            }
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    for e in &mut found {
        e.ut_type = libc::DEAD_PROCESS;
        e.ut_user = [0; 32];
        e.ut_host = [0; 256];
        e.ut_tv.tv_sec = now.as_secs() as _;
        e.ut_tv.tv_usec = now.subsec_micros() as _;
        // SAFETY: a valid entry; pututxline finds the line's slot itself;
        // updwtmpx appends to wtmp (a missing file is skipped by glibc).
        unsafe {
            libc::setutxent();
            libc::pututxline(e);
            updwtmpx(WTMP.as_ptr(), e);
        }
    }
    // SAFETY: closes glibc's utmp file.
    unsafe { libc::endutxent() };
    found.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};

    #[test]
    fn the_helper_if_any_is_a_trusted_utempter() {
        if let Some(p) = helper() {
            assert!(p.ends_with("utempter/utempter"), "{}", p.display());
            assert!(trusted(&p));
        }
        assert!(!trusted(Path::new("/nonexistent/utempter/utempter")));
    }

    #[test]
    fn a_descriptor_that_is_not_a_pty_master_is_refused_not_fatal() {
        if helper().is_none() {
            return;
        }
        let mut fds = [0; 2];
        // SAFETY: pipe writes two fds into the array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both fds are fresh and ours.
        let (r, _w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        assert!(update(Op::Add, r.as_fd(), Some("192.0.2.1")).is_err());
    }
}
