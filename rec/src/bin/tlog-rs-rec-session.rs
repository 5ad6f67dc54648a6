//! tlog-rs-rec-session: a login shell that records the session and runs the
//! user's real shell, like tlog-rec-session.
//!
//! Whether and how to record comes from the PAM hand-off when one verifies;
//! without one we fail secure: we record, and the user's environment may not
//! weaken the recording (see `Config::restrict_to`).

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use tlog_rs_rec::config::{system_config_path, ConfigBuilder, ConfigError, Program};
use tlog_rs_rec::session_args::{self, SessionArgs};
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

The real shell: $TLOG_REC_SHELL, else $TLOG_REC_SESSION_SHELL, else the path
encoded in the program name after \"-shell\" (\"-\" is \"/\", \"\\x\" is x),
else \"shell\" from the configuration.";

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

/// The real shell: env, then program name, then config; bad candidates are
/// skipped with a warning.
fn choose_shell(
    args: &SessionArgs,
    config_shell: Option<&str>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let candidates = [
        ("TLOG_REC_SHELL", std::env::var("TLOG_REC_SHELL").ok()),
        (
            "TLOG_REC_SESSION_SHELL",
            std::env::var("TLOG_REC_SESSION_SHELL").ok(),
        ),
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

fn config_error(e: ConfigError) -> i32 {
    warn(&format!("Invalid configuration: {e}"));
    run::EXIT_FAILURE
}

fn exec_unrecorded(shell: &str, argv: &[OsString]) -> i32 {
    let e = std::process::Command::new(shell)
        .arg0(&argv[0])
        .args(&argv[1..])
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
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut warnings = Vec::new();
    let (handoff, login) = match tlog_policy::handoff::read_checked_login() {
        Ok((h, pam)) if h.uid == uid => (Some(h), Some(pam)),
        Ok(_) | Err(tlog_policy::handoff::Rejected::NoToken) => (None, None),
        Err(why) => {
            // Fail secure: record, with the system configuration.
            warnings.push(format!("Ignoring the PAM hand-off ({why}); recording"));
            (None, None)
        }
    };

    let mut b = ConfigBuilder::new(Program::RecSession);
    if let Err(e) = b.add_file(Path::new(system_config_path(Program::RecSession)), true) {
        return config_error(e);
    }
    let (config, shell) = match &handoff {
        Some(h) => {
            if h.record && !h.conf_text.trim().is_empty() {
                if let Err(e) = b.add_text("PAM hand-off", &h.conf_text) {
                    return config_error(e);
                }
            }
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
            (b.build(), shell)
        }
        None => {
            let floor = b.build();
            for var in ["TLOG_REC_CONF_FILE", "TLOG_REC_SESSION_CONF_FILE"] {
                if let Some(p) = std::env::var_os(var) {
                    if let Err(e) = b.add_file(Path::new(&p), false) {
                        return config_error(e);
                    }
                }
            }
            for var in ["TLOG_REC_CONF_TEXT", "TLOG_REC_SESSION_CONF_TEXT"] {
                if let Ok(t) = std::env::var(var) {
                    if let Err(e) = b.add_text(var, &t) {
                        return config_error(e);
                    }
                }
            }
            let mut config = b.build();
            for key in config.restrict_to(&floor) {
                warnings.push(format!(
                    "Ignoring \"{key}\" from the environment: only the system configuration or PAM may weaken recording"
                ));
            }
            let shell = choose_shell(&args, config.shell.as_deref(), &mut warnings);
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
    if handoff.as_ref().is_some_and(|h| !h.record) || nesting::already_recorded(login) {
        return exec_unrecorded(&shell, &shell_argv);
    }
    run::record(run::Plan {
        ident: IDENT,
        config,
        path: shell.clone().into(),
        argv: shell_argv,
        env_set: vec![("SHELL".into(), shell.into())],
        set_marker: true,
        warnings,
    })
}
