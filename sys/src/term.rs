//! A terminal: is it one, its window size, raw mode.
//!
//! The 0x0 rule: a pty that never got a size (a detached `script`, a pty
//! opened by a program that set none) reports 0 columns and 0 rows. That is
//! no size at all, so [`window_size`] gives `None` for it, as for a
//! descriptor that is not a terminal; callers use their fallback (80x24 for
//! the player, nothing copied or logged for the recorder).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::cvt;

/// A new pty pair (master, slave), both close-on-exec and neither the
/// controlling terminal of this process.
pub fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: plain libc calls on fds we own; ptsname_r writes into buf.
    let master = unsafe {
        let fd = cvt(libc::posix_openpt(
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ))?;
        OwnedFd::from_raw_fd(fd)
    };
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: as above.
    unsafe {
        cvt(libc::grantpt(master.as_raw_fd()))?;
        cvt(libc::unlockpt(master.as_raw_fd()))?;
        if libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: name is NUL-terminated by ptsname_r.
    let slave = unsafe {
        let fd = cvt(libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ))?;
        OwnedFd::from_raw_fd(fd)
    };
    Ok((master, slave))
}

pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}

/// (columns, rows) of the terminal on `fd`; `None` when it is not a
/// terminal or has no size (0 columns or 0 rows).
pub fn window_size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: zeroed winsize is a valid out-parameter for TIOCGWINSZ.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize to the pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return None;
    }
    (ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

pub fn set_window_size(fd: RawFd, cols: u16, rows: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

pub fn get_termios(fd: RawFd) -> io::Result<libc::termios> {
    // SAFETY: zeroed termios is a valid out-parameter.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a termios.
    cvt(unsafe { libc::tcgetattr(fd, &mut t) })?;
    Ok(t)
}

pub fn set_termios(fd: RawFd, t: &libc::termios) -> io::Result<()> {
    // SAFETY: valid pointer to a termios.
    cvt(unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) })?;
    Ok(())
}

/// What Ctrl-C, Ctrl-\ and Ctrl-Z do in raw mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    /// ISIG stays on: they still signal us (the player, like tlog-play).
    Keep,
    /// ISIG off: they are plain bytes (the recorder passes them to the
    /// recorded program; tlog-play's `--persist`).
    AsBytes,
}

/// A terminal in raw mode (cfmakeraw: no echo, no line editing, no output
/// processing, 8-bit; one byte is enough for a read), restoring the saved
/// settings on drop. Changes wait for pending output (TCSADRAIN), so what
/// was written before is processed with the settings it was written for.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    pub fn enter(fd: RawFd, signals: Signals) -> io::Result<RawMode> {
        let saved = get_termios(fd)?;
        let mut raw = saved;
        // SAFETY: raw is a valid termios.
        unsafe { libc::cfmakeraw(&mut raw) };
        if signals == Signals::Keep {
            raw.c_lflag |= libc::ISIG;
        }
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: valid fd number and termios pointer.
        cvt(unsafe { libc::tcsetattr(fd, libc::TCSADRAIN, &raw) })?;
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restoring settings read from the same fd.
        unsafe { libc::tcsetattr(self.fd, libc::TCSADRAIN, &self.saved) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    fn pty() -> (OwnedFd, OwnedFd) {
        open_pty().unwrap()
    }

    #[test]
    fn a_pty_without_a_size_has_none_until_it_gets_one() {
        let (_m, s) = pty();
        assert_eq!(window_size(s.as_raw_fd()), None);
        set_window_size(s.as_raw_fd(), 101, 0);
        assert_eq!(window_size(s.as_raw_fd()), None, "0 rows is no size");
        set_window_size(s.as_raw_fd(), 101, 37);
        assert_eq!(window_size(s.as_raw_fd()), Some((101, 37)));
        assert!(is_tty(s.as_raw_fd()));
    }

    #[test]
    fn not_a_terminal_has_no_size() {
        let mut fds = [-1; 2];
        // SAFETY: pipe writes two fds into the array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both fds were just opened and are owned by nobody else.
        let (r, _w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        assert_eq!(window_size(r.as_raw_fd()), None);
        assert!(!is_tty(r.as_raw_fd()));
    }

    #[test]
    fn raw_mode_clears_line_discipline_and_restores_on_drop() {
        let (_m, s) = pty();
        let fd = s.as_raw_fd();
        let before = get_termios(fd).unwrap();
        assert_ne!(before.c_lflag & libc::ICANON, 0);
        for (signals, isig) in [(Signals::Keep, true), (Signals::AsBytes, false)] {
            {
                let _raw = RawMode::enter(fd, signals).unwrap();
                let t = get_termios(fd).unwrap();
                assert_eq!(t.c_lflag & (libc::ICANON | libc::ECHO | libc::IEXTEN), 0);
                assert_eq!(t.c_oflag & libc::OPOST, 0);
                assert_eq!(t.c_iflag & libc::ICRNL, 0);
                assert_eq!(t.c_lflag & libc::ISIG != 0, isig, "{signals:?}");
                assert_eq!(t.c_cc[libc::VMIN], 1);
            }
            let after = get_termios(fd).unwrap();
            assert_eq!(
                (after.c_iflag, after.c_oflag, after.c_lflag),
                (before.c_iflag, before.c_oflag, before.c_lflag)
            );
        }
    }
}
