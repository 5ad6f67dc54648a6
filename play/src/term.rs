//! The real terminal: waiting for keys with a timeout, and the signals that
//! end playback cleanly (tty checks, raw mode and window size are
//! tlog-rs-sys's, shared with the recorder).

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;
use tlog_rs_sys::cvt;

pub const STDIN: RawFd = 0;
pub const STDOUT: RawFd = 1;

pub use tlog_rs_sys::term::{is_tty, window_size, RawMode, Signals};

/// Waits until `fd` is readable or the timeout passes (None = forever).
/// Returns Ok(false) on timeout or when a signal interrupted the wait.
pub fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> io::Result<bool> {
    let ms = match timeout {
        None => -1,
        // Round up so we never wake just before a deadline and spin.
        Some(d) => d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32,
    };
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    match cvt(unsafe { libc::poll(&mut pfd, 1, ms) }) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sleeps, waking early on a signal (checked with [`signalled`]).
pub fn sleep(d: Duration) {
    let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: poll with no descriptors is a plain interruptible sleep.
    unsafe {
        libc::poll(std::ptr::null_mut(), 0, ms);
    }
}

/// Reads whatever key bytes are there (one read). Ok(None) means EOF; an
/// interrupted read gives Ok(Some(0)).
pub fn read_keys(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: buf is valid for buf.len() bytes.
    match cvt(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }) {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n as usize)),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Some(0)),
        Err(e) => Err(e),
    }
}

static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNALLED.store(sig, Ordering::SeqCst);
}

/// Catch SIGINT, SIGTERM and SIGHUP (no SA_RESTART, so waits return early)
/// so that the terminal is restored before we exit.
pub fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; sigaction is zero-initialised plain data.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The signal that asked us to stop, if any.
pub fn signalled() -> Option<i32> {
    match SIGNALLED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}
