//! The outer terminal: raw mode (restored on drop) and window size.

use std::io;
use std::os::fd::RawFd;

/// Puts a terminal in raw mode with ISIG cleared (Ctrl-C goes to the
/// recorded program as a byte) and restores the saved settings on drop.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    pub fn enter(fd: RawFd) -> io::Result<RawMode> {
        let saved = get_termios(fd)?;
        let mut raw = saved;
        // SAFETY: raw is a valid termios.
        unsafe { libc::cfmakeraw(&mut raw) };
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: valid fd number and termios pointer.
        if unsafe { libc::tcsetattr(fd, libc::TCSADRAIN, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring settings read from the same fd.
        unsafe { libc::tcsetattr(self.fd, libc::TCSADRAIN, &self.saved) };
    }
}

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
        if unsafe { libc::ioctl(fd, libc::TIOCEXCL) } != 0 {
            return Err(io::Error::last_os_error());
        }
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

pub fn get_termios(fd: RawFd) -> io::Result<libc::termios> {
    // SAFETY: zeroed termios is a valid out-parameter.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(t)
}

pub fn set_termios(fd: RawFd, t: &libc::termios) -> io::Result<()> {
    // SAFETY: valid pointer.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// (cols, rows) of a terminal.
pub fn window_size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: zeroed winsize is a valid out-parameter for TIOCGWINSZ.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize to the pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return None;
    }
    Some((ws.ws_col, ws.ws_row))
}

pub fn set_window_size(fd: RawFd, cols: u16, rows: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty accepts any fd number.
    unsafe { libc::isatty(fd) == 1 }
}
