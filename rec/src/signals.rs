//! Signals as bytes on a self-pipe, so the poll loop handles them in order
//! with I/O (sudo-rs style: no async, no work in handlers).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

static PIPE_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: only async-signal-safe calls (errno access, write) are made.
    unsafe {
        let saved = *libc::__errno_location();
        let fd = PIPE_WRITE_FD.load(Ordering::Relaxed);
        if fd >= 0 {
            let b = sig as u8;
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
        *libc::__errno_location() = saved;
    }
}

/// Signals that end the recording when sent to the recorder (unless they were
/// already ignored when we started, like tlog).
pub const TERMINATING: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
const NOTIFY: [libc::c_int; 2] = [libc::SIGCHLD, libc::SIGWINCH];

pub struct SignalPipe {
    read: OwnedFd,
    _write: OwnedFd,
    /// Dispositions found at start, restored in the child before exec.
    saved: Vec<(libc::c_int, libc::sigaction)>,
}

fn set_action(sig: libc::c_int, handler: libc::sighandler_t) -> io::Result<libc::sigaction> {
    // SAFETY: zeroed sigaction is valid; sa_mask is emptied before use.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        libc::sigemptyset(&mut sa.sa_mask);
        // No SA_RESTART: a signal must wake poll() at once.
        sa.sa_flags = 0;
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &sa, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(old)
    }
}

fn current_action(sig: libc::c_int) -> libc::sigaction {
    // SAFETY: a null new action only queries.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old);
        old
    }
}

impl SignalPipe {
    pub fn install() -> io::Result<SignalPipe> {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid 2-int array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 just returned these fds; we own them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        PIPE_WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        let mut saved = Vec::new();
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        for sig in NOTIFY {
            saved.push((sig, set_action(sig, handler)?));
        }
        for sig in TERMINATING {
            if current_action(sig).sa_sigaction != libc::SIG_IGN {
                saved.push((sig, set_action(sig, handler)?));
            }
        }
        // A vanished reader of our stdout must be an EPIPE we handle, not death.
        saved.push((libc::SIGPIPE, set_action(libc::SIGPIPE, libc::SIG_IGN)?));
        Ok(SignalPipe {
            read,
            _write: write,
            saved,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Signals received since the last call, in order.
    pub fn drain(&self) -> Vec<libc::c_int> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: buf is writable for its length; the fd is ours.
            let n = unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.extend(buf[..n as usize].iter().map(|&b| b as libc::c_int));
        }
        out
    }

    /// In a forked child, before exec: the dispositions we inherited, and an
    /// empty signal mask. Async-signal-safe.
    pub fn restore_in_child(&self) {
        for (sig, sa) in &self.saved {
            // SAFETY: restoring a sigaction struct obtained from the kernel.
            unsafe { libc::sigaction(*sig, sa, std::ptr::null_mut()) };
        }
        // SAFETY: an empty set is valid; sigprocmask is async-signal-safe.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        }
    }

    /// Put everything back (before re-raising a signal or exec'ing).
    pub fn uninstall(&self) {
        self.restore_in_child();
        PIPE_WRITE_FD.store(-1, Ordering::Relaxed);
    }
}
