//! The outer terminal: exclusive mode here; raw mode (restored on drop) and
//! window size are tlog-rs-sys's, shared with the player.

use std::io;
use std::os::fd::RawFd;
use tlog_rs_sys::cvt;

pub use tlog_rs_sys::term::{
    get_termios, is_tty, open_pty, set_termios, set_window_size, window_size, RawMode, Signals,
};

/// Makes a terminal exclusive (TIOCEXCL) while held: further open(2)s of
/// its device fail with EBUSY for everyone but CAP_SYS_ADMIN, so the recorded
/// user cannot reach the outer terminal around the recorder
/// (`echo x > /dev/pts/N`). Open descriptors are unaffected. Cleared on drop.
pub struct Exclusive {
    fd: RawFd,
}

impl Exclusive {
    pub fn enter(fd: RawFd) -> io::Result<Exclusive> {
        // SAFETY: TIOCEXCL takes no argument.
        cvt(unsafe { libc::ioctl(fd, libc::TIOCEXCL) })?;
        Ok(Exclusive { fd })
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        // SAFETY: TIOCNXCL takes no argument.
        unsafe { libc::ioctl(self.fd, libc::TIOCNXCL) };
    }
}

/// True if the terminal is in exclusive mode (TIOCGEXCL).
pub fn is_exclusive(fd: RawFd) -> bool {
    let mut on: libc::c_int = 0;
    // SAFETY: TIOCGEXCL writes an int to the pointer.
    unsafe { libc::ioctl(fd, libc::TIOCGEXCL, &mut on) == 0 && on != 0 }
}
