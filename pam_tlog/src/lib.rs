//! `pam_tlog.so`: PAM session module that tells the recorder (the login shell
//! chosen by nss_tlog) whether and how to record this login.
//!
//! Thin FFI shell around `logic`: each entry point checks its pointers, runs
//! under `guard` (catch_unwind, silent panic hook), and maps the outcome to a
//! PAM code. No threads, no output on stdout/stderr (only pam_syslog and the
//! PAM conversation), no global state besides the once-installed panic hook.
// Guest code (or linked into it): no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod ffi;
pub mod logic;
use tlog_rs_policy::nss_passwd as sys;

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::path::Path;
use tlog_rs_sys::ffi_guard::catch;

use ffi::PamHandle;
use logic::{Args, EvidenceError, Host, Level, Outcome, Pam};
use sys::{Key, PwEntry};
use tlog_rs_policy::handoff::{self, Handoff, HandoffKey, Marks, ProcId};
use tlog_rs_policy::sys::LookupError;
use tlog_rs_policy::{Policy, PolicyError};
use tlog_rs_rec::sink::evidence::Evidence;

/// The real PAM handle.
struct Handle(*mut PamHandle);

impl Handle {
    fn item(&self, which: c_int) -> Option<String> {
        let mut p: *const c_void = std::ptr::null();
        // SAFETY: self.0 is the non-null handle PAM gave us; p is valid for writes.
        let rc = unsafe { ffi::pam_get_item(self.0, which, &mut p) };
        if rc != ffi::PAM_SUCCESS || p.is_null() {
            return None;
        }
        // SAFETY: string items are NUL-terminated strings owned by PAM.
        Some(
            unsafe { CStr::from_ptr(p.cast::<c_char>()) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// Strip NULs so a CString can always be built (messages only).
fn c_text(s: &str) -> CString {
    CString::new(s.replace('\0', "?")).unwrap_or_default()
}

impl Pam for Handle {
    fn user(&mut self) -> Option<String> {
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: valid handle; p valid for writes; NULL prompt is allowed.
        let rc = unsafe { ffi::pam_get_user(self.0, &mut p, std::ptr::null()) };
        if rc != ffi::PAM_SUCCESS || p.is_null() {
            return None;
        }
        // SAFETY: PAM returns a NUL-terminated string it owns.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
    fn service(&self) -> Option<String> {
        self.item(ffi::PAM_SERVICE)
    }
    fn tty(&self) -> Option<String> {
        self.item(ffi::PAM_TTY)
    }
    fn rhost(&self) -> Option<String> {
        self.item(ffi::PAM_RHOST)
    }
    fn xdisplay(&self) -> Option<String> {
        self.item(ffi::PAM_XDISPLAY)
    }
    fn getenv(&mut self, name: &str) -> Option<String> {
        let name = CString::new(name).ok()?;
        // SAFETY: valid handle, NUL-terminated name.
        let p = unsafe { ffi::pam_getenv(self.0, name.as_ptr()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: PAM returns a NUL-terminated string it owns.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
    fn putenv(&mut self, name: &str, value: &str) -> bool {
        let Ok(nv) = CString::new(format!("{name}={value}")) else {
            return false;
        };
        // SAFETY: valid handle; PAM copies the string.
        unsafe { ffi::pam_putenv(self.0, nv.as_ptr()) == ffi::PAM_SUCCESS }
    }
    fn unsetenv(&mut self, name: &str) {
        if let Ok(n) = CString::new(name) {
            // SAFETY: valid handle; "NAME" without '=' deletes the variable
            // (PAM_BAD_ITEM if it was not set, which we ignore).
            unsafe { ffi::pam_putenv(self.0, n.as_ptr()) };
        }
    }
    fn syslog(&self, level: Level, msg: &str) {
        let prio = match level {
            Level::Err => ffi::LOG_ERR,
            Level::Warning => ffi::LOG_WARNING,
            Level::Notice => ffi::LOG_NOTICE,
            Level::Info => ffi::LOG_INFO,
            Level::Debug => ffi::LOG_DEBUG,
        };
        let msg = c_text(msg);
        // SAFETY: valid handle; "%s" with one NUL-terminated string argument.
        // pam_syslog logs to LOG_AUTHPRIV with "pam_tlog(service:session)".
        unsafe { ffi::pam_syslog(self.0, prio, c"%s".as_ptr(), msg.as_ptr()) };
    }
    fn tell_user(&mut self, msg: &str) {
        let msg = c_text(msg);
        // SAFETY: valid handle; NULL response is allowed for PAM_ERROR_MSG;
        // "%s" with one NUL-terminated string argument.
        unsafe {
            ffi::pam_prompt(
                self.0,
                ffi::PAM_ERROR_MSG,
                std::ptr::null_mut(),
                c"%s".as_ptr(),
                msg.as_ptr(),
            )
        };
    }
}

/// The real system.
struct System;

impl Host for System {
    fn nss_entry(&self, user: &str) -> Result<Option<PwEntry>, LookupError> {
        let cuser = CString::new(user).map_err(|_| LookupError::NulInName)?;
        sys::getpw(Key::Name(&cuser)).map_err(LookupError::Os)
    }
    fn underlying_entry(&self, user: &str) -> Result<Option<PwEntry>, LookupError> {
        // The policy crate reads nsswitch.conf and asks the services after
        // `tlog` directly: no recursion into nss_tlog, and no nscd (which would
        // hand back our own swapped shell).
        tlog_rs_policy::sys::underlying_getpwnam(user)
    }
    fn groups(&self, user: &[u8], gid: u32) -> (Option<String>, Vec<String>) {
        sys::groups_of(user, gid)
    }
    fn host(&self) -> String {
        sys::host_name()
    }
    fn load_policy(&self, path: &str) -> Result<Policy, PolicyError> {
        Policy::load(Path::new(path))
    }
    fn refresh_nss_snapshot(&self, policy: &Policy, path: &str, host_name: &str) {
        if path != tlog_rs_policy::DEFAULT_POLICY_PATH {
            return;
        }
        // A failure only leaves NSS on its fallback, which parses the policy.
        let _ = tlog_rs_policy::snapshot::ensure_current(
            policy,
            path,
            host_name,
            Path::new(tlog_rs_policy::DEFAULT_SNAPSHOT_PATH),
        );
    }
    fn write_handoff(&self, h: &Handoff) -> std::io::Result<HandoffKey> {
        handoff::write(h)
    }
    fn remove_handoff(&self, key: HandoffKey) {
        let _ = handoff::remove(key);
    }
    fn prune_handoffs(&self) {
        handoff::prune_stale();
    }
    fn own_handoff(&self, uid: u32) -> Option<(Handoff, HandoffKey)> {
        let key = HandoffKey {
            pam: ProcId::current().ok()?,
            uid,
        };
        handoff::read_key_in(Path::new(handoff::HANDOFF_DIR), key, 0)
            .ok()
            .map(|h| (h, key))
    }
    fn prepare_recorder_account(&self, recorder: &str) -> Option<u32> {
        let uid = handoff::recorder_account(Path::new(recorder))?;
        handoff::ensure_consumed_dir(uid).ok()?;
        Some(uid)
    }
    fn recorder_account(&self, recorder: &str) -> Option<u32> {
        handoff::recorder_account(Path::new(recorder))
    }
    fn marks(&self, recorder_uid: u32, key: HandoffKey) -> Marks {
        handoff::marks(recorder_uid, key)
    }
    fn remove_marks(&self, marks: &Marks) {
        handoff::remove_found_marks(marks);
    }
    fn end_login_records(&self, pids: &[u32]) -> usize {
        tlog_rs_rec::utmp::end_entries(pids)
    }
    fn write_evidence(&self, h: &Handoff, ev: &Evidence) -> Result<(), EvidenceError> {
        let settings = tlog_rs_rec::sink::evidence::settings_for_handoff(&h.conf_text)
            .map_err(EvidenceError::Config)?;
        tlog_rs_rec::sink::evidence::write(&settings, ev, consumed_dir_owner())
            .map_err(EvidenceError::Write)
    }
    fn stack_reads_user_env(&self, service: &str) -> bool {
        tlog_rs_policy::graphical::stack_reads_user_env(Path::new("/etc/pam.d"), service)
    }
    fn uid_of(&self, user: &str) -> Option<u32> {
        let cuser = CString::new(user).ok()?;
        sys::getpw(Key::Name(&cuser)).ok().flatten().map(|e| e.uid)
    }
    fn accounts(&self) -> &dyn tlog_rs_policy::uid_match::Accounts {
        &tlog_rs_policy::sys::SystemAccounts
    }
}

/// The recorder account that must own a sidecar pam_tlog creates: the owner
/// of the consumption directory, which pam_tlog set up for it.
fn consumed_dir_owner() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(handoff::CONSUMED_DIR)
        .ok()
        .map(|m| m.uid())
        .filter(|&u| u != 0)
}

/// Collect argv into strings (non-UTF-8 arguments are reported as unknown).
///
/// # Safety
/// `argv` has `argc` valid NUL-terminated strings (or is null with argc 0).
unsafe fn collect_args(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    if argv.is_null() || argc <= 0 {
        return Vec::new();
    }
    (0..argc as usize)
        .filter_map(|i| {
            // SAFETY: i < argc (contract).
            let p = unsafe { *argv.add(i) };
            // SAFETY: NUL-terminated (contract).
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        })
        .collect()
}

/// Run an entry point: null checks, then the shared panic guard (no
/// unwinding into C, no panic message on the host's stderr).
///
/// # Safety
/// PAM module contract for `pamh`, `argc`, `argv`.
unsafe fn guard(
    pamh: *mut PamHandle,
    argc: c_int,
    argv: *const *const c_char,
    f: fn(&mut Handle, &Args) -> Outcome,
) -> c_int {
    if pamh.is_null() {
        return ffi::PAM_SESSION_ERR;
    }
    // SAFETY: forwarded contract.
    let raw = unsafe { collect_args(argc, argv) };
    let args = Args::parse(raw.iter().map(String::as_str));
    let fail_closed = args.fail_closed;
    let mut handle = Handle(pamh);
    match catch(|| f(&mut handle, &args)) {
        Some(Outcome::Success) => ffi::PAM_SUCCESS,
        Some(Outcome::Refused) => ffi::PAM_SESSION_ERR,
        None => {
            let mut handle = Handle(pamh);
            // Logging may itself fail; never unwind out of here.
            let _ = catch(|| {
                handle.syslog(
                    Level::Err,
                    &format!(
                        "internal error (panic); session {}",
                        if fail_closed {
                            "refused (fail=closed)"
                        } else {
                            "allowed (fail=open)"
                        }
                    ),
                );
                if fail_closed {
                    handle.tell_user("Session recording could not be set up; login refused.");
                }
            });
            if fail_closed {
                ffi::PAM_SESSION_ERR
            } else {
                ffi::PAM_IGNORE
            }
        }
    }
}

/// # Safety
/// Called by libpam with a valid handle and argv.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_open_session(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: PAM contract.
    unsafe { guard(pamh, argc, argv, |h, a| logic::open_session(h, &System, a)) }
}

/// # Safety
/// Called by libpam with a valid handle and argv.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_close_session(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: PAM contract. A logout never fails because of us.
    let rc = unsafe { guard(pamh, argc, argv, |h, a| logic::close_session(h, &System, a)) };
    if rc == ffi::PAM_SESSION_ERR {
        ffi::PAM_IGNORE
    } else {
        rc
    }
}
