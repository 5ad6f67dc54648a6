//! The central index of tlog recordings (`tlog-rs index`, `tlog-rs search`).
//! See README.md for the design.

pub mod audit;
pub mod cli;
pub mod config;
pub mod derive;
pub mod es;
pub mod hops;
pub mod ingest;
pub mod journal;
pub mod recording;
pub mod store;
pub mod text;
pub mod timewin;
