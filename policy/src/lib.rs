//! placeholder, replaced by the owning work
pub mod handoff;
