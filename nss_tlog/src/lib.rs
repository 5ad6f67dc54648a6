//! `libnss_tlog.so.2`: glibc NSS module that swaps the login shell of users
//! the policy may record for the recorder (`passwd: tlog files ...`).
//!
//! Thin FFI shell around `tlog-rs-nss`: it answers from the policy snapshot
//! and hands every lookup the snapshot does not answer to
//! `libnss_tlog_fallback.so` (see `fallback`), so that the policy parsers are
//! not mapped into every process that resolves a user.
// Guest code: no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod fallback;
mod stubs;

use std::os::raw::{c_char, c_int};

use tlog_rs_nss::{nss_status, Out, WithoutSnapshot, NSS_STATUS_UNAVAIL};

const WITHOUT_SNAPSHOT: WithoutSnapshot<'static> = WithoutSnapshot::HandOn(&fallback::Fallback);

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
    // SAFETY: the caller's NSS contract, passed on.
    unsafe {
        tlog_rs_nss::getpwnam_r(
            name,
            Out::new(pwd, buf, buflen, errnop),
            None,
            WITHOUT_SNAPSHOT,
        )
    }
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
    // SAFETY: the caller's NSS contract, passed on.
    unsafe {
        tlog_rs_nss::getpwuid_r(
            uid,
            Out::new(pwd, buf, buflen, errnop),
            None,
            WITHOUT_SNAPSHOT,
        )
    }
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
    // SAFETY: errnop is valid (NSS contract).
    unsafe { tlog_rs_nss::getpwent_r(errnop) }
}
