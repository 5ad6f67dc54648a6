//! `tlog-rs sync` and `tlog-rs rules`: FreeIPA central control. The work is
//! in the tlog-rs-freeipa crate (the only one that speaks LDAP).

use std::ffi::OsString;

pub fn run(cmd: &str, args: Vec<OsString>) -> i32 {
    match cmd {
        "sync" => tlog_rs_freeipa::sync::main(args),
        "rules" => tlog_rs_freeipa::rules::main(args),
        other => {
            eprintln!("tlog-rs: {other}: not a FreeIPA command");
            2
        }
    }
}
