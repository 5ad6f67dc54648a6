//! `libnss_tlog_fallback.so`: what `libnss_tlog.so.2` loads, from
//! `tlog-rs/` next to itself, when the policy snapshot does not answer a
//! lookup (no snapshot, a stale one, one this process may not read, or a
//! policy with a FreeIPA source). It parses the policy files, as the whole module did before the
//! split, and answers the same lookup with the same logic (`tlog-rs-nss`).
//!
//! It is not an NSS module itself (it exports no `_nss_*` names): only
//! libnss_tlog.so.2 calls it, with its reentrancy flag set, so the nested
//! lookups made here skip libnss_tlog.so.2 too.
// Guest code: no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::os::raw::{c_char, c_int};
use std::path::Path;

use tlog_rs_nss::{nss_status, Out, Parser, WithoutSnapshot};
use tlog_rs_policy::{Policy, PolicyCache, PolicyError};

/// Parses the default policy path.
struct Files;

impl Parser for Files {
    fn cached<'c>(
        &self,
        cache: &'c mut PolicyCache,
        recheck: bool,
    ) -> Result<&'c Policy, &'c PolicyError> {
        cache.get_checked(recheck)
    }
    fn load(&self) -> Result<Policy, PolicyError> {
        Policy::load(Path::new(tlog_rs_policy::DEFAULT_POLICY_PATH))
    }
}

const WITHOUT_SNAPSHOT: WithoutSnapshot<'static> = WithoutSnapshot::Parse(&Files);

/// libnss_tlog.so.2's `_nss_tlog_getpwnam_r`, with the policy parsed;
/// `host` is the host name libnss_tlog.so.2 looked up for this lookup.
///
/// # Safety
/// glibc NSS contract: `name` NUL-terminated, `pwd` valid, `buf` valid for
/// `buflen` bytes, `errnop` valid; `host` null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn tlog_rs_nss_fallback_getpwnam_r(
    name: *const c_char,
    pwd: *mut libc::passwd,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    host: *const c_char,
) -> nss_status {
    // SAFETY: host is null or NUL-terminated (contract above).
    let host = unsafe { host_name(host) };
    // SAFETY: the caller's NSS contract, passed on.
    unsafe {
        tlog_rs_nss::getpwnam_r(
            name,
            Out::new(pwd, buf, buflen, errnop),
            host,
            WITHOUT_SNAPSHOT,
        )
    }
}

/// libnss_tlog.so.2's `_nss_tlog_getpwuid_r`, with the policy parsed.
///
/// # Safety
/// As for `tlog_rs_nss_fallback_getpwnam_r`.
#[no_mangle]
pub unsafe extern "C" fn tlog_rs_nss_fallback_getpwuid_r(
    uid: libc::uid_t,
    pwd: *mut libc::passwd,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
    host: *const c_char,
) -> nss_status {
    // SAFETY: host is null or NUL-terminated (contract above).
    let host = unsafe { host_name(host) };
    // SAFETY: the caller's NSS contract, passed on.
    unsafe {
        tlog_rs_nss::getpwuid_r(
            uid,
            Out::new(pwd, buf, buflen, errnop),
            host,
            WITHOUT_SNAPSHOT,
        )
    }
}

/// The host name libnss_tlog.so.2 passed (None: look it up here).
///
/// # Safety
/// `host` is null or NUL-terminated.
unsafe fn host_name(host: *const c_char) -> Option<String> {
    if host.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated (caller contract).
    let host = unsafe { std::ffi::CStr::from_ptr(host) };
    host.to_str().ok().map(str::to_string)
}
