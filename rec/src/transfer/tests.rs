//! The loop over real pipes (pipe mode) or ptys (PTY mode), a real (exited)
//! child, a fake signal source and a fake sink; the "program" and the
//! "terminal" are driven from a second thread.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tlog_rs_format::{Encoder, RecHeader};

use super::*;
use crate::sink::{SessionEvent, SinkError};

fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-int array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just returned these fds; we own them.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

fn readable_now(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

#[derive(Default)]
struct Seen {
    messages: Vec<Vec<u8>>,
    events: Vec<SessionEvent>,
    /// Per message: was the program's input pipe still empty when it came?
    input_unforwarded: Vec<bool>,
}

struct FakeSink {
    seen: Arc<Mutex<Seen>>,
    fail: bool,
    /// The program's end of its stdin, checked at every message.
    probe: Option<RawFd>,
}

impl Sink for FakeSink {
    fn write_message(&mut self, line: &[u8]) -> Result<WriteOutcome, SinkError> {
        if self.fail {
            return Err(SinkError {
                what: "fake sink failure".into(),
                source: None,
            });
        }
        let mut seen = self.seen.lock().unwrap();
        if let Some(fd) = self.probe {
            seen.input_unforwarded.push(!readable_now(fd));
        }
        seen.messages.push(line.to_vec());
        Ok(WriteOutcome::Written)
    }

    fn write_event(&mut self, event: &SessionEvent) -> Result<(), SinkError> {
        self.seen.lock().unwrap().events.push(event.clone());
        Ok(())
    }
}

struct FakeSignals {
    read: File,
    write: File,
}

impl FakeSignals {
    fn new() -> FakeSignals {
        let (read, write) = pipe();
        // SAFETY: F_SETFL on our own fd.
        unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        FakeSignals { read, write }
    }
}

impl SignalSource for FakeSignals {
    fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    fn drain(&self) -> Vec<libc::c_int> {
        let mut buf = [0u8; 16];
        match (&self.read).read(&mut buf) {
            Ok(n) => buf[..n].iter().map(|&b| b as libc::c_int).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// What the test thread holds: the program's and the terminal's ends.
struct Peer {
    prog_stdin: File,
    prog_stdout: Option<File>,
    prog_stderr: Option<File>,
    user_in: Option<File>,
    user_out: File,
    user_err: File,
    signal: File,
    pid: libc::pid_t,
}

impl Peer {
    fn signal(&mut self, sig: libc::c_int) {
        self.signal.write_all(&[sig as u8]).unwrap();
    }

    /// Wait until the program has exited (left unreaped), then say SIGCHLD.
    fn program_exited(&mut self) {
        // SAFETY: a zeroed siginfo_t is valid; WNOWAIT leaves the child to the loop.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            );
        }
        self.signal(libc::SIGCHLD);
    }
}

fn read_exactly(f: &mut File, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    f.read_exact(&mut v).unwrap();
    v
}

struct Outcome {
    end: LoopEnd,
    stats: Stats,
    seen: Arc<Mutex<Seen>>,
}

struct Setup {
    payload: usize,
    latency: Duration,
    fail: Option<FailureMode>,
    probe_input: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            payload: 2048,
            latency: Duration::from_secs(3600),
            fail: None,
            probe_input: false,
        }
    }
}

/// Run the loop in pipe mode in this thread while `drive` plays program
/// and terminal in another. The log is finished after the loop, as run.rs does.
fn session(setup: Setup, drive: impl FnOnce(&mut Peer, &Mutex<Seen>) + Send) -> Outcome {
    let (prog_stdin, our_stdin) = pipe();
    let (our_stdout, prog_stdout) = pipe();
    let (our_stderr, prog_stderr) = pipe();
    let (user_stdin, user_in) = pipe();
    let (user_out, user_stdout) = pipe();
    let (user_err, user_stderr) = pipe();
    crate::tap::set_nonblocking(our_stdin.as_raw_fd());
    let signals = FakeSignals::new();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let mut peer = Peer {
        prog_stdin,
        prog_stdout: Some(prog_stdout),
        prog_stderr: Some(prog_stderr),
        user_in: Some(user_in),
        user_out,
        user_err,
        signal: signals.write.try_clone().unwrap(),
        pid: child.id() as libc::pid_t,
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut sink = FakeSink {
        seen: seen.clone(),
        fail: setup.fail.is_some(),
        probe: setup.probe_input.then(|| peer.prog_stdin.as_raw_fd()),
    };
    let header = RecHeader {
        host: "h".into(),
        rec: "r".into(),
        user: "u".into(),
        term: "xterm".into(),
        session: 1,
    };
    let enc = Encoder::new(header, setup.payload, SystemTime::now());
    let mode = setup.fail.unwrap_or(FailureMode::Strict);
    let mut log = Logger::new(enc, &mut sink, mode, Instant::now());
    let ends = Endpoints::Pipes {
        stdin: OwnedFd::from(our_stdin),
        stdout: OwnedFd::from(our_stdout),
        stderr: OwnedFd::from(our_stderr),
    };
    let user = UserFds {
        stdin: user_stdin.as_raw_fd(),
        stdout: user_stdout.as_raw_fd(),
        stderr: user_stderr.as_raw_fd(),
    };
    let opts = Options {
        log_input: true,
        log_output: true,
        log_window: true,
        latency: setup.latency,
    };
    let end = std::thread::scope(|s| {
        let seen = &*seen;
        s.spawn(move || drive(&mut peer, seen));
        let pid = child.id() as libc::pid_t;
        let end = run_with(&mut log, &ends, pid, &signals, &opts, user);
        if matches!(end, LoopEnd::Child(_) | LoopEnd::Signal(_)) {
            log.finish().unwrap();
        }
        // Close our ends, so a driver still reading sees EOF.
        drop(ends);
        drop((user_stdin, user_stdout, user_stderr));
        end
    });
    // Reaped by the loop already, unless it ended before the exit.
    let _ = child.wait();
    Outcome {
        end,
        stats: log.stats,
        seen,
    }
}

/// Concatenated `field` (in_txt/out_txt) of the logged messages.
fn logged(seen: &Arc<Mutex<Seen>>, field: &str) -> String {
    let seen = seen.lock().unwrap();
    seen.messages
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(m).unwrap();
            v[field].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn input_is_logged_before_it_reaches_the_program() {
    let input: String = (0..200)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let sent = input.clone();
    let out = session(
        Setup {
            payload: 64,
            probe_input: true,
            ..Setup::default()
        },
        move |p, _| {
            p.user_in
                .as_mut()
                .unwrap()
                .write_all(sent.as_bytes())
                .unwrap();
            assert_eq!(read_exactly(&mut p.prog_stdin, sent.len()), sent.as_bytes());
            p.signal(libc::SIGTERM);
        },
    );
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGTERM)),
        "{:?}",
        out.end
    );
    let seen = out.seen.lock().unwrap();
    // The small payload splits the chunk: those messages came while it was read.
    let before = seen.input_unforwarded.iter().take_while(|&&b| b).count();
    assert!(before >= 2, "{:?}", seen.input_unforwarded);
    drop(seen);
    assert_eq!(logged(&out.seen, "in_txt"), input);
    assert_eq!(out.stats.bytes_in, 200);
}

#[test]
fn stdout_and_stderr_stay_apart_and_the_exit_ends_the_loop() {
    let out = session(Setup::default(), |p, _| {
        p.prog_stdout
            .as_mut()
            .unwrap()
            .write_all(b"to-out")
            .unwrap();
        assert_eq!(read_exactly(&mut p.user_out, 6), b"to-out");
        p.prog_stderr
            .as_mut()
            .unwrap()
            .write_all(b"to-err")
            .unwrap();
        assert_eq!(read_exactly(&mut p.user_err, 6), b"to-err");
        p.prog_stdout = None;
        p.prog_stderr = None;
        p.program_exited();
        let mut rest = Vec::new();
        p.user_out.read_to_end(&mut rest).unwrap();
        p.user_err.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{rest:?}");
    });
    match out.end {
        LoopEnd::Child(st) => assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0),
        e => panic!("{e:?}"),
    }
    assert_eq!(logged(&out.seen, "out_txt"), "to-outto-err");
    assert_eq!(out.stats.bytes_out, 12);
    assert_eq!(out.stats.messages_written, 1);
    assert_eq!(
        (out.stats.ids.first(), out.stats.ids.last()),
        (Some(1), Some(1))
    );
}

#[test]
fn eof_on_our_stdin_is_eof_on_the_programs_stdin() {
    let out = session(Setup::default(), |p, _| {
        p.user_in.as_mut().unwrap().write_all(b"last").unwrap();
        p.user_in = None;
        let mut got = Vec::new();
        // Ends only if the loop closed the program's stdin.
        p.prog_stdin.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"last");
        p.signal(libc::SIGHUP);
    });
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGHUP)),
        "{:?}",
        out.end
    );
    assert_eq!(logged(&out.seen, "in_txt"), "last");
}

#[test]
fn epipe_on_our_stdout_reaches_the_program_and_logging_goes_on() {
    let out = session(Setup::default(), |p, _| {
        // Nobody reads our stdout any more.
        let (_, dead) = pipe();
        drop(std::mem::replace(&mut p.user_out, dead));
        let prog = p.prog_stdout.as_mut().unwrap();
        prog.write_all(b"seen").unwrap();
        // Once the loop met EPIPE, the program meets it too.
        loop {
            match prog.write_all(b"+") {
                Ok(_) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::BrokenPipe);
                    break;
                }
            }
        }
        p.signal(libc::SIGTERM);
    });
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGTERM)),
        "{:?}",
        out.end
    );
    assert!(logged(&out.seen, "out_txt").starts_with("seen"));
}

/// Wait (bounded, generously) until the sink has seen `what`.
fn sink_sees(seen: &Mutex<Seen>, what: impl Fn(&Seen) -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if what(&seen.lock().unwrap()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn the_latency_deadline_flushes_without_more_io() {
    let out = session(
        Setup {
            latency: Duration::from_millis(20),
            ..Setup::default()
        },
        |p, seen| {
            p.prog_stdout.as_mut().unwrap().write_all(b"quiet").unwrap();
            assert_eq!(read_exactly(&mut p.user_out, 5), b"quiet");
            // No more I/O: only the deadline can finish the message.
            assert!(sink_sees(seen, |s| s.messages.len() == 1));
            p.signal(libc::SIGTERM);
        },
    );
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGTERM)),
        "{:?}",
        out.end
    );
    assert_eq!(logged(&out.seen, "out_txt"), "quiet");
}

#[test]
fn a_long_latency_keeps_the_message_open_until_the_end() {
    // The counterpart of the test above: without the deadline nothing is flushed.
    let out = session(Setup::default(), |p, seen| {
        p.prog_stdout.as_mut().unwrap().write_all(b"quiet").unwrap();
        assert_eq!(read_exactly(&mut p.user_out, 5), b"quiet");
        assert!(seen.lock().unwrap().messages.is_empty());
        p.signal(libc::SIGTERM);
    });
    assert_eq!(out.stats.messages_written, 1, "written by finish()");
}

#[test]
fn window_changes_and_unknown_signals_do_not_end_pipe_mode() {
    let out = session(Setup::default(), |p, _| {
        p.signal(libc::SIGWINCH);
        p.signal(libc::SIGUSR1);
        p.prog_stdout.as_mut().unwrap().write_all(b"still").unwrap();
        assert_eq!(read_exactly(&mut p.user_out, 5), b"still");
        p.signal(libc::SIGINT);
    });
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGINT)),
        "{:?}",
        out.end
    );
}

#[test]
fn a_failing_sink_in_strict_mode_stops_the_io() {
    let out = session(
        Setup {
            payload: 64,
            fail: Some(FailureMode::Strict),
            ..Setup::default()
        },
        |p, _| {
            // More than one message's worth: the encoder finishes one at once.
            p.prog_stdout
                .as_mut()
                .unwrap()
                .write_all(&[b'x'; 300])
                .unwrap();
            let mut got = Vec::new();
            // EOF when the loop has ended: nothing was forwarded.
            p.user_out.read_to_end(&mut got).unwrap();
            assert!(got.is_empty(), "forwarded {} bytes", got.len());
        },
    );
    assert!(matches!(out.end, LoopEnd::SinkFailed(_)), "{:?}", out.end);
    assert_eq!(out.stats.messages_written, 0);
}

#[test]
fn a_failing_sink_in_warn_mode_counts_drops_and_the_session_goes_on() {
    let out = session(
        Setup {
            payload: 64,
            fail: Some(FailureMode::Warn),
            ..Setup::default()
        },
        |p, _| {
            p.prog_stdout
                .as_mut()
                .unwrap()
                .write_all(&[b'x'; 300])
                .unwrap();
            assert_eq!(read_exactly(&mut p.user_out, 300), vec![b'x'; 300]);
            p.signal(libc::SIGTERM);
        },
    );
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGTERM)),
        "{:?}",
        out.end
    );
    assert_eq!(out.stats.messages_written, 0);
    assert!(out.stats.messages_dropped >= 2, "{:?}", out.stats);
    assert_eq!(out.stats.ids.first(), Some(1));
    assert_eq!(out.stats.ids.last(), Some(out.stats.messages_dropped));
}

#[test]
fn sigcont_leaves_a_resumed_entry_after_the_recording_so_far() {
    let out = session(
        Setup {
            payload: 64,
            ..Setup::default()
        },
        |p, seen| {
            p.prog_stdout
                .as_mut()
                .unwrap()
                .write_all(&[b'y'; 100])
                .unwrap();
            assert_eq!(read_exactly(&mut p.user_out, 100), vec![b'y'; 100]);
            p.signal(libc::SIGCONT);
            assert!(sink_sees(seen, |s| !s.events.is_empty()));
            p.signal(libc::SIGTERM);
        },
    );
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGTERM)),
        "{:?}",
        out.end
    );
    let seen = out.seen.lock().unwrap();
    assert_eq!(seen.events.len(), 1);
    let ev = &seen.events[0];
    assert_eq!(ev.kind, EventKind::Resumed);
    assert!(ev.end_time.is_some() && ev.end_reason.is_none());
    assert_eq!(ev.bytes_out, 100);
    assert!(ev.messages_written >= 1, "{ev:?}");
}

/// A pty pair: (master, slave).
fn pty() -> (File, File) {
    let (m, s) = crate::tty::open_pty().unwrap();
    (File::from(m), File::from(s))
}

/// PTY mode: the program holds the slave; the user's terminal is a pipe pair
/// plus `outer`, a second pty whose size the loop copies. `drive` gets the
/// slave, the outer pty, the user's stdout reader, the signal writer, and
/// with `terminal_input` the master of a third pty whose slave is our stdin
/// (the user's terminal window: closing it is a hang-up).
fn pty_session(
    latency: Duration,
    terminal_input: bool,
    drive: impl FnOnce(&mut File, &File, File, &mut File, &Mutex<Seen>, Option<File>) + Send,
) -> Outcome {
    let (master, mut slave) = pty();
    let (outer, _outer_slave) = pty();
    let (window, user_stdin, _user_in) = if terminal_input {
        let (m, s) = pty();
        (Some(m), s, None)
    } else {
        let (r, w) = pipe();
        (None, r, Some(w))
    };
    let (user_out, user_stdout) = pipe();
    crate::tap::set_nonblocking(master.as_raw_fd());
    let signals = FakeSignals::new();
    let mut signal = signals.write.try_clone().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut sink = FakeSink {
        seen: seen.clone(),
        fail: false,
        probe: None,
    };
    let enc = Encoder::new(RecHeader::default(), 2048, SystemTime::now());
    let mut log = Logger::new(enc, &mut sink, FailureMode::Strict, Instant::now());
    let ends = Endpoints::Pty {
        master: OwnedFd::from(master),
        outer: outer.as_raw_fd(),
    };
    let user = UserFds {
        stdin: user_stdin.as_raw_fd(),
        stdout: user_stdout.as_raw_fd(),
        stderr: user_stdout.as_raw_fd(),
    };
    let opts = Options {
        log_input: true,
        log_output: true,
        log_window: true,
        latency,
    };
    let end = std::thread::scope(|s| {
        let seen = &*seen;
        let outer = &outer;
        s.spawn(move || drive(&mut slave, outer, user_out, &mut signal, seen, window));
        run_with(&mut log, &ends, child.id() as i32, &signals, &opts, user)
    });
    let _ = child.wait();
    Outcome {
        end,
        stats: log.stats,
        seen,
    }
}

#[test]
fn pty_mode_window_changes_are_logged_and_applied() {
    let out = pty_session(
        Duration::from_millis(20),
        false,
        |slave, outer, _out, signal, seen, _| {
            crate::tty::set_window_size(outer.as_raw_fd(), 101, 37);
            signal.write_all(&[libc::SIGWINCH as u8]).unwrap();
            assert!(sink_sees(seen, |s| !s.messages.is_empty()));
            assert_eq!(crate::tty::window_size(slave.as_raw_fd()), Some((101, 37)));
            signal.write_all(&[libc::SIGTERM as u8]).unwrap();
        },
    );
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGTERM)),
        "{:?}",
        out.end
    );
    let seen = out.seen.lock().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&seen.messages[0]).unwrap();
    assert_eq!(v["timing"], "=101x37", "{v}");
}

#[test]
fn pty_mode_keeps_logging_when_our_stdout_is_gone() {
    let out = pty_session(
        Duration::from_millis(20),
        false,
        |slave, _outer, user_out, signal, seen, _| {
            drop(user_out);
            slave.write_all(b"one").unwrap();
            assert!(sink_sees(seen, |s| !s.messages.is_empty()));
            // The pty stays: the program goes on and is still recorded.
            slave.write_all(b"two").unwrap();
            assert!(sink_sees(seen, |s| s.messages.len() >= 2));
            signal.write_all(&[libc::SIGTERM as u8]).unwrap();
        },
    );
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGTERM)),
        "{:?}",
        out.end
    );
    assert_eq!(logged(&out.seen, "out_txt"), "onetwo");
    assert_eq!(out.stats.bytes_out, 6);
}

/// The user's terminal window closes (its master goes, no SIGHUP reaches us:
/// `su -` in a closed xterm): the loop ends as on SIGHUP, so the session is
/// hung up. With a pipe as our stdin, its EOF only ends the input.
#[test]
fn pty_mode_the_end_of_our_terminal_is_a_hangup() {
    let out = pty_session(
        Duration::from_millis(20),
        true,
        |slave, _outer, _out, _signal, seen, window| {
            slave.write_all(b"before").unwrap();
            assert!(sink_sees(seen, |s| !s.messages.is_empty()));
            drop(window);
        },
    );
    assert!(
        matches!(out.end, LoopEnd::Signal(libc::SIGHUP)),
        "{:?}",
        out.end
    );
    assert_eq!(logged(&out.seen, "out_txt"), "before");
}
