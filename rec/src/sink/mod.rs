//! Where recordings go: file, syslog or journal, behind a rate limiter.
//!
//! Interface shared by the recorder loop and the writers. The recorder calls
//! `open_sink` once, then `write_message` for every finished tlog message and
//! `write_event` for the session start and end entries.

//!
//! # No silent loss: what happens when the log cannot be written
//!
//! C tlog silently loses every message when journald or `/dev/log` is absent.
//! tlog-rs detects a missing or failing sink: a missing socket (ENOENT), a
//! daemon that went away (ECONNREFUSED), a queue that stays full
//! (EAGAIN; 10 s in strict mode, 2 s in warn mode, see [`send_timeout`]), a
//! file write error (ENOSPC on a full disk or `/dev/full`, EIO,
//! EFBIG, ...). What follows depends on the `sink_failure` setting
//! ([`FailureMode`]):
//!
//! * **`strict`**: the error is returned to the recorder. At start,
//!   `open_sink` fails, so the user gets no shell (like tlog when the log file
//!   cannot be opened). Mid-session, the recorder ends the session and tries
//!   to log the end entry with reason `sink_failure`. The refusal or failure
//!   is also reported to syslog (authpriv.warning, ident `tlog-rs`) when
//!   syslog is up, so auditors see refused sessions too.
//! * **`warn`**: the session continues. The first failure of an episode is
//!   reported **once** to the user's terminal (the recorder's stderr, or the
//!   fd given with `Sink::set_warning_fd`) and to syslog (authpriv.warning,
//!   ident `tlog-rs`, via `/dev/log`; if that is down too, to stderr). Each
//!   message that cannot be stored is counted as lost
//!   (`WriteOutcome::Dropped`, so its id is consumed and the gap is visible).
//!   The sink is retried at most once per second; when a write succeeds again
//!   the recovery and the number of lost messages are reported the same way.
//!   The end entry carries `messages_lost` (included in `messages_dropped`).
//!   If the end entry itself cannot be stored, its text goes to syslog, or
//!   stderr.
//!
//! Writers: [`file`] (one `write()` per message, events in `<path>.events`),
//! [`syslog`] (RFC 3164 datagrams on `/dev/log`), [`journal`] (native
//! protocol). Session start/end entries: [`event`]. Rate limiting:
//! [`ratelimit`].

pub mod backend;
#[cfg(test)]
mod daemon_tests;
pub mod event;
pub mod evidence;
pub mod file;
pub mod guard;
pub mod journal;
pub mod ratelimit;
pub mod syslog;
#[cfg(test)]
mod tests;

use std::fmt;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::SystemTime;

use guard::{GuardedSink, Notifier};
use ratelimit::{MonotonicClock, RateLimiter};

/// `writer` and `limit.action` in tlog's schema (shared with policy.toml).
pub use tlog_rs_policy::{LimitAction, WriterKind};

/// What the recorder does when the sink is missing or fails (`sink_failure` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Refuse to start the session, or end it, when the log cannot be written.
    Strict,
    /// Warn the user's terminal and syslog, count the lost messages, keep the session.
    Warn,
}

impl FailureMode {
    /// The valid `sink_failure` values.
    pub const NAMES: &'static [&'static str] = &["strict", "warn"];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::Strict => "strict",
            FailureMode::Warn => "warn",
        }
    }
}

impl std::str::FromStr for FailureMode {
    type Err = tlog_rs_policy::UnknownValue;
    fn from_str(s: &str) -> Result<FailureMode, Self::Err> {
        match s {
            "strict" => Ok(FailureMode::Strict),
            "warn" => Ok(FailureMode::Warn),
            _ => Err(tlog_rs_policy::UnknownValue {
                value: s.to_string(),
                expected: FailureMode::NAMES,
            }),
        }
    }
}

impl fmt::Display for FailureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a sink needs from the merged recorder configuration.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    pub writer: WriterKind,
    pub file_path: Option<PathBuf>,
    pub syslog_facility: String,
    pub syslog_priority: String,
    pub journal_priority: String,
    pub journal_augment: bool,
    pub limit_rate: u64,
    pub limit_burst: u64,
    pub limit_action: LimitAction,
    pub failure_mode: FailureMode,
}

/// Who is being recorded; used for journal fields and session events.
#[derive(Debug, Clone)]
pub struct RecIdentity {
    pub rec: String,
    pub user: String,
    pub host: String,
    pub term: String,
    pub tty: Option<String>,
    pub audit_session: u32,
    /// SYSLOG_IDENTIFIER / syslog ident, e.g. "tlog-rs-rec-session".
    pub ident: String,
    /// What PAM knew about the login, for the central index.
    pub login: LoginMeta,
    /// The terminal charset the recording was converted from
    /// (crate::charset; "UTF-8" when nothing is converted).
    pub charset: String,
}

/// Session metadata for the start/end entries (issue "Central store"): from
/// the trusted PAM hand-off; `None` outside PAM, never guessed. `uid` comes
/// from the kernel (our real uid at start), `fqdn` from the resolver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginMeta {
    pub service: Option<String>,
    pub rhost: Option<String>,
    pub uid: Option<u32>,
    pub groups: Option<Vec<String>>,
    pub rule: Option<String>,
    pub source: Option<String>,
    pub fqdn: Option<String>,
    /// sshd's statement of the TCP connection (jump-server links).
    pub ssh: Option<tlog_rs_policy::ssh_connection::SshConnection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// Discarded by the rate limiter (`limit.action = drop`); the id is still consumed.
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Start,
    End,
    /// The recorder got SIGCONT: it was stopped (SIGSTOP cannot be caught)
    /// and has been resumed. Evidence of a gap in its watch.
    Resumed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Exit,
    Signal(i32),
    SinkFailure,
    RecorderSignal(i32),
}

/// A session start, end or resumed entry. Not a recording message.
#[derive(Debug, Clone)]
pub struct SessionEvent {
    pub kind: EventKind,
    pub start_time: SystemTime,
    /// End entry: the session end. Resumed entry: when SIGCONT was noticed.
    pub end_time: Option<SystemTime>,
    pub exit_status: Option<i32>,
    pub end_reason: Option<EndReason>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_written: u64,
    pub messages_dropped: u64,
}

#[cfg(test)]
impl SessionEvent {
    /// A start entry at `start_time`, nothing counted yet.
    pub(crate) fn start_at(start_time: SystemTime) -> SessionEvent {
        SessionEvent {
            kind: EventKind::Start,
            start_time,
            end_time: None,
            exit_status: None,
            end_reason: None,
            bytes_in: 0,
            bytes_out: 0,
            messages_written: 0,
            messages_dropped: 0,
        }
    }

    /// An entry of `kind` started now; an end entry ends now with `exit`.
    pub(crate) fn now(kind: EventKind, exit: i32) -> SessionEvent {
        let end = kind == EventKind::End;
        SessionEvent {
            kind,
            end_time: end.then(SystemTime::now),
            exit_status: end.then_some(exit),
            end_reason: end.then_some(EndReason::Exit),
            ..SessionEvent::start_at(SystemTime::now())
        }
    }
}

#[derive(Debug)]
pub struct SinkError {
    pub what: String,
    pub source: Option<std::io::Error>,
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(e) => write!(f, "{}: {e}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for SinkError {}

/// What a sink has done so far; also merged into the end entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Messages stored.
    pub written: u64,
    /// Messages not stored: rate limiter drops plus `lost`.
    pub dropped: u64,
    /// Messages lost to a failing sink (Warn mode).
    pub lost: u64,
    /// Ids of the first and last message counted in `written` or `dropped`.
    pub ids: event::IdRange,
}

pub trait Sink {
    /// Store one complete tlog message line (ending in '\n').
    fn write_message(&mut self, line: &[u8]) -> Result<WriteOutcome, SinkError>;
    /// Store a session start/end entry.
    fn write_event(&mut self, event: &SessionEvent) -> Result<(), SinkError>;
    /// Counters so far.
    fn stats(&self) -> SinkStats {
        SinkStats::default()
    }
    /// Where Warn-mode warnings for the user go (default: the recorder's
    /// stderr, i.e. the user's terminal). The fd must stay open.
    fn set_warning_fd(&mut self, _fd: RawFd) {}
}

/// How long a write to a log socket may block (journald or rsyslog not
/// reading) before it counts as a failure. The recorder writes the log before
/// forwarding output, so this is also how long the terminal can freeze.
/// Strict waits longer, so that a busy daemon does not end sessions; Warn
/// gives up sooner, keeping the session responsive, and retries later.
pub fn send_timeout(mode: FailureMode) -> std::time::Duration {
    match mode {
        FailureMode::Strict => std::time::Duration::from_secs(10),
        FailureMode::Warn => std::time::Duration::from_secs(2),
    }
}

fn config_error(what: String) -> SinkError {
    SinkError { what, source: None }
}

/// A syslog facility or priority `code` looked up from `value`; none = the
/// name is unknown.
fn known<T>(code: Option<T>, key: &str, value: &str) -> Result<T, SinkError> {
    code.ok_or_else(|| config_error(format!("unknown {key} \"{value}\"")))
}

/// Open the configured sink.
///
/// Strict mode: fails if the sink cannot be written (missing file directory,
/// no journal socket, no /dev/log). Warn mode: a missing sink is reported at
/// once (see the module doc) and the sink is returned anyway, retrying later.
/// Bad settings (unknown facility/priority, no file path) always fail.
pub fn open_sink(
    settings: &SinkSettings,
    identity: &RecIdentity,
) -> Result<Box<dyn Sink>, SinkError> {
    open_sink_with(settings, identity, Notifier::default(), Targets::default())
}

/// Socket paths of the system writers; only tests point them elsewhere.
#[derive(Debug, Clone)]
pub struct Targets {
    pub dev_log: PathBuf,
    pub journal_socket: PathBuf,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            dev_log: PathBuf::from(syslog::DEV_LOG),
            journal_socket: PathBuf::from(journal::JOURNAL_SOCKET),
        }
    }
}

/// `open_sink` with explicit warning destinations and socket paths.
pub fn open_sink_with(
    settings: &SinkSettings,
    identity: &RecIdentity,
    notifier: Notifier,
    targets: Targets,
) -> Result<Box<dyn Sink>, SinkError> {
    if settings.limit_action == LimitAction::Delay && settings.limit_rate == 0 {
        return Err(config_error(
            "limit.rate 0 with limit.action \"delay\" would block the session forever; \
             use a rate above 0, or \"drop\"/\"pass\""
                .into(),
        ));
    }
    let clock = MonotonicClock;
    let limiter = RateLimiter::new(
        clock,
        settings.limit_rate,
        settings.limit_burst,
        settings.limit_action,
    );
    match settings.writer {
        WriterKind::File => {
            let path = settings.file_path.as_deref().ok_or_else(|| {
                config_error("writer \"file\" needs \"file.path\" to be set".into())
            })?;
            let (backend, r) = file::FileBackend::open(path);
            finish(backend, r, limiter, settings, identity, notifier)
        }
        WriterKind::Syslog => {
            let facility = known(
                syslog::facility_code(&settings.syslog_facility),
                "syslog.facility",
                &settings.syslog_facility,
            )?;
            let priority = known(
                syslog::priority_code(&settings.syslog_priority),
                "syslog.priority",
                &settings.syslog_priority,
            )?;
            let mut backend = syslog::SyslogBackend::new(&targets.dev_log, facility, priority);
            backend.socket.send_timeout = send_timeout(settings.failure_mode);
            let r = backend::Backend::reconnect(&mut backend);
            finish(backend, r, limiter, settings, identity, notifier)
        }
        WriterKind::Journal => {
            let priority = known(
                syslog::priority_code(&settings.journal_priority),
                "journal.priority",
                &settings.journal_priority,
            )?;
            let mut backend = journal::JournalBackend::new(
                &targets.journal_socket,
                priority,
                settings.journal_augment,
                identity,
            );
            backend.send_timeout = send_timeout(settings.failure_mode);
            let r = backend::Backend::reconnect(&mut backend);
            finish(backend, r, limiter, settings, identity, notifier)
        }
    }
}

fn finish<B: backend::Backend + 'static>(
    backend: B,
    opened: std::io::Result<()>,
    limiter: RateLimiter<MonotonicClock>,
    settings: &SinkSettings,
    identity: &RecIdentity,
    notifier: Notifier,
) -> Result<Box<dyn Sink>, SinkError> {
    let mut sink = GuardedSink::new(
        backend,
        limiter,
        MonotonicClock,
        settings.failure_mode,
        identity.clone(),
        notifier,
    );
    if let Err(e) = opened {
        match settings.failure_mode {
            FailureMode::Strict => {
                sink.audit_refusal(&e);
                return Err(SinkError {
                    what: "cannot open the log".into(),
                    source: Some(e),
                });
            }
            FailureMode::Warn => sink.start_failing(&e),
        }
    }
    Ok(Box::new(sink))
}
