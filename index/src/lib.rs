//! The central index of tlog recordings (`tlog-rs index`, `tlog-rs search`).
//! See README.md for the design.

pub mod config;
pub mod timewin;
pub mod store;
pub mod derive;
pub mod ingest;
pub mod cli;
