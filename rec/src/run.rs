//! One recording from start to end: identity, sink, start entry, notice,
//! spawn, transfer loop, end entry, exit status.

use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime};

use tlog_format::{Encoder, RecHeader};

use crate::config::Config;
use crate::identity;
use crate::nesting;
use crate::signals::SignalPipe;
use crate::sink::{self, EndReason, EventKind, FailureMode, RecIdentity, SessionEvent, Sink};
use crate::tap;
use crate::transfer::{self, Endpoints, Logger, LoopEnd, Options};
use crate::tty;

/// Exit status when the recorder itself fails (like tlog).
pub const EXIT_FAILURE: i32 = 1;
/// How long a program may take to exit after we end its session.
const KILL_GRACE: Duration = Duration::from_secs(3);

pub struct Plan {
    /// Program name for messages and the log's identifier.
    pub ident: &'static str,
    pub config: Config,
    /// Absolute path (or PATH-resolved) of the program.
    pub path: OsString,
    pub argv: Vec<OsString>,
    pub env_set: Vec<(OsString, OsString)>,
    /// Export the "already recorded" marker to the program.
    pub set_marker: bool,
    /// Warnings gathered while configuring, printed before the notice.
    pub warnings: Vec<String>,
}

/// Make the recorder non-dumpable: the recorded user (same uid) can then not
/// ptrace it, read its memory or take its log fd via /proc.
pub fn harden_process(comm: &str) {
    // SAFETY: prctl with these arguments only changes a process flag.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    // Cannot fail for our constant names; a failure only affects Cockpit's listing.
    let _ = crate::sink::journal::set_comm(comm);
}

/// Replace closed stdin/stdout/stderr with /dev/null so no file we open later
/// takes their number (tlog does the same).
pub fn stub_std_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries; open/dup2 on /dev/null are harmless.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) < 0 {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                if null >= 0 && null != fd {
                    libc::dup2(null, fd);
                    libc::close(null);
                }
            }
        }
    }
}

/// Shell-style status: exit code, or 128 + signal.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

/// Wait for the program; after `KILL_GRACE` it gets SIGKILL.
fn wait_child(pid: libc::pid_t) -> libc::c_int {
    let deadline = Instant::now() + KILL_GRACE;
    let mut killed = false;
    loop {
        let mut st = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        if r == pid || r < 0 {
            return st;
        }
        if !killed && Instant::now() >= deadline {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn warn(ident: &str, msg: &str) {
    crate::set_ident(ident);
    crate::warn(msg);
}

pub fn record(plan: Plan) -> i32 {
    let ident = plan.ident;
    let cfg = &plan.config;
    let fail = |msg: String| -> i32 {
        warn(ident, &msg);
        EXIT_FAILURE
    };
    let mut warnings = plan.warnings.clone();

    // Who and where. Any failure here refuses the session (fail closed).
    let rec = match identity::recording_id() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let user = match identity::user_name() {
        Ok(u) => u,
        Err(e) => return fail(e),
    };
    let session = match identity::audit_session() {
        Ok(s) => s,
        Err(e) => {
            warnings.push(format!("{e}; using {}", identity::NO_AUDIT_SESSION));
            identity::NO_AUDIT_SESSION
        }
    };
    let (host, host_warning) = identity::fqdn();
    warnings.extend(host_warning);
    let term = std::env::var("TERM").unwrap_or_default();
    let tty_name = identity::tty_name();
    let rec_identity = RecIdentity {
        rec: rec.clone(),
        user: user.clone(),
        host: host.clone(),
        term: term.clone(),
        tty: tty_name,
        audit_session: session,
        ident: ident.to_string(),
    };

    // The log. Strict: no log, no session.
    let settings = match cfg.sink_settings() {
        Ok(s) => s,
        Err(e) => return fail(format!("Invalid configuration: {e}")),
    };
    // Strict mode: an unwritable log refuses the session. Warn mode: the sink
    // reports the problem itself and is returned anyway; only bad settings fail.
    let mut sink: Box<dyn Sink> = match sink::open_sink(&settings, &rec_identity) {
        Ok(s) => s,
        Err(e) => {
            return fail(format!(
                "Failed creating log sink, refusing to start the session: {e}"
            ))
        }
    };
    let start_time = SystemTime::now();
    let mut event = SessionEvent {
        kind: EventKind::Start,
        start_time,
        end_time: None,
        exit_status: None,
        end_reason: None,
        bytes_in: 0,
        bytes_out: 0,
        messages_written: 0,
        messages_dropped: 0,
    };
    if let Err(e) = sink.write_event(&event) {
        if cfg.sink_failure == FailureMode::Strict {
            return fail(format!(
                "Failed logging the session start, refusing to start the session: {e}"
            ));
        }
        warnings.push(format!("WARNING: failed logging the session start: {e}"));
    }

    for w in &warnings {
        warn(ident, w);
    }
    eprint!("{}", cfg.notice);

    let signals = match SignalPipe::install() {
        Ok(s) => s,
        Err(e) => return fail(format!("Failed setting up signal handling: {e}")),
    };
    let outer = (0..3).find(|&fd| tty::is_tty(fd));
    let mut env_set = plan.env_set.clone();
    if plan.set_marker {
        if let Some(m) = nesting::own_marker() {
            env_set.push((nesting::MARKER_ENV.into(), m.into()));
        }
    }
    let cmd = match tap::Command::new(&plan.path, &plan.argv, &env_set, &[]) {
        Ok(c) => c,
        Err(e) => return fail(format!("Invalid command: {e}")),
    };

    let header = RecHeader {
        host,
        rec,
        user,
        term,
        session,
    };
    let start = Instant::now();
    let enc = Encoder::new(header, cfg.payload as usize, SystemTime::now());
    let mut log = Logger::new(enc, sink.as_mut(), cfg.sink_failure, start);

    let spawned = match outer {
        Some(tty_fd) => tap::spawn_pty(&cmd, tty_fd, &signals).map(|c| {
            (
                c.pid,
                Endpoints::Pty {
                    master: c.master,
                    outer: tty_fd,
                },
            )
        }),
        None => tap::spawn_pipes(&cmd, &signals).map(|c| {
            (
                c.pid,
                Endpoints::Pipes {
                    stdin: c.stdin,
                    stdout: c.stdout,
                    stderr: c.stderr,
                },
            )
        }),
    };
    let (pid, ends) = match spawned {
        Ok(x) => x,
        Err(e) => {
            warn(
                ident,
                &format!("Failed executing {}: {e}", plan.path.to_string_lossy()),
            );
            event.kind = EventKind::End;
            event.end_time = Some(SystemTime::now());
            event.exit_status = Some(127);
            event.end_reason = Some(EndReason::Exit);
            let _ = log.sink.write_event(&event);
            signals.uninstall();
            return 127;
        }
    };

    let mut raw = match (&ends, outer) {
        (Endpoints::Pty { .. }, Some(fd)) => {
            if cfg.log_window {
                let (cols, rows) = tty::window_size(fd).unwrap_or((0, 0));
                log.enc.window(Duration::ZERO, cols, rows);
            }
            tty::RawMode::enter(fd).ok()
        }
        _ => None,
    };
    let opts = Options {
        log_input: cfg.log_input,
        log_output: cfg.log_output,
        log_window: cfg.log_window,
        latency: Duration::from_secs(cfg.latency),
    };
    let end = match log.drain() {
        Ok(()) => transfer::run(&mut log, &ends, pid, &signals, &opts),
        Err(e) => LoopEnd::SinkFailed(e),
    };

    // Finish the recording, then the end entry, then the terminal.
    let (reason, code, forward) = match end {
        LoopEnd::Child(st) => {
            let reason = if libc::WIFSIGNALED(st) {
                EndReason::Signal(libc::WTERMSIG(st))
            } else {
                EndReason::Exit
            };
            match log.finish() {
                Ok(()) => (reason, exit_code(st), None),
                Err(e) => {
                    raw = None;
                    warn(ident, &format!("Failed writing the log: {e}"));
                    (EndReason::SinkFailure, EXIT_FAILURE, None)
                }
            }
        }
        LoopEnd::SinkFailed(e) => {
            raw = None;
            warn(
                ident,
                &format!("Failed writing the log, ending the session: {e}"),
            );
            (EndReason::SinkFailure, EXIT_FAILURE, Some(libc::SIGHUP))
        }
        LoopEnd::Signal(sig) => {
            let _ = log.finish();
            (EndReason::RecorderSignal(sig), 128 + sig, Some(sig))
        }
    };
    let stats = log.stats;
    event.kind = EventKind::End;
    event.end_time = Some(SystemTime::now());
    event.exit_status = Some(code);
    event.end_reason = Some(reason);
    event.bytes_in = stats.bytes_in;
    event.bytes_out = stats.bytes_out;
    event.messages_written = stats.messages_written;
    event.messages_dropped = stats.messages_dropped;
    let end_logged = log.sink.write_event(&event);
    drop(log);

    if let Some(sig) = forward {
        // The session ends with the recording: the program gets the signal
        // (and, in PTY mode, the hangup of its terminal when the master closes).
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, sig) };
        if sig != libc::SIGHUP {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGHUP) };
        }
    }
    drop(ends);
    wait_child(pid);
    drop(raw);
    if let Err(e) = end_logged {
        warn(ident, &format!("Failed logging the session end: {e}"));
    }
    signals.uninstall();
    if let EndReason::RecorderSignal(sig) = reason {
        // Die of the same signal, so our parent sees what happened.
        // SAFETY: default disposition then raise; returns only if it did not kill.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
    code
}
