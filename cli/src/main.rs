//! `tlog-rs`: the admin CLI. Each subcommand lives in the module named after
//! its concept; this file only dispatches.

use std::ffi::OsString;
use std::process::ExitCode;

mod args;
mod audit;
mod central;
mod check;
#[cfg(feature = "freeipa")]
mod freeipa;
mod play;
mod sshd_check;

const USAGE: &str = "\
usage: tlog-rs COMMAND [ARGS]

Playback and audit:
  play      play a recording (file or journal), with seek and follow
  list      list the recordings in a file or the journal
  export    export a recording (asciicast v2)

Central store:
  index     index JSON Lines stores from many hosts (incremental)
  search    find recordings by user, group, host, host group, service, time, text
  show      one recording's timeline: input lines and (--audit) its audit events
  web       the web UI: search, play and export indexed recordings (PAM login)
  purge     apply the retention policy: archive and remove expired recordings
  hold      put, lift or list legal holds (held recordings are never purged)

Policy:
  check     show whether a login would be recorded, and why
  validate  check every configured policy source

Audit:
  audit-rules  kernel audit rules for the policy's audit levels (--check: drift)
  audit-export raw audit logs to one JSON object per event

FreeIPA:
  sync      fetch the session-recording rules for this host into the local cache
  rules     manage the session-recording rules in LDAP

Run `tlog-rs COMMAND --help` for the options of one command.";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(cmd) = args.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<OsString> = args.collect();
    let code = match cmd.to_str().unwrap_or("") {
        "play" | "list" | "export" => play::run(cmd.to_str().unwrap_or(""), rest),
        "index" | "search" | "show" => central::run(cmd.to_str().unwrap_or(""), rest),
        "web" => run_web(rest),
        "purge" => tlog_rs_retention::cli::run_purge(rest),
        "hold" => tlog_rs_retention::cli::run_hold(rest),
        "check" | "validate" => check::run(cmd.to_str().unwrap_or(""), rest),
        "audit-rules" => audit::run("audit-rules", rest),
        "audit-export" => audit::export(rest),
        "sync" | "rules" => run_freeipa(cmd.to_str().unwrap_or(""), rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        "-V" | "--version" => {
            println!("tlog-rs {}", env!("CARGO_PKG_VERSION"));
            0
        }
        other => {
            eprintln!("tlog-rs: unknown command {other:?}\n\n{USAGE}");
            2
        }
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

#[cfg(feature = "web")]
fn run_web(args: Vec<OsString>) -> i32 {
    tlog_rs_web::run(args)
}

#[cfg(not(feature = "web"))]
fn run_web(_args: Vec<OsString>) -> i32 {
    eprintln!("tlog-rs web: this tlog-rs was built without the web UI (cargo feature `web`)");
    2
}

#[cfg(feature = "freeipa")]
fn run_freeipa(cmd: &str, args: Vec<OsString>) -> i32 {
    freeipa::run(cmd, args)
}

#[cfg(not(feature = "freeipa"))]
fn run_freeipa(cmd: &str, _args: Vec<OsString>) -> i32 {
    eprintln!(
        "tlog-rs {cmd}: this tlog-rs was built without FreeIPA support (cargo feature `freeipa`)"
    );
    2
}
