//! One recording from start to end: identity, the gated child, the
//! privilege drop, sink and start entry, the transfer loop, end entry, exit
//! status. Each step is a small function; `record` only sequences them.

use std::ffi::OsString;
use std::os::fd::{AsFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

use tlog_rs_format::{Encoder, RecHeader};
use tlog_rs_policy::handoff::{self, HandoffKey, MarkState};

use crate::charset::{self, Charset};
use crate::config::Config;
use crate::identity;
use crate::nesting;
use crate::privilege::{self, StartUids};
use crate::signals::SignalPipe;
use crate::sink::{self, EndReason, EventKind, FailureMode, LoginMeta, RecIdentity, Sink};
use crate::tap::{self, Gated};
use crate::transfer::{self, Endpoints, Logger, LoopEnd, Options};
use crate::tty;
use crate::utmp;

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
    /// The PAM login this recording belongs to, for the consumption marks
    /// pam_tlog checks at close_session.
    pub login: Option<HandoffKey>,
    /// The uids we started with (user and recorder account).
    pub uids: StartUids,
    /// What PAM said about the login (empty outside PAM); uid and fqdn are
    /// filled in here.
    pub meta: LoginMeta,
    /// Enter the inner pty in utmp/wtmp (the login shell does; see utmp.rs).
    pub utmp: bool,
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

/// Wait for the program; after `KILL_GRACE` it gets SIGKILL. A recorder that
/// dropped to its own account may not signal the user's program: then the
/// hangup of its terminal is all it gets, and we stop waiting.
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
            if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
                return st;
            }
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn warn(ident: &str, msg: &str) {
    crate::set_ident(ident);
    crate::warn(msg);
}

/// Who and where: the identity of the log and the message header. Any
/// failure refuses the session (fail closed). Runs before the privilege drop:
/// the user is our real uid only until then.
fn identify(
    plan: &Plan,
    charset: Charset,
    warnings: &mut Vec<String>,
) -> Result<(RecIdentity, RecHeader), String> {
    let rec = identity::recording_id()?;
    let user = identity::user_name()?;
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
    let id = RecIdentity {
        rec: rec.clone(),
        user: user.clone(),
        host: host.clone(),
        term: term.clone(),
        tty: identity::tty_name(),
        audit_session: session,
        ident: plan.ident.to_string(),
        login: LoginMeta {
            uid: Some(plan.uids.user),
            fqdn: Some(host.clone()),
            ..plan.meta.clone()
        },
        charset: charset.to_string(),
    };
    let header = RecHeader {
        host,
        rec,
        user,
        term,
        session,
    };
    Ok((id, header))
}

/// The program's environment as tap::Command builds it: the login's
/// original one (what glibc hid from a set-id program included) with
/// `env_set` on top. Its locale variables decide the terminal charset.
fn child_environment(env_set: &[(OsString, OsString)]) -> Vec<(OsString, OsString)> {
    let mut env = privilege::original_environment();
    env.extend(env_set.iter().cloned());
    env
}

/// Fork the program behind its gate, on a pty when we have a terminal.
fn spawn(
    cmd: &tap::Command,
    outer: Option<RawFd>,
    signals: &SignalPipe,
    uids: StartUids,
) -> std::io::Result<(Gated, Endpoints)> {
    match outer {
        Some(tty_fd) => tap::spawn_pty(cmd, tty_fd, signals, uids).map(|c| {
            (
                c.child,
                Endpoints::Pty {
                    master: c.master,
                    outer: tty_fd,
                },
            )
        }),
        None => tap::spawn_pipes(cmd, signals, uids).map(|c| {
            (
                c.child,
                Endpoints::Pipes {
                    stdin: c.stdin,
                    stdout: c.stdout,
                    stderr: c.stderr,
                },
            )
        }),
    }
}

/// Mark the login's hand-off as consumed (or ended) for pam_tlog. Only a
/// recorder running as its own account can; a failure is only a warning
/// (pam_tlog then reports the session, which errs on the side of evidence).
fn mark(plan: &Plan, state: MarkState, rec: &str) {
    let Some(key) = plan.login else { return };
    if !plan.uids.is_split() {
        return;
    }
    if let Err(e) = handoff::mark(key, std::process::id(), state, rec) {
        warn(
            plan.ident,
            &format!(
                "cannot mark the login as {state} in {}: {e}",
                handoff::CONSUMED_DIR
            ),
        );
    }
}

/// How the loop ended: the end entry's reason, our exit code, the signal the
/// program gets from us (if any), and a failure to tell the user once the
/// terminal is back to normal.
struct Conclusion {
    reason: EndReason,
    code: i32,
    forward: Option<libc::c_int>,
    failure: Option<String>,
}

fn conclude(end: LoopEnd, log: &mut Logger) -> Conclusion {
    let failed = |failure: String, forward| Conclusion {
        reason: EndReason::SinkFailure,
        code: EXIT_FAILURE,
        forward,
        failure: Some(failure),
    };
    match end {
        LoopEnd::Child(st) => match log.finish() {
            Ok(()) => Conclusion {
                reason: if libc::WIFSIGNALED(st) {
                    EndReason::Signal(libc::WTERMSIG(st))
                } else {
                    EndReason::Exit
                },
                code: exit_code(st),
                forward: None,
                failure: None,
            },
            Err(e) => failed(format!("Failed writing the log: {e}"), None),
        },
        LoopEnd::SinkFailed(e) => failed(
            format!("Failed writing the log, ending the session: {e}"),
            Some(libc::SIGHUP),
        ),
        LoopEnd::Signal(sig) => {
            let _ = log.finish();
            Conclusion {
                reason: EndReason::RecorderSignal(sig),
                code: 128 + sig,
                forward: Some(sig),
                failure: None,
            }
        }
    }
}

pub fn record(plan: Plan) -> i32 {
    let ident = plan.ident;
    let cfg = &plan.config;
    let fail = |msg: String| -> i32 {
        warn(ident, &msg);
        EXIT_FAILURE
    };
    let mut warnings = plan.warnings.clone();
    let (charset, charset_warning) = charset::session_charset(&child_environment(&plan.env_set));
    warnings.extend(charset_warning);
    let (rec_identity, header) = match identify(&plan, charset, &mut warnings) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let settings = match cfg.sink_settings() {
        Ok(s) => s,
        Err(e) => return fail(format!("Invalid configuration: {e}")),
    };
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
    // The program waits at its gate until the session start is logged.
    let (gated, ends) = match spawn(&cmd, outer, &signals, plan.uids) {
        Ok(x) => x,
        Err(e) => {
            return fail(format!(
                "Failed starting {}: {e}",
                plan.path.to_string_lossy()
            ))
        }
    };
    // utmp/wtmp: the helper takes the user from our real uid, so before the
    // drop. Failing is not an error (no helper, no /var/run/utmp).
    let utmp_entry = match &ends {
        Endpoints::Pty { master, .. } if plan.utmp => {
            utmp::update(utmp::Op::Add, master.as_fd(), plan.meta.rhost.as_deref()).is_ok()
        }
        _ => false,
    };
    // From here on the user has no uid in this process.
    if let Err(e) = privilege::drop_to_recorder(plan.uids) {
        return fail(format!("Failed dropping to the recorder account: {e}"));
    }

    // The log. Strict: no log, no session. Warn mode: the sink reports the
    // problem itself and is returned anyway; only bad settings fail.
    let mut sink: Box<dyn Sink> = match sink::open_sink(&settings, &rec_identity) {
        Ok(s) => s,
        Err(e) => {
            return fail(format!(
                "Failed creating log sink, refusing to start the session: {e}"
            ))
        }
    };
    // The logger starts the session clock; every entry takes its start time.
    let start = Instant::now();
    let enc = Encoder::new(header, cfg.payload as usize, SystemTime::now());
    let mut log = Logger::new(enc, sink.as_mut(), cfg.sink_failure, start);
    log.set_charset(charset);
    let event = log.session_event(EventKind::Start, None);
    if let Err(e) = log.sink.write_event(&event) {
        if cfg.sink_failure == FailureMode::Strict {
            return fail(format!(
                "Failed logging the session start, refusing to start the session: {e}"
            ));
        }
        warnings.push(format!("WARNING: failed logging the session start: {e}"));
    }
    mark(&plan, MarkState::Started, &rec_identity.rec);
    for w in &warnings {
        warn(ident, w);
    }
    eprint!("{}", cfg.notice);

    let pty_outer = match (&ends, outer) {
        (Endpoints::Pty { .. }, Some(fd)) => Some(fd),
        _ => None,
    };
    // The outer terminal is ours alone from now on.
    let exclusive = pty_outer.and_then(|fd| match tty::Exclusive::enter(fd) {
        Ok(x) => Some(x),
        Err(e) => {
            // The session is still recorded, but writes to the terminal from
            // outside it are not refused: leave a track (terminal, syslog).
            crate::sink::guard::Notifier::default().warn(&format!(
                "WARNING: {}: the terminal could not be made exclusive (TIOCEXCL: {e}); writes to it from outside the session are not prevented",
                rec_identity.rec
            ));
            None
        }
    });
    let mut raw = pty_outer.and_then(|fd| {
        if cfg.log_window {
            let (cols, rows) = tty::window_size(fd).unwrap_or((0, 0));
            log.enc.window(Duration::ZERO, cols, rows);
        }
        tty::RawMode::enter(fd, tty::Signals::AsBytes).ok()
    });

    let pid = match gated.release() {
        Ok(pid) => pid,
        Err(e) => {
            drop(raw);
            drop(exclusive);
            warn(
                ident,
                &format!("Failed executing {}: {e}", plan.path.to_string_lossy()),
            );
            let _ = log.finish();
            let event = log.session_event(EventKind::End, Some((127, EndReason::Exit)));
            let _ = log.sink.write_event(&event);
            mark(&plan, MarkState::Ended, &rec_identity.rec);
            signals.uninstall();
            return 127;
        }
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
    let Conclusion {
        reason,
        code,
        forward,
        failure,
    } = conclude(end, &mut log);
    if let Some(msg) = failure {
        // Restore the terminal before our failure message reaches it.
        raw = None;
        warn(ident, &msg);
    }
    let event = log.session_event(EventKind::End, Some((code, reason)));
    let end_logged = log.sink.write_event(&event);
    drop(log);
    mark(&plan, MarkState::Ended, &rec_identity.rec);

    if let Some(sig) = forward {
        // The session ends with the recording: the program gets the signal
        // (and, in PTY mode, the hangup of its terminal when the master
        // closes, which also reaches it after we dropped privileges).
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, sig) };
        if sig != libc::SIGHUP {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGHUP) };
        }
    }
    // Split: the helper would refuse the user's pty now; pam_tlog's
    // close_session ends the entry as root (utmp.rs).
    if let (true, false, Endpoints::Pty { master, .. }) = (utmp_entry, plan.uids.is_split(), &ends)
    {
        let _ = utmp::update(utmp::Op::Del, master.as_fd(), None);
    }
    drop(ends);
    wait_child(pid);
    drop(raw);
    drop(exclusive);
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
