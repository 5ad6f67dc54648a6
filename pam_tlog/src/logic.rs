//! What pam_tlog does at open_session / close_session, independent of
//! libpam and glibc: the testable core. `Pam` is the PAM handle, `Host` the
//! system (NSS, policy file, hand-off directory).

use std::fmt;
use tlog_rs_policy::graphical::{self, LoginView};
use tlog_rs_policy::handoff::{Consumption, Handoff, HandoffKey, Marks, RecorderAccount};
use tlog_rs_policy::ssh_connection::SshConnection;
use tlog_rs_policy::uid_match::{self, Accounts, LookupError};
use tlog_rs_policy::{
    AuditLevel, Decision, Graphical, LoginFacts, Policy, PolicyError, CONTROLLED_ENV,
};

use crate::sys::PwEntry;
use tlog_rs_rec::sink::evidence::{Evidence, EvidenceKind};
use tlog_rs_rec::ConfigError;

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
    /// PAM_XDISPLAY (display managers set it).
    fn xdisplay(&self) -> Option<String>;
    fn getenv(&mut self, name: &str) -> Option<String>;
    fn putenv(&mut self, name: &str, value: &str) -> bool;
    fn unsetenv(&mut self, name: &str);
    fn syslog(&self, level: Level, msg: &str);
    /// A message the user sees (conversation, PAM_ERROR_MSG).
    fn tell_user(&mut self, msg: &str);
}

/// sshd's statement of the login's TCP connection, if it holds up
/// (policy's ssh_connection.rs says why it may not).
fn ssh_connection(pam: &mut dyn Pam) -> Option<SshConnection> {
    let rhost = pam.rhost().unwrap_or_default();
    let value = pam.getenv("SSH_CONNECTION");
    match SshConnection::from_pam(value.as_deref(), &rhost) {
        Ok(c) => c,
        Err(e) => {
            pam.syslog(Level::Warning, &format!("{e}; not recorded"));
            None
        }
    }
}

pub trait Host {
    /// The entry the login program got: through the whole nsswitch chain.
    fn nss_entry(&self, user: &str) -> Result<Option<PwEntry>, LookupError>;
    /// The entry the chain after `tlog` gives (the real shell).
    fn underlying_entry(&self, user: &str) -> Result<Option<PwEntry>, LookupError>;
    fn groups(&self, user: &[u8], gid: u32) -> (Option<String>, Vec<String>);
    fn host(&self) -> String;
    fn load_policy(&self, path: &str) -> Result<Policy, PolicyError>;
    /// Rewrite the NSS policy snapshot from `policy` (loaded from `path`)
    /// for host `host_name` unless it is current; only for the default
    /// policy path.
    fn refresh_nss_snapshot(&self, policy: &Policy, path: &str, host_name: &str);
    fn write_handoff(&self, h: &Handoff) -> std::io::Result<HandoffKey>;
    fn remove_handoff(&self, key: HandoffKey);
    fn prune_handoffs(&self);
    /// The hand-off this process wrote for `uid` at open_session, if any.
    fn own_handoff(&self, uid: u32) -> Option<(Handoff, HandoffKey)>;
    /// The account the recorder runs as (set-uid owner of the binary), and
    /// its consumption directory prepared; `None` if the recorder is not
    /// installed set-uid.
    fn prepare_recorder_account(&self, recorder: &str) -> Option<u32>;
    /// The recorder's account without touching the directory: at close the
    /// marks are read (an untrusted directory reads as "not recorded").
    fn recorder_account(&self, recorder: &str) -> Option<u32>;
    /// What the recorders marked for `key` (account `recorder_uid`), read once.
    fn marks(&self, recorder_uid: u32, key: HandoffKey) -> Marks;
    fn remove_marks(&self, marks: &Marks);
    /// End the utmp entries of the recorders that marked `key` (they cannot:
    /// they no longer have the user's uid) and log their logout in wtmp.
    fn end_login_records(&self, pids: &[u32]) -> usize;
    /// Write an evidence entry to the writer the hand-off configured.
    fn write_evidence(&self, h: &Handoff, ev: &Evidence) -> Result<(), EvidenceError>;
    /// Does this service's PAM stack read the user's own environment file
    /// (pam_env user_readenv=1)? Then XDG_SESSION_* are the user's word.
    fn stack_reads_user_env(&self, service: &str) -> bool;
    /// uid of `user` (through the whole NSS chain), for close_session.
    fn uid_of(&self, user: &str) -> Option<u32>;
    /// The accounts behind `tlog`, for selection by uid.
    fn accounts(&self) -> &dyn Accounts;
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
            policy: tlog_rs_policy::DEFAULT_POLICY_PATH.to_string(),
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

/// Why an evidence entry was not written.
#[derive(Debug)]
pub enum EvidenceError {
    /// The hand-off's recorder configuration gives no writer settings.
    Config(ConfigError),
    /// The writer failed.
    Write(std::io::Error),
}

impl fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvidenceError::Config(e) => write!(f, "{e}"),
            EvidenceError::Write(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EvidenceError {}

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
    // CONTROLLED_ENV already lists TOKEN_ENV. Only present variables are
    // deleted: pam_putenv logs an error for every absent one.
    for name in CONTROLLED_ENV {
        if pam.getenv(name).is_some() {
            pam.unsetenv(name);
        }
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
            #[expect(clippy::panic, reason = "fault injection proves the panic guard")]
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
        Err(_) => tlog_rs_policy::DEFAULT_RECORDER.to_string(),
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
    // The canonical name (a normalising source may have answered a query
    // for "ALICE" with "alice"): rules match what NSS prints.
    let facts = LoginFacts::of_entry(
        &real,
        host.groups(&real.name, real.gid),
        host.host(),
        Some(service.clone()),
    );
    if let Ok(p) = &policy {
        host.refresh_nss_snapshot(p, &args.policy, &facts.host);
    }
    let decision: Decision = match &policy {
        // Selected by name or by uid (an account sharing a selected user's uid).
        Ok(p) => uid_match::decide_login(p, &facts, host.accounts()).map_err(|e| {
            Failure(format!(
                "cannot check whether uid {} belongs to a selected user: {e}",
                facts.uid
            ))
        })?,
        Err(e) => {
            pam.syslog(
                Level::Err,
                &format!("policy: {e}; applying the failsafe decision"),
            );
            Policy::failsafe_decision(e, &facts)
        }
    };
    // A graphical login: the desktop is recorded by other means; terminals
    // inside it follow the rule (record them all when the policy is broken).
    let session_type = pam.getenv("XDG_SESSION_TYPE").unwrap_or_default();
    let session_class = pam.getenv("XDG_SESSION_CLASS").unwrap_or_default();
    // Reading /etc/pam.d only matters when there is an XDG claim to weigh.
    let user_env_readable = (!session_type.is_empty() || !session_class.is_empty())
        && host.stack_reads_user_env(&service);
    let view = LoginView {
        service: service.clone(),
        tty: pam.tty().unwrap_or_default(),
        xdisplay: pam.xdisplay().unwrap_or_default(),
        rhost: pam.rhost().unwrap_or_default(),
        session_type,
        session_class,
        user_env_readable,
    };
    let (signal, terminals) = match &policy {
        Ok(p) => (
            graphical::detect(&view, p.display_managers()),
            decision.graphical,
        ),
        Err(_) => (
            graphical::detect(&view, &graphical::default_display_managers()),
            Graphical::RecordTerminals,
        ),
    };
    let who = describe(pam, &user);
    let mut what = format!(
        "{who} record={} source={} rule=\"{}\" audit={} reason=\"{}\"",
        if decision.record { "yes" } else { "no" },
        decision.source,
        decision.rule,
        decision.audit_level.as_str(),
        decision.reason
    );
    if let Some(sig) = &signal {
        what.push_str(&format!(
            " graphical=\"{sig}\" terminals={}",
            terminals.as_str()
        ));
    }

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
    let recorder_account = host.prepare_recorder_account(&recorder);
    if recorder_account.is_none() && decision.record {
        pam.syslog(
            Level::Warning,
            &format!("{recorder} is not installed set-uid to its own account: the recorded user can tamper with the recorder and its log (run `make install`)"),
        );
    }
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
        source: decision.source.as_str().to_string(),
        rhost: pam.rhost().unwrap_or_default(),
        tty: pam.tty().unwrap_or_default(),
        groups: facts.groups.clone(),
        audit_level: decision.audit_level.as_str().to_string(),
        graphical: signal.as_ref().map(|_| terminals),
        recorder_account: recorder_account.into(),
        ssh: ssh_connection(pam),
    };
    let key = match host.write_handoff(&h) {
        Ok(k) => k,
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
        // Informational only (tlog's variables, `tlog-rs check` shows them):
        // the recorder reads nothing from the environment.
        for (k, v) in decision.env() {
            if !pam.putenv(&k, &v) {
                host.remove_handoff(key);
                return Err(Failure(format!("pam_putenv({k}) failed")));
            }
        }
    }
    pam.syslog(Level::Notice, &what);
    if args.debug {
        pam.syslog(Level::Debug, &format!("hand-off {key} written"));
    }
    Ok(Outcome::Success)
}

/// close_session: log the end of the login for audit levels `login` and
/// `session`, leave evidence when a selected login was not (fully) recorded,
/// and remove the hand-off. Never fails a logout.
///
/// Everything comes from this process's own hand-off file, never from the
/// PAM environment, which the user can set through pam_env.
pub fn close_session(pam: &mut dyn Pam, host: &dyn Host, args: &Args) -> Outcome {
    let Some(user) = pam.user() else {
        return Outcome::Success;
    };
    let Some(uid) = host.uid_of(&user) else {
        return Outcome::Success;
    };
    let Some((h, key)) = host.own_handoff(uid) else {
        return Outcome::Success;
    };
    let who = describe(pam, &user);
    if matches!(
        AuditLevel::parse(&h.audit_level),
        Some(AuditLevel::Login | AuditLevel::Session)
    ) {
        pam.syslog(
            Level::Notice,
            &format!("{who} session closed audit={}", h.audit_level),
        );
    }
    if h.record {
        let account = match h.recorder_account {
            RecorderAccount::Uid(uid) => Some(uid),
            RecorderAccount::NotSetUid => None,
            // A hand-off written before the field existed.
            RecorderAccount::Unknown => {
                let recorder = match host.load_policy(&args.policy) {
                    Ok(p) => p.recorder().to_string(),
                    Err(_) => tlog_rs_policy::DEFAULT_RECORDER.to_string(),
                };
                host.recorder_account(&recorder)
            }
        };
        if let Some(account) = account {
            let marks = host.marks(account, key);
            let kind = match marks.consumption.clone() {
                // A desktop is not recorded by design (logged at open).
                Consumption::NotConsumed if h.graphical.is_some() => None,
                Consumption::NotConsumed => Some((EvidenceKind::NotRecorded, Vec::new())),
                Consumption::Lost(recs) => Some((EvidenceKind::RecorderLost, recs)),
                Consumption::Ended(_) => None,
                // Still recording after the login closed: the recorder
                // writes its own end entry.
                Consumption::Running(recs) => {
                    pam.syslog(
                        Level::Notice,
                        &format!(
                            "{who}: the session outlives its login; still recording {}",
                            recs.join(", ")
                        ),
                    );
                    None
                }
            };
            if let Some((kind, recs)) = kind {
                let ev = Evidence {
                    kind,
                    user: user.clone(),
                    uid,
                    host: host.host(),
                    service: h.service.clone(),
                    tty: h.tty.clone(),
                    rhost: h.rhost.clone(),
                    rule: h.rule.clone(),
                    recs,
                    time_ms: Evidence::now_ms(),
                };
                pam.syslog(Level::Warning, &format!("{who}: {}", ev.to_words()));
                if let Err(e) = host.write_evidence(&h, &ev) {
                    pam.syslog(
                        Level::Err,
                        &format!(
                            "{who}: cannot write the evidence entry to the recording writer: {e}"
                        ),
                    );
                }
            }
            let ended = host.end_login_records(&marks.pids);
            if args.debug && ended > 0 {
                pam.syslog(
                    Level::Debug,
                    &format!("{ended} utmp entries of the recorders ended"),
                );
            }
            host.remove_marks(&marks);
        }
    }
    host.remove_handoff(key);
    if args.debug {
        pam.syslog(Level::Debug, &format!("hand-off {key} removed"));
    }
    Outcome::Success
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use tlog_rs_policy::ENV_AUDIT_LEVEL;

    #[derive(Default)]
    struct FakePam {
        user: String,
        service: String,
        env: BTreeMap<String, String>,
        log: RefCell<Vec<String>>,
        told: Vec<String>,
        /// PAM_TTY and PAM_RHOST when not an ssh login.
        console: Option<(&'static str, &'static str)>,
        xdisplay: Option<String>,
    }

    impl Pam for FakePam {
        fn user(&mut self) -> Option<String> {
            Some(self.user.clone())
        }
        fn service(&self) -> Option<String> {
            Some(self.service.clone())
        }
        fn tty(&self) -> Option<String> {
            Some(self.console.map_or("ssh", |c| c.0).into())
        }
        fn rhost(&self) -> Option<String> {
            Some(self.console.map_or("10.0.0.9", |c| c.1).into())
        }
        fn xdisplay(&self) -> Option<String> {
            self.xdisplay.clone()
        }
        fn getenv(&mut self, name: &str) -> Option<String> {
            self.env.get(name).cloned()
        }
        fn putenv(&mut self, name: &str, value: &str) -> bool {
            self.env.insert(name.into(), value.into());
            true
        }
        fn unsetenv(&mut self, name: &str) {
            self.env.remove(name);
        }
        fn syslog(&self, level: Level, msg: &str) {
            self.log.borrow_mut().push(format!("{level:?} {msg}"));
        }
        fn tell_user(&mut self, msg: &str) {
            self.told.push(msg.into());
        }
    }

    struct FakeHost {
        policy: &'static str,
        nss_shell: &'static str,
        written: RefCell<Vec<Handoff>>,
        removed: RefCell<Vec<HandoffKey>>,
        fail_write: bool,
        /// Set-uid account of the recorder (None: not installed set-uid).
        account: Option<u32>,
        consumed: RefCell<Consumption>,
        evidence: RefCell<Vec<Evidence>>,
        fail_evidence: bool,
        /// How often the service's PAM stack was read.
        stack_reads: std::cell::Cell<u32>,
        /// How often the policy was loaded / the recorder's account looked up.
        policy_loads: std::cell::Cell<u32>,
        account_lookups: std::cell::Cell<u32>,
    }

    const KEY: HandoffKey = HandoffKey {
        pam: tlog_rs_policy::handoff::ProcId { pid: 7, start: 9 },
        uid: 2001,
    };

    const REC: &str = "/usr/bin/tlog-rs-rec-session";

    /// alice and her alias share uid 2001; everyone else has 2002.
    fn fake_uid(user: &str) -> u32 {
        if matches!(user, "alice" | "alias") {
            2001
        } else {
            2002
        }
    }

    /// The passwd database behind `tlog`: alice, then bob.
    struct FakeAccounts;

    impl Accounts for FakeAccounts {
        fn by_name(&self, name: &str) -> Result<Option<uid_match::Account>, LookupError> {
            Ok(["alice", "alias", "bob"]
                .contains(&name)
                .then(|| uid_match::Account {
                    name: name.into(),
                    uid: fake_uid(name),
                    gid: fake_uid(name),
                }))
        }
        fn by_uid(&self, uid: u32) -> Result<Option<uid_match::Account>, LookupError> {
            self.by_name(if uid == 2001 { "alice" } else { "bob" })
        }
        fn groups(&self, _: &str, _: u32) -> (Option<String>, Vec<String>) {
            (None, Vec::new())
        }
        fn members(&self, _: &str) -> Result<Vec<String>, LookupError> {
            Ok(Vec::new())
        }
    }

    fn entry(user: &str, shell: &str) -> PwEntry {
        PwEntry {
            name: user.as_bytes().to_vec(),
            passwd: b"x".to_vec(),
            uid: fake_uid(user),
            gid: fake_uid(user),
            gecos: Vec::new(),
            dir: b"/home/u".to_vec(),
            shell: shell.as_bytes().to_vec(),
        }
    }

    impl Host for FakeHost {
        fn nss_entry(&self, user: &str) -> Result<Option<PwEntry>, LookupError> {
            Ok(Some(entry(user, self.nss_shell)))
        }
        fn underlying_entry(&self, user: &str) -> Result<Option<PwEntry>, LookupError> {
            Ok(Some(entry(user, "/bin/zsh")))
        }
        fn groups(&self, _: &[u8], _: u32) -> (Option<String>, Vec<String>) {
            (None, Vec::new())
        }
        fn host(&self) -> String {
            "h1".into()
        }
        fn load_policy(&self, _: &str) -> Result<Policy, PolicyError> {
            self.policy_loads.set(self.policy_loads.get() + 1);
            Policy::from_toml_str(self.policy, "test")
        }
        fn refresh_nss_snapshot(&self, _: &Policy, _: &str, _: &str) {}
        fn write_handoff(&self, h: &Handoff) -> std::io::Result<HandoffKey> {
            if self.fail_write {
                return Err(std::io::Error::other("disk full"));
            }
            self.written.borrow_mut().push(h.clone());
            Ok(KEY)
        }
        fn remove_handoff(&self, key: HandoffKey) {
            self.removed.borrow_mut().push(key);
        }
        fn prune_handoffs(&self) {}
        fn own_handoff(&self, uid: u32) -> Option<(Handoff, HandoffKey)> {
            let removed = self.removed.borrow().contains(&KEY);
            let h = self.written.borrow().last().cloned()?;
            (h.uid == uid && !removed).then_some((h, KEY))
        }
        fn prepare_recorder_account(&self, _: &str) -> Option<u32> {
            self.account
        }
        fn recorder_account(&self, _: &str) -> Option<u32> {
            self.account_lookups.set(self.account_lookups.get() + 1);
            self.account
        }
        fn marks(&self, _: u32, _: HandoffKey) -> Marks {
            Marks {
                consumption: self.consumed.borrow().clone(),
                pids: vec![],
                paths: vec![],
            }
        }
        fn remove_marks(&self, _: &Marks) {}
        fn end_login_records(&self, _: &[u32]) -> usize {
            0
        }
        fn write_evidence(&self, _: &Handoff, ev: &Evidence) -> Result<(), EvidenceError> {
            if self.fail_evidence {
                return Err(EvidenceError::Write(std::io::Error::from(
                    std::io::ErrorKind::PermissionDenied,
                )));
            }
            self.evidence.borrow_mut().push(ev.clone());
            Ok(())
        }
        fn stack_reads_user_env(&self, service: &str) -> bool {
            self.stack_reads.set(self.stack_reads.get() + 1);
            service == "login-user-env"
        }
        fn uid_of(&self, _: &str) -> Option<u32> {
            Some(2001)
        }
        fn accounts(&self) -> &dyn Accounts {
            &FakeAccounts
        }
    }

    const POLICY: &str = "[[rule]]\nname = \"a-ssh\"\nusers = [\"alice\"]\nservices = [\"sshd\"]\n";

    fn host(nss_shell: &'static str) -> FakeHost {
        FakeHost {
            policy: POLICY,
            nss_shell,
            written: Default::default(),
            removed: Default::default(),
            fail_write: false,
            account: Some(990),
            consumed: RefCell::new(Consumption::Ended(vec!["r".into()])),
            evidence: Default::default(),
            fail_evidence: false,
            stack_reads: Default::default(),
            policy_loads: Default::default(),
            account_lookups: Default::default(),
        }
    }

    fn pam(user: &str, service: &str) -> FakePam {
        let mut p = FakePam {
            user: user.into(),
            service: service.into(),
            ..Default::default()
        };
        // Injected by the user (SendEnv / pam_env user file): must go.
        p.env.insert(
            "TLOG_REC_CONF_TEXT".into(),
            r#"{"log":{"output":false}}"#.into(),
        );
        p.env.insert(
            "TLOG_RS_HANDOFF".into(),
            "ffffffffffffffffffffffffffffffff".into(),
        );
        p
    }

    fn args(a: &[&str]) -> Args {
        Args::parse(a.iter().copied())
    }

    #[test]
    fn audit_level_is_logged_at_open_and_close() {
        let (mut p, h) = (pam("alice", "sshd"), host(REC));
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        // policy.toml's default audit level is `session`.
        assert_eq!(p.env[ENV_AUDIT_LEVEL], "session");
        assert!(p
            .log
            .borrow()
            .iter()
            .any(|l| l.contains("record=yes") && l.contains("audit=session")));
        assert_eq!(close_session(&mut p, &h, &args(&[])), Outcome::Success);
        assert!(p
            .log
            .borrow()
            .iter()
            .any(|l| l.contains("user=alice service=sshd")
                && l.ends_with("session closed audit=session")));
        // Not recorded: no audit level exported, no close line.
        let (mut p, h) = (pam("bob", "sshd"), host("/bin/bash"));
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        assert!(!p.env.contains_key(ENV_AUDIT_LEVEL));
        close_session(&mut p, &h, &args(&[]));
        assert!(!p.log.borrow().iter().any(|l| l.contains("session closed")));
    }

    const GRAPHICAL_POLICY: &str = "[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n\
        [[rule]]\nname = \"b\"\nusers = [\"bob\"]\ngraphical = \"record-terminals\"\n";

    #[test]
    fn a_display_manager_login_hands_off_graphical_with_the_rules_choice() {
        for (user, terminals) in [
            ("alice", Graphical::Skip),
            ("bob", Graphical::RecordTerminals),
        ] {
            let h = FakeHost {
                policy: GRAPHICAL_POLICY,
                consumed: RefCell::new(Consumption::NotConsumed),
                ..host(REC)
            };
            let mut p = pam(user, "gdm-password");
            p.console = Some((":0", ""));
            assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
            let w = h.written.borrow().last().cloned().unwrap();
            assert!(w.record, "{user}");
            assert_eq!(w.graphical, Some(terminals), "{user}");
            assert!(p
                .log
                .borrow()
                .iter()
                .any(|l| l.contains("graphical=\"service gdm-password is a display manager\"")));
            // The desktop never ran the recorder: that is no evidence.
            close_session(&mut p, &h, &args(&[]));
            assert!(h.evidence.borrow().is_empty(), "{user}");
        }
    }

    #[test]
    fn the_pam_stack_is_read_only_to_weigh_an_xdg_claim() {
        let h = host(REC);
        let mut p = pam("alice", "login");
        p.console = Some(("/dev/tty1", ""));
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        close_session(&mut p, &h, &args(&[]));
        assert_eq!(h.stack_reads.get(), 0);
        let mut p = pam("alice", "login");
        p.console = Some(("/dev/tty1", ""));
        p.env.insert("XDG_SESSION_CLASS".into(), "greeter".into());
        open_session(&mut p, &h, &args(&[]));
        assert_eq!(h.stack_reads.get(), 1);
    }

    #[test]
    fn a_text_login_claiming_to_be_graphical_is_handed_off_as_text() {
        let h = FakeHost {
            policy: GRAPHICAL_POLICY,
            consumed: RefCell::new(Consumption::NotConsumed),
            ..host(REC)
        };
        let mut p = pam("alice", "sshd");
        p.env.insert("XDG_SESSION_TYPE".into(), "x11".into());
        p.env.insert("DISPLAY".into(), ":0".into());
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        let w = h.written.borrow().last().cloned().unwrap();
        assert!(w.record);
        assert_eq!(w.graphical, None);
        close_session(&mut p, &h, &args(&[]));
        assert_eq!(h.evidence.borrow().len(), 1);
        // On a local console the same variable counts (wayland DMs set it).
        let mut p = pam("alice", "greetd");
        p.console = Some(("/dev/tty7", ""));
        p.env.insert("XDG_SESSION_TYPE".into(), "wayland".into());
        open_session(&mut p, &h, &args(&[]));
        let w = h.written.borrow().last().cloned().unwrap();
        assert_eq!(w.graphical, Some(Graphical::Skip));
        // PAM_XDISPLAY, set by the application, counts anywhere.
        let mut p = pam("alice", "xdm");
        p.xdisplay = Some(":1".into());
        open_session(&mut p, &h, &args(&[]));
        let w = h.written.borrow().last().cloned().unwrap();
        assert_eq!(w.graphical, Some(Graphical::Skip));
    }

    #[test]
    fn recorded_login_exports_env_and_writes_a_record_handoff() {
        let (mut p, h) = (pam("alice", "sshd"), host(REC));
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        let w = h.written.borrow();
        assert_eq!(w.len(), 1);
        assert!(w[0].record);
        assert_eq!(
            (w[0].shell.as_str(), w[0].service.as_str()),
            ("/bin/zsh", "sshd")
        );
        assert_eq!(p.env["TLOG_REC_SHELL"], "/bin/zsh");
        assert_ne!(p.env["TLOG_REC_CONF_TEXT"], r#"{"log":{"output":false}}"#);
        // Nothing the recorder needs travels in the environment.
        assert!(!p.env.contains_key("TLOG_RS_HANDOFF"));
        assert_eq!(w[0].rhost, "10.0.0.9");
        assert_eq!(w[0].source, "policy.toml");
        assert!(p
            .log
            .borrow()
            .iter()
            .any(|l| l.contains("user=alice service=sshd tty=ssh rhost=10.0.0.9 record=yes")));
    }

    /// sshd's SSH_CONNECTION reaches the hand-off when its client is
    /// PAM_RHOST; a value set by the user's environment file is dropped and
    /// logged.
    #[test]
    fn ssh_connection_is_handed_off_only_when_it_matches_pam_rhost() {
        let (mut p, h) = (pam("alice", "sshd"), host(REC));
        p.env
            .insert("SSH_CONNECTION".into(), "10.0.0.9 51234 10.0.0.1 22".into());
        open_session(&mut p, &h, &args(&[]));
        let c = h.written.borrow()[0].ssh.expect("handed off");
        assert_eq!((c.client_port, c.server_port), (51234, 22));
        assert_eq!(c.server_addr.to_string(), "10.0.0.1");

        let (mut p, h) = (pam("alice", "sshd"), host(REC));
        p.env.insert(
            "SSH_CONNECTION".into(),
            "192.0.2.66 4444 10.0.0.1 22".into(),
        );
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        assert_eq!(h.written.borrow()[0].ssh, None);
        assert!(p
            .log
            .borrow()
            .iter()
            .any(|l| l.contains("not sshd's value")));
    }

    #[test]
    fn swapped_shell_on_an_unrecorded_service_gets_a_record_false_handoff() {
        let (mut p, h) = (pam("alice", "cron"), host(REC));
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        let w = h.written.borrow();
        assert!(!w[0].record);
        assert_eq!(w[0].shell, "/bin/zsh");
        assert!(!p.env.contains_key("TLOG_REC_CONF_TEXT") && !p.env.contains_key("TLOG_REC_SHELL"));
        assert!(!p.env.contains_key("TLOG_RS_HANDOFF"));
    }

    #[test]
    fn unselected_user_loses_injected_variables_and_gets_no_handoff() {
        let (mut p, h) = (pam("bob", "sshd"), host("/bin/bash"));
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        assert!(p.env.is_empty(), "{:?}", p.env);
        assert!(h.written.borrow().is_empty());
    }

    #[test]
    fn an_alias_of_a_selected_user_is_recorded_under_that_users_rule() {
        let (mut p, h) = (pam("alias", "sshd"), host(REC));
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        let w = h.written.borrow();
        assert!(w[0].record && w[0].uid == 2001);
        assert_eq!(w[0].rule, "policy.toml rule 'a-ssh' (line 1)");
        assert!(
            p.log.borrow().iter().any(|l| l.contains("user=alias ")
                && l.contains("record=yes")
                && l.contains("uid 2001 belongs to selected user alice")),
            "{:?}",
            p.log.borrow()
        );
        // Without the recorder from NSS (only a group rule would catch the
        // alias there): refused, never an unrecorded shell.
        let (mut p, h) = (pam("alias", "sshd"), host("/bin/zsh"));
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Refused);
        assert!(h.written.borrow().is_empty());
    }

    #[test]
    fn missing_shell_swap_follows_the_fail_mode() {
        let (mut p, h) = (pam("alice", "sshd"), host("/bin/zsh"));
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Refused);
        assert_eq!(p.told.len(), 1);
        assert!(p
            .log
            .borrow()
            .iter()
            .any(|l| l.starts_with("Err") && l.contains("nsswitch.conf")));
        assert!(p.env.is_empty());

        let (mut p, h) = (pam("alice", "sshd"), host("/bin/zsh"));
        assert_eq!(
            open_session(&mut p, &h, &args(&["fail=open"])),
            Outcome::Success
        );
        assert!(p.told.is_empty() && p.env.is_empty());
        assert!(p
            .log
            .borrow()
            .iter()
            .any(|l| l.starts_with("Warning") && l.contains("NOT recorded")));
    }

    #[test]
    fn handoff_write_failure_refuses_only_recorded_logins() {
        let (mut p, mut h) = (pam("alice", "sshd"), host(REC));
        h.fail_write = true;
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Refused);
        // Not recorded on cron: without a hand-off the recorder records; let it in.
        let mut p = pam("alice", "cron");
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
    }

    #[test]
    fn broken_policy_records_with_the_failsafe_decision() {
        let (mut p, mut h) = (pam("bob", "sshd"), host(REC));
        h.policy = "[[rule]\n";
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        assert!(h.written.borrow()[0].record);
        assert!(p.log.borrow().iter().any(|l| l.contains("failsafe")));
    }

    #[test]
    fn arguments_never_weaken_by_typo() {
        let a = args(&["fail=opne", "polcy=/x", "policy=relative", "debug"]);
        assert!(a.fail_closed && a.debug);
        assert_eq!(a.policy, tlog_rs_policy::DEFAULT_POLICY_PATH);
        assert_eq!(a.problems.len(), 3);
        assert!(args(&["fault=panic"]).fault.is_none() || cfg!(feature = "fault-injection"));
    }

    #[test]
    fn close_session_uses_its_own_handoff_not_the_environment() {
        let h = host(REC);
        let mut p = pam("alice", "sshd");
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        // pam_env user_readenv runs after us and rewrites the environment.
        p.env.insert("TLOG_RS_AUDIT_LEVEL".into(), "none".into());
        p.env
            .insert("TLOG_RS_HANDOFF".into(), "../../etc/passwd".into());
        close_session(&mut p, &h, &args(&[]));
        assert_eq!(*h.removed.borrow(), vec![KEY]);
        assert!(p
            .log
            .borrow()
            .iter()
            .any(|l| l.ends_with("session closed audit=session")));
        assert!(
            h.evidence.borrow().is_empty(),
            "the recorder ended normally"
        );
    }

    #[test]
    fn a_selected_login_no_recorder_consumed_leaves_evidence() {
        let h = host(REC);
        *h.consumed.borrow_mut() = Consumption::NotConsumed;
        let mut p = pam("alice", "sshd");
        assert_eq!(open_session(&mut p, &h, &args(&[])), Outcome::Success);
        close_session(&mut p, &h, &args(&[]));
        let ev = h.evidence.borrow();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EvidenceKind::NotRecorded);
        assert_eq!((ev[0].user.as_str(), ev[0].uid), ("alice", 2001));
        assert!(p
            .log
            .borrow()
            .iter()
            .any(|l| l.starts_with("Warning") && l.contains("selected session was not recorded")));
    }

    #[test]
    fn close_takes_the_recorder_account_from_the_handoff_not_the_policy() {
        let h = host(REC);
        *h.consumed.borrow_mut() = Consumption::NotConsumed;
        let mut p = pam("alice", "sshd");
        open_session(&mut p, &h, &args(&[]));
        assert_eq!(
            h.written.borrow()[0].recorder_account,
            RecorderAccount::Uid(990)
        );
        let loads = h.policy_loads.get();
        close_session(&mut p, &h, &args(&[]));
        assert_eq!(h.policy_loads.get(), loads, "close parsed the policy again");
        assert_eq!(h.account_lookups.get(), 0, "close looked up the recorder");
        assert_eq!(h.evidence.borrow().len(), 1);
        assert_eq!(h.evidence.borrow()[0].kind, EvidenceKind::NotRecorded);

        // Not set-uid at open: as before, no consumption to judge.
        let h = FakeHost {
            account: None,
            ..host(REC)
        };
        *h.consumed.borrow_mut() = Consumption::NotConsumed;
        let mut p = pam("alice", "sshd");
        open_session(&mut p, &h, &args(&[]));
        assert_eq!(
            h.written.borrow()[0].recorder_account,
            RecorderAccount::NotSetUid
        );
        close_session(&mut p, &h, &args(&[]));
        assert!(h.evidence.borrow().is_empty());
        assert_eq!(h.account_lookups.get(), 0);
    }

    #[test]
    fn a_handoff_without_the_recorder_account_is_still_judged() {
        // Written by an older pam_tlog before an upgrade, closed by this one.
        let h = host(REC);
        *h.consumed.borrow_mut() = Consumption::NotConsumed;
        let mut p = pam("alice", "sshd");
        open_session(&mut p, &h, &args(&[]));
        h.written.borrow_mut()[0].recorder_account = RecorderAccount::Unknown;
        close_session(&mut p, &h, &args(&[]));
        assert_eq!(h.account_lookups.get(), 1);
        let ev = h.evidence.borrow();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EvidenceKind::NotRecorded);
    }

    #[test]
    fn evidence_the_writer_refuses_is_logged_and_the_session_still_closes() {
        let h = FakeHost {
            fail_evidence: true,
            ..host(REC)
        };
        *h.consumed.borrow_mut() = Consumption::NotConsumed;
        let mut p = pam("alice", "sshd");
        open_session(&mut p, &h, &args(&[]));
        close_session(&mut p, &h, &args(&[]));
        assert!(h.evidence.borrow().is_empty());
        let log = p.log.borrow();
        assert!(
            log.iter()
                .any(|l| l.contains("cannot write the evidence entry")
                    && l.contains(
                        &std::io::Error::from(std::io::ErrorKind::PermissionDenied).to_string()
                    )),
            "{log:?}"
        );
        assert_eq!(
            h.removed.borrow().len(),
            1,
            "the hand-off is removed all the same"
        );
    }

    #[test]
    fn a_recorder_that_never_ended_leaves_evidence_naming_its_recording() {
        let h = host(REC);
        *h.consumed.borrow_mut() = Consumption::Lost(vec!["rec-1".into()]);
        let mut p = pam("alice", "sshd");
        open_session(&mut p, &h, &args(&[]));
        close_session(&mut p, &h, &args(&[]));
        let ev = h.evidence.borrow();
        assert_eq!(ev[0].kind, EvidenceKind::RecorderLost);
        assert_eq!(ev[0].recs, vec!["rec-1".to_string()]);
    }

    #[test]
    fn unrecorded_logins_and_unprotected_recorders_leave_no_consumption_evidence() {
        // record=false (cron): nobody had to record.
        let h = host(REC);
        *h.consumed.borrow_mut() = Consumption::NotConsumed;
        let mut p = pam("alice", "cron");
        open_session(&mut p, &h, &args(&[]));
        close_session(&mut p, &h, &args(&[]));
        assert!(h.evidence.borrow().is_empty());
        // A recorder that is not set-uid cannot mark: warn at open instead.
        let mut h = host(REC);
        h.account = None;
        *h.consumed.borrow_mut() = Consumption::NotConsumed;
        let mut p = pam("alice", "sshd");
        open_session(&mut p, &h, &args(&[]));
        close_session(&mut p, &h, &args(&[]));
        assert!(h.evidence.borrow().is_empty());
        assert!(p
            .log
            .borrow()
            .iter()
            .any(|l| l.contains("not installed set-uid")));
    }
}
