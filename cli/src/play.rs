//! `tlog-rs play | list | export`: all logic lives in the tlog-rs-play crate;
//! recordings named with `--db`/`--config` are opened by the index crate.

use std::ffi::OsString;

pub fn run(cmd: &str, args: Vec<OsString>) -> i32 {
    tlog_rs_play::run_with(cmd, args, Some(&tlog_rs_index::recording::open))
}
