//! `tlog-rs` subcommands of this concept. Placeholder until the owning work lands.

use std::ffi::OsString;

pub fn run(cmd: &str, _args: Vec<OsString>) -> i32 {
    eprintln!("tlog-rs {cmd}: not implemented yet");
    2
}
