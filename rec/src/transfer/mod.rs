//! The transfer loop: one poll() over the terminal/pipes, the signal pipe and
//! the latency deadline, dispatched as typed [`Event`]s to small handlers.
//! Every chunk is handed to the encoder, and finished messages go to the
//! sink, BEFORE the chunk is forwarded (like tlog), so a failing log in
//! strict mode stops the I/O.
//!
//! What is in memory and not yet in the sink is only the encoder's current,
//! unfinished message; the latency deadline closes it at most `latency`
//! after its first byte, also while a write to the user's side is blocked
//! (SIGALRM interrupts it). See rec/README.md for the bound at SIGKILL.

mod event;
mod relay;
#[cfg(test)]
mod tests;

use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

use tlog_rs_format::Encoder;

use crate::charset::{Charset, Conversion};

use crate::signals::{SignalPipe, SignalSource, TERMINATING};
use crate::sink::event::{message_id, IdRange};
use crate::sink::{EndReason, EventKind, FailureMode, SessionEvent, Sink, SinkError, WriteOutcome};
use crate::tty;
use event::{Interest, Registry};
use relay::{Chunk, Relay, Stream, Wiring};

#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_written: u64,
    pub messages_dropped: u64,
    /// Ids of the first and last message counted above (the end entry's
    /// `first_id`/`last_id`).
    pub ids: IdRange,
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
    /// Decoders of a non-UTF-8 terminal charset; `None`: bytes go to the
    /// encoder as they are (UTF-8 costs nothing extra).
    conv: Option<Conversion>,
    start: Instant,
    /// Wall-clock time at `start`, for entries written from the loop.
    start_wall: SystemTime,
}

impl<'a> Logger<'a> {
    pub fn new(
        enc: Encoder,
        sink: &'a mut dyn Sink,
        failure_mode: FailureMode,
        start: Instant,
    ) -> Self {
        let start_wall = SystemTime::now()
            .checked_sub(start.elapsed())
            .unwrap_or_else(SystemTime::now);
        Logger {
            enc,
            sink,
            stats: Stats::default(),
            failure_mode,
            warned: false,
            conv: None,
            start,
            start_wall,
        }
    }

    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// The terminal's charset: what is not UTF-8 is converted to it.
    pub fn set_charset(&mut self, charset: Charset) {
        self.conv = Conversion::new(charset);
    }

    /// Terminal input read at `t`, converted to UTF-8 if need be.
    pub fn input(&mut self, t: Duration, data: &[u8]) {
        match &mut self.conv {
            None => self.enc.input(t, data),
            Some(c) => c.input(&mut self.enc, t, data),
        }
    }

    /// Program output read at `t`, converted to UTF-8 if need be.
    pub fn output(&mut self, t: Duration, data: &[u8]) {
        match &mut self.conv {
            None => self.enc.output(t, data),
            Some(c) => c.output(&mut self.enc, t, data),
        }
    }

    /// Hand every finished message to the sink.
    pub fn drain(&mut self) -> Result<(), SinkError> {
        while let Some(msg) = self.enc.pop_message() {
            let id = message_id(&msg);
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
            self.stats.ids.note(id);
        }
        Ok(())
    }

    /// End of recording: incomplete characters become binary, last message out.
    pub fn finish(&mut self) -> Result<(), SinkError> {
        if let Some(c) = &mut self.conv {
            let t = self.start.elapsed();
            c.finish(&mut self.enc, t);
        }
        self.enc.cut();
        self.enc.flush();
        self.drain()
    }

    /// A session entry of `kind` with the counters so far: no end time for
    /// the start entry, now for the others; `end` is the exit status and
    /// reason of an end entry.
    pub fn session_event(&self, kind: EventKind, end: Option<(i32, EndReason)>) -> SessionEvent {
        SessionEvent {
            kind,
            start_time: self.start_wall,
            end_time: (kind != EventKind::Start).then(SystemTime::now),
            exit_status: end.map(|(code, _)| code),
            end_reason: end.map(|(_, reason)| reason),
            bytes_in: self.stats.bytes_in,
            bytes_out: self.stats.bytes_out,
            messages_written: self.stats.messages_written,
            messages_dropped: self.stats.messages_dropped,
        }
    }

    /// Evidence entry: the recorder was stopped and has been resumed (it got
    /// SIGCONT). The recording so far is in the sink before the entry.
    pub fn resumed(&mut self) -> Result<(), SinkError> {
        self.drain()?;
        let ev = self.session_event(EventKind::Resumed, None);
        self.sink.write_event(&ev)
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

/// The user's side of the session.
#[derive(Debug, Clone, Copy)]
struct UserFds {
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
}

const STDIO: UserFds = UserFds {
    stdin: 0,
    stdout: 1,
    stderr: 2,
};

/// What woke the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Signal,
    ChildOutput(Stream),
    UserInput,
    ChildWritable,
    LatencyDeadline,
}

/// The program; reaped only when SIGCHLD said so (a waitpid per chunk would
/// be a syscall per 4 KiB of output).
struct Child {
    pid: libc::pid_t,
    status: Option<libc::c_int>,
    reap_due: bool,
}

impl Child {
    fn reap_if_due(&mut self) {
        if self.reap_due && self.status.is_none() {
            let mut st = 0;
            // SAFETY: non-blocking wait for our own child.
            if unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) } == self.pid {
                self.status = Some(st);
            }
        }
        self.reap_due = false;
    }
}

/// tlog's latency: unfinished log data waits at most this long.
struct Latency<'s> {
    after: Duration,
    deadline: Option<Instant>,
    /// Arms SIGALRM for each new deadline, so that a write blocked on the
    /// user's side cannot hold the data longer.
    alarm: &'s dyn SignalSource,
}

impl Latency<'_> {
    fn timeout_ms(&self) -> i32 {
        match self.deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
            None => -1,
        }
    }

    fn due(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The deadline runs from the first unflushed byte, not the last. A
    /// stale alarm (the data went out earlier) only wakes the loop.
    fn rearm(&mut self, unflushed: bool) {
        self.deadline = match (unflushed, self.deadline) {
            (false, _) => None,
            (true, Some(d)) => Some(d),
            (true, None) => {
                self.alarm.set_alarm(self.after);
                Some(Instant::now() + self.after)
            }
        };
    }

    /// Close the unfinished message once the deadline has passed.
    fn flush_if_due(&mut self, log: &mut Logger) -> Result<(), SinkError> {
        if !self.due() {
            return Ok(());
        }
        self.deadline = None;
        log.enc.flush();
        log.drain()
    }
}

impl Drop for Latency<'_> {
    fn drop(&mut self) {
        self.alarm.set_alarm(Duration::ZERO);
    }
}

type Flow = ControlFlow<LoopEnd>;

fn logged(r: Result<(), SinkError>) -> Flow {
    match r {
        Ok(()) => Flow::Continue(()),
        Err(e) => Flow::Break(LoopEnd::SinkFailed(e)),
    }
}

struct Transfer<'l, 'a> {
    log: &'l mut Logger<'a>,
    ends: &'l Endpoints,
    signals: &'l dyn SignalSource,
    opts: &'l Options,
    relay: Relay,
    child: Child,
    latency: Latency<'l>,
    /// Our input is the user's terminal (PTY mode): its end is a hang-up.
    input_is_terminal: bool,
}

impl Transfer<'_, '_> {
    fn on_event(&mut self, ev: Event) -> Flow {
        match ev {
            Event::Signal => self.on_signals(),
            Event::ChildOutput(s) => self.on_child_output(s),
            Event::UserInput => self.on_user_input(),
            Event::ChildWritable => {
                self.relay.forward_pending();
                Flow::Continue(())
            }
            Event::LatencyDeadline => logged(self.latency.flush_if_due(self.log)),
        }
    }

    fn on_signals(&mut self) -> Flow {
        for sig in self.signals.drain() {
            match sig {
                s if TERMINATING.contains(&s) => return Flow::Break(LoopEnd::Signal(s)),
                libc::SIGWINCH => self.on_window_change()?,
                libc::SIGCHLD => self.child.reap_due = true,
                libc::SIGCONT => logged(self.log.resumed())?,
                _ => {}
            }
        }
        Flow::Continue(())
    }

    fn on_window_change(&mut self) -> Flow {
        let Endpoints::Pty { master, outer } = self.ends else {
            return Flow::Continue(());
        };
        let Some((cols, rows)) = tty::window_size(*outer) else {
            return Flow::Continue(());
        };
        if self.opts.log_window {
            let t = self.log.now();
            self.log.enc.window(t, cols, rows);
            logged(self.log.drain())?;
        }
        tty::set_window_size(master.as_raw_fd(), cols, rows);
        Flow::Continue(())
    }

    fn on_user_input(&mut self) -> Flow {
        let n = match self.relay.read_user_input() {
            Chunk::Data(n) => n,
            // The terminal went away (its master closed: a window closed
            // without a SIGHUP to us, as under `su -`): hang up the session
            // as the terminal would have, instead of leaving it running.
            Chunk::Ended if self.input_is_terminal => {
                return Flow::Break(LoopEnd::Signal(libc::SIGHUP))
            }
            _ => return Flow::Continue(()),
        };
        self.log.stats.bytes_in += n as u64;
        if self.opts.log_input {
            let t = self.log.now();
            self.log.input(t, self.relay.chunk(n));
            logged(self.log.drain())?;
            self.latency.rearm(self.log.enc.has_unflushed());
        }
        self.relay.forward_user_input(n);
        Flow::Continue(())
    }

    fn on_child_output(&mut self, s: Stream) -> Flow {
        let Chunk::Data(n) = self.relay.read_output(s) else {
            return Flow::Continue(());
        };
        self.log.stats.bytes_out += n as u64;
        if self.opts.log_output {
            let t = self.log.now();
            self.log.output(t, self.relay.chunk(n));
            logged(self.log.drain())?;
            // Before the write, which may block.
            self.latency.rearm(self.log.enc.has_unflushed());
        }
        let (log, latency) = (&mut *self.log, &mut self.latency);
        logged(
            self.relay
                .forward_output(s, n, &mut || latency.flush_if_due(log)),
        )
    }
}

/// Run until the program is done, the log fails (strict) or we are signalled.
pub fn run(
    log: &mut Logger,
    ends: &Endpoints,
    pid: libc::pid_t,
    signals: &SignalPipe,
    opts: &Options,
) -> LoopEnd {
    run_with(log, ends, pid, signals, opts, STDIO)
}

fn run_with(
    log: &mut Logger,
    ends: &Endpoints,
    pid: libc::pid_t,
    signals: &dyn SignalSource,
    opts: &Options,
    user: UserFds,
) -> LoopEnd {
    let wiring = match ends {
        Endpoints::Pty { master, .. } => Wiring {
            input: (user.stdin, master.as_raw_fd()),
            outputs: vec![(master.as_raw_fd(), user.stdout)],
            pipe_mode: false,
        },
        Endpoints::Pipes {
            stdin,
            stdout,
            stderr,
        } => Wiring {
            input: (user.stdin, stdin.as_raw_fd()),
            outputs: vec![
                (stdout.as_raw_fd(), user.stdout),
                (stderr.as_raw_fd(), user.stderr),
            ],
            pipe_mode: true,
        },
    };
    let mut t = Transfer {
        log,
        ends,
        signals,
        opts,
        relay: Relay::new(wiring),
        // Reap once at the start too: the program may have exited before
        // its SIGCHLD could be noticed.
        child: Child {
            pid,
            status: None,
            reap_due: true,
        },
        latency: Latency {
            after: opts.latency,
            deadline: None,
            alarm: signals,
        },
        input_is_terminal: matches!(ends, Endpoints::Pty { .. }) && tty::is_tty(user.stdin),
    };

    // Registration order is handling order: signals first, then output,
    // then input, like tlog.
    let mut reg = Registry::new();
    reg.register(signals.fd(), Interest::Readable, Event::Signal);
    let outputs: Vec<_> = t
        .relay
        .streams()
        .map(|(s, fd)| {
            (
                s,
                reg.register(fd, Interest::Readable, Event::ChildOutput(s)),
            )
        })
        .collect();
    let user_input = reg.register(
        t.relay.user_input_fd(),
        Interest::Readable,
        Event::UserInput,
    );
    let child_writable = reg.register(
        t.relay.program_input_fd(),
        Interest::Writable,
        Event::ChildWritable,
    );

    loop {
        t.child.reap_if_due();
        if let Some(st) = t.child.status {
            if t.relay.outputs_done() {
                return LoopEnd::Child(st);
            }
        }
        for &(s, h) in &outputs {
            reg.set_active(h, t.relay.output_open(s));
        }
        reg.set_active(user_input, t.relay.wants_user_input());
        reg.set_active(child_writable, t.relay.wants_program_writable());

        let ready = match reg.poll(t.latency.timeout_ms()) {
            Ok(r) => r,
            // poll itself failing is not recoverable; treat like a hangup.
            Err(_) => return LoopEnd::Signal(libc::SIGHUP),
        };
        if t.latency.due() {
            if let Flow::Break(end) = t.on_event(Event::LatencyDeadline) {
                return end;
            }
        }
        for &ev in ready {
            if let Flow::Break(end) = t.on_event(ev) {
                return end;
            }
        }
        t.latency.rearm(t.log.enc.has_unflushed());
    }
}
