//! `tlog-rs rules list|show|add|mod|del|enable|disable`: manage the
//! session-recording rules in LDAP without writing LDIF. Every argument is
//! checked before the server is contacted; server errors are passed on in
//! words.

use std::ffi::OsString;

use crate::config::{self, BindMethod};
use crate::conn;

mod args;
mod directory;
mod exec;
#[cfg(test)]
mod tests;
mod usage;
mod view;

pub use args::{parse, Invocation, Spec, Verb, Who};
pub use directory::Directory;
pub use exec::{execute, Failure};
use usage::USAGE;

pub fn main(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = match args.into_iter().map(|a| a.into_string()).collect() {
        Ok(a) => a,
        Err(a) => return fail(2, &format!("argument {a:?} is not UTF-8")),
    };
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return 0;
    }
    let inv = match parse(&args) {
        Ok(i) => i,
        Err(e) => return fail(2, &format!("{e}\n(see tlog-rs rules --help)")),
    };
    let mut cfg = match config::load(&inv.policy) {
        Ok(c) => c.ldap,
        Err(e) => return fail(2, &e.to_string()),
    };
    if let (Some(dn), Some(pw)) = (&inv.bind_dn, &inv.password_file) {
        cfg.bind = BindMethod::Simple;
        cfg.bind_dn = Some(dn.clone());
        cfg.password_file = Some(pw.clone());
    }
    let mut c = match conn::connect(&cfg) {
        Ok(c) => c,
        Err(e) => return fail(1, &e),
    };
    match execute(&mut c, &inv.verb) {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            0
        }
        Err(Failure::Invalid(e)) => fail(2, &e),
        Err(Failure::Server(e)) => fail(1, &e),
    }
}

fn fail(code: i32, msg: &str) -> i32 {
    eprintln!("tlog-rs rules: {msg}");
    code
}
