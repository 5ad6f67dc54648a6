//! The program's I/O as one relay that owns both directions: the user's
//! input on its way to the program (with the bytes the program has not taken
//! yet) and the program's output streams on their way to the user. Logging
//! happens between `read_*` and `forward_*`, in the caller.

use std::io;
use std::os::fd::RawFd;

use crate::sink::SinkError;
use tlog_rs_sys::cvt;

/// tlog's I/O buffer size: identical input gives identical packet splits.
pub const CHUNK: usize = 4096;

/// One of the program's output streams. PTY mode has only `Out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    fn index(self) -> usize {
        match self {
            Stream::Out => 0,
            Stream::Err => 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    Open,
    /// Our side stopped accepting (EPIPE, PTY mode): keep logging, stop forwarding.
    Broken,
    /// Drained (EOF, or EIO when the pty's last slave fd closed), or cut off.
    Closed,
}

struct Outbound {
    from: RawFd,
    to: RawFd,
    state: OutState,
}

struct Inbound {
    from: RawFd,
    to: RawFd,
    /// Read from the user and logged, not yet taken by the program.
    pending: Vec<u8>,
    open: bool,
}

/// Outcome of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// `n` bytes are in [`Relay::chunk`].
    Data(usize),
    /// Nothing now (EAGAIN, EINTR).
    Again,
    /// The source ended; the relay has closed that direction.
    Ended,
}

pub struct Relay {
    input: Inbound,
    outputs: Vec<Outbound>,
    /// Pipe mode: ending a direction also ends the program's pipe, so the
    /// program sees EOF or EPIPE as it would without us. A pty stays open.
    pipe_mode: bool,
    buf: Vec<u8>,
}

/// `(from, to)` pairs: user stdin → program input, program outputs → user.
pub struct Wiring {
    pub input: (RawFd, RawFd),
    pub outputs: Vec<(RawFd, RawFd)>,
    pub pipe_mode: bool,
}

impl Relay {
    pub fn new(w: Wiring) -> Relay {
        Relay {
            input: Inbound {
                from: w.input.0,
                to: w.input.1,
                pending: Vec::new(),
                open: true,
            },
            outputs: w
                .outputs
                .into_iter()
                .map(|(from, to)| Outbound {
                    from,
                    to,
                    state: OutState::Open,
                })
                .collect(),
            pipe_mode: w.pipe_mode,
            buf: vec![0; CHUNK],
        }
    }

    pub fn streams(&self) -> impl Iterator<Item = (Stream, RawFd)> + '_ {
        [Stream::Out, Stream::Err]
            .into_iter()
            .zip(&self.outputs)
            .map(|(s, o)| (s, o.from))
    }

    pub fn user_input_fd(&self) -> RawFd {
        self.input.from
    }

    pub fn program_input_fd(&self) -> RawFd {
        self.input.to
    }

    /// The bytes of the last [`Chunk::Data`].
    pub fn chunk(&self, n: usize) -> &[u8] {
        &self.buf[..n]
    }

    pub fn output_open(&self, s: Stream) -> bool {
        self.outputs[s.index()].state != OutState::Closed
    }

    /// Every output stream is drained.
    pub fn outputs_done(&self) -> bool {
        self.outputs.iter().all(|o| o.state == OutState::Closed)
    }

    /// Read from the user only when the program has taken everything before.
    pub fn wants_user_input(&self) -> bool {
        self.input.open && self.input.pending.is_empty()
    }

    pub fn wants_program_writable(&self) -> bool {
        self.input.open && !self.input.pending.is_empty()
    }

    pub fn read_user_input(&mut self) -> Chunk {
        match read_chunk(self.input.from, &mut self.buf) {
            Chunk::Ended => {
                // Nothing is pending (we read only then): close at once.
                self.close_program_input();
                Chunk::Ended
            }
            c => c,
        }
    }

    /// Queue the last chunk for the program and hand it what it takes now.
    pub fn forward_user_input(&mut self, n: usize) {
        self.input.pending.extend_from_slice(&self.buf[..n]);
        self.forward_pending();
    }

    /// Write pending input as far as the program takes it without blocking.
    pub fn forward_pending(&mut self) {
        while self.input.open && !self.input.pending.is_empty() {
            match write_fd(self.input.to, &self.input.pending) {
                Ok(n) => {
                    self.input.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.input.pending.clear();
                    self.close_program_input();
                }
            }
        }
    }

    /// No more input for the program: EOF on its stdin in pipe mode.
    fn close_program_input(&mut self) {
        if self.input.open && self.pipe_mode {
            detach(self.input.to);
        }
        self.input.open = false;
    }

    pub fn read_output(&mut self, s: Stream) -> Chunk {
        let o = &mut self.outputs[s.index()];
        let c = read_chunk(o.from, &mut self.buf);
        if c == Chunk::Ended {
            o.state = OutState::Closed;
        }
        c
    }

    /// Hand the last chunk to the user (blocking: our stdout and stderr
    /// belong to the caller and stay as they are). While the write waits,
    /// `waiting` runs after each interruption (the latency alarm); its error
    /// abandons the write.
    pub fn forward_output(
        &mut self,
        s: Stream,
        n: usize,
        waiting: &mut dyn FnMut() -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let o = &mut self.outputs[s.index()];
        if o.state != OutState::Open {
            return Ok(());
        }
        match write_all_fd(o.to, &self.buf[..n], waiting) {
            Ok(()) => return Ok(()),
            Err(Blocked::Sink(e)) => return Err(e),
            Err(Blocked::Refused) => {}
        }
        if self.pipe_mode {
            // The reader is gone: let the program see EPIPE too.
            o.state = OutState::Closed;
            detach(o.from);
        } else {
            o.state = OutState::Broken;
        }
        Ok(())
    }
}

/// Why a blocking write gave up.
enum Blocked {
    /// The user's side refused the bytes (EPIPE, EIO...).
    Refused,
    Sink(SinkError),
}

fn read_chunk(fd: RawFd, buf: &mut [u8]) -> Chunk {
    match read_fd(fd, buf) {
        Ok(0) => Chunk::Ended,
        Ok(n) => Chunk::Data(n),
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted =>
        {
            Chunk::Again
        }
        // EIO: the pty's last slave fd is closed; anything else ends it too.
        Err(_) => Chunk::Ended,
    }
}

/// Cut our end of a pipe off from the program by putting /dev/null on its fd
/// number: the program sees EOF or EPIPE, and the number stays valid for its
/// `OwnedFd`'s later close.
fn detach(fd: RawFd) {
    // SAFETY: open and dup3 on /dev/null only replace our own fd `fd`.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup3(null, fd, libc::O_CLOEXEC);
            libc::close(null);
        }
    }
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is writable for its length.
    cvt(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }).map(|n| n as usize)
}

fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is readable for its length.
    cvt(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }).map(|n| n as usize)
}

/// Blocking write of all bytes. EAGAIN (a non-blocking fd we inherited)
/// waits for POLLOUT. Any turn after the first (a short write, EINTR, a
/// wait) first runs `waiting`.
fn write_all_fd(
    fd: RawFd,
    mut buf: &[u8],
    waiting: &mut dyn FnMut() -> Result<(), SinkError>,
) -> Result<(), Blocked> {
    let mut first = true;
    while !buf.is_empty() {
        if !std::mem::replace(&mut first, false) {
            waiting().map_err(Blocked::Sink)?;
        }
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
            Err(_) => return Err(Blocked::Refused),
        }
    }
    Ok(())
}
