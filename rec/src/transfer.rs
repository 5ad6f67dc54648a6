//! The transfer loop: one poll() over the terminal/pipes, the signal pipe and
//! the latency deadline. Every chunk is handed to the encoder, and finished
//! messages go to the sink, BEFORE the chunk is forwarded (like tlog), so a
//! failing log in strict mode stops the I/O.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use tlog_format::Encoder;

use crate::signals::{SignalPipe, TERMINATING};
use crate::sink::{FailureMode, Sink, SinkError, WriteOutcome};
use crate::tty;

/// tlog's I/O buffer size: identical input gives identical packet splits.
const CHUNK: usize = 4096;

#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_written: u64,
    pub messages_dropped: u64,
}

#[derive(Debug)]
pub enum LoopEnd {
    /// The program exited (raw wait status) and its output is drained.
    Child(libc::c_int),
    /// The log could not be written and the failure mode is strict.
    SinkFailed(SinkError),
    /// The recorder got SIGTERM, SIGHUP or SIGINT.
    Signal(libc::c_int),
}

pub struct Options {
    pub log_input: bool,
    pub log_output: bool,
    pub log_window: bool,
    pub latency: Duration,
}

/// Encoder + sink + counters: everything that turns I/O into log messages.
pub struct Logger<'a> {
    pub enc: Encoder,
    pub sink: &'a mut dyn Sink,
    pub stats: Stats,
    pub failure_mode: FailureMode,
    pub warned: bool,
    start: Instant,
}

impl<'a> Logger<'a> {
    pub fn new(
        enc: Encoder,
        sink: &'a mut dyn Sink,
        failure_mode: FailureMode,
        start: Instant,
    ) -> Self {
        Logger {
            enc,
            sink,
            stats: Stats::default(),
            failure_mode,
            warned: false,
            start,
        }
    }

    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Hand every finished message to the sink.
    pub fn drain(&mut self) -> Result<(), SinkError> {
        while let Some(msg) = self.enc.pop_message() {
            match self.sink.write_message(&msg) {
                Ok(WriteOutcome::Written) => self.stats.messages_written += 1,
                Ok(WriteOutcome::Dropped) => self.stats.messages_dropped += 1,
                Err(e) if self.failure_mode == FailureMode::Strict => return Err(e),
                Err(e) => {
                    self.stats.messages_dropped += 1;
                    if !self.warned {
                        self.warned = true;
                        crate::warn(&format!(
                            "WARNING: session recording is failing, messages are being lost: {e}"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// End of recording: incomplete UTF-8 becomes binary, last message out.
    pub fn finish(&mut self) -> Result<(), SinkError> {
        self.enc.cut();
        self.enc.flush();
        self.drain()
    }
}

/// The program's I/O endpoints.
pub enum Endpoints {
    Pty {
        master: OwnedFd,
        /// The outer terminal, for SIGWINCH.
        outer: RawFd,
    },
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is writable for its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is readable for its length.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Blocking write of all bytes (our stdout/stderr belong to the caller and
/// are not switched to non-blocking). EAGAIN (a non-blocking fd we
/// inherited) waits for POLLOUT.
fn write_all_fd(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match write_fd(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut p, 1, -1) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One output stream of the program: where it is read and where it goes.
struct OutStream {
    from: RawFd,
    to: RawFd,
    open: bool,
    /// Our side stopped accepting (EPIPE): keep logging, stop forwarding.
    broken: bool,
}

/// Run until the program is done, the log fails (strict) or we are signalled.
pub fn run(
    log: &mut Logger,
    ends: &Endpoints,
    pid: libc::pid_t,
    signals: &SignalPipe,
    opts: &Options,
) -> LoopEnd {
    let (child_in, mut outs): (RawFd, Vec<OutStream>) = match ends {
        Endpoints::Pty { master, .. } => (
            master.as_raw_fd(),
            vec![OutStream {
                from: master.as_raw_fd(),
                to: 1,
                open: true,
                broken: false,
            }],
        ),
        Endpoints::Pipes {
            stdin,
            stdout,
            stderr,
        } => (
            stdin.as_raw_fd(),
            vec![
                OutStream {
                    from: stdout.as_raw_fd(),
                    to: 1,
                    open: true,
                    broken: false,
                },
                OutStream {
                    from: stderr.as_raw_fd(),
                    to: 2,
                    open: true,
                    broken: false,
                },
            ],
        ),
    };
    let pipe_mode = matches!(ends, Endpoints::Pipes { .. });
    let mut stdin_open = true;
    let mut child_in_open = true;
    let mut pending_in: Vec<u8> = Vec::new();
    let mut status: Option<libc::c_int> = None;
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; CHUNK];

    let reap = |status: &mut Option<libc::c_int>| {
        if status.is_none() {
            let mut st = 0;
            // SAFETY: non-blocking wait for our own child.
            if unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) } == pid {
                *status = Some(st);
            }
        }
    };
    // Pipe mode: give the program EOF on its stdin (our stdin ended or it
    // stopped reading). PTY mode has no such thing: the pty stays open.
    let close_child_in = |open: &mut bool| {
        if *open && pipe_mode {
            // SAFETY: replacing our write end with /dev/null closes the pipe
            // for the child (EOF) while keeping the fd number valid for
            // OwnedFd's later close.
            unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                if null >= 0 {
                    libc::dup3(null, child_in, libc::O_CLOEXEC);
                    libc::close(null);
                }
            }
        }
        *open = false;
    };

    // Reap only when SIGCHLD said so (and once at the start, in case the
    // program exited before its signal could be noticed): a waitpid per
    // iteration is a syscall per 4 KiB of output.
    let mut child_signalled = true;
    // Reused every iteration: the loop runs once per chunk of output.
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(5);
    let mut tags: Vec<u8> = Vec::with_capacity(5);
    loop {
        if child_signalled {
            child_signalled = false;
            reap(&mut status);
        }
        if status.is_some() && outs.iter().all(|o| !o.open) {
            return LoopEnd::Child(status.unwrap_or(0));
        }
        fds.clear();
        tags.clear();
        fds.push(libc::pollfd {
            fd: signals.fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        tags.push(b's');
        for (i, o) in outs.iter().enumerate() {
            if o.open {
                fds.push(libc::pollfd {
                    fd: o.from,
                    events: libc::POLLIN,
                    revents: 0,
                });
                tags.push(b'0' + i as u8);
            }
        }
        if stdin_open && child_in_open && pending_in.is_empty() {
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
            tags.push(b'i');
        }
        if child_in_open && !pending_in.is_empty() {
            fds.push(libc::pollfd {
                fd: child_in,
                events: libc::POLLOUT,
                revents: 0,
            });
            tags.push(b'w');
        }
        let timeout = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
            None => -1,
        };
        // SAFETY: fds is a valid array of pollfd of the given length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // poll itself failing is not recoverable; treat like a hangup.
            return LoopEnd::Signal(libc::SIGHUP);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            log.enc.flush();
            if let Err(e) = log.drain() {
                return LoopEnd::SinkFailed(e);
            }
        }
        for (p, tag) in fds.iter().zip(&tags) {
            if p.revents == 0 {
                continue;
            }
            match tag {
                b's' => {
                    for sig in signals.drain() {
                        if TERMINATING.contains(&sig) {
                            return LoopEnd::Signal(sig);
                        }
                        if sig == libc::SIGWINCH {
                            if let Endpoints::Pty { master, outer } = ends {
                                if let Some((cols, rows)) = tty::window_size(*outer) {
                                    if opts.log_window {
                                        let t = log.now();
                                        log.enc.window(t, cols, rows);
                                        if let Err(e) = log.drain() {
                                            return LoopEnd::SinkFailed(e);
                                        }
                                    }
                                    tty::set_window_size(master.as_raw_fd(), cols, rows);
                                }
                            }
                        }
                        if sig == libc::SIGCHLD {
                            child_signalled = true;
                        }
                    }
                }
                b'i' => match read_fd(0, &mut buf) {
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(0) | Err(_) => {
                        stdin_open = false;
                        close_child_in(&mut child_in_open);
                    }
                    Ok(n) => {
                        log.stats.bytes_in += n as u64;
                        if opts.log_input {
                            let t = log.now();
                            log.enc.input(t, &buf[..n]);
                            if let Err(e) = log.drain() {
                                return LoopEnd::SinkFailed(e);
                            }
                        }
                        pending_in.extend_from_slice(&buf[..n]);
                    }
                },
                b'w' => {}
                _ => {
                    let o = &mut outs[(tag - b'0') as usize];
                    match read_fd(o.from, &mut buf) {
                        Err(e)
                            if e.kind() == io::ErrorKind::WouldBlock
                                || e.kind() == io::ErrorKind::Interrupted => {}
                        // EIO: the pty's last slave fd is closed.
                        Ok(0) | Err(_) => o.open = false,
                        Ok(n) => {
                            log.stats.bytes_out += n as u64;
                            if opts.log_output {
                                let t = log.now();
                                log.enc.output(t, &buf[..n]);
                                if let Err(e) = log.drain() {
                                    return LoopEnd::SinkFailed(e);
                                }
                            }
                            if !o.broken && write_all_fd(o.to, &buf[..n]).is_err() {
                                o.broken = true;
                                if pipe_mode {
                                    // The reader is gone: let the program see
                                    // EPIPE too, as it would without us.
                                    o.open = false;
                                    // SAFETY: shutting our read end by
                                    // replacing it keeps the number valid.
                                    unsafe {
                                        let null = libc::open(
                                            c"/dev/null".as_ptr(),
                                            libc::O_RDONLY | libc::O_CLOEXEC,
                                        );
                                        if null >= 0 {
                                            libc::dup3(null, o.from, libc::O_CLOEXEC);
                                            libc::close(null);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Forward pending input as far as the program takes it.
        while child_in_open && !pending_in.is_empty() {
            match write_fd(child_in, &pending_in) {
                Ok(n) => {
                    pending_in.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    pending_in.clear();
                    close_child_in(&mut child_in_open);
                }
            }
        }
        if !stdin_open && pending_in.is_empty() {
            close_child_in(&mut child_in_open);
        }
        deadline = match (log.enc.has_unflushed(), deadline) {
            (false, _) => None,
            (true, Some(d)) => Some(d),
            (true, None) => Some(Instant::now() + opts.latency),
        };
    }
}
