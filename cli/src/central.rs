//! `tlog-rs index | search | show`: all logic lives in the tlog-rs-index crate.

use std::ffi::OsString;

pub fn run(cmd: &str, args: Vec<OsString>) -> i32 {
    match cmd {
        "index" => tlog_rs_index::cli::run_index(args),
        "show" => tlog_rs_index::audit::show::run_show(args),
        _ => tlog_rs_index::cli::run_search(args),
    }
}
