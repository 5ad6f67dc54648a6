//! What pam_tlog does at open_session / close_session, independent of
//! libpam and glibc: the testable core. `Pam` is the PAM handle, `Host` the
//! system (NSS, policy file, hand-off directory).

use std::fmt;
use tlog_policy::handoff::{self, Handoff};
use tlog_policy::{Decision, LoginFacts, Policy, PolicyError, CONTROLLED_ENV};

use crate::sys::PwEntry;

pub const DEFAULT_FAIL_CLOSED: bool = true;

/// syslog priorities used by the logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

pub trait Pam {
    fn user(&mut self) -> Option<String>;
    fn service(&self) -> Option<String>;
    fn tty(&self) -> Option<String>;
    fn rhost(&self) -> Option<String>;
    fn getenv(&mut self, name: &str) -> Option<String>;
    fn putenv(&mut self, name: &str, value: &str) -> bool;
    fn unsetenv(&mut self, name: &str);
    fn syslog(&self, level: Level, msg: &str);
    /// A message the user sees (conversation, PAM_ERROR_MSG).
    fn tell_user(&mut self, msg: &str);
}

pub trait Host {
    /// The entry the login program got: through the whole nsswitch chain.
    fn nss_entry(&self, user: &str) -> Result<Option<PwEntry>, String>;
    /// The entry the chain after `tlog` gives (the real shell).
    fn underlying_entry(&self, user: &str) -> Result<Option<PwEntry>, String>;
    fn groups(&self, user: &[u8], gid: u32) -> (Option<String>, Vec<String>);
    fn host(&self) -> String;
    fn load_policy(&self, path: &str) -> Result<Policy, PolicyError>;
    fn write_handoff(&self, h: &Handoff) -> std::io::Result<String>;
    fn remove_handoff(&self, token: &str);
    fn prune_handoffs(&self);
}

/// Module arguments from the pam.d line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub policy: String,
    pub debug: bool,
    /// fail=closed (default): refuse the session when recording cannot be
    /// ensured; fail=open: let it through unrecorded, with a warning in syslog.
    pub fail_closed: bool,
    /// Test builds only (feature fault-injection): `fault=panic|error`.
    pub fault: Option<String>,
    /// Problems with the arguments, logged at every call.
    pub problems: Vec<String>,
}

impl Args {
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Args {
        let mut a = Args {
            policy: tlog_policy::DEFAULT_POLICY_PATH.to_string(),
            debug: false,
            fail_closed: DEFAULT_FAIL_CLOSED,
            fault: None,
            problems: Vec::new(),
        };
        for arg in args {
            if let Some(p) = arg.strip_prefix("policy=") {
                if p.starts_with('/') {
                    a.policy = p.to_string();
                } else {
                    a.problems.push(format!(
                        "policy={p}: must be an absolute path; using {}",
                        a.policy
                    ));
                }
            } else if arg == "debug" {
                a.debug = true;
            } else if let Some(m) = arg.strip_prefix("fail=") {
                match m {
                    "closed" => a.fail_closed = true,
                    "open" => a.fail_closed = false,
                    // A typo must not weaken the module: stay closed.
                    _ => a.problems.push(format!(
                        "fail={m}: expected 'closed' or 'open'; using closed"
                    )),
                }
            } else if let Some(f) = arg
                .strip_prefix("fault=")
                .filter(|_| cfg!(feature = "fault-injection"))
            {
                a.fault = Some(f.to_string());
            } else {
                a.problems.push(format!("unknown argument '{arg}' ignored"));
            }
        }
        a
    }
}

/// An internal failure: recording cannot be ensured for this login.
#[derive(Debug)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Result codes the FFI layer maps to PAM codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Refused,
}

fn describe(pam: &dyn Pam, user: &str) -> String {
    format!(
        "user={user} service={} tty={} rhost={}",
        pam.service().unwrap_or_default(),
        pam.tty().unwrap_or_default(),
        pam.rhost().unwrap_or_default()
    )
}

/// Remove every recorder variable so nobody can inject them (SendEnv,
/// AcceptEnv, pam_env user files, an earlier module).
fn clear_controlled(pam: &mut dyn Pam) {
    for name in CONTROLLED_ENV.iter().copied().chain([handoff::TOKEN_ENV]) {
        pam.unsetenv(name);
    }
}

pub fn open_session(pam: &mut dyn Pam, host: &dyn Host, args: &Args) -> Outcome {
    for p in &args.problems {
        pam.syslog(Level::Err, &format!("configuration: {p}"));
    }
    // Whatever happens next, start from a clean slate.
    clear_controlled(pam);
    match decide_and_apply(pam, host, args) {
        Ok(o) => o,
        Err(Failure(msg)) => {
            let user = pam.user().unwrap_or_default();
            let who = describe(pam, &user);
            if args.fail_closed {
                pam.syslog(
                    Level::Err,
                    &format!("{who}: session refused (fail=closed): {msg}"),
                );
                pam.tell_user("Session recording could not be set up; login refused. Contact your administrator.");
                Outcome::Refused
            } else {
                pam.syslog(
                    Level::Warning,
                    &format!("{who}: session NOT recorded (fail=open): {msg}"),
                );
                Outcome::Success
            }
        }
    }
}

fn decide_and_apply(pam: &mut dyn Pam, host: &dyn Host, args: &Args) -> Result<Outcome, Failure> {
    if let Some(f) = &args.fault {
        match f.as_str() {
            "panic" => panic!("fault injection: panic in open_session"),
            _ => return Err(Failure("fault injection: forced internal error".into())),
        }
    }
    let user = pam
        .user()
        .ok_or_else(|| Failure("PAM gives no user name".into()))?;
    let service = pam.service().unwrap_or_default();
    let policy = host.load_policy(&args.policy);
    let recorder = match &policy {
        Ok(p) => p.recorder().to_string(),
        Err(_) => tlog_policy::DEFAULT_RECORDER.to_string(),
    };
    let nss = host
        .nss_entry(&user)
        .map_err(|e| Failure(format!("passwd lookup of {user} failed: {e}")))?
        .ok_or_else(|| Failure(format!("user {user} not found in the passwd database")))?;
    let swapped = nss.shell == recorder.as_bytes();
    let real = if swapped {
        match host.underlying_entry(&user) {
            Ok(Some(e)) => e,
            Ok(None) => {
                return Err(Failure(format!(
                    "user {user} not found behind the tlog NSS source"
                )))
            }
            Err(e) => {
                return Err(Failure(format!(
                    "cannot learn the real shell of {user}: {e}"
                )))
            }
        }
    } else {
        nss.clone()
    };
    if swapped && real.shell == recorder.as_bytes() {
        // Either the passwd file itself names the recorder, or nscd answered
        // the nested lookup with our own cached answer.
        pam.syslog(
            Level::Warning,
            &format!("the real shell of {user} is the recorder itself (nscd caching passwd?); using the fallback shell"),
        );
    }
    let (primary_group, groups) = host.groups(&real.name, real.gid);
    let facts = LoginFacts {
        // The canonical name (a normalising source may have answered a
        // query for "ALICE" with "alice"): rules match what NSS prints.
        user: real.name_lossy(),
        uid: real.uid,
        gid: real.gid,
        primary_group,
        groups,
        host: host.host(),
        service: Some(service.clone()),
        passwd_shell: real.shell_lossy(),
    };
    let decision: Decision = match &policy {
        Ok(p) => p.decide(&facts),
        Err(e) => {
            pam.syslog(
                Level::Err,
                &format!("policy: {e}; applying the failsafe decision"),
            );
            Policy::failsafe_decision(e, &facts)
        }
    };
    let who = describe(pam, &user);
    let what = format!(
        "{who} record={} source={} rule=\"{}\" reason=\"{}\"",
        if decision.record { "yes" } else { "no" },
        decision.source,
        decision.rule,
        decision.reason
    );

    if decision.record && !swapped {
        return Err(Failure(format!(
            "{user} must be recorded ({}) but the login shell from NSS is '{}', not the recorder {recorder} \
             (is 'tlog' first on the passwd line of /etc/nsswitch.conf? did the policy change during the login?)",
            decision.rule,
            String::from_utf8_lossy(&nss.shell)
        )));
    }
    if !swapped {
        // Not selected anywhere: plain session, nothing to hand off.
        pam.syslog(Level::Info, &what);
        return Ok(Outcome::Success);
    }
    // The recorder will run as the login shell: tell it, unforgeably, what to do.
    host.prune_handoffs();
    let h = Handoff {
        uid: real.uid,
        record: decision.record,
        shell: decision.shell.clone(),
        conf_text: if decision.record {
            decision.settings.to_conf_json()
        } else {
            String::new()
        },
        service,
        rule: decision.rule.clone(),
    };
    let token = match host.write_handoff(&h) {
        Ok(t) => t,
        Err(e) if decision.record => {
            return Err(Failure(format!("cannot write the recorder hand-off: {e}")))
        }
        Err(e) => {
            // Not recorded on this service, but the recorder is the shell: with
            // no hand-off it records (fail secure). Log why.
            pam.syslog(
                Level::Warning,
                &format!("{what}: cannot write the hand-off ({e}); the recorder will record this session"),
            );
            return Ok(Outcome::Success);
        }
    };
    if decision.record {
        for (k, v) in decision.env() {
            if !pam.putenv(&k, &v) {
                host.remove_handoff(&token);
                return Err(Failure(format!("pam_putenv({k}) failed")));
            }
        }
    }
    if !pam.putenv(handoff::TOKEN_ENV, &token) {
        host.remove_handoff(&token);
        if decision.record {
            return Err(Failure(format!(
                "pam_putenv({}) failed",
                handoff::TOKEN_ENV
            )));
        }
    }
    pam.syslog(Level::Notice, &what);
    if args.debug {
        pam.syslog(
            Level::Debug,
            &format!("hand-off {token} written for uid {}", real.uid),
        );
    }
    Ok(Outcome::Success)
}

/// close_session: remove this session's hand-off. Never fails a logout.
pub fn close_session(pam: &mut dyn Pam, host: &dyn Host, args: &Args) -> Outcome {
    if let Some(token) = pam.getenv(handoff::TOKEN_ENV) {
        if handoff::is_token(&token) {
            host.remove_handoff(&token);
            if args.debug {
                pam.syslog(Level::Debug, &format!("hand-off {token} removed"));
            }
        }
    }
    Outcome::Success
}
