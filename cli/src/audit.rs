//! `tlog-rs audit-rules`: dispatch to the audit crate.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use tlog_rs_audit::file;
use tlog_rs_audit::rules::{self, DEFAULT_RULES_PATH};
use tlog_rs_audit::select::SystemDirectory;
use tlog_rs_policy::{sys, DEFAULT_POLICY_PATH};

use crate::args;

const USAGE: &str = "\
usage: tlog-rs audit-rules [--policy FILE] [--output FILE] [--host H] [--check]

Generate the kernel audit rules for the policy's audit levels: users at
level \"session\" get exec, file-change, socket and exit rules filtered by
their login uid (groups are expanded to uids, so run it again when group
membership changes). Level \"login\" needs no rules, only auditd and
pam_loginuid. The file is replaced atomically; load it with
`augenrules --load`.

  --policy FILE  policy file (default: /etc/tlog-rs/policy.toml)
  --output FILE  where to write (default: /etc/audit/rules.d/50-tlog-rs.rules; - = stdout)
  --host H       host name to match host patterns against (default: gethostname)
  --check        write nothing: compare the rules the kernel holds (auditctl -l)
                 with the expected ones and name every missing or extra rule

Exit status: 0 written / no drift, 1 drift or a broken policy (then every
logged-in user gets the session rules, fail-secure), 2 usage error,
3 cannot write or cannot run auditctl.";

struct Args {
    policy: PathBuf,
    output: String,
    host: Option<String>,
    check: bool,
}

/// The arguments, or `None` for --help.
fn parse(args: Vec<OsString>) -> Result<Option<Args>, String> {
    let mut a = Args {
        policy: PathBuf::from(DEFAULT_POLICY_PATH),
        output: DEFAULT_RULES_PATH.into(),
        host: None,
        check: false,
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match args::utf8(arg)?.as_str() {
            "--policy" => a.policy = PathBuf::from(args::value(&mut it, "--policy")?),
            "--output" => a.output = args::value(&mut it, "--output")?,
            "--host" => a.host = Some(args::value(&mut it, "--host")?),
            "--check" => a.check = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some(a))
}

pub fn run(_cmd: &str, args: Vec<OsString>) -> i32 {
    let a = match args::or_usage(parse(args), "audit-rules", USAGE) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let host = a.host.clone().unwrap_or_else(sys::host_name);
    let (text, broken) = file::expected(&a.policy, &host, &SystemDirectory);
    if let Some(why) = &broken {
        eprintln!("tlog-rs audit-rules: {why}");
    }
    let code = if a.check {
        check(&text)
    } else {
        write(&a.output, &text)
    };
    if broken.is_some() {
        code.max(1)
    } else {
        code
    }
}

fn write(output: &str, text: &str) -> i32 {
    if output == "-" {
        print!("{text}");
        return 0;
    }
    match file::write_atomic(Path::new(output), text) {
        Ok(()) => {
            eprintln!("tlog-rs audit-rules: wrote {output}; load it with `augenrules --load`");
            0
        }
        Err(e) => {
            eprintln!("tlog-rs audit-rules: cannot write {output}: {e}");
            3
        }
    }
}

fn check(expected_text: &str) -> i32 {
    let expected = match rules::parse_rules(expected_text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tlog-rs audit-rules: internal error in the generated rules: {e}");
            return 3;
        }
    };
    let out = match Command::new("auditctl").arg("-l").output() {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "tlog-rs audit-rules: auditctl -l failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return 3;
        }
        Err(e) => {
            eprintln!("tlog-rs audit-rules: cannot run auditctl: {e}");
            return 3;
        }
    };
    let listing = String::from_utf8_lossy(&out.stdout);
    match rules::check(&expected, &listing) {
        Ok(d) if d.is_clean() => {
            println!(
                "audit rules match the policy ({} rules loaded)",
                expected.len()
            );
            0
        }
        Ok(d) => {
            for r in &d.missing {
                println!("missing: {r}");
            }
            for r in &d.extra {
                println!("extra: {r}");
            }
            println!(
                "audit rules drift: {} missing, {} extra; regenerate and run `augenrules --load`",
                d.missing.len(),
                d.extra.len()
            );
            1
        }
        Err(e) => {
            eprintln!("tlog-rs audit-rules: cannot read `auditctl -l` output: {e}");
            3
        }
    }
}

const EXPORT_USAGE: &str = "\
usage: tlog-rs audit-export [FILE...]

Read raw audit logs (audit.log, RAW or ENRICHED format; standard input
without FILE), group the records into events (by node and event id; audit.log
has no EOE lines, so an event closes when a record 2 s newer arrives or the
input ends) and print one JSON object per event: the summary (kind, process,
argv, cwd, exit, paths, socket address, login fields) and every record with
hex fields decoded.

Exit status: 0 every line read, 1 some lines were not audit records (each
named on standard error as FILE:LINE:COLUMN, the others still exported),
2 usage error, 3 a file cannot be read.";

pub fn export(args: Vec<OsString>) -> i32 {
    use std::io::{BufReader, BufWriter};

    let mut files = Vec::new();
    for a in args {
        match a.to_str() {
            Some("-h" | "--help") => {
                println!("{EXPORT_USAGE}");
                return 0;
            }
            Some(s) if s.starts_with('-') && s.len() > 1 => {
                eprintln!("tlog-rs audit-export: unknown option {s}\n\n{EXPORT_USAGE}");
                return 2;
            }
            _ => files.push(PathBuf::from(a)),
        }
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut code = 0;
    let names: Vec<String> = if files.is_empty() {
        vec!["-".into()]
    } else {
        files.iter().map(|f| f.display().to_string()).collect()
    };
    // Each file is grouped on its own: an event never spans files.
    for name in names {
        let mut bad = |e: tlog_rs_audit::parse::ParseError| {
            eprintln!(
                "tlog-rs audit-export: {name}:{}:{}: {}",
                e.line, e.column, e.message
            );
            code = 1;
        };
        let res = if name == "-" && files.is_empty() {
            tlog_rs_audit::event::export(std::io::stdin().lock(), &mut out, &mut bad)
        } else {
            match std::fs::File::open(&name) {
                Ok(f) => tlog_rs_audit::event::export(BufReader::new(f), &mut out, &mut bad),
                Err(e) => {
                    eprintln!("tlog-rs audit-export: {name}: {e}");
                    return 3;
                }
            }
        };
        if let Err(e) = res {
            eprintln!("tlog-rs audit-export: {name}: {e}");
            return 3;
        }
    }
    if out.flush().is_err() {
        return 3;
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::words;

    #[test]
    fn help_wins_and_errors_name_the_problem() {
        assert!(parse(words(&["--check", "--help"])).unwrap().is_none());
        let a = parse(words(&["--output", "-", "--check"])).unwrap();
        assert_eq!(a.map(|a| (a.output, a.check)), Some(("-".into(), true)));
        for (args, want) in [
            (&["--host"][..], "--host needs a value"),
            (&["x"][..], "unknown argument x"),
        ] {
            assert_eq!(parse(words(args)).err().as_deref(), Some(want));
        }
    }
}
