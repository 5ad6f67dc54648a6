//! `tlog-rs check` and `tlog-rs validate`: explain the policy decision for a
//! user, and check every configured policy source.

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::args;
use crate::sshd_check;
use tlog_rs_policy::graphical::{self, LoginView};
use tlog_rs_policy::handoff::HANDOFF_DIR;
use tlog_rs_policy::{
    sys, Decision, Graphical, LoginFacts, Policy, CONTROLLED_ENV, DEFAULT_POLICY_PATH,
    DEFAULT_RECORDER,
};

const CHECK_USAGE: &str = "\
usage: tlog-rs check USER [--service S] [--tty T] [--host H] [--policy FILE] [--json]

Show whether a login of USER would be recorded, which source and rule decide,
and the exact environment PAM would export. The user and groups come from the
system's NSS (the passwd services after tlog's own module, so the shell shown
is the real one).

  --service S    PAM service (default: unknown, i.e. what NSS decides: any service)
  --tty T        PAM_TTY of the login (\":0\" is an X display: a graphical login)
  --host H       host name to match host patterns against (default: gethostname)
  --policy FILE  policy file (default: /etc/tlog-rs/policy.toml)
  --json         print one JSON object

Exit status: 0 decided by the policy, 1 the policy is broken (the fail-secure
decision is shown), 2 usage error, 3 no such user.";

const VALIDATE_USAGE: &str = "\
usage: tlog-rs validate [--policy FILE] [--sshd-config FILE] [--sshd PROGRAM]

Check the policy file and every source it includes (sssd.conf and conf.d,
the FreeIPA cache). Each problem is printed as FILE:LINE: reason.
Then read sshd's effective configuration (sshd -T -f FILE, and -C user=NAME
for each user the policy names, group members included) and warn where
internal-sftp (Subsystem or ForceCommand) would serve a selected user
without the login shell, i.e. unrecorded; also where the files put it under
a Match on the client's address or host, which sshd -T cannot evaluate.
Without sshd the check is skipped.

  --policy FILE       policy file (default: /etc/tlog-rs/policy.toml)
  --sshd-config FILE  sshd configuration (default: /etc/ssh/sshd_config)
  --sshd PROGRAM      sshd binary (default: sshd in PATH, /usr/sbin, /usr/local/sbin)

Exit status: 0 valid (warnings included), 1 invalid, 2 usage error.";

pub fn run(cmd: &str, args: Vec<OsString>) -> i32 {
    match cmd {
        "check" => check(args),
        "validate" => validate(args),
        _ => 2,
    }
}

struct CheckArgs {
    user: String,
    service: Option<String>,
    tty: Option<String>,
    host: Option<String>,
    policy: PathBuf,
    json: bool,
}

/// The arguments, or `None` for --help.
fn parse_check(args: Vec<OsString>) -> Result<Option<CheckArgs>, String> {
    let mut user = None;
    let mut service = None;
    let mut tty = None;
    let mut host = None;
    let mut policy = PathBuf::from(DEFAULT_POLICY_PATH);
    let mut json = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match args::utf8(a)?.as_str() {
            "--service" => service = Some(args::value(&mut it, "--service")?),
            "--tty" => tty = Some(args::value(&mut it, "--tty")?),
            "--host" => host = Some(args::value(&mut it, "--host")?),
            "--policy" => policy = PathBuf::from(args::value(&mut it, "--policy")?),
            "--json" => json = true,
            "-h" | "--help" => return Ok(None),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            s => {
                if user.replace(s.to_string()).is_some() {
                    return Err("only one USER may be given".into());
                }
            }
        }
    }
    let user = user.ok_or("missing USER")?;
    Ok(Some(CheckArgs {
        user,
        service,
        tty,
        host,
        policy,
        json,
    }))
}

fn check(args: Vec<OsString>) -> i32 {
    let a = match args::or_usage(parse_check(args), "check", CHECK_USAGE) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let facts = match sys::login_facts(&a.user, a.service.as_deref(), a.host.as_deref()) {
        Ok(Some(f)) => f,
        Ok(None) => {
            eprintln!(
                "tlog-rs check: no such user {:?} (passwd services after tlog's own found nothing)",
                a.user
            );
            return 3;
        }
        Err(e) => {
            eprintln!("tlog-rs check: cannot look up user {:?}: {e}", a.user);
            return 3;
        }
    };
    // What NSS shows as the login shell: the recorder whenever some service
    // might record (the broken-policy case records everyone).
    let mut display_managers = graphical::default_display_managers();
    let (decision, error, nss_shell) = match Policy::load(&a.policy) {
        Ok(p) => {
            display_managers = p.display_managers().to_vec();
            // NSS also swaps for an account sharing the uid of a user a rule
            // names; pam_tlog decides by uid with group members too.
            let by_uid = || {
                p.selects_uid_by_name(facts.uid, &mut |n| {
                    sys::underlying_getpwnam(n).ok().flatten().map(|e| e.uid)
                })
            };
            let nss = if p.may_record(&facts) || by_uid() {
                p.recorder().to_string()
            } else {
                facts.passwd_shell.clone()
            };
            match tlog_rs_policy::uid_match::decide_login(&p, &facts, &sys::SystemAccounts) {
                Ok(d) => (d, None, nss),
                Err(e) => {
                    eprintln!("tlog-rs check: cannot check whether uid {} belongs to a selected user: {e}", facts.uid);
                    return 3;
                }
            }
        }
        Err(e) => (
            Policy::failsafe_decision(&e, &facts),
            Some(e),
            DEFAULT_RECORDER.to_string(),
        ),
    };
    // What pam_tlog decides about a graphical login (see policy/src/graphical.rs);
    // a broken policy records terminals inside desktops too.
    let view = LoginView {
        service: a.service.clone().unwrap_or_default(),
        tty: a.tty.clone().unwrap_or_default(),
        ..LoginView::default()
    };
    let terminals = if error.is_some() {
        Graphical::RecordTerminals
    } else {
        decision.graphical
    };
    let graphical = graphical::detect(&view, &display_managers).map(|s| (s, terminals));
    if a.json {
        let mut v = to_json(&facts, &decision, error.as_ref());
        v["nss_shell"] = Value::String(nss_shell);
        v["graphical"] = match &graphical {
            Some((s, t)) => json!({"signal": s.to_string(), "terminals": t.as_str()}),
            None => Value::Null,
        };
        println!("{v}");
    } else {
        print_text(&facts, &decision, error.as_ref(), &a.policy);
        print_graphical(&decision, graphical.as_ref(), a.service.is_some());
        println!(
            "NSS shell: {nss_shell} (what getpwnam returns with nss_tlog first in nsswitch.conf)"
        );
    }
    if error.is_some() {
        1
    } else {
        0
    }
}

fn to_json(facts: &LoginFacts, d: &Decision, error: Option<&tlog_rs_policy::PolicyError>) -> Value {
    let env: Map<String, Value> = d
        .env()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let settings: Value = serde_json::from_str(&d.settings.to_conf_json()).unwrap_or(Value::Null);
    json!({
        "user": facts.user,
        "record": d.record,
        "source": d.source.as_str(),
        "rule": d.rule,
        "reason": d.reason,
        "shell": d.shell,
        "env": env,
        "audit_level": d.audit_level.as_str(),
        "settings": settings,
        "uid": facts.uid,
        "gid": facts.gid,
        "primary_group": facts.primary_group,
        "groups": facts.groups,
        "host": facts.host,
        "service": facts.service,
        "passwd_shell": facts.passwd_shell,
        "policy_error": error.map(|e| e.to_string()),
    })
}

fn print_text(
    facts: &LoginFacts,
    d: &Decision,
    error: Option<&tlog_rs_policy::PolicyError>,
    policy: &std::path::Path,
) {
    println!(
        "user:      {} (uid {}, gid {})",
        facts.user, facts.uid, facts.gid
    );
    println!(
        "groups:    primary {}; all: {}",
        facts
            .primary_group
            .as_deref()
            .unwrap_or("(no group has this gid)"),
        if facts.groups.is_empty() {
            "(none)".to_string()
        } else {
            facts.groups.join(", ")
        }
    );
    println!("host:      {}", facts.host);
    println!(
        "service:   {}",
        facts
            .service
            .as_deref()
            .unwrap_or("(any: the NSS view, recorded if any service would be)")
    );
    println!("policy:    {}", policy.display());
    if let Some(e) = error {
        println!("ERROR:     {e}");
    }
    println!(
        "decision:  {}",
        if d.record { "RECORDED" } else { "not recorded" }
    );
    println!("source:    {}", d.source);
    println!("rule:      {}", d.rule);
    println!("reason:    {}", d.reason);
    println!("shell:     {}", d.shell);
    if d.record {
        println!("audit:     {}", d.audit_level);
        println!("PAM exports:");
        for (k, v) in d.env() {
            println!("  {k}={v}");
        }
        println!("hand-off:  {HANDOFF_DIR}/<pam pid>-<start>-<uid> (the recorder reads nothing from the environment)");
    } else {
        println!(
            "PAM exports nothing and removes: {}",
            CONTROLLED_ENV.join(" ")
        );
    }
}

fn print_graphical(d: &Decision, g: Option<&(graphical::Signal, Graphical)>, service: bool) {
    match g {
        Some((signal, terminals)) => {
            println!("graphical: yes ({signal}): the desktop is not recorded");
            let what = match (d.record, terminals) {
                (false, _) => "not recorded (the login is not selected)",
                (true, Graphical::Skip) => "not recorded (graphical = \"skip\")",
                (true, Graphical::RecordTerminals) => "recorded (graphical = \"record-terminals\")",
            };
            println!("terminals: {what}, when started under the display manager's session");
        }
        None if service => println!("graphical: no (a text login)"),
        None => {}
    }
}

/// The users the policy names in record rules, and the listed members of
/// the groups it names: whose sshd settings `validate` checks one by one.
fn selected_users(p: &Policy) -> Vec<String> {
    let names = p.selecting_names();
    let mut users = names.users;
    for g in &names.groups {
        users.extend(sys::group_members(g).unwrap_or_default());
    }
    users.sort();
    users.dedup();
    users
}

/// The recorder must be set-uid to its own account, or the recorded user
/// can stop it and rewrite its log (docs/deployment.md, "The recorder
/// account").
fn recorder_protection_warning(recorder: &std::path::Path) -> Option<String> {
    if !recorder.exists() {
        // Policy::validate reports that as an error.
        return None;
    }
    match tlog_rs_policy::handoff::recorder_account(recorder) {
        Some(_) => None,
        None => Some(format!(
            "the recorder {} is not set-uid to its own account: recorded users can stop it, \
             preload code into it and rewrite its log (make install sets it up: \
             chown tlog-rs:root, chmod 4755)",
            recorder.display()
        )),
    }
}

/// Write the NSS module's precompiled view of the default policy (its
/// first lookup in each process then parses no TOML). A policy it cannot
/// cover, or a failure to write, leaves none: NSS then parses the policy.
fn write_nss_snapshot(p: &Policy) {
    use tlog_rs_policy::{snapshot, Refreshed, DEFAULT_SNAPSHOT_PATH};
    let path = std::path::Path::new(DEFAULT_SNAPSHOT_PATH);
    match snapshot::refresh(p, DEFAULT_POLICY_PATH, &sys::host_name(), path) {
        Ok(Refreshed::Written) => {
            println!("note: NSS policy snapshot written to {}", path.display())
        }
        Ok(Refreshed::Removed) => {}
        Err(e) => println!(
            "note: NSS policy snapshot {} not written: {e}",
            path.display()
        ),
    }
}

fn validate(args: Vec<OsString>) -> i32 {
    let mut policy = PathBuf::from(DEFAULT_POLICY_PATH);
    let mut sshd_config = None;
    let mut sshd = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some(opt @ ("--policy" | "--sshd-config" | "--sshd")) => match it.next() {
                Some(p) => {
                    let p = PathBuf::from(p);
                    match opt {
                        "--policy" => policy = p,
                        "--sshd-config" => sshd_config = Some(p),
                        _ => sshd = Some(p),
                    }
                }
                None => {
                    eprintln!("tlog-rs validate: {opt} needs a value\n\n{VALIDATE_USAGE}");
                    return 2;
                }
            },
            Some("-h" | "--help") => {
                println!("{VALIDATE_USAGE}");
                return 0;
            }
            _ => {
                eprintln!("tlog-rs validate: unexpected argument {a:?}\n\n{VALIDATE_USAGE}");
                return 2;
            }
        }
    }
    let report = Policy::validate(&policy);
    for w in &report.warnings {
        println!("warning: {w}");
    }
    let loaded = Policy::load(&policy);
    let recorder = loaded
        .as_ref()
        .map(|p| p.recorder().to_string())
        .unwrap_or_else(|_| DEFAULT_RECORDER.to_string());
    if let Some(w) = recorder_protection_warning(std::path::Path::new(&recorder)) {
        println!("warning: {w}");
    }
    if policy == std::path::Path::new(DEFAULT_POLICY_PATH) {
        if let Ok(p) = &loaded {
            write_nss_snapshot(p);
        }
    }
    let users = loaded.map(|p| selected_users(&p)).unwrap_or_default();
    let explicit = sshd_config.is_some();
    let config = sshd_config.unwrap_or_else(|| PathBuf::from(sshd_check::DEFAULT_SSHD_CONFIG));
    match sshd_check::check(sshd.as_deref(), &config, explicit, &users) {
        sshd_check::Outcome::Skipped(why) => println!("note: {why}"),
        sshd_check::Outcome::Checked(warnings) => {
            for w in warnings {
                println!("warning: {w}");
            }
        }
    }
    for e in &report.errors {
        println!("error: {e}");
    }
    if report.errors.is_empty() {
        println!("{}: valid", policy.display());
        0
    } else {
        let consequence = if report.load_failed {
            "; until fixed, every login is recorded (fail-secure)"
        } else {
            ""
        };
        println!(
            "{}: INVALID ({} error(s)){consequence}",
            policy.display(),
            report.errors.len()
        );
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::words;

    #[test]
    fn help_is_no_arguments_not_an_error() {
        assert!(parse_check(words(&["alice", "--help"])).unwrap().is_none());
        assert!(parse_check(words(&["-h"])).unwrap().is_none());
    }

    #[test]
    fn usage_errors_name_the_problem() {
        let a = parse_check(words(&["alice", "--service", "sshd"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.user.as_str(), a.service.as_deref()),
            ("alice", Some("sshd"))
        );
        assert_eq!(parse_check(words(&[])).err().unwrap(), "missing USER");
        assert_eq!(
            parse_check(words(&["alice", "--tty"])).err().unwrap(),
            "--tty needs a value"
        );
        assert_eq!(
            parse_check(words(&["alice", "--bogus"])).err().unwrap(),
            "unknown option --bogus"
        );
    }
}
