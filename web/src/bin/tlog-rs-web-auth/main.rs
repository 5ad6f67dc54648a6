//! `tlog-rs-web-auth`: the privileged helper of `tlog-rs web`. One
//! authentication per process, as Cockpit's cockpit-session: it reads
//! `USER\0PASSWORD\0RHOST\0` on stdin, runs the PAM service `tlog-rs-web`
//! (auth and account only, never a session) with PAM_RHOST set, and prints
//! one line: `ok CANONICAL_USER` (exit 0) or `denied REASON` (exit 1);
//! exit 2 on bad input. It reads nothing else: no arguments, no environment.

mod pam;

use std::io::{Read, Write};
use std::process::ExitCode;

const SERVICE: &str = "tlog-rs-web";
/// User, password and host together; more is not a login.
const MAX_INPUT: u64 = 8192;

fn main() -> ExitCode {
    let mut input = Vec::new();
    if std::io::stdin()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut input)
        .is_err()
        || input.len() as u64 > MAX_INPUT
    {
        return bad("unreadable or oversized input");
    }
    let mut parts = input.split(|b| *b == 0);
    let (Some(user), Some(password), Some(rhost), Some(rest), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return bad("expected USER\\0PASSWORD\\0RHOST\\0");
    };
    let (Ok(user), Ok(rhost)) = (std::str::from_utf8(user), std::str::from_utf8(rhost)) else {
        return bad("user and host must be UTF-8");
    };
    if !rest.is_empty() || user.is_empty() || user.len() > 256 || rhost.len() > 256 {
        return bad("bad field lengths");
    }
    let password = password.to_vec();
    let outcome = pam::authenticate(SERVICE, user, password, rhost);
    input.fill(0);
    std::hint::black_box(&input);
    let (line, code) = match outcome {
        pam::Outcome::Ok(name) => (format!("ok {name}\n"), 0),
        pam::Outcome::Denied(why) => (format!("denied {}\n", why.replace('\n', " ")), 1),
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(line.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        return ExitCode::from(2);
    }
    ExitCode::from(code)
}

fn bad(why: &str) -> ExitCode {
    eprintln!("tlog-rs-web-auth: {why}");
    ExitCode::from(2)
}
