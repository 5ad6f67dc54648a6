//! Starting the recorded program: on a new pty (PTY mode) or with three
//! pipes (pipe mode: stdin, and stdout and stderr kept separate).

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::privilege::{become_user, cvt, StartUids};
use crate::signals::SignalPipe;
use crate::tty;
use tlog_rs_sys::cvt_r;

/// What to execute; everything is converted before fork so the child only
/// makes async-signal-safe calls.
pub struct Command {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

fn cstring(s: &OsString) -> io::Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte"))
}

impl Command {
    /// `env_set` entries replace (or add) variables of our environment;
    /// `env_remove` names are dropped.
    pub fn new(
        path: &OsString,
        argv: &[OsString],
        env_set: &[(OsString, OsString)],
        env_remove: &[&str],
    ) -> io::Result<Command> {
        let mut envp = Vec::new();
        for (k, v) in crate::privilege::original_environment() {
            if env_set.iter().any(|(s, _)| *s == k)
                || env_remove.iter().any(|r| k.as_bytes() == r.as_bytes())
            {
                continue;
            }
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            envp.push(cstring(&kv)?);
        }
        for (k, v) in env_set {
            let mut kv = k.clone();
            kv.push("=");
            kv.push(v);
            envp.push(cstring(&kv)?);
        }
        Ok(Command {
            path: cstring(path)?,
            argv: argv.iter().map(cstring).collect::<io::Result<_>>()?,
            envp,
        })
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int array.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: fresh fds from pipe2, owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// read(2) made again on EINTR; -1 on another error. Also runs in the
/// forked child: an OS error is only a number, nothing is allocated.
fn read_retrying(fd: RawFd, buf: &mut [u8]) -> isize {
    // SAFETY: buf is writable for its length.
    cvt_r(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }).unwrap_or(-1)
}

/// A forked child waiting at its gate: it runs nothing of the user's until
/// `release`, so the recorder can drop its privileges and log the session
/// start first. Dropped without `release`, the child exits without exec.
pub struct Gated {
    pid: libc::pid_t,
    gate: Option<OwnedFd>,
    exec_error: OwnedFd,
}

impl Gated {
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Let the child exec. An exec failure comes back as `Err` with the
    /// child's errno, after reaping it.
    pub fn release(mut self) -> io::Result<libc::pid_t> {
        let Some(gate) = self.gate.take() else {
            return Err(io::Error::other("the child was already released"));
        };
        // SAFETY: writing one byte from a valid buffer to our pipe.
        let n = unsafe { libc::write(gate.as_raw_fd(), b"g".as_ptr().cast(), 1) };
        drop(gate);
        if n != 1 {
            let e = io::Error::last_os_error();
            self.reap();
            return Err(e);
        }
        let mut e = [0u8; 4];
        if read_retrying(self.exec_error.as_raw_fd(), &mut e) == 4 {
            self.reap();
            return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(e)));
        }
        Ok(self.pid)
    }

    fn reap(&self) {
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        if self.gate.take().is_some() {
            // The closed gate makes the child _exit; collect it.
            self.reap();
        }
    }
}

/// Fork a child that waits at a gate, then takes the user's uid, runs
/// `setup` (async-signal-safe calls only) and execs.
fn fork_gated(
    cmd: &Command,
    signals: &SignalPipe,
    uids: StartUids,
    setup: impl Fn(),
) -> io::Result<Gated> {
    let (gate_r, gate_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let mut argv: Vec<*const libc::c_char> = cmd.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cmd.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: the child only calls async-signal-safe functions (close, read,
    // setresuid, setup - documented to -, sigaction, execve, write, _exit)
    // before exec or exit.
    let pid = cvt(unsafe { libc::fork() })?;
    if pid == 0 {
        // SAFETY: async-signal-safe calls on fds inherited from the parent;
        // argv/envp are NUL-terminated arrays of valid C strings.
        unsafe {
            libc::close(gate_w.as_raw_fd());
            let mut b = [0u8; 1];
            if read_retrying(gate_r.as_raw_fd(), &mut b) != 1 {
                libc::_exit(127);
            }
            let e = if become_user(uids) {
                setup();
                signals.restore_in_child();
                libc::execve(cmd.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                *libc::__errno_location()
            } else {
                libc::EPERM
            };
            libc::write(err_w.as_raw_fd(), (&e as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    drop(err_w);
    drop(gate_r);
    Ok(Gated {
        pid,
        gate: Some(gate_w),
        exec_error: err_r,
    })
}

pub struct PtyChild {
    pub child: Gated,
    pub master: OwnedFd,
}

/// Start the program on a new pty whose settings and size copy `outer`. The
/// pty is created with the user's file-system uid, so its slave belongs to
/// her as it would without us.
pub fn spawn_pty(
    cmd: &Command,
    outer: RawFd,
    signals: &SignalPipe,
    uids: StartUids,
) -> io::Result<PtyChild> {
    let (master, slave) = crate::privilege::as_user_fs(uids, tty::open_pty)?;
    if let Ok(t) = tty::get_termios(outer) {
        let _ = tty::set_termios(slave.as_raw_fd(), &t);
    }
    if let Some((cols, rows)) = tty::window_size(outer) {
        tty::set_window_size(slave.as_raw_fd(), cols, rows);
    }
    let s = slave.as_raw_fd();
    let child = fork_gated(cmd, signals, uids, || {
        // SAFETY: async-signal-safe calls in the child: new session with the
        // pty as controlling terminal, then it becomes stdin/stdout/stderr.
        unsafe {
            libc::setsid();
            libc::ioctl(s, libc::TIOCSCTTY, 0);
            libc::dup2(s, 0);
            libc::dup2(s, 1);
            libc::dup2(s, 2);
        }
    })?;
    drop(slave);
    set_nonblocking(master.as_raw_fd());
    Ok(PtyChild { child, master })
}

pub struct PipeChild {
    pub child: Gated,
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Start the program with a pipe for each of stdin, stdout and stderr.
pub fn spawn_pipes(cmd: &Command, signals: &SignalPipe, uids: StartUids) -> io::Result<PipeChild> {
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (a, b, c) = (in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd());
    let child = fork_gated(cmd, signals, uids, || {
        // SAFETY: dup2 is async-signal-safe; the targets drop CLOEXEC.
        unsafe {
            libc::dup2(a, 0);
            libc::dup2(b, 1);
            libc::dup2(c, 2);
        }
    })?;
    set_nonblocking(in_w.as_raw_fd());
    Ok(PipeChild {
        child,
        stdin: in_w,
        stdout: out_r,
        stderr: err_r,
    })
}

/// Find a program like execvp would: names with '/' as is, others in $PATH.
pub fn find_in_path(name: &OsString) -> Option<OsString> {
    if name.as_bytes().contains(&b'/') {
        return Some(name.clone());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let cand = dir.join(name);
        if let Ok(c) = CString::new(cand.as_os_str().as_bytes()) {
            // SAFETY: c is a valid C string.
            if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 && cand.is_file() {
                return Some(cand.into_os_string());
            }
        }
    }
    None
}
