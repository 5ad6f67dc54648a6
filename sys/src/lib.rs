//! `tlog-rs-sys`: the small system helpers that the recorder, the player and
//! the two cdylibs share, each written once.
//!
//! * [`term`]: a terminal's raw mode (restored on drop) and window size.
//! * [`ffi_guard`]: the panic guard of the two cdylibs.
//! * [`passwd`], [`nss`]: the passwd type, getpw*_r through glibc, and the
//!   underlying passwd lookup past our own NSS module; group names, host name.
//! * [`proc`]: `/proc/<pid>/stat` (parent, start time) and the ancestor walk.
//! * [`cvt`], [`cvt_r`]: the errno check of a libc call (and its EINTR retry).
// Linked into the cdylibs: no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod ffi_guard;
pub mod nss;
pub mod passwd;
pub mod proc;
pub mod term;

/// What a libc call returns: `c_int`, or `ssize_t` for read and write.
pub trait Ret: Copy + PartialOrd + Default {}
impl Ret for i32 {}
impl Ret for isize {}
impl Ret for i64 {}

/// The errno check of a libc call that returns -1 (or another negative
/// value) on failure: the value, or the error errno names.
pub fn cvt<T: Ret>(rc: T) -> std::io::Result<T> {
    if rc < T::default() {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// [`cvt`] of `call`, made again while a signal interrupts it (EINTR).
pub fn cvt_r<T: Ret>(mut call: impl FnMut() -> T) -> std::io::Result<T> {
    loop {
        match cvt(call()) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvt_turns_minus_one_into_errno() {
        // SAFETY: closing an fd number that is certainly not open.
        let e = cvt(unsafe { libc::close(-1) }).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        assert_eq!(cvt(3).unwrap(), 3);
        assert_eq!(cvt(0isize).unwrap(), 0);
    }

    #[test]
    fn cvt_r_makes_an_interrupted_call_again() {
        let mut calls = 0;
        let n = cvt_r(|| {
            calls += 1;
            if calls < 3 {
                // SAFETY: setting errno as a call interrupted by a signal would.
                unsafe { *libc::__errno_location() = libc::EINTR };
                -1isize
            } else {
                5
            }
        });
        assert_eq!((n.unwrap(), calls), (5, 3));
        let mut calls = 0;
        let e = cvt_r(|| {
            calls += 1;
            // SAFETY: closing an fd number that is certainly not open.
            unsafe { libc::close(-1) }
        });
        assert_eq!(
            (e.unwrap_err().raw_os_error(), calls),
            (Some(libc::EBADF), 1)
        );
    }
}
