//! `tlog-rs-audit`: the host half of the audit trail.
//!
//! * [`rules`]: the kernel audit rules for the policy's audit levels
//!   (`tlog-rs audit-rules`), and their semantic comparison with what
//!   `auditctl -l` prints (`--check`); [`file`]: the rules file, written
//!   atomically and refreshed after `tlog-rs sync`.
//! * [`select`]: who gets which audit level, from the policy (groups
//!   expanded to uids: the kernel only knows auids).
//! * [`parse`] and [`event`]: raw `audit.log` lines grouped into events, one
//!   JSON object per event.
//!
//! See docs/audit.md for the rationale.

pub mod event;
pub mod file;
pub mod parse;
pub mod rules;
pub mod select;
