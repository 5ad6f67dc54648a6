//! Starting the recorded program: on a new pty (PTY mode) or with three
//! pipes (pipe mode: stdin, and stdout and stderr kept separate).

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::signals::SignalPipe;
use crate::tty;

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
        for (k, v) in std::env::vars_os() {
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

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
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

/// Fork and exec. `setup` runs in the child (async-signal-safe calls only).
/// An exec failure comes back as `Err` with the child's errno, after reaping it.
fn fork_exec(cmd: &Command, signals: &SignalPipe, setup: impl Fn()) -> io::Result<libc::pid_t> {
    let (err_r, err_w) = pipe()?;
    let mut argv: Vec<*const libc::c_char> = cmd.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cmd.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: the child only calls async-signal-safe functions (setup is
    // documented to, sigaction, execve, write, _exit) before exec or exit.
    let pid = cvt(unsafe { libc::fork() })?;
    if pid == 0 {
        setup();
        signals.restore_in_child();
        // SAFETY: argv/envp are NUL-terminated arrays of valid C strings.
        unsafe {
            libc::execve(cmd.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            let e = *libc::__errno_location();
            libc::write(err_w.as_raw_fd(), (&e as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    drop(err_w);
    let mut e = [0u8; 4];
    // SAFETY: e is writable for 4 bytes; EOF (exec succeeded) returns 0.
    let n = loop {
        let n = unsafe { libc::read(err_r.as_raw_fd(), e.as_mut_ptr().cast(), 4) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        break n;
    };
    if n == 4 {
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(e)));
    }
    Ok(pid)
}

pub struct PtyChild {
    pub pid: libc::pid_t,
    pub master: OwnedFd,
}

/// Start the program on a new pty whose settings and size copy `outer`.
pub fn spawn_pty(cmd: &Command, outer: RawFd, signals: &SignalPipe) -> io::Result<PtyChild> {
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
    if let Ok(t) = tty::get_termios(outer) {
        let _ = tty::set_termios(slave.as_raw_fd(), &t);
    }
    if let Some((cols, rows)) = tty::window_size(outer) {
        tty::set_window_size(slave.as_raw_fd(), cols, rows);
    }
    let s = slave.as_raw_fd();
    let pid = fork_exec(cmd, signals, || {
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
    Ok(PtyChild { pid, master })
}

pub struct PipeChild {
    pub pid: libc::pid_t,
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Start the program with a pipe for each of stdin, stdout and stderr.
pub fn spawn_pipes(cmd: &Command, signals: &SignalPipe) -> io::Result<PipeChild> {
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (a, b, c) = (in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd());
    let pid = fork_exec(cmd, signals, || {
        // SAFETY: dup2 is async-signal-safe; the targets drop CLOEXEC.
        unsafe {
            libc::dup2(a, 0);
            libc::dup2(b, 1);
            libc::dup2(c, 2);
        }
    })?;
    set_nonblocking(in_w.as_raw_fd());
    Ok(PipeChild {
        pid,
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
