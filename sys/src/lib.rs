//! `tlog-rs-sys`: the small system helpers that the recorder, the player and
//! the two cdylibs share, each written once.
//!
//! * [`term`]: a terminal's raw mode (restored on drop) and window size.
//! * [`ffi_guard`]: the panic guard of the two cdylibs.
//! * [`cvt`]: the errno check of a libc call.
// Linked into the cdylibs: no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod ffi_guard;
pub mod term;

/// The errno check of a libc call that returns -1 (or another negative
/// value) on failure: the value, or the error errno names.
pub fn cvt(rc: libc::c_int) -> std::io::Result<libc::c_int> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
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
    }
}
