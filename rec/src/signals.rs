//! Signals as bytes on a self-pipe, so the poll loop handles them in order
//! with I/O (sudo-rs style: no async, no work in handlers).

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use tlog_rs_sys::cvt;

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
/// Signals the loop acts on. SIGCONT: we were stopped (SIGSTOP cannot be
/// caught) and resumed; the loop leaves an evidence entry. SIGALRM: the
/// latency deadline, which must interrupt a write blocked on the user's side.
const NOTIFY: [libc::c_int; 4] = [libc::SIGCHLD, libc::SIGWINCH, libc::SIGCONT, libc::SIGALRM];
/// Job-control stops we ignore: a recorder that stops is a recorder that
/// does not record. (The program gets its own dispositions back.)
const IGNORED: [libc::c_int; 3] = [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];

/// Where the transfer loop learns about signals: a readable fd, then the
/// signal numbers in order. Tests feed the loop through their own pipe.
pub trait SignalSource {
    fn fd(&self) -> RawFd;
    fn drain(&self) -> Vec<libc::c_int>;
    /// Deliver SIGALRM after `after` (zero: cancel), interrupting a blocked
    /// write. Sources without a SIGALRM handler do nothing.
    fn set_alarm(&self, _after: std::time::Duration) {}
}

/// One-shot ITIMER_REAL; a zero duration cancels it.
fn set_itimer(after: std::time::Duration) {
    let value = libc::timeval {
        tv_sec: after.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        // A sub-microsecond rest still arms the timer.
        tv_usec: after
            .subsec_micros()
            .max(u32::from(after.subsec_nanos() > 0)) as libc::suseconds_t,
    };
    let t = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: value,
    };
    // SAFETY: a valid itimerval; the old value is not wanted.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &t, std::ptr::null_mut()) };
}

/// Our handlers while alive; the dispositions found at start come back in
/// `uninstall` or, at the latest, in `Drop` (an early return included).
pub struct SignalPipe {
    read: OwnedFd,
    _write: OwnedFd,
    /// Dispositions found at start, restored in the child before exec.
    saved: Vec<(libc::c_int, libc::sigaction)>,
    installed: Cell<bool>,
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
        cvt(libc::sigaction(sig, &sa, &mut old))?;
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
        // A Drop during the setup below restores what was saved so far.
        // SAFETY: fds is a valid 2-int array.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
        // SAFETY: pipe2 just returned these fds; we own them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        PIPE_WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        let mut pipe = SignalPipe {
            read,
            _write: write,
            saved: Vec::new(),
            installed: Cell::new(true),
        };
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        for sig in NOTIFY {
            pipe.saved.push((sig, set_action(sig, handler)?));
        }
        for sig in TERMINATING {
            if current_action(sig).sa_sigaction != libc::SIG_IGN {
                pipe.saved.push((sig, set_action(sig, handler)?));
            }
        }
        // A vanished reader of our stdout must be an EPIPE we handle, not death.
        pipe.saved
            .push((libc::SIGPIPE, set_action(libc::SIGPIPE, libc::SIG_IGN)?));
        for sig in IGNORED {
            pipe.saved.push((sig, set_action(sig, libc::SIG_IGN)?));
        }
        Ok(pipe)
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

    /// Put everything back (before re-raising a signal or exec'ing). Only
    /// the first call (or `Drop`) restores: a later one must not undo a
    /// disposition the caller set in between (e.g. SIG_DFL before raise).
    pub fn uninstall(&self) {
        if self.installed.replace(false) {
            // A pending alarm must not meet SIGALRM's default (death).
            set_itimer(std::time::Duration::ZERO);
            self.restore_in_child();
            PIPE_WRITE_FD.store(-1, Ordering::Relaxed);
        }
    }
}

impl SignalSource for SignalPipe {
    fn fd(&self) -> RawFd {
        SignalPipe::fd(self)
    }

    fn drain(&self) -> Vec<libc::c_int> {
        SignalPipe::drain(self)
    }

    fn set_alarm(&self, after: std::time::Duration) {
        set_itimer(after);
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        self.uninstall();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler_of(sig: libc::c_int) -> libc::sighandler_t {
        current_action(sig).sa_sigaction
    }

    /// The only test in this crate that installs real handlers: they are
    /// process-wide, so everything is checked in one go.
    #[test]
    fn handlers_are_installed_then_restored_by_drop_and_uninstall_is_idempotent() {
        let before: Vec<_> = [libc::SIGTSTP, libc::SIGCONT, libc::SIGTERM, libc::SIGWINCH]
            .iter()
            .map(|&s| handler_of(s))
            .collect();
        {
            let pipe = SignalPipe::install().unwrap();
            assert_eq!(handler_of(libc::SIGTSTP), libc::SIG_IGN);
            assert_eq!(handler_of(libc::SIGTTOU), libc::SIG_IGN);
            assert_ne!(handler_of(libc::SIGCONT), libc::SIG_DFL);
            // SIGCONT reaches the loop like any notified signal.
            // SAFETY: signalling ourselves; our handler only writes a byte.
            unsafe { libc::raise(libc::SIGCONT) };
            assert!(pipe.drain().contains(&libc::SIGCONT));
            // An early return: no uninstall, only Drop.
        }
        let after: Vec<_> = [libc::SIGTSTP, libc::SIGCONT, libc::SIGTERM, libc::SIGWINCH]
            .iter()
            .map(|&s| handler_of(s))
            .collect();
        assert_eq!(before, after, "Drop restores the dispositions");

        let pipe = SignalPipe::install().unwrap();
        pipe.uninstall();
        assert_eq!(handler_of(libc::SIGTSTP), before[0]);
        // What the caller sets after uninstall survives a second call and Drop.
        // SAFETY: setting a disposition of a signal nobody sends in this test.
        unsafe { libc::signal(libc::SIGWINCH, libc::SIG_IGN) };
        pipe.uninstall();
        drop(pipe);
        assert_eq!(handler_of(libc::SIGWINCH), libc::SIG_IGN);
        // SAFETY: as above, back to the default.
        unsafe { libc::signal(libc::SIGWINCH, libc::SIG_DFL) };
    }
}
