//! One recording from start to end: identity, the gated child, the
//! privilege drop, sink and start entry, the transfer loop, end entry, exit
//! status. Each step is a small function; `record` only sequences them.

use std::ffi::OsString;
use std::fmt;
use std::os::fd::{AsFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

use tlog_rs_format::{Encoder, RecHeader};
use tlog_rs_policy::handoff::{self, HandoffKey, MarkState};

use crate::charset::{self, Charset};
use crate::config::{Config, ConfigError};
use crate::identity;
use crate::nesting;
use crate::privilege::{self, StartUids};
use crate::signals::SignalPipe;
use crate::sink::{
    self, EndReason, EventKind, FailureMode, LoginMeta, RecIdentity, Sink, SinkError, SinkSettings,
};
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
    let marked = handoff::ProcId::current().and_then(|me| handoff::mark(key, me, state, rec));
    if let Err(e) = marked {
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

/// Why a session is refused before the program runs: said once on the
/// terminal, then the recorder exits with [`EXIT_FAILURE`].
#[derive(Debug)]
enum Refused {
    /// Who or where could not be told (fail closed).
    Identity(String),
    Config(ConfigError),
    Signals(std::io::Error),
    Command(std::io::Error),
    Spawn(OsString, std::io::Error),
    Privileges(std::io::Error),
    Sink(SinkError),
    /// A strict log did not take the start entry.
    StartEntry(SinkError),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Identity(e) => f.write_str(e),
            Refused::Config(e) => write!(f, "Invalid configuration: {e}"),
            Refused::Signals(e) => write!(f, "Failed setting up signal handling: {e}"),
            Refused::Command(e) => write!(f, "Invalid command: {e}"),
            Refused::Spawn(path, e) => {
                write!(f, "Failed starting {}: {e}", path.to_string_lossy())
            }
            Refused::Privileges(e) => write!(f, "Failed dropping to the recorder account: {e}"),
            Refused::Sink(e) => write!(
                f,
                "Failed creating log sink, refusing to start the session: {e}"
            ),
            Refused::StartEntry(e) => write!(
                f,
                "Failed logging the session start, refusing to start the session: {e}"
            ),
        }
    }
}

/// What the plan resolves to before anything is started: the terminal
/// charset, the identity of the log and the sink settings.
struct Prepared {
    warnings: Vec<String>,
    charset: Charset,
    identity: RecIdentity,
    header: RecHeader,
    settings: SinkSettings,
}

/// Everything that can be decided before a process or a file exists.
fn prepare(plan: &Plan) -> Result<Prepared, Refused> {
    let mut warnings = plan.warnings.clone();
    let (charset, charset_warning) = charset::session_charset(&child_environment(&plan.env_set));
    warnings.extend(charset_warning);
    let (identity, header) = identify(plan, charset, &mut warnings).map_err(Refused::Identity)?;
    let settings = plan.config.sink_settings().map_err(Refused::Config)?;
    Ok(Prepared {
        warnings,
        charset,
        identity,
        header,
        settings,
    })
}

/// The first of stdin, stdout and stderr that is a terminal (PTY mode).
fn outer_terminal() -> Option<RawFd> {
    (0..3).find(|&fd| tty::is_tty(fd))
}

/// The variables set for the program: the plan's, then (if asked) the
/// marker that tells a recorder started inside that it is already recorded.
fn program_env(plan: &Plan) -> Vec<(OsString, OsString)> {
    let mut env_set = plan.env_set.clone();
    if plan.set_marker {
        if let Some(m) = nesting::own_marker() {
            env_set.push((nesting::MARKER_ENV.into(), m.into()));
        }
    }
    env_set
}

/// The program, forked and waiting at its gate.
struct Started {
    gated: Gated,
    ends: Endpoints,
    /// Its pty got a utmp/wtmp entry.
    utmp_entry: bool,
}

/// Fork the program behind its gate and enter its pty in utmp/wtmp: the
/// helper takes the user from our real uid, so this runs before the drop.
/// Failing utmp is not an error (no helper, no /var/run/utmp).
fn start_program(
    plan: &Plan,
    outer: Option<RawFd>,
    signals: &SignalPipe,
) -> Result<Started, Refused> {
    let cmd = tap::Command::new(&plan.path, &plan.argv, &program_env(plan), &[])
        .map_err(Refused::Command)?;
    let (gated, ends) =
        spawn(&cmd, outer, signals, plan.uids).map_err(|e| Refused::Spawn(plan.path.clone(), e))?;
    let utmp_entry = match &ends {
        Endpoints::Pty { master, .. } if plan.utmp => {
            utmp::update(utmp::Op::Add, master.as_fd(), plan.meta.rhost.as_deref()).is_ok()
        }
        _ => false,
    };
    Ok(Started {
        gated,
        ends,
        utmp_entry,
    })
}

/// The log. Strict: no log, no session. Warn mode: the sink reports the
/// problem itself and is returned anyway; only bad settings fail.
fn open_log(settings: &SinkSettings, identity: &RecIdentity) -> Result<Box<dyn Sink>, Refused> {
    sink::open_sink(settings, identity).map_err(Refused::Sink)
}

/// Start the session clock (every entry takes its start time from the
/// logger) and write the start entry. A strict log that does not take it
/// refuses the session; in warn mode the user is told.
fn start_log<'a>(
    cfg: &Config,
    header: RecHeader,
    charset: Charset,
    sink: &'a mut dyn Sink,
    warnings: &mut Vec<String>,
) -> Result<Logger<'a>, Refused> {
    let start = Instant::now();
    let enc = Encoder::new(header, cfg.payload as usize, SystemTime::now());
    let mut log = Logger::new(enc, sink, cfg.sink_failure, start);
    log.set_charset(charset);
    let event = log.session_event(EventKind::Start, None);
    if let Err(e) = log.sink.write_event(&event) {
        if cfg.sink_failure == FailureMode::Strict {
            return Err(Refused::StartEntry(e));
        }
        warnings.push(format!("WARNING: failed logging the session start: {e}"));
    }
    Ok(log)
}

/// The session has started: tell pam_tlog, then the user.
fn announce(plan: &Plan, rec: &str, warnings: &[String]) {
    mark(plan, MarkState::Started, rec);
    for w in warnings {
        warn(plan.ident, w);
    }
    eprint!("{}", plan.config.notice);
}

/// The outer terminal, in PTY mode only.
fn pty_outer(ends: &Endpoints, outer: Option<RawFd>) -> Option<RawFd> {
    match (ends, outer) {
        (Endpoints::Pty { .. }, Some(fd)) => Some(fd),
        _ => None,
    }
}

/// The outer terminal while the session runs. Fields drop in order: raw
/// mode is restored before the terminal stops being exclusive.
struct Terminal {
    raw: Option<tty::RawMode>,
    /// Held for its `Drop`.
    _exclusive: Option<tty::Exclusive>,
}

impl Terminal {
    /// Make the terminal ours alone and raw; its first window size is
    /// the recording's first entry when windows are logged.
    fn take(pty_outer: Option<RawFd>, rec: &str, log_window: bool, log: &mut Logger) -> Terminal {
        let exclusive = pty_outer.and_then(|fd| match tty::Exclusive::enter(fd) {
            Ok(x) => Some(x),
            Err(e) => {
                // The session is still recorded, but writes to the terminal from
                // outside it are not refused: leave a track (terminal, syslog).
                crate::sink::guard::Notifier::default().warn(&format!(
                    "WARNING: {rec}: the terminal could not be made exclusive (TIOCEXCL: {e}); writes to it from outside the session are not prevented"
                ));
                None
            }
        });
        let raw = pty_outer.and_then(|fd| {
            if log_window {
                let (cols, rows) = tty::window_size(fd).unwrap_or((0, 0));
                log.enc.window(Duration::ZERO, cols, rows);
            }
            tty::RawMode::enter(fd, tty::Signals::AsBytes).ok()
        });
        Terminal {
            raw,
            _exclusive: exclusive,
        }
    }
}

/// The program could not be executed after the start entry was written:
/// the recording ends at once with status 127, as a shell's would.
fn exec_failed(plan: &Plan, rec: &str, e: &std::io::Error, term: Terminal, mut log: Logger) -> i32 {
    drop(term);
    warn(
        plan.ident,
        &format!("Failed executing {}: {e}", plan.path.to_string_lossy()),
    );
    let _ = log.finish();
    let event = log.session_event(EventKind::End, Some((127, EndReason::Exit)));
    let _ = log.sink.write_event(&event);
    mark(plan, MarkState::Ended, rec);
    127
}

fn loop_options(cfg: &Config) -> Options {
    Options {
        log_input: cfg.log_input,
        log_output: cfg.log_output,
        log_window: cfg.log_window,
        latency: Duration::from_secs(cfg.latency),
    }
}

/// The transfer loop, after what the start entry left pending is written.
fn run_loop(
    cfg: &Config,
    log: &mut Logger,
    ends: &Endpoints,
    pid: libc::pid_t,
    signals: &SignalPipe,
) -> LoopEnd {
    match log.drain() {
        Ok(()) => transfer::run(log, ends, pid, signals, &loop_options(cfg)),
        Err(e) => LoopEnd::SinkFailed(e),
    }
}

/// The recording is over: what `conclude` made of it, and whether the
/// end entry was written.
struct Ended {
    reason: EndReason,
    code: i32,
    forward: Option<libc::c_int>,
    end_logged: Result<(), SinkError>,
}

/// Finish the recording, then the end entry, then tell pam_tlog. A failure
/// message waits until the terminal is out of raw mode.
fn end_session(
    plan: &Plan,
    rec: &str,
    end: LoopEnd,
    mut log: Logger,
    term: &mut Terminal,
) -> Ended {
    let Conclusion {
        reason,
        code,
        forward,
        failure,
    } = conclude(end, &mut log);
    if let Some(msg) = failure {
        term.raw = None;
        warn(plan.ident, &msg);
    }
    let event = log.session_event(EventKind::End, Some((code, reason)));
    let end_logged = log.sink.write_event(&event);
    drop(log);
    mark(plan, MarkState::Ended, rec);
    Ended {
        reason,
        code,
        forward,
        end_logged,
    }
}

/// The session ends with the recording: the program gets the signal (and,
/// in PTY mode, the hangup of its terminal when the master closes, which
/// also reaches it after we dropped privileges).
fn forward_signal(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, sig) };
    if sig != libc::SIGHUP {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGHUP) };
    }
}

/// Let the program go: the forwarded signal, its utmp entry ended, its
/// end of the session closed, and its exit waited for.
fn release_program(
    plan: &Plan,
    pid: libc::pid_t,
    forward: Option<libc::c_int>,
    ends: Endpoints,
    utmp_entry: bool,
) {
    if let Some(sig) = forward {
        forward_signal(pid, sig);
    }
    // Split: the helper would refuse the user's pty now; pam_tlog's
    // close_session ends the entry as root (utmp.rs).
    if let (true, false, Endpoints::Pty { master, .. }) = (utmp_entry, plan.uids.is_split(), &ends)
    {
        let _ = utmp::update(utmp::Op::Del, master.as_fd(), None);
    }
    drop(ends);
    wait_child(pid);
}

/// Die of the signal that ended the recording, so our parent sees what
/// happened; returns for any other reason.
fn die_like(reason: EndReason) {
    if let EndReason::RecorderSignal(sig) = reason {
        // SAFETY: default disposition then raise; returns only if it did not kill.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

/// One recording: each step above, in order. Returns the exit code.
pub fn record(plan: Plan) -> i32 {
    let fail = |why: Refused| -> i32 {
        warn(plan.ident, &why.to_string());
        EXIT_FAILURE
    };
    let Prepared {
        mut warnings,
        charset,
        identity,
        header,
        settings,
    } = match prepare(&plan) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let signals = match SignalPipe::install() {
        Ok(s) => s,
        Err(e) => return fail(Refused::Signals(e)),
    };
    let outer = outer_terminal();
    // The program waits at its gate until the session start is logged.
    let started = match start_program(&plan, outer, &signals) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // From here on the user has no uid in this process.
    if let Err(e) = privilege::drop_to_recorder(plan.uids) {
        return fail(Refused::Privileges(e));
    }
    let mut sink = match open_log(&settings, &identity) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut log = match start_log(&plan.config, header, charset, sink.as_mut(), &mut warnings) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    announce(&plan, &identity.rec, &warnings);
    let cfg = &plan.config;
    let mut term = Terminal::take(
        pty_outer(&started.ends, outer),
        &identity.rec,
        cfg.log_window,
        &mut log,
    );
    let pid = match started.gated.release() {
        Ok(pid) => pid,
        Err(e) => {
            let code = exec_failed(&plan, &identity.rec, &e, term, log);
            signals.uninstall();
            return code;
        }
    };
    let end = run_loop(cfg, &mut log, &started.ends, pid, &signals);
    let ended = end_session(&plan, &identity.rec, end, log, &mut term);
    release_program(&plan, pid, ended.forward, started.ends, started.utmp_entry);
    drop(term);
    if let Err(e) = ended.end_logged {
        warn(plan.ident, &format!("Failed logging the session end: {e}"));
    }
    signals.uninstall();
    die_like(ended.reason);
    ended.code
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    use super::*;
    use crate::config::{ConfigBuilder, Program};
    use crate::sink::{SessionEvent, WriteOutcome};

    /// A sink that keeps what it is given, or refuses it.
    #[derive(Default)]
    struct Memory {
        messages: Vec<Vec<u8>>,
        events: Vec<SessionEvent>,
        refuse_messages: bool,
        refuse_events: bool,
    }

    fn refused() -> SinkError {
        SinkError {
            what: "refused".into(),
            source: None,
        }
    }

    impl Sink for Memory {
        fn write_message(&mut self, line: &[u8]) -> Result<WriteOutcome, SinkError> {
            if self.refuse_messages {
                return Err(refused());
            }
            self.messages.push(line.to_vec());
            Ok(WriteOutcome::Written)
        }

        fn write_event(&mut self, event: &SessionEvent) -> Result<(), SinkError> {
            if self.refuse_events {
                return Err(refused());
            }
            self.events.push(event.clone());
            Ok(())
        }
    }

    fn config(mode: FailureMode) -> Config {
        let mut c = ConfigBuilder::new(Program::Rec).build().unwrap();
        c.sink_failure = mode;
        c.file_path = Some("/nonexistent/run-tests.log".into());
        c
    }

    fn header() -> RecHeader {
        RecHeader {
            host: "host".into(),
            rec: "rec".into(),
            user: "user".into(),
            term: "xterm".into(),
            session: 1,
        }
    }

    fn logger(sink: &mut Memory, mode: FailureMode) -> Logger<'_> {
        let enc = Encoder::new(header(), 2048, SystemTime::now());
        Logger::new(enc, sink, mode, Instant::now())
    }

    fn plan(config: Config) -> Plan {
        Plan {
            ident: "run-tests",
            config,
            path: "/nonexistent/program".into(),
            argv: vec!["program".into()],
            env_set: vec![("A".into(), "1".into())],
            set_marker: false,
            warnings: vec!["from the plan".into()],
            login: None,
            uids: StartUids::current(),
            meta: LoginMeta::default(),
            utmp: false,
        }
    }

    fn no_terminal() -> Terminal {
        Terminal {
            raw: None,
            _exclusive: None,
        }
    }

    #[test]
    fn exit_code_is_the_status_or_128_plus_the_signal() {
        let exited = Command::new("sh").args(["-c", "exit 3"]).status().unwrap();
        assert_eq!(exit_code(exited.into_raw()), 3);
        let killed = Command::new("sh")
            .args(["-c", "kill -9 $$"])
            .status()
            .unwrap();
        assert_eq!(exit_code(killed.into_raw()), 128 + libc::SIGKILL);
    }

    #[test]
    fn prepare_refuses_settings_the_sinks_cannot_use() {
        let mut c = config(FailureMode::Strict);
        c.file_path = None;
        let Err(Refused::Config(e)) = prepare(&plan(c)) else {
            panic!("a file writer without a path was accepted")
        };
        assert_eq!(e.key, "file.path");
    }

    #[test]
    fn prepare_takes_uid_fqdn_and_warnings_into_the_identity() {
        let plan = plan(config(FailureMode::Strict));
        let p = prepare(&plan).unwrap();
        assert_eq!(p.identity.login.uid, Some(plan.uids.user));
        assert_eq!(
            p.identity.login.fqdn.as_deref(),
            Some(p.identity.host.as_str())
        );
        assert_eq!(p.identity.ident, plan.ident);
        assert_eq!(p.header.rec, p.identity.rec);
        assert_eq!(p.header.host, p.identity.host);
        assert_eq!(
            p.warnings.first().map(String::as_str),
            Some("from the plan")
        );
    }

    #[test]
    fn program_env_adds_the_marker_only_when_asked() {
        let mut plan = plan(config(FailureMode::Strict));
        assert_eq!(program_env(&plan), plan.env_set);
        plan.set_marker = true;
        let env = program_env(&plan);
        assert_eq!(env[..1], plan.env_set[..]);
        let marker = nesting::own_marker().unwrap();
        assert_eq!(
            env[1..],
            [(OsString::from(nesting::MARKER_ENV), OsString::from(marker))]
        );
    }

    #[test]
    fn start_log_writes_the_start_entry() {
        let mut sink = Memory::default();
        let mut warnings = vec![];
        let cfg = config(FailureMode::Strict);
        let log = start_log(&cfg, header(), Charset::Utf8, &mut sink, &mut warnings);
        assert!(log.is_ok());
        drop(log);
        assert_eq!(sink.events.len(), 1);
        assert_eq!(sink.events[0].kind, EventKind::Start);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn start_entry_refused_refuses_the_session_when_strict_and_warns_otherwise() {
        let mut sink = Memory {
            refuse_events: true,
            ..Memory::default()
        };
        let mut warnings = vec![];
        let strict = config(FailureMode::Strict);
        let Err(Refused::StartEntry(e)) =
            start_log(&strict, header(), Charset::Utf8, &mut sink, &mut warnings)
        else {
            panic!("strict mode started a session without its start entry")
        };
        assert_eq!(e.what, "refused");
        assert!(warnings.is_empty());

        let lenient = config(FailureMode::Warn);
        assert!(start_log(&lenient, header(), Charset::Utf8, &mut sink, &mut warnings).is_ok());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("failed logging the session start"));
    }

    #[test]
    fn refusals_name_what_failed_and_that_the_session_is_refused() {
        let enoent = || std::io::Error::from_raw_os_error(libc::ENOENT);
        let spawn = Refused::Spawn("/bin/nope".into(), enoent()).to_string();
        assert!(spawn.starts_with("Failed starting /bin/nope: "), "{spawn}");
        for refusal in [Refused::Sink(refused()), Refused::StartEntry(refused())] {
            let text = refusal.to_string();
            assert!(
                text.contains("refusing to start the session: refused"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_program_that_exits_ends_the_recording_with_its_status() {
        let mut sink = Memory::default();
        let mut log = logger(&mut sink, FailureMode::Strict);
        log.output(Duration::ZERO, b"bye\n");
        let c = conclude(LoopEnd::Child(3 << 8), &mut log);
        assert_eq!((c.reason, c.code, c.forward), (EndReason::Exit, 3, None));
        assert!(c.failure.is_none());
        drop(log);
        assert_eq!(sink.messages.len(), 1, "pending output is written");
    }

    #[test]
    fn a_program_killed_by_a_signal_ends_with_128_plus_it() {
        let mut sink = Memory::default();
        let mut log = logger(&mut sink, FailureMode::Strict);
        let c = conclude(LoopEnd::Child(libc::SIGKILL), &mut log);
        assert_eq!(c.reason, EndReason::Signal(libc::SIGKILL));
        assert_eq!((c.code, c.forward), (128 + libc::SIGKILL, None));
    }

    #[test]
    fn a_log_that_fails_at_the_end_is_a_sink_failure() {
        let mut sink = Memory {
            refuse_messages: true,
            ..Memory::default()
        };
        let mut log = logger(&mut sink, FailureMode::Strict);
        log.output(Duration::ZERO, b"lost\n");
        let c = conclude(LoopEnd::Child(0), &mut log);
        assert_eq!((c.reason, c.code), (EndReason::SinkFailure, EXIT_FAILURE));
        assert_eq!(c.forward, None, "the program has exited already");
        assert!(c.failure.unwrap().contains("refused"));
    }

    #[test]
    fn a_failing_log_hangs_up_the_program() {
        let mut sink = Memory::default();
        let mut log = logger(&mut sink, FailureMode::Strict);
        let c = conclude(LoopEnd::SinkFailed(refused()), &mut log);
        assert_eq!((c.reason, c.code), (EndReason::SinkFailure, EXIT_FAILURE));
        assert_eq!(c.forward, Some(libc::SIGHUP));
        assert!(c.failure.unwrap().contains("ending the session"));
    }

    #[test]
    fn a_signal_to_the_recorder_is_forwarded_after_the_recording_is_finished() {
        let mut sink = Memory::default();
        let mut log = logger(&mut sink, FailureMode::Strict);
        log.output(Duration::ZERO, b"partial");
        let c = conclude(LoopEnd::Signal(libc::SIGTERM), &mut log);
        assert_eq!(c.reason, EndReason::RecorderSignal(libc::SIGTERM));
        assert_eq!(
            (c.code, c.forward),
            (128 + libc::SIGTERM, Some(libc::SIGTERM))
        );
        drop(log);
        assert_eq!(sink.messages.len(), 1);
    }

    #[test]
    fn end_session_writes_the_end_entry_with_code_and_reason() {
        let plan = plan(config(FailureMode::Strict));
        let mut sink = Memory::default();
        let log = logger(&mut sink, FailureMode::Strict);
        let mut term = no_terminal();
        let ended = end_session(&plan, "rec", LoopEnd::Signal(libc::SIGHUP), log, &mut term);
        assert!(ended.end_logged.is_ok());
        assert_eq!(ended.forward, Some(libc::SIGHUP));
        let end = sink.events.last().unwrap();
        assert_eq!(end.kind, EventKind::End);
        assert_eq!(end.exit_status, Some(128 + libc::SIGHUP));
        assert_eq!(
            end.end_reason,
            Some(EndReason::RecorderSignal(libc::SIGHUP))
        );
    }

    #[test]
    fn end_session_reports_an_end_entry_the_log_refused() {
        let plan = plan(config(FailureMode::Warn));
        let mut sink = Memory {
            refuse_events: true,
            ..Memory::default()
        };
        let log = logger(&mut sink, FailureMode::Warn);
        let ended = end_session(&plan, "rec", LoopEnd::Child(0), log, &mut no_terminal());
        assert!(ended.end_logged.is_err());
        assert_eq!((ended.reason, ended.code), (EndReason::Exit, 0));
    }

    #[test]
    fn a_program_that_cannot_be_executed_ends_the_recording_with_127() {
        let plan = plan(config(FailureMode::Strict));
        let mut sink = Memory::default();
        let mut log = logger(&mut sink, FailureMode::Strict);
        log.output(Duration::ZERO, b"before exec");
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(exec_failed(&plan, "rec", &e, no_terminal(), log), 127);
        assert_eq!(sink.messages.len(), 1);
        let end = sink.events.last().unwrap();
        assert_eq!(end.kind, EventKind::End);
        assert_eq!(end.exit_status, Some(127));
        assert_eq!(end.end_reason, Some(EndReason::Exit));
    }

    #[test]
    fn loop_options_follow_the_configuration() {
        let mut c = config(FailureMode::Strict);
        (c.log_input, c.log_output, c.log_window, c.latency) = (true, false, true, 7);
        let o = loop_options(&c);
        assert_eq!(
            (o.log_input, o.log_output, o.log_window),
            (true, false, true)
        );
        assert_eq!(o.latency, Duration::from_secs(7));
    }

    /// A program that ignores `ignored`, says so on stdout, then waits.
    /// Reaped by `wait_child`, not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    fn program_ignoring(ignored: &str) -> libc::pid_t {
        let mut child = Command::new("sh")
            .args([
                "-c",
                &format!("trap '' {ignored}; echo ready; exec sleep 30"),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        child.id() as libc::pid_t
    }

    #[test]
    #[allow(clippy::zombie_processes)] // reaped by wait_child
    fn wait_child_gives_the_exit_status() {
        let child = Command::new("sh").args(["-c", "exit 4"]).spawn().unwrap();
        assert_eq!(exit_code(wait_child(child.id() as libc::pid_t)), 4);
    }

    #[test]
    fn a_forwarded_signal_is_followed_by_a_hangup() {
        // The program ignores the forwarded signal: the hangup ends it.
        let pid = program_ignoring("TERM");
        forward_signal(pid, libc::SIGTERM);
        assert_eq!(exit_code(wait_child(pid)), 128 + libc::SIGHUP);
        // A forwarded hangup is sent once, and ends it.
        let pid = program_ignoring("TERM");
        forward_signal(pid, libc::SIGHUP);
        assert_eq!(exit_code(wait_child(pid)), 128 + libc::SIGHUP);
    }
}
