//! The recorder's privilege split (docs/deployment.md, "The recorder account").
//!
//! `tlog-rs-rec-session` is installed set-uid to a dedicated system account
//! (`tlog-rs`). It starts with real uid = the user and effective/saved uid =
//! that account, so the kernel sets AT_SECURE and the loader ignores
//! LD_PRELOAD and friends. Then:
//! - the process that will exec the user's shell is forked while both uids
//!   are still at hand, and takes the user's uid for real, effective and saved
//!   uid before it execs ([`become_user`]);
//! - the recording process gives up the user's uid entirely ([`drop_to_recorder`]):
//!   with no uid of the user left, she can neither signal it (kill(2) checks the
//!   real and saved uid) nor ptrace it or open its /proc files.
//!
//! When the binary is not set-uid (a developer build, the ad-hoc
//! `tlog-rs-rec`), real and effective uid are equal and nothing changes.

use std::io;

/// The uids the process started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartUids {
    /// The recorded user.
    pub user: libc::uid_t,
    /// The account the binary runs as (equal to `user` when not set-uid).
    pub recorder: libc::uid_t,
}

impl StartUids {
    pub fn current() -> StartUids {
        // SAFETY: getuid/geteuid cannot fail.
        let (user, recorder) = unsafe { (libc::getuid(), libc::geteuid()) };
        StartUids { user, recorder }
    }

    /// True when the recorder runs as its own account, out of the user's reach.
    pub fn is_split(&self) -> bool {
        self.user != self.recorder
    }
}

/// The errno check, shared with the other crates.
pub use tlog_rs_sys::cvt;

/// The recording process: real, effective and saved uid all become the
/// recorder account, then we check that the user's uid is really gone.
pub fn drop_to_recorder(uids: StartUids) -> io::Result<()> {
    if !uids.is_split() {
        return Ok(());
    }
    let r = uids.recorder;
    // SAFETY: plain system call; the ids are our own effective uid.
    cvt(unsafe { libc::setresuid(r, r, r) })?;
    let (mut a, mut b, mut c) = (0, 0, 0);
    // SAFETY: three valid out-pointers.
    cvt(unsafe { libc::getresuid(&mut a, &mut b, &mut c) })?;
    if (a, b, c) != (r, r, r) {
        return Err(io::Error::other(format!(
            "uids are {a}/{b}/{c} after dropping to {r}"
        )));
    }
    Ok(())
}

/// In the forked child, before exec: take the user's uid for real, effective
/// and saved uid. Async-signal-safe; returns false if the kernel refused.
pub fn become_user(uids: StartUids) -> bool {
    if !uids.is_split() {
        return true;
    }
    let u = uids.user;
    // SAFETY: setresuid and getresuid are async-signal-safe system calls.
    unsafe {
        if libc::setresuid(u, u, u) != 0 {
            return false;
        }
        let (mut a, mut b, mut c) = (0, 0, 0);
        libc::getresuid(&mut a, &mut b, &mut c) == 0 && a == u && b == u && c == u
    }
}

/// Run `f` with the file-system uid of the user, so that what it creates
/// (the session's pty) belongs to her as it would without us.
pub fn as_user_fs<T>(uids: StartUids, f: impl FnOnce() -> T) -> T {
    if !uids.is_split() {
        return f();
    }
    // SAFETY: setfsuid only changes this thread's file-system uid to one of
    // our own uids; the previous value is restored below.
    let old = unsafe { libc::setfsuid(uids.user) };
    let r = f();
    // SAFETY: as above.
    unsafe { libc::setfsuid(old as libc::uid_t) };
    r
}

/// True when the kernel started us in secure mode (set-id): the loader then
/// ignored LD_* and glibc removed its "unsecure" variables from `environ`.
pub fn secure_mode() -> bool {
    // SAFETY: getauxval has no preconditions.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// The environment the login program gave us. In secure mode glibc removed
/// variables like TMPDIR, LD_LIBRARY_PATH or LOCPATH from `environ` before
/// main; they are not the recorder's business, so the user's shell gets them
/// back from the untouched copy in /proc/self/environ.
pub fn original_environment() -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    use std::os::unix::ffi::OsStrExt;
    if secure_mode() {
        if let Ok(raw) = std::fs::read("/proc/self/environ") {
            return raw
                .split(|&b| b == 0)
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let eq = kv.iter().position(|&b| b == b'=')?;
                    let k = std::ffi::OsStr::from_bytes(&kv[..eq]).to_os_string();
                    let v = std::ffi::OsStr::from_bytes(&kv[eq + 1..]).to_os_string();
                    Some((k, v))
                })
                .collect();
        }
    }
    std::env::vars_os().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsplit_process_changes_nothing() {
        let me = StartUids::current();
        // The test binary is not set-uid.
        assert!(!me.is_split());
        drop_to_recorder(me).unwrap();
        assert!(become_user(me));
        assert_eq!(as_user_fs(me, || 42), 42);
        assert_eq!(StartUids::current(), me);
        assert!(!secure_mode());
        let env = original_environment();
        assert_eq!(env.len(), std::env::vars_os().count());
    }
}
