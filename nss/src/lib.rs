//! The NSS module's logic: which users get the recorder as their shell.
//! Two libraries run it, each a thin FFI shell over this crate:
//!
//! * `libnss_tlog.so.2` (nss_tlog/), the module glibc maps into every process
//!   that resolves a user, answers from the policy snapshot
//!   (`tlog_rs_policy::snapshot`) and hands every lookup the snapshot does not
//!   answer (none, stale, or a policy with sources a snapshot cannot hold) to
//! * `libnss_tlog_fallback.so` (nss_tlog_fallback/), which parses the policy
//!   files. It is loaded only then, so the TOML, sssd.conf and FreeIPA
//!   parsers stay out of every other process (issue 15).
//!
//! Every entry point runs under `guard` (catch_unwind, no output); the state
//! (snapshot, parsed policy, recent answers) is a static re-checked by file
//! stamps; the underlying entry comes from a nested glibc lookup with a
//! thread-local reentrancy flag, so the nested call skips us and the rest of
//! the chain answers. Each library has its own copy of that state and flag.
//!
//! Guest-code rules followed: no threads, no network, no global constructors,
//! the thread-local is a const-initialised `Cell<bool>` (no destructor), the
//! only lock is taken with `try_lock` so a child forked while another thread
//! held it never deadlocks (it then reads the policy for that lookup alone).
// Guest code (or linked into it): no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod answers;
pub mod logic;
pub use tlog_rs_policy::nss_passwd as sys;

use std::cell::Cell;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::path::Path;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use answers::AnswerCache;
use logic::{Answer, PolicyAccess, System};
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

/// What a module does with a lookup the snapshot does not answer.
#[derive(Clone, Copy)]
pub enum WithoutSnapshot<'a> {
    /// Parse the policy files (the fallback module).
    Parse(&'a dyn Parser),
    /// Hand the whole lookup to another module (libnss_tlog.so.2 to its
    /// fallback). Our reentrancy flag stays set meanwhile, so the nested
    /// lookups the other module makes skip us.
    HandOn(&'a dyn HandOn),
}

/// Parses the policy files.
pub trait Parser: Sync {
    /// The process-wide policy held in `cache`, re-parsed when a file
    /// changed (`recheck`: look at the files; else only if none is loaded).
    fn cached<'c>(
        &self,
        cache: &'c mut PolicyCache,
        recheck: bool,
    ) -> Result<&'c Policy, &'c PolicyError>;
    /// The policy parsed for one lookup (the process-wide state is busy).
    fn load(&self) -> Result<Policy, PolicyError>;
}

/// Answers a whole lookup elsewhere.
pub trait HandOn: Sync {
    /// The status of the lookup of `key` on `host` (this lookup's host name),
    /// written into `out`; or why the lookup could not be handed on (it then
    /// fails secure here).
    fn hand_on(&self, key: Key<'_>, host: &str, out: &Out) -> Result<nss_status, PolicyError>;
}

/// The caller's out-parameters. glibc NSS contract: `pwd` valid for writes,
/// `buf` valid for `buflen` bytes, `errnop` valid.
pub struct Out {
    pub pwd: *mut libc::passwd,
    pub buf: *mut c_char,
    pub buflen: usize,
    pub errnop: *mut c_int,
}

impl Out {
    pub fn new(pwd: *mut libc::passwd, buf: *mut c_char, buflen: usize, errnop: *mut c_int) -> Out {
        Out {
            pwd,
            buf,
            buflen,
            errnop,
        }
    }
}

thread_local! {
    /// Set while this thread runs a lookup: our own entry points then answer
    /// NOTFOUND at once, so glibc moves on to the next source.
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
        let c = std::ffi::CString::new(name).ok()?;
        sys::getpw(Key::Name(&c)).ok().flatten().map(|e| e.uid)
    }
}

/// Process-wide state: the policy snapshot (libnss_tlog.so.2) or the parsed
/// policy (the fallback), and recent answers.
struct State {
    policy: Option<PolicyCache>,
    snapshot: Option<SnapState>,
    /// The answers' generation: changes whenever the snapshot is read again
    /// or the policy re-parsed.
    generation: u64,
    answers: AnswerCache,
}

/// The snapshot file as last read (`tlog_rs_policy::snapshot`).
struct SnapState {
    file: FileStamp,
    read: Result<Arc<Snapshot>, SnapshotError>,
    /// When `file` was last found unchanged (or read).
    checked: Instant,
}

/// How long a module that hands lookups on trusts its last look at an
/// unusable snapshot's file: a new snapshot is used at most this late (the
/// fallback answers the same meanwhile), and warm lookups save a `stat`.
const RECHECK_UNUSABLE: Duration = Duration::from_secs(1);

static STATE: Mutex<State> = Mutex::new(State {
    policy: None,
    snapshot: None,
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

/// How often to retry a busy state lock before reading the policy for one
/// lookup alone.
const LOCK_TRIES: u32 = 64;

fn policy_cache(state: &mut State) -> &mut PolicyCache {
    state
        .policy
        .get_or_insert_with(|| PolicyCache::new(tlog_rs_policy::DEFAULT_POLICY_PATH.into()))
}

/// The policy a lookup is answered with, held for the whole lookup.
enum Access<'a> {
    Snapshot(Arc<Snapshot>),
    /// The process-wide parsed policy, checked against its files when the
    /// lookup started (each use takes it as it is then).
    Parsed(&'a dyn Parser),
    /// A policy parsed for this lookup alone (the state was busy).
    Own(Box<Policy>),
    /// Why there is no policy (a corrupt snapshot, a fallback that cannot be
    /// loaded, a policy that does not parse): fail secure.
    Broken(PolicyError),
}

impl PolicyAccess for Access<'_> {
    fn with(&self, f: &mut dyn FnMut(Result<&dyn NssView, &PolicyError>)) {
        match self {
            Access::Snapshot(s) => f(Ok(&**s)),
            Access::Own(p) => f(Ok(&**p)),
            Access::Broken(e) => f(Err(e)),
            Access::Parsed(parser) => with_parsed(*parser, f),
        }
    }
}

/// Run `f` with the process-wide parsed policy, as this lookup's start
/// checked it; with the lock busy, with one parsed for this call.
fn with_parsed(parser: &dyn Parser, f: &mut dyn FnMut(Result<&dyn NssView, &PolicyError>)) {
    let mut f = Some(f);
    let done = with_state(|st| {
        if let Some(f) = f.take() {
            f(parser
                .cached(policy_cache(st), false)
                .map(|p| p as &dyn NssView));
        }
    });
    if done.is_none() {
        if let Some(f) = f.take() {
            match parser.load() {
                Ok(p) => f(Ok(&p)),
                Err(e) => f(Err(&e)),
            }
        }
    }
}

/// How a lookup is answered.
enum View<'a> {
    /// A fresh remembered answer.
    Remembered(Option<PwEntry>),
    /// Compute it with this policy (`remember`: store the answer).
    Compute {
        access: Access<'a>,
        remember: bool,
    },
    HandOn(&'a dyn HandOn),
}

/// Decide how this lookup is answered: libnss_tlog.so.2 from the snapshot
/// (or hands it on), the fallback, which libnss_tlog.so.2 calls only when the
/// snapshot does not answer, from the policy it parses (it never reads the
/// snapshot).
fn view<'a>(key: Key<'_>, host: &str, without: WithoutSnapshot<'a>) -> View<'a> {
    let seen = with_state(|st| {
        let access = match without {
            WithoutSnapshot::Parse(parser) => parsed_access(st, parser),
            WithoutSnapshot::HandOn(other) => match snapshot_access(st, host) {
                Some(access) => access,
                None => return View::HandOn(other),
            },
        };
        match st.answers.get(key, Instant::now(), st.generation) {
            Some(hit) => View::Remembered(hit),
            None => View::Compute {
                access,
                remember: true,
            },
        }
    });
    seen.unwrap_or_else(|| uncached(host, without))
}

/// The state is busy: read the snapshot (or the policy) for this lookup alone.
fn uncached<'a>(host: &str, without: WithoutSnapshot<'a>) -> View<'a> {
    let access = match without {
        WithoutSnapshot::Parse(parser) => match parser.load() {
            Ok(p) => Access::Own(Box::new(p)),
            Err(e) => Access::Broken(e),
        },
        WithoutSnapshot::HandOn(other) => match read_snapshot(host).1 {
            Ok(s) => Access::Snapshot(Arc::new(s)),
            Err(SnapshotError::Corrupt(e)) => Access::Broken(e),
            Err(SnapshotError::Unusable(_)) => return View::HandOn(other),
        },
    };
    View::Compute {
        access,
        remember: false,
    }
}

fn read_snapshot(host: &str) -> (FileStamp, Result<Snapshot, SnapshotError>) {
    Snapshot::read(
        Path::new(tlog_rs_policy::DEFAULT_SNAPSHOT_PATH),
        tlog_rs_policy::DEFAULT_POLICY_PATH,
        host,
    )
}

/// The snapshot's answer now, or None if it does not answer. It is read on
/// the first lookup and again when its sources change; once it does not
/// answer, its file is looked at again at most once a second
/// (`RECHECK_UNUSABLE`) and read when it changed.
fn snapshot_access(st: &mut State, host: &str) -> Option<Access<'static>> {
    let now = Instant::now();
    let current = match st.snapshot.as_mut() {
        None => false,
        Some(SnapState { read: Ok(s), .. }) => {
            s.is_current(tlog_rs_policy::DEFAULT_POLICY_PATH, host)
        }
        Some(SnapState {
            read: Err(SnapshotError::Corrupt(_)),
            file,
            ..
        }) => file.unchanged(),
        Some(SnapState {
            read: Err(SnapshotError::Unusable(_)),
            file,
            checked,
        }) => {
            now.saturating_duration_since(*checked) < RECHECK_UNUSABLE
                || (file.unchanged() && {
                    *checked = now;
                    true
                })
        }
    };
    if !current {
        let (file, read) = read_snapshot(host);
        st.snapshot = Some(SnapState {
            file,
            read: read.map(Arc::new),
            checked: now,
        });
        st.generation += 1;
    }
    match st.snapshot.as_ref().map(|s| &s.read) {
        Some(Ok(s)) => Some(Access::Snapshot(Arc::clone(s))),
        Some(Err(SnapshotError::Corrupt(e))) => Some(Access::Broken(e.clone())),
        _ => None,
    }
}

/// The parsed policy, re-checked against its files (one `stat` each) and
/// re-parsed when one changed.
fn parsed_access<'a>(st: &mut State, parser: &'a dyn Parser) -> Access<'a> {
    let pc = policy_cache(st);
    let _ = parser.cached(pc, true);
    st.generation = pc.reloads();
    Access::Parsed(parser)
}

fn remember(key: Key<'_>, answer: Option<PwEntry>) {
    with_state(|st| {
        st.answers.put(key, Instant::now(), st.generation, answer);
    });
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
/// `out` as in the NSS contract (see [`Out`]).
unsafe fn deliver(entry: Option<PwEntry>, errno: Option<i32>, out: &Out) -> nss_status {
    if let Some(e) = errno {
        set_errno(out.errnop, e);
        return NSS_STATUS_UNAVAIL;
    }
    let Some(entry) = entry else {
        set_errno(out.errnop, libc::ENOENT);
        return NSS_STATUS_NOTFOUND;
    };
    if out.pwd.is_null() {
        set_errno(out.errnop, libc::EINVAL);
        return NSS_STATUS_UNAVAIL;
    }
    // SAFETY: caller contract.
    match unsafe { fill(&entry, out.pwd, out.buf, out.buflen) } {
        Ok(()) => NSS_STATUS_SUCCESS,
        Err(()) => {
            // glibc retries with a bigger buffer.
            set_errno(out.errnop, libc::ERANGE);
            NSS_STATUS_TRYAGAIN
        }
    }
}

/// The answer for `key` computed with `access`.
fn compute(
    key: Key<'_>,
    host: String,
    access: &Access<'_>,
    keep: bool,
) -> (Option<PwEntry>, Option<i32>) {
    let keep_as = |answer: Option<PwEntry>| {
        if keep {
            remember(key, answer);
        }
    };
    match logic::answer(key, &Glibc { host }, access) {
        Answer::Found(e) => {
            keep_as(Some(e.clone()));
            (Some(e), None)
        }
        Answer::NotFound => {
            keep_as(None);
            (None, None)
        }
        // Remembered as "not ours": later lookups let the chain answer, so
        // an edited entry shows at once, as without us.
        Answer::Unchanged(e) => {
            keep_as(None);
            (Some(e), None)
        }
        // Errors are not remembered: the next call retries.
        Answer::Unavail(errno) => (None, Some(errno)),
    }
}

/// # Safety
/// `out` as in the NSS contract (see [`Out`]).
unsafe fn lookup(
    key: Key<'_>,
    out: &Out,
    host: Option<String>,
    without: WithoutSnapshot<'_>,
) -> nss_status {
    let Some(_inside) = Reentered::enter() else {
        set_errno(out.errnop, libc::ENOENT);
        return NSS_STATUS_NOTFOUND;
    };
    // One uname per lookup: the snapshot's check, the facts and the module
    // a lookup is handed to share it.
    let host = host.unwrap_or_else(sys::host_name);
    let (entry, errno) = match view(key, &host, without) {
        View::Remembered(hit) => (hit, None),
        View::Compute { access, remember } => compute(key, host, &access, remember),
        View::HandOn(other) => match other.hand_on(key, &host, out) {
            Ok(status) => return status,
            Err(e) => compute(key, host, &Access::Broken(e), false),
        },
    };
    // SAFETY: caller contract.
    unsafe { deliver(entry, errno, out) }
}

/// `getpwent_r`: no enumeration, so that `getent passwd` lists each user
/// once, from the sources after us.
///
/// # Safety
/// `errnop` is null or valid for writes (glibc passes the thread's errno).
pub unsafe fn getpwent_r(errnop: *mut c_int) -> nss_status {
    set_errno(errnop, libc::ENOENT);
    NSS_STATUS_NOTFOUND
}

/// `getpwnam_r` of either module; `host`: this host's name if the caller
/// has it already (else it is looked up).
///
/// # Safety
/// glibc NSS contract: `name` NUL-terminated, `out` as in [`Out`].
pub unsafe fn getpwnam_r(
    name: *const c_char,
    out: Out,
    host: Option<String>,
    without: WithoutSnapshot<'_>,
) -> nss_status {
    guard(out.errnop, || {
        if name.is_null() || is_reentered() {
            set_errno(out.errnop, libc::ENOENT);
            return NSS_STATUS_NOTFOUND;
        }
        // SAFETY: name is a NUL-terminated string (NSS contract).
        let name = unsafe { CStr::from_ptr(name) };
        // SAFETY: NSS contract for the out-parameters.
        unsafe { lookup(Key::Name(name), &out, host, without) }
    })
}

/// `getpwuid_r` of either module; `host` as for [`getpwnam_r`].
///
/// # Safety
/// glibc NSS contract: `out` as in [`Out`].
pub unsafe fn getpwuid_r(
    uid: libc::uid_t,
    out: Out,
    host: Option<String>,
    without: WithoutSnapshot<'_>,
) -> nss_status {
    guard(out.errnop, || {
        if is_reentered() {
            set_errno(out.errnop, libc::ENOENT);
            return NSS_STATUS_NOTFOUND;
        }
        // SAFETY: NSS contract for the out-parameters.
        unsafe { lookup(Key::Uid(uid), &out, host, without) }
    })
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
        let out = Out {
            pwd: &mut pw,
            buf: buf.as_mut_ptr(),
            buflen: len,
            errnop: &mut errno,
        };
        // SAFETY: buf is valid for len bytes; pw and errno for writes.
        let st = unsafe { deliver(Some(entry()), None, &out) };
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
