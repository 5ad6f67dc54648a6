//! `tlog-rs-policy`: who is recorded. One pure decision shared by PAM, NSS, the
//! recorder and the CLI, so they can never disagree.
//!
//! * [`Policy::load`] reads `/etc/tlog-rs/policy.toml` and the sources it
//!   includes (sssd.conf `[session_recording]` + conf.d, the FreeIPA cache).
//! * [`Policy::decide`] is pure: no I/O, no clock.
//! * [`sys`] and [`nss_passwd`] are the only system-facing modules (NSS lookups);
//!   [`trusted_file`] is the one rule for files that decide who is recorded;
//!   [`atomic_file`] replaces files (the PAM hand-off, the audit rules).
//!
//! The combination rule, the file format and the fail-secure behaviour are
//! documented in policy/README.md.
// Guest code (or linked into it): no panic paths outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod atomic_file;
mod cache;
pub mod config;
mod decision;
mod engine;
mod error;
mod facts;
mod fast;
pub mod freeipa;
pub mod graphical;
pub mod handoff;
mod settings;
pub mod snapshot;
pub mod source_file;
pub mod ssh_connection;
pub mod sssd;
pub mod sys;
pub mod trusted_file;
pub mod uid_match;
pub mod vocab;

/// The passwd type and lookup, from `tlog-rs-sys` (where they moved).
pub use tlog_rs_sys::passwd as nss_passwd;

pub use cache::PolicyCache;
pub use decision::{
    real_shell, AuditLevel, Decision, Source, CONTROLLED_ENV, ENV_AUDIT_LEVEL, ENV_CONF_TEXT,
    ENV_SESSION_CONF_TEXT, ENV_SESSION_SHELL, ENV_SHELL, FALLBACK_SHELL,
};
pub use engine::{host_matches, LookupNeeds, Policy, ValidationReport};
pub use error::{ErrorKind, PolicyError};
pub use facts::LoginFacts;
pub use settings::{Bound, RecSettings};
pub use snapshot::{NssView, Refreshed, Snapshot, SnapshotError, DEFAULT_SNAPSHOT_PATH};
pub use vocab::{Action, Graphical, LimitAction, UnknownValue, WriterKind};

/// Where the policy lives.
pub const DEFAULT_POLICY_PATH: &str = "/etc/tlog-rs/policy.toml";
/// The login-shell recorder, unless policy.toml names another.
pub const DEFAULT_RECORDER: &str = "/usr/bin/tlog-rs-rec-session";
