//! `libnss_tlog.so.2`: glibc NSS module that swaps the login shell of users
//! the policy may record for the recorder (`passwd: tlog files ...`).
//!
//! Thin FFI shell around `logic`: every entry point runs under `guard`
//! (catch_unwind, no output), the policy is cached in a static that is
//! lazily initialised and re-checked by file stamps, and the underlying entry
//! comes from a nested glibc lookup with a thread-local reentrancy flag, so the
//! nested call skips us and the rest of the chain answers.
//!
//! Guest-code rules followed: no threads, no network, no global constructors,
//! the thread-local is a const-initialised `Cell<bool>` (no destructor), the
//! only lock is taken with `try_lock` so a child forked while another thread
//! held it never deadlocks (it falls back to an uncached load).
// Guest code (or linked into it): no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod answers;
pub mod logic;
mod stubs;
pub use tlog_rs_policy::nss_passwd as sys;

use std::cell::Cell;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::path::Path;
use std::sync::{Mutex, TryLockError};

use answers::AnswerCache;
use logic::{Answer, System};
use std::time::Instant;
use sys::{Key, PwEntry};
use tlog_rs_policy::source_file::FileStamp;
use tlog_rs_policy::{NssView, Policy, PolicyCache, PolicyError, Snapshot, SnapshotError};

/// glibc's `enum nss_status` (<nss.h>).
#[allow(non_camel_case_types)]
pub type nss_status = c_int;
pub const NSS_STATUS_TRYAGAIN: nss_status = -2;
pub const NSS_STATUS_UNAVAIL: nss_status = -1;
pub const NSS_STATUS_NOTFOUND: nss_status = 0;
pub const NSS_STATUS_SUCCESS: nss_status = 1;

thread_local! {
    /// Set while this thread runs a nested lookup: our own entry points then
    /// answer NOTFOUND at once, so glibc moves on to the next source.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Sets INSIDE for its lifetime (reset even if the lookup unwinds).
struct Reentered;

impl Reentered {
    fn enter() -> Option<Reentered> {
        let was = INSIDE.try_with(|f| f.replace(true)).unwrap_or(true);
        (!was).then_some(Reentered)
    }
}

impl Drop for Reentered {
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|f| f.set(false));
    }
}

fn is_reentered() -> bool {
    INSIDE.try_with(|f| f.get()).unwrap_or(true)
}

/// The real system, seen from inside the module.
struct Glibc {
    host: String,
}

impl System for Glibc {
    fn underlying(&self, key: Key<'_>) -> sys::LookupResult {
        // Already set by the caller (entry points set it before calling logic).
        sys::getpw(key)
    }
    fn groups(&self, user: &[u8], gid: u32) -> (Option<String>, Vec<String>) {
        sys::groups_of(user, gid)
    }
    fn host(&self) -> String {
        self.host.clone()
    }
    fn privileged(&self) -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }
    fn uid_of(&self, name: &str) -> Option<u32> {
        // Called under the reentrancy flag, like `underlying`: the nested
        // lookup skips this module.
        let c = std::ffi::CString::new(name).ok()?;
        sys::getpw(Key::Name(&c)).ok().flatten().map(|e| e.uid)
    }
}

/// Process-wide state: the policy snapshot or the parsed policy, and recent
/// answers.
struct State {
    policy: Option<PolicyCache>,
    snapshot: Option<SnapState>,
    /// The snapshot answers (set by `refresh` at the start of each lookup).
    via_snapshot: bool,
    /// How often the snapshot was (re-)read: part of the answers' generation.
    snapshot_reads: u64,
    /// The answers' generation as of the last `refresh`.
    generation: u64,
    answers: AnswerCache,
}

/// The snapshot file as last read (`tlog_rs_policy::snapshot`).
struct SnapState {
    file: FileStamp,
    read: Result<Snapshot, SnapshotError>,
}

static STATE: Mutex<State> = Mutex::new(State {
    policy: None,
    snapshot: None,
    via_snapshot: false,
    snapshot_reads: 0,
    generation: 0,
    answers: AnswerCache::new(),
});

/// Run `f` on the state, or return None if the lock stays busy. Never
/// blocks: after a fork in a multithreaded host the lock may be held forever
/// by a thread that no longer exists.
fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    for _ in 0..LOCK_TRIES {
        let mut guard = match STATE.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => {
                // A panic while holding it: drop everything, start over.
                let mut g = p.into_inner();
                g.policy = None;
                g.snapshot = None;
                g.via_snapshot = false;
                g.answers = AnswerCache::new();
                STATE.clear_poison();
                g
            }
            Err(TryLockError::WouldBlock) => {
                std::thread::yield_now();
                continue;
            }
        };
        return Some(f(&mut guard));
    }
    None
}

fn policy_cache(state: &mut State) -> &mut PolicyCache {
    state
        .policy
        .get_or_insert_with(|| PolicyCache::new(tlog_rs_policy::DEFAULT_POLICY_PATH.into()))
}

/// Decide which view answers this lookup, re-checked against its files:
/// the snapshot while it is current (a corrupt one fails secure until it
/// is replaced), else the parsed policy. The snapshot file is looked at on
/// the first lookup and when the snapshot's sources change; a process that
/// parsed the policy keeps doing so (one `stat` per lookup, as before).
/// Returns the answers' generation, which changes whenever the view or its
/// content does.
fn refresh(st: &mut State, host: &str) -> u64 {
    let policy = tlog_rs_policy::DEFAULT_POLICY_PATH;
    let keep = st.via_snapshot
        && match st.snapshot.as_ref() {
            Some(SnapState { read: Ok(s), .. }) => s.is_current(policy, host),
            Some(SnapState {
                read: Err(SnapshotError::Corrupt(_)),
                file,
            }) => file.unchanged(),
            _ => false,
        };
    if !keep && (st.via_snapshot || st.policy.is_none()) {
        let (file, read) = Snapshot::read(
            Path::new(tlog_rs_policy::DEFAULT_SNAPSHOT_PATH),
            policy,
            host,
        );
        st.via_snapshot = matches!(read, Ok(_) | Err(SnapshotError::Corrupt(_)));
        st.snapshot = Some(SnapState { file, read });
        st.snapshot_reads += 1;
    }
    let reloads = if st.via_snapshot {
        0
    } else {
        let pc = policy_cache(st);
        let _ = pc.get();
        pc.reloads()
    };
    st.generation = (st.snapshot_reads << 33) | (reloads << 1) | u64::from(st.via_snapshot);
    st.generation
}

/// A fresh cached answer for `key`, if any (re-checks the policy files).
fn cached_answer(key: Key<'_>, host: &str) -> Option<Option<PwEntry>> {
    with_state(|st| {
        let generation = refresh(st, host);
        st.answers.get(key, Instant::now(), generation)
    })
    .flatten()
}

fn remember(key: Key<'_>, answer: Option<PwEntry>) {
    with_state(|st| {
        st.answers.put(key, Instant::now(), st.generation, answer);
    });
}

/// How often to retry a busy policy lock before loading the policy uncached.
const LOCK_TRIES: u32 = 64;

/// The process-wide cached policy.
struct Cached;

impl logic::PolicyAccess for Cached {
    fn with(&self, f: &mut dyn FnMut(Result<&dyn NssView, &PolicyError>)) {
        with_policy(f)
    }
}

/// Run `f` with the view `refresh` chose; with the lock busy, load the
/// policy uncached.
fn with_policy(f: &mut dyn FnMut(Result<&dyn NssView, &PolicyError>)) {
    let mut f = Some(f);
    let done = with_state(|st| {
        let Some(f) = f.take() else { return };
        if st.via_snapshot {
            match st.snapshot.as_ref().map(|s| &s.read) {
                Some(Ok(s)) => return f(Ok(s)),
                Some(Err(SnapshotError::Corrupt(e))) => return f(Err(e)),
                _ => {}
            }
        }
        f(policy_cache(st).get().map(|p| p as &dyn NssView));
    });
    if done.is_none() {
        if let Some(f) = f.take() {
            match Policy::load(Path::new(tlog_rs_policy::DEFAULT_POLICY_PATH)) {
                Ok(p) => f(Ok(&p)),
                Err(e) => f(Err(&e)),
            }
        }
    }
}

/// Run an entry point under the shared panic guard: no unwinding into C, no
/// panic message on the host's stderr; a panic is "unavailable, try again".
fn guard(errnop: *mut c_int, f: impl FnOnce() -> nss_status) -> nss_status {
    tlog_rs_sys::ffi_guard::catch(f).unwrap_or_else(|| {
        set_errno(errnop, libc::EAGAIN);
        NSS_STATUS_UNAVAIL
    })
}

fn set_errno(errnop: *mut c_int, value: c_int) {
    if !errnop.is_null() {
        // SAFETY: glibc passes a valid pointer to the thread's errno slot.
        unsafe { *errnop = value };
    }
}

/// Copy `entry` into the caller's `pwd` + `buf`. Err(()) if buf is too small.
///
/// # Safety
/// `pwd` must be valid for writes and `buf` valid for `buflen` bytes.
unsafe fn fill(
    entry: &PwEntry,
    pwd: *mut libc::passwd,
    buf: *mut c_char,
    buflen: usize,
) -> Result<(), ()> {
    let fields: [&[u8]; 5] = [
        &entry.name,
        &entry.passwd,
        &entry.gecos,
        &entry.dir,
        &entry.shell,
    ];
    let need: usize = fields.iter().map(|f| f.len() + 1).sum();
    if buf.is_null() || buflen < need || fields.iter().any(|f| f.contains(&0)) {
        return Err(());
    }
    let mut ptrs = [std::ptr::null_mut::<c_char>(); 5];
    let mut off = 0usize;
    for (i, field) in fields.iter().enumerate() {
        // SAFETY: off + field.len() + 1 <= need <= buflen, so the copy and the
        // terminating NUL stay inside buf; field does not overlap buf.
        unsafe {
            let dst = buf.add(off);
            std::ptr::copy_nonoverlapping(field.as_ptr().cast::<c_char>(), dst, field.len());
            *dst.add(field.len()) = 0;
            ptrs[i] = dst;
        }
        off += field.len() + 1;
    }
    // SAFETY: pwd is valid for writes (caller contract).
    unsafe {
        (*pwd).pw_name = ptrs[0];
        (*pwd).pw_passwd = ptrs[1];
        (*pwd).pw_gecos = ptrs[2];
        (*pwd).pw_dir = ptrs[3];
        (*pwd).pw_shell = ptrs[4];
        (*pwd).pw_uid = entry.uid;
        (*pwd).pw_gid = entry.gid;
    }
    Ok(())
}

/// Turn an entry into an NSS status, filling the caller's buffers.
///
/// # Safety
/// As for `fill`.
unsafe fn deliver(
    entry: Option<PwEntry>,
    errno: Option<i32>,
    pwd: *mut libc::passwd,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> nss_status {
    if let Some(e) = errno {
        set_errno(errnop, e);
        return NSS_STATUS_UNAVAIL;
    }
    let Some(entry) = entry else {
        set_errno(errnop, libc::ENOENT);
        return NSS_STATUS_NOTFOUND;
    };
    if pwd.is_null() {
        set_errno(errnop, libc::EINVAL);
        return NSS_STATUS_UNAVAIL;
    }
    // SAFETY: caller contract.
    match unsafe { fill(&entry, pwd, buf, buflen) } {
        Ok(()) => NSS_STATUS_SUCCESS,
        Err(()) => {
            // glibc retries with a bigger buffer.
            set_errno(errnop, libc::ERANGE);
            NSS_STATUS_TRYAGAIN
        }
    }
}

fn lookup(key: Key<'_>) -> (Option<PwEntry>, Option<i32>) {
    let Some(_inside) = Reentered::enter() else {
        return (None, None);
    };
    // One uname per lookup: the snapshot's check and the facts share it.
    let host = sys::host_name();
    if let Some(hit) = cached_answer(key, &host) {
        return (hit, None);
    }
    match logic::answer(key, &Glibc { host }, &Cached) {
        Answer::Found(e) => {
            remember(key, Some(e.clone()));
            (Some(e), None)
        }
        Answer::NotFound => {
            remember(key, None);
            (None, None)
        }
        // Remembered as "not ours": later lookups let the chain answer, so
        // an edited entry shows at once, as without us.
        Answer::Unchanged(e) => {
            remember(key, None);
            (Some(e), None)
        }
        // Errors are not cached: the next call retries.
        Answer::Unavail(errno) => (None, Some(errno)),
    }
}

/// # Safety
/// glibc NSS contract: `name` NUL-terminated, `pwd` valid, `buf` valid for
/// `buflen` bytes, `errnop` valid.
#[no_mangle]
pub unsafe extern "C" fn _nss_tlog_getpwnam_r(
    name: *const c_char,
    pwd: *mut libc::passwd,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> nss_status {
    guard(errnop, || {
        if name.is_null() || is_reentered() {
            set_errno(errnop, libc::ENOENT);
            return NSS_STATUS_NOTFOUND;
        }
        // SAFETY: name is a NUL-terminated string (NSS contract).
        let name = unsafe { CStr::from_ptr(name) };
        let (entry, errno) = lookup(Key::Name(name));
        // SAFETY: NSS contract for the out-parameters.
        unsafe { deliver(entry, errno, pwd, buf, buflen, errnop) }
    })
}

/// # Safety
/// glibc NSS contract, as for `_nss_tlog_getpwnam_r`.
#[no_mangle]
pub unsafe extern "C" fn _nss_tlog_getpwuid_r(
    uid: libc::uid_t,
    pwd: *mut libc::passwd,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> nss_status {
    guard(errnop, || {
        if is_reentered() {
            set_errno(errnop, libc::ENOENT);
            return NSS_STATUS_NOTFOUND;
        }
        let (entry, errno) = lookup(Key::Uid(uid));
        // SAFETY: NSS contract for the out-parameters.
        unsafe { deliver(entry, errno, pwd, buf, buflen, errnop) }
    })
}

/// No enumeration: `getent passwd` must list each user once, from the
/// sources after us (UNAVAIL makes glibc move on).
#[no_mangle]
pub extern "C" fn _nss_tlog_setpwent(_stayopen: c_int) -> nss_status {
    NSS_STATUS_UNAVAIL
}

#[no_mangle]
pub extern "C" fn _nss_tlog_endpwent() -> nss_status {
    NSS_STATUS_UNAVAIL
}

/// # Safety
/// Never dereferences its arguments except `errnop` (NSS contract: valid).
#[no_mangle]
pub unsafe extern "C" fn _nss_tlog_getpwent_r(
    _pwd: *mut libc::passwd,
    _buf: *mut c_char,
    _buflen: usize,
    errnop: *mut c_int,
) -> nss_status {
    set_errno(errnop, libc::ENOENT);
    NSS_STATUS_NOTFOUND
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> PwEntry {
        PwEntry {
            name: b"alice".to_vec(),
            passwd: b"x".to_vec(),
            uid: 5,
            gid: 6,
            gecos: b"Alice".to_vec(),
            dir: b"/home/alice".to_vec(),
            shell: b"/usr/bin/tlog-rs-rec-session".to_vec(),
        }
    }

    /// What `deliver` wrote on success: shell, uid, gid.
    type Written = (Vec<u8>, u32, u32);

    /// `deliver` of `entry()` into a buffer of `len` bytes: the status, errno,
    /// and on success what it wrote.
    fn fill(len: usize) -> (nss_status, c_int, Option<Written>) {
        let mut buf = vec![0 as c_char; len.max(1)];
        // SAFETY: zeroed passwd is valid.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut errno = 0;
        // SAFETY: buf is valid for len bytes; pw and errno for writes.
        let st = unsafe {
            deliver(
                Some(entry()),
                None,
                &mut pw,
                buf.as_mut_ptr(),
                len,
                &mut errno,
            )
        };
        let written = (st == NSS_STATUS_SUCCESS).then(|| {
            // SAFETY: filled by deliver, pointing into buf, which is alive.
            let shell = unsafe { CStr::from_ptr(pw.pw_shell) };
            (shell.to_bytes().to_vec(), pw.pw_uid, pw.pw_gid)
        });
        (st, errno, written)
    }

    #[test]
    fn fill_reports_erange_for_every_too_small_buffer() {
        let need = 6 + 2 + 6 + 12 + 29;
        for len in 0..need {
            let (st, errno, _) = fill(len);
            assert_eq!(
                (st, errno),
                (NSS_STATUS_TRYAGAIN, libc::ERANGE),
                "len {len}"
            );
        }
        let (st, _, written) = fill(need);
        assert_eq!(st, NSS_STATUS_SUCCESS);
        let (shell, uid, gid) = written.unwrap();
        assert_eq!(shell, b"/usr/bin/tlog-rs-rec-session");
        assert_eq!((uid, gid), (5, 6));
    }

    #[test]
    fn reentrancy_flag_is_per_call_and_reset() {
        assert!(!is_reentered());
        {
            let _g = Reentered::enter().unwrap();
            assert!(is_reentered());
            assert!(Reentered::enter().is_none());
        }
        assert!(!is_reentered());
    }
}
