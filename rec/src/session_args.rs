//! tlog-rs-rec-session's command line: the login-shell conventions of
//! tlog-rec-session (`-argv0`, `-c`, `-i`, `-l`) and the `-shell-` encoded
//! program name that selects the real shell.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// What the command line asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionArgs {
    pub login: bool,
    pub interactive: bool,
    pub command: bool,
    pub help: bool,
    pub version: bool,
    pub configuration: bool,
    /// Real shell decoded from a `-shell-` program name.
    pub name_shell: Option<String>,
    /// Positional arguments (the command string first, with `-c`).
    pub args: Vec<OsString>,
}

fn basename(argv0: &OsStr) -> &[u8] {
    let b = argv0.as_bytes();
    match b.iter().rposition(|&c| c == b'/') {
        Some(i) => &b[i + 1..],
        None => b,
    }
}

/// Decode the path after `-shell` in a program name: `-` is `/`, `\x` is a
/// literal x. `tlog-rs-rec-session-shell-bin-zsh` gives `/bin/zsh`.
/// A single linear pass, so no input can make it loop.
pub fn decode_shell_name(name: &[u8]) -> Option<String> {
    let pos = name.windows(7).position(|w| w == b"-shell-")?;
    let encoded = &name[pos + "-shell".len()..];
    let mut out = Vec::with_capacity(encoded.len());
    let mut it = encoded.iter();
    while let Some(&c) = it.next() {
        match c {
            b'-' => out.push(b'/'),
            b'\\' => out.push(*it.next().unwrap_or(&b'\\')),
            c => out.push(c),
        }
    }
    String::from_utf8(out).ok()
}

/// Parse argv (including argv[0]) the way tlog-rec-session does.
pub fn parse(argv: &[OsString]) -> Result<SessionArgs, String> {
    let mut a = SessionArgs::default();
    if let Some(argv0) = argv.first() {
        let base = basename(argv0);
        a.login = base.first() == Some(&b'-');
        a.name_shell = decode_shell_name(base);
    }
    let mut rest = argv.iter().skip(1);
    for arg in rest.by_ref() {
        let b = arg.as_bytes();
        match b {
            b"--" => break,
            b"--help" => a.help = true,
            b"--version" => a.version = true,
            b"--configuration" => a.configuration = true,
            b"--login" => a.login = true,
            b"--interactive" => a.interactive = true,
            b"--command" => a.command = true,
            _ if b.starts_with(b"--") => {
                return Err(format!("Unknown option: {}", arg.to_string_lossy()))
            }
            _ if b.len() > 1 && b[0] == b'-' => {
                for &c in &b[1..] {
                    match c {
                        b'h' => a.help = true,
                        b'v' => a.version = true,
                        b'l' => a.login = true,
                        b'i' => a.interactive = true,
                        b'c' => a.command = true,
                        _ => return Err(format!("Unknown option: -{}", c as char)),
                    }
                }
            }
            _ => {
                a.args.push(arg.clone());
                break;
            }
        }
    }
    a.args.extend(rest.cloned());
    if a.command && a.args.is_empty() && !(a.help || a.version || a.configuration) {
        return Err("Command string is not specified".into());
    }
    Ok(a)
}

/// The real shell's argv: argv[0] is the shell path, or `-<basename>` for a
/// login shell; then `-c` (command) or `-i` (interactive); then the args.
pub fn shell_argv(shell: &str, a: &SessionArgs) -> Vec<OsString> {
    let mut argv = Vec::with_capacity(a.args.len() + 2);
    if a.login {
        let base = shell.rsplit('/').next().unwrap_or(shell);
        argv.push(OsString::from(format!("-{base}")));
    } else {
        argv.push(OsString::from(shell));
    }
    if a.command {
        argv.push("-c".into());
    } else if a.interactive {
        argv.push("-i".into());
    }
    argv.extend(a.args.iter().cloned());
    argv
}

/// `OsString` from raw bytes (test helper and for callers with byte strings).
pub fn os(b: &[u8]) -> OsString {
    OsString::from_vec(b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn decodes_shell_names() {
        let d = |s: &str| decode_shell_name(s.as_bytes());
        assert_eq!(
            d("tlog-rs-rec-session-shell-bin-zsh").as_deref(),
            Some("/bin/zsh")
        );
        assert_eq!(
            d("tlog-rec-session-shell-tmp-tl-my\\-dir-sh").as_deref(),
            Some("/tmp/tl/my-dir/sh")
        );
        assert_eq!(d("x-shell-a\\\\b").as_deref(), Some("/a\\b"));
        assert_eq!(d("x-shell-trailing\\").as_deref(), Some("/trailing\\"));
        assert_eq!(d("tlog-rs-rec-session"), None);
    }

    #[test]
    fn login_and_name_from_argv0() {
        let a = parse(&argv(&["-tlog-rs-rec-session-shell-bin-sh"])).unwrap();
        assert!(a.login);
        assert_eq!(a.name_shell.as_deref(), Some("/bin/sh"));
        assert_eq!(shell_argv("/bin/sh", &a), argv(&["-sh"]));
        let a = parse(&argv(&["/usr/bin/tlog-rs-rec-session"])).unwrap();
        assert!(!a.login && a.name_shell.is_none());
    }

    #[test]
    fn command_and_args() {
        let a = parse(&argv(&["rs", "-c", "echo $0 $1", "name", "-x"])).unwrap();
        assert_eq!(
            shell_argv("/bin/bash", &a),
            argv(&["/bin/bash", "-c", "echo $0 $1", "name", "-x"])
        );
        assert_eq!(
            parse(&argv(&["rs", "-c"])).unwrap_err(),
            "Command string is not specified"
        );
        let a = parse(&argv(&["-rs", "-i"])).unwrap();
        assert_eq!(shell_argv("/bin/bash", &a), argv(&["-bash", "-i"]));
        assert!(parse(&argv(&["rs", "-q"])).is_err());
        let a = parse(&argv(&["rs", "-lc", "true"])).unwrap();
        assert!(a.login && a.command);
    }
}
