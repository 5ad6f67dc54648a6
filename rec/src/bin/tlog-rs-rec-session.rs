//! tlog-rs-rec-session: a login shell that records the session and runs the
//! user's real shell, like tlog-rec-session.
//!
//! Whether and how to record comes from the PAM hand-off when one verifies;
//! without one we fail secure: we record, and the user's environment may not
//! weaken the recording (see `Config::restrict_to`).

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;

use tlog_rs_policy::handoff;
use tlog_rs_policy::Graphical;
use tlog_rs_rec::config::{session_config, ConfigError};
use tlog_rs_rec::privilege::StartUids;
use tlog_rs_rec::session_args::{self, SessionArgs};
use tlog_rs_rec::sink::LoginMeta;
use tlog_rs_rec::{nesting, run, warn};

const IDENT: &str = "tlog-rs-rec-session";

const USAGE: &str = "Usage: tlog-rs-rec-session [OPTION...] [ARG...]
Start a recorded login shell.

  -h, --help           show this help and exit
  -v, --version        show the version and exit
      --configuration  print the merged configuration and exit
  -l, --login          start the shell as a login shell
  -i, --interactive    start the shell interactively (-i)
  -c, --command        the first ARG is a command string for the shell

The real shell and the settings come from the PAM hand-off (pam_tlog). Without
one, everything is recorded and the real shell is the passwd database's (the
services after tlog's NSS module), else the path encoded in the program name
after \"-shell\" (\"-\" is \"/\", \"\\x\" is x), else \"shell\" from
/etc/tlog-rs/rec-session.conf. The environment (TLOG_REC_*) is never read.";

fn main() {
    run::harden_process(nesting::SESSION_COMM);
    run::stub_std_fds();
    tlog_rs_rec::set_ident(IDENT);
    std::process::exit(real_main());
}

/// Why a shell path cannot be used, if it cannot.
fn unusable_shell(shell: &str) -> Option<&'static str> {
    if shell.is_empty() {
        return Some("it is empty");
    }
    if !shell.starts_with('/') {
        return Some("it is not an absolute path");
    }
    let me = std::fs::metadata("/proc/self/exe").ok();
    if let (Some(me), Ok(it)) = (me, std::fs::metadata(shell)) {
        if me.dev() == it.dev() && me.ino() == it.ino() {
            return Some("it is the recorder itself");
        }
    }
    None
}

/// The real shell without a hand-off: the passwd database (the services
/// after our NSS module), then the program name, then the system
/// configuration. Never the environment. Bad candidates are skipped with a
/// warning.
fn choose_shell(
    args: &SessionArgs,
    uid: u32,
    config_shell: Option<&str>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let passwd = match tlog_rs_policy::sys::underlying_getpwuid(uid) {
        Ok(e) => e.map(|e| e.shell_lossy()).filter(|s| !s.is_empty()),
        Err(e) => {
            warnings.push(format!("Cannot look up the shell of uid {uid}: {e}"));
            None
        }
    };
    let candidates = [
        ("the passwd database", passwd),
        ("the program name", args.name_shell.clone()),
        ("the configuration", config_shell.map(str::to_string)),
    ];
    for (origin, shell) in candidates {
        let Some(shell) = shell else { continue };
        match unusable_shell(&shell) {
            None => return Some(shell),
            Some(why) => warnings.push(format!("Ignoring shell \"{shell}\" from {origin}: {why}")),
        }
    }
    None
}

/// Variables tlog reads that we ignore without a hand-off (and with one,
/// which carries everything).
const IGNORED_ENV: [&str; 6] = [
    "TLOG_REC_SHELL",
    "TLOG_REC_SESSION_SHELL",
    "TLOG_REC_CONF_FILE",
    "TLOG_REC_SESSION_CONF_FILE",
    "TLOG_REC_CONF_TEXT",
    "TLOG_REC_SESSION_CONF_TEXT",
];

/// The hand-off's description of the login, for the start and end entries.
fn login_meta(h: &handoff::Handoff) -> LoginMeta {
    LoginMeta {
        service: Some(h.service.clone()),
        rhost: Some(h.rhost.clone()),
        uid: Some(h.uid),
        groups: Some(h.groups.clone()),
        rule: Some(h.rule.clone()),
        source: Some(h.source.clone()),
        fqdn: None,
        ssh: h.ssh,
    }
}

/// Whether this shell is recorded under hand-off `h`. In a graphical login
/// (a statement only pam_tlog, as root, can make) the desktop's own shells
/// are not, and terminals inside it only when the rule says
/// `record-terminals`: those have a terminal on standard input.
fn records_here(h: &handoff::Handoff) -> bool {
    match h.graphical {
        None => h.record,
        Some(Graphical::Skip) => false,
        // SAFETY: isatty only inspects fd 0.
        Some(Graphical::RecordTerminals) => h.record && unsafe { libc::isatty(0) } == 1,
    }
}

fn config_error(e: ConfigError) -> i32 {
    warn(&format!("Invalid configuration: {e}"));
    run::EXIT_FAILURE
}

/// Run the real shell in our place, as the user: with a set-uid recorder the
/// user's uid comes back for real, effective and saved uid first, and the
/// shell gets the environment the login program gave us.
fn exec_unrecorded(uids: StartUids, shell: &str, argv: &[OsString]) -> i32 {
    if !tlog_rs_rec::privilege::become_user(uids) {
        warn("Failed to take the user's uid before running the shell");
        return run::EXIT_FAILURE;
    }
    let e = std::process::Command::new(shell)
        .arg0(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(tlog_rs_rec::privilege::original_environment())
        .env("SHELL", shell)
        .exec();
    warn(&format!("Failed executing {shell}: {e}"));
    127
}

fn real_main() -> i32 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let args = match session_args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            warn(&e);
            return run::EXIT_FAILURE;
        }
    };
    if args.help {
        println!("{USAGE}");
        return 0;
    }
    if args.version {
        println!("{IDENT} {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let uids = StartUids::current();
    let uid = uids.user;
    let mut warnings = Vec::new();
    let (handoff, login) = match handoff::find_for_self() {
        Ok((h, key)) => (Some(h), Some(key)),
        // A terminal of a live desktop started outside the display
        // manager's process tree (systemd --user) finds its login this way.
        Err(handoff::Rejected::NotFound) => match handoff::find_graphical_for_self() {
            Some((h, key)) => (Some(h), Some(key)),
            None => (None, None),
        },
        Err(why) => {
            // Fail secure: record, with the strictest settings.
            warnings.push(format!("Ignoring the PAM hand-off ({why}); recording"));
            (None, None)
        }
    };

    let handoff_conf = handoff
        .as_ref()
        .filter(|h| h.record)
        .map(|h| h.conf_text.as_str());
    let config = match session_config(handoff_conf) {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    let (config, shell) = match &handoff {
        Some(h) => {
            let shell = match unusable_shell(&h.shell) {
                None => Some(h.shell.clone()),
                Some(why) => {
                    warnings.push(format!(
                        "Ignoring shell \"{}\" from the PAM hand-off: {why}",
                        h.shell
                    ));
                    None
                }
            };
            (config, shell)
        }
        None => {
            let set: Vec<&str> = IGNORED_ENV
                .into_iter()
                .filter(|v| std::env::var_os(v).is_some())
                .collect();
            if !set.is_empty() {
                warnings.push(format!(
                    "Ignoring {} from the environment: without a PAM hand-off only the system configuration counts",
                    set.join(", ")
                ));
            }
            // No hand-off: the system configuration, and everything recorded.
            let mut config = config;
            config.log_input = true;
            config.log_output = true;
            config.log_window = true;
            let shell = choose_shell(&args, uid, config.shell.as_deref(), &mut warnings);
            (config, shell)
        }
    };
    let Some(shell) = shell else {
        for w in &warnings {
            warn(w);
        }
        warn("No usable shell to run");
        return run::EXIT_FAILURE;
    };
    let mut config = config;
    config.shell = Some(shell.clone());
    if args.configuration {
        println!("{}", config.to_json());
        return 0;
    }
    let shell_argv = session_args::shell_argv(&shell, &args);
    if handoff.as_ref().is_some_and(|h| !records_here(h))
        || nesting::already_recorded(login.map(|k| k.pam))
    {
        return exec_unrecorded(uids, &shell, &shell_argv);
    }
    run::record(run::Plan {
        ident: IDENT,
        config,
        path: shell.clone().into(),
        argv: shell_argv,
        env_set: vec![("SHELL".into(), shell.into())],
        set_marker: true,
        warnings,
        login,
        uids,
        meta: handoff.as_ref().map(login_meta).unwrap_or_default(),
        utmp: true,
    })
}
