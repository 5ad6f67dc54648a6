//! `tlog-rs play | list | export`: all logic lives in the tlog-rs-play crate.

use std::ffi::OsString;

pub fn run(cmd: &str, args: Vec<OsString>) -> i32 {
    tlog_rs_play::run(cmd, args)
}
