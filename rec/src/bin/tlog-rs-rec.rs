//! tlog-rs-rec: record a program (default: the user's shell) like tlog-rec.

use std::ffi::OsString;
use std::path::Path;

use tlog_rs_rec::config::{system_config_path, ConfigBuilder, Program};
use tlog_rs_rec::{identity, nesting, rec_args, run, tap};

const IDENT: &str = "tlog-rs-rec";

fn main() {
    run::harden_process(nesting::ADHOC_COMM);
    run::stub_std_fds();
    tlog_rs_rec::set_ident(IDENT);
    std::process::exit(real_main());
}

fn real_main() -> i32 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let args = match rec_args::parse(argv.get(1..).unwrap_or(&[])) {
        Ok(a) => a,
        Err(e) => {
            tlog_rs_rec::warn(&format!("{e}\nTry '{IDENT} --help' for more information."));
            return 1;
        }
    };
    if args.help {
        println!("{}", rec_args::USAGE);
        return 0;
    }
    if args.version {
        println!("{IDENT} {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let mut b = ConfigBuilder::new(Program::Rec);
    let loaded = b
        .add_file(Path::new(system_config_path(Program::Rec)), true)
        .and_then(|()| match std::env::var_os("TLOG_REC_CONF_FILE") {
            Some(p) => b.add_file(Path::new(&p), false),
            None => Ok(()),
        })
        .and_then(|()| match std::env::var("TLOG_REC_CONF_TEXT") {
            Ok(t) => b.add_text("TLOG_REC_CONF_TEXT", &t),
            Err(_) => Ok(()),
        })
        .and_then(|()| b.add_node("command line", args.override_node()));
    if let Err(e) = loaded {
        tlog_rs_rec::warn(&format!("Invalid configuration: {e}"));
        return 1;
    }
    let config = match b.build() {
        Ok(c) => c,
        Err(e) => {
            tlog_rs_rec::warn(&format!("Invalid configuration: {e}"));
            return 1;
        }
    };
    if args.configuration {
        println!("{}", config.to_json());
        return 0;
    }
    let mut program = args.program.clone();
    if program.is_empty() {
        let shell = std::env::var_os("SHELL")
            .filter(|s| !s.is_empty())
            .or_else(|| identity::passwd_shell().map(Into::into));
        match shell {
            Some(s) => program.push(s),
            None => {
                tlog_rs_rec::warn("No program given and no shell found ($SHELL, passwd)");
                return 1;
            }
        }
    }
    let Some(path) = tap::find_in_path(&program[0]) else {
        tlog_rs_rec::warn(&format!(
            "{}: command not found",
            program[0].to_string_lossy()
        ));
        return 127;
    };
    run::record(run::Plan {
        ident: IDENT,
        config,
        path,
        argv: program,
        env_set: Vec::new(),
        set_marker: false,
        warnings: Vec::new(),
        login: None,
        uids: tlog_rs_rec::privilege::StartUids::current(),
        meta: Default::default(),
        utmp: false,
    })
}
