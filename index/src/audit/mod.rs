//! Audit events in the central index, joined to the recordings.
//!
//! * [`event`]: one audit event as the index keeps it ([`AuditEvent`]), read
//!   from `tlog-rs audit-export` JSON, from laurel's JSON, or from raw
//!   `audit.log` files (through `tlog-rs-audit`'s parser; [`raw`]), or from
//!   journald's own audit entries in a journal ([`journal`]).
//! * [`store`]: what a backend must do for them ([`store::AuditStore`]);
//!   [`sqlite`] and [`postgres`] implement it.
//! * [`correlate`]: which events belong to which recording, and how the join
//!   was made (audit `ses`, or host + user + time).
//! * [`show`]: `tlog-rs show REC --audit` and the `search` filters
//!   `--exec` and `--auth-failures`.
//!
//! See docs/audit.md §6 for the rules.

pub mod correlate;
pub mod event;
pub mod journal;
pub mod postgres;
pub mod raw;
pub mod show;
pub mod sqlite;
pub mod store;

pub use event::AuditEvent;
pub use tlog_rs_audit::event::Kind;

#[cfg(test)]
mod tests;
