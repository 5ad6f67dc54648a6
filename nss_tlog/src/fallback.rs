//! The hand-off to `libnss_tlog_fallback.so`, the module that parses the
//! policy files, for the lookups the snapshot does not answer.
//!
//! It is found next to this module (`tlog-rs/` in the directory this module
//! was loaded from, as the dynamic linker reports it), so it is exactly as
//! trusted as this module, and it is loaded on the first such lookup only.
//! If it cannot be loaded, the lookup fails secure as with a broken policy.

use std::ffi::{CStr, CString, OsStr};
use std::os::raw::{c_char, c_int, c_void};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicPtr, Ordering};

use tlog_rs_nss::sys::Key;
use tlog_rs_nss::{nss_status, HandOn, Out};
use tlog_rs_policy::PolicyError;

/// The fallback, relative to this module's directory.
pub const FALLBACK: &str = "tlog-rs/libnss_tlog_fallback.so";

/// The NSS functions' parameters, then this lookup's host name (or null).
type GetPwNam = unsafe extern "C" fn(
    *const c_char,
    *mut libc::passwd,
    *mut c_char,
    usize,
    *mut c_int,
    *const c_char,
) -> nss_status;
type GetPwUid = unsafe extern "C" fn(
    libc::uid_t,
    *mut libc::passwd,
    *mut c_char,
    usize,
    *mut c_int,
    *const c_char,
) -> nss_status;

/// The fallback's entry points once loaded (it is never unloaded).
static GETPWNAM: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static GETPWUID: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

pub struct Fallback;

impl HandOn for Fallback {
    fn hand_on(&self, key: Key<'_>, host: &str, out: &Out) -> Result<nss_status, PolicyError> {
        let (by_name, by_uid) = entry_points()?;
        // The fallback looks the host name up itself if it gets none.
        let host = CString::new(host).ok();
        let host = host.as_ref().map_or(std::ptr::null(), |h| h.as_ptr());
        // SAFETY: both are the fallback's entry points, with these C
        // signatures (nss_tlog_fallback/src/lib.rs); the name and the host
        // are NUL-terminated (or the host null) and outlive the call, and
        // `out` holds our caller's out-parameters, valid under the NSS
        // contract.
        Ok(unsafe {
            match key {
                Key::Name(name) => by_name(
                    name.as_ptr(),
                    out.pwd,
                    out.buf,
                    out.buflen,
                    out.errnop,
                    host,
                ),
                Key::Uid(uid) => by_uid(uid, out.pwd, out.buf, out.buflen, out.errnop, host),
            }
        })
    }
}

fn entry_points() -> Result<(GetPwNam, GetPwUid), PolicyError> {
    let (mut by_name, mut by_uid) = (
        GETPWNAM.load(Ordering::Acquire),
        GETPWUID.load(Ordering::Acquire),
    );
    if by_name.is_null() || by_uid.is_null() {
        (by_name, by_uid) = load()?;
    }
    // SAFETY: non-null pointers come only from `load`: dlsym of these two
    // functions in the fallback, which RTLD_NODELETE keeps mapped; their
    // types are the ones the fallback defines them with.
    Ok(unsafe {
        (
            std::mem::transmute::<*mut c_void, GetPwNam>(by_name),
            std::mem::transmute::<*mut c_void, GetPwUid>(by_uid),
        )
    })
}

/// dlopen the fallback and look up its entry points. Two threads may both
/// get here: dlopen of a loaded library only counts a reference.
fn load() -> Result<(*mut c_void, *mut c_void), PolicyError> {
    let path = fallback_path()?;
    let shown = String::from_utf8_lossy(path.as_bytes()).into_owned();
    // SAFETY: path is NUL-terminated; the library is ours and has no
    // constructors beyond the C runtime's.
    let handle = unsafe {
        libc::dlopen(
            path.as_ptr(),
            libc::RTLD_NOW | libc::RTLD_LOCAL | libc::RTLD_NODELETE,
        )
    };
    if handle.is_null() {
        return Err(failed(&shown, &dl_error()));
    }
    let mut found = [std::ptr::null_mut(); 2];
    let names = [
        c"tlog_rs_nss_fallback_getpwnam_r",
        c"tlog_rs_nss_fallback_getpwuid_r",
    ];
    for (slot, name) in found.iter_mut().zip(names) {
        // SAFETY: handle is a live dlopen handle; name is NUL-terminated.
        *slot = unsafe { libc::dlsym(handle, name.as_ptr()) };
        if slot.is_null() {
            return Err(failed(&shown, &dl_error()));
        }
    }
    GETPWNAM.store(found[0], Ordering::Release);
    GETPWUID.store(found[1], Ordering::Release);
    Ok((found[0], found[1]))
}

/// `tlog-rs/libnss_tlog_fallback.so` in this module's directory.
fn fallback_path() -> Result<CString, PolicyError> {
    // SAFETY: Dl_info is plain data, for which all zeroes is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: the address is a function of this module; info is valid for writes.
    let found = unsafe { libc::dladdr(fallback_path as *const c_void, &mut info) };
    let own = (found != 0 && !info.dli_fname.is_null()).then(|| {
        // SAFETY: dladdr set dli_fname to the dynamic linker's NUL-terminated
        // name of this module, valid while the module is loaded.
        Path::new(OsStr::from_bytes(
            unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes(),
        ))
    });
    let dir = own
        .filter(|p| p.is_absolute())
        .and_then(Path::parent)
        .ok_or_else(|| failed(FALLBACK, "the directory of libnss_tlog.so.2 is unknown"))?;
    CString::new(dir.join(FALLBACK).into_os_string().into_vec())
        .map_err(|_| failed(FALLBACK, "the module's path holds a NUL byte"))
}

fn dl_error() -> String {
    // SAFETY: dlerror has no preconditions; its message is per thread.
    let msg = unsafe { libc::dlerror() };
    if msg.is_null() {
        return "unknown error".into();
    }
    // SAFETY: a non-null dlerror message is a NUL-terminated string, valid
    // until this thread's next dl* call.
    unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned()
}

/// Why the policy cannot be used: every login is then recorded.
fn failed(path: &str, why: &str) -> PolicyError {
    PolicyError::new(
        path,
        None,
        format!("cannot load the policy fallback module: {why}"),
    )
}
