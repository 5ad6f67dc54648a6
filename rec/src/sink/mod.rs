//! Where recordings go: file, syslog or journal, behind a rate limiter.
//!
//! Interface shared by the recorder loop and the writers. The recorder calls
//! `open_sink` once, then `write_message` for every finished tlog message and
//! `write_event` for the session start and end entries.

use std::fmt;
use std::path::PathBuf;
use std::time::SystemTime;

/// `writer` in tlog's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterKind {
    File,
    Syslog,
    Journal,
}

/// `limit.action` in tlog's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitAction {
    Pass,
    Delay,
    Drop,
}

/// What the recorder does when the sink is missing or fails (`sink_failure` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Refuse to start the session, or end it, when the log cannot be written.
    Strict,
    /// Warn the user's terminal and syslog, count the lost messages, keep the session.
    Warn,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Exit,
    Signal(i32),
    SinkFailure,
    RecorderSignal(i32),
}

/// A session start or end entry. Not a recording message.
#[derive(Debug, Clone)]
pub struct SessionEvent {
    pub kind: EventKind,
    pub start_time: SystemTime,
    pub end_time: Option<SystemTime>,
    pub exit_status: Option<i32>,
    pub end_reason: Option<EndReason>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_written: u64,
    pub messages_dropped: u64,
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

pub trait Sink {
    /// Store one complete tlog message line (ending in '\n').
    fn write_message(&mut self, line: &[u8]) -> Result<WriteOutcome, SinkError>;
    /// Store a session start/end entry.
    fn write_event(&mut self, event: &SessionEvent) -> Result<(), SinkError>;
}

/// Open the configured sink. Fails if it cannot be written at all.
pub fn open_sink(
    settings: &SinkSettings,
    identity: &RecIdentity,
) -> Result<Box<dyn Sink>, SinkError> {
    let _ = (settings, identity);
    Err(SinkError {
        what: "sinks are not implemented yet".into(),
        source: None,
    })
}
