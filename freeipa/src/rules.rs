//! `tlog-rs rules`: placeholder replaced below.
use std::ffi::OsString;
pub fn main(_args: Vec<OsString>) -> i32 {
    eprintln!("tlog-rs rules: not implemented yet");
    2
}
