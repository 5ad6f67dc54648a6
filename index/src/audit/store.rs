//! What a backend must do to keep audit events and their correlation with
//! recordings. Both backends implement it (`audit::sqlite`, `audit::postgres`).

use std::fmt;

use super::{AuditEvent, Kind};
use crate::store::{Added, Result};

/// What correlation needs to know of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecFacts {
    pub key: i64,
    pub host: String,
    pub rec: String,
    pub user: Option<String>,
    pub uid: Option<u32>,
    /// The tlog `session` (= audit `ses` of the login with pam_loginuid).
    pub session: Option<u32>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// An end entry was seen (else the session may still be running).
    pub has_end: bool,
}

/// How a recording's events were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Same host and audit `ses` as the recording, within its time.
    Ses,
    /// No usable `ses`: same host, the user's auid or account, within its time.
    HostUserTime,
}

impl Join {
    pub fn as_str(self) -> &'static str {
        match self {
            Join::Ses => "ses",
            Join::HostUserTime => "host+user+time",
        }
    }
}

impl fmt::Display for Join {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Join {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "ses" => Ok(Join::Ses),
            "host+user+time" => Ok(Join::HostUserTime),
            _ => Err(format!("unknown audit join {s:?}")),
        }
    }
}

/// What an event is to a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Done in the session (commands, files, sockets, exits, its login).
    Session,
    /// Authentication or login of the user before the session started.
    Auth,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Session => "session",
            Role::Auth => "auth",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "session" => Ok(Role::Session),
            "auth" => Ok(Role::Auth),
            _ => Err(format!("unknown audit role {s:?}")),
        }
    }
}

/// One recording's correlation, replaced as a whole when recomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    pub join: Join,
    /// (event key, role).
    pub links: Vec<(i64, Role)>,
    /// Failed authentications before the session.
    pub auth_failures: u32,
}

/// Events of one host in `[from_ms, to_ms]`, optionally of one `ses` and
/// of some kinds (empty: all).
#[derive(Debug, Clone)]
pub struct EventFilter<'a> {
    pub host: &'a str,
    pub from_ms: i64,
    pub to_ms: i64,
    pub ses: Option<u32>,
    pub kinds: &'a [Kind],
}

/// A recording's correlated events, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Trail {
    pub join: Join,
    pub auth_failures: u32,
    pub events: Vec<(Role, AuditEvent)>,
}

/// A program run in a recording (`search --exec`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecHit {
    pub host: String,
    pub rec: String,
    /// Milliseconds from the recording's start.
    pub offset_ms: i64,
    pub event: AuditEvent,
}

pub trait AuditStore {
    /// Insert an event keyed by (host, id). A copy with more records
    /// replaces a shorter one (New); otherwise Duplicate.
    fn add_audit_event(&mut self, e: &AuditEvent) -> Result<Added> {
        self.add_audit_event_as(e, &super::event::stored_body(e)?)
    }
    /// The same with the stored JSON made already (`stored_body`), so a
    /// reader thread can do that work.
    fn add_audit_event_as(&mut self, e: &AuditEvent, body: &str) -> Result<Added>;
    /// Recordings of `host` whose span `[start - before, end + after]`
    /// meets `[from_ms, to_ms]` (a recording without an end is open).
    fn recordings_near(
        &mut self,
        host: &str,
        from_ms: i64,
        to_ms: i64,
        before_ms: i64,
        after_ms: i64,
    ) -> Result<Vec<i64>>;
    fn rec_facts(&mut self, rec: i64) -> Result<Option<RecFacts>>;
    /// Recordings with this rec id (any host).
    fn find_recs(&mut self, rec: &str) -> Result<Vec<RecFacts>>;
    /// Events matching the filter with their keys, in time order.
    fn audit_events(&mut self, f: &EventFilter) -> Result<Vec<(i64, AuditEvent)>>;
    /// Only the keys of those events (a join by `ses` needs no more).
    fn audit_event_keys(&mut self, f: &EventFilter) -> Result<Vec<i64>> {
        Ok(self.audit_events(f)?.into_iter().map(|(k, _)| k).collect())
    }
    fn set_correlation(&mut self, rec: i64, c: &Correlation) -> Result<()>;
    /// None if the recording was never correlated.
    fn trail(&mut self, rec: i64) -> Result<Option<Trail>>;
    /// Submitted input lines: (ms from the recording start, text).
    fn input_lines(&mut self, rec: i64) -> Result<Vec<(i64, String)>>;
    /// Successful execs of `exe` in recordings, by recording start then time.
    fn execs(&mut self, exe: &str) -> Result<Vec<ExecHit>>;
    /// (host, rec) of recordings preceded by failed authentications.
    fn with_auth_failures(&mut self) -> Result<Vec<(String, String)>>;
    /// Number of audit events and of events linked to a recording.
    fn audit_counts(&mut self) -> Result<[u64; 2]>;
}
