//! Retention of indexed recordings (`tlog-rs purge`, `tlog-rs hold`): which
//! recordings are past their maximum age (`policy`), their archive
//! (`archive`), the rewrite of JSON Lines stores without them (`jsonl`) and
//! the purge itself (`purge`, also called by the web UI). See
//! docs/central.md, section "Retention".

pub mod archive;
pub mod cli;
pub mod journal;
pub mod jsonl;
pub mod policy;
pub mod purge;

pub use policy::{select, Candidate};
pub use purge::{purge, purge_one, Actor, PurgeError, Purged, SourceAction};
