//! Is a login graphical? Decided at PAM time from what the login program and
//! the display manager's PAM stack set, never from what the user can set.
//!
//! Trusted signals, any one suffices:
//! - the PAM service is a display manager's (`display_managers`);
//! - PAM_TTY is an X display (`:0`, `host:1.0`) or PAM_XDISPLAY is set. PAM
//!   items are set by the application, not by pam_env.
//!
//! `XDG_SESSION_TYPE` (x11, wayland, mir) and `XDG_SESSION_CLASS` (greeter)
//! live in the PAM environment, which pam_env `user_readenv` fills from the
//! user's `~/.pam_environment` (and sshd from `~/.ssh/environment`). They
//! count only for a login on a local virtual console: no PAM_RHOST and a
//! PAM_TTY that is a console, not a pseudo-terminal or `ssh`; and only when
//! that service's PAM stack never reads the user's own environment file
//! (`pam_env.so user_readenv=1`, which Debian's `login` does not use but an
//! admin may add). A remote or pty login that claims to be graphical is
//! recorded, and so is a console login whose stack lets the user set them.

use std::fmt;

/// Display-manager services when policy.toml has no `display_managers`.
pub const DEFAULT_DISPLAY_MANAGERS: &[&str] = &[
    "gdm-password",
    "gdm-autologin",
    "gdm-fingerprint",
    "gdm-smartcard",
    "lightdm",
    "lightdm-autologin",
    "sddm",
    "sddm-autologin",
];

/// DEFAULT_DISPLAY_MANAGERS as owned strings (when no policy could be read).
pub fn default_display_managers() -> Vec<String> {
    DEFAULT_DISPLAY_MANAGERS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// What PAM knows about the login (empty strings for unset items).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginView {
    pub service: String,
    pub tty: String,
    pub xdisplay: String,
    pub rhost: String,
    /// XDG_SESSION_TYPE from the PAM environment.
    pub session_type: String,
    /// XDG_SESSION_CLASS from the PAM environment.
    pub session_class: String,
    /// The service's PAM stack may read `~/.pam_environment` (or could not
    /// be read): the XDG variables are then the user's word.
    pub user_env_readable: bool,
}

/// Why a login is graphical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    DisplayManager(String),
    XDisplayTty(String),
    XDisplayItem(String),
    SessionType(String),
    SessionClass(String),
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::DisplayManager(s) => write!(f, "service {s} is a display manager"),
            Signal::XDisplayTty(t) => write!(f, "PAM_TTY {t} is an X display"),
            Signal::XDisplayItem(d) => write!(f, "PAM_XDISPLAY is {d}"),
            Signal::SessionType(t) => {
                write!(f, "XDG_SESSION_TYPE={t} on a local console")
            }
            Signal::SessionClass(c) => {
                write!(f, "XDG_SESSION_CLASS={c} on a local console")
            }
        }
    }
}

/// `:N`, `:N.S` or `host:N[.S]`.
fn is_x_display(tty: &str) -> bool {
    let Some((_, disp)) = tty.rsplit_once(':') else {
        return false;
    };
    let (num, screen) = disp.split_once('.').unwrap_or((disp, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(num) && digits(screen) && !tty.starts_with('/')
}

/// A local virtual console (`/dev/tty1`, `tty1`), where nobody but the
/// person at the machine logs in; not a pty, not `ssh`, not remote.
fn local_console(v: &LoginView) -> bool {
    let t = v.tty.strip_prefix("/dev/").unwrap_or(&v.tty);
    v.rhost.is_empty()
        && t.strip_prefix("tty")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The first signal that makes this login graphical, or None (a text login).
pub fn detect(v: &LoginView, display_managers: &[String]) -> Option<Signal> {
    if display_managers.contains(&v.service) {
        return Some(Signal::DisplayManager(v.service.clone()));
    }
    if is_x_display(&v.tty) {
        return Some(Signal::XDisplayTty(v.tty.clone()));
    }
    if !v.xdisplay.is_empty() {
        return Some(Signal::XDisplayItem(v.xdisplay.clone()));
    }
    if local_console(v) && !v.user_env_readable {
        if matches!(v.session_type.as_str(), "x11" | "wayland" | "mir") {
            return Some(Signal::SessionType(v.session_type.clone()));
        }
        if v.session_class == "greeter" {
            return Some(Signal::SessionClass(v.session_class.clone()));
        }
    }
    None
}

/// `user_readenv=N` as pam_env reads it: atoi, so `01`, `2` and `-1` are on
/// too; also in the bracketed form `[user_readenv=1]`.
fn enables_user_readenv(word: &str) -> bool {
    let word = word.trim_start_matches('[').trim_end_matches(']');
    let Some(value) = word.strip_prefix("user_readenv=") else {
        return false;
    };
    let value = value.trim_start();
    let value = value.strip_prefix(['-', '+']).unwrap_or(value);
    value
        .chars()
        .take_while(char::is_ascii_digit)
        .any(|c| c != '0')
}

/// Does the PAM stack of `service` (in `pam_d`, following `@include`,
/// `include` and `substack`) run pam_env with `user_readenv` on? Unreadable
/// or too deep counts as yes: the XDG variables are then not trusted.
pub fn stack_reads_user_env(pam_d: &std::path::Path, service: &str) -> bool {
    fn walk(pam_d: &std::path::Path, name: &str, depth: u32) -> bool {
        if depth > 8 || name.contains('/') || name.is_empty() {
            return true;
        }
        let Ok(text) = std::fs::read_to_string(pam_d.join(name)) else {
            return true;
        };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["@include", file, ..] if walk(pam_d, file, depth + 1) => return true,
                [_, "include" | "substack", file, ..] if walk(pam_d, file, depth + 1) => {
                    return true
                }
                ["@include", ..] | [_, "include" | "substack", ..] => {}
                _ if words.iter().any(|w| w.ends_with("pam_env.so"))
                    && words.iter().any(|w| enables_user_readenv(w)) =>
                {
                    return true;
                }
                _ => {}
            }
        }
        false
    }
    walk(pam_d, service, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dms() -> Vec<String> {
        DEFAULT_DISPLAY_MANAGERS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn view(service: &str, tty: &str, rhost: &str, ty: &str) -> LoginView {
        LoginView {
            service: service.into(),
            tty: tty.into(),
            rhost: rhost.into(),
            session_type: ty.into(),
            ..LoginView::default()
        }
    }

    #[test]
    fn console_xdg_claims_count_only_where_the_user_cannot_set_them() {
        let d = dms();
        let mut v = view("login", "/dev/tty1", "", "wayland");
        assert!(detect(&v, &d).is_some());
        v.user_env_readable = true;
        assert_eq!(detect(&v, &d), None);

        let dir = std::env::temp_dir().join(format!("tlog-pamd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let w = |n: &str, t: &str| std::fs::write(dir.join(n), t).unwrap();
        w("common-session", "session required pam_unix.so\n");
        w(
            "login",
            "session required pam_env.so readenv=1\n@include common-session\n",
        );
        w("login-user", "session include login-env # via include\n");
        w(
            "login-env",
            "session required pam_env.so readenv=1 user_readenv=1 envfile=/etc/default/locale\n",
        );
        w("loop", "@include loop\n");
        w(
            "commented",
            "# session required pam_env.so user_readenv=1\n",
        );
        assert!(!stack_reads_user_env(&dir, "login"));
        assert!(!stack_reads_user_env(&dir, "commented"));
        assert!(stack_reads_user_env(&dir, "login-env"));
        assert!(stack_reads_user_env(&dir, "login-user"));
        assert!(stack_reads_user_env(&dir, "loop"), "too deep counts as yes");
        assert!(
            stack_reads_user_env(&dir, "missing"),
            "unreadable counts as yes"
        );
        assert!(stack_reads_user_env(&dir, "../etc/passwd"));
        // Spellings pam_env accepts as on (it reads the value with atoi).
        for (name, line) in [
            (
                "bracketed",
                "session required pam_env.so [user_readenv=1]\n",
            ),
            (
                "leading-zero",
                "-session optional pam_env.so user_readenv=01\n",
            ),
            (
                "two",
                "session required /usr/lib/security/pam_env.so user_readenv=2\n",
            ),
            (
                "neg",
                "session [default=ignore] pam_env.so user_readenv=-1\n",
            ),
        ] {
            w(name, line);
            assert!(stack_reads_user_env(&dir, name), "{line}");
        }
        for (name, line) in [
            ("off", "session required pam_env.so user_readenv=0\n"),
            ("zeros", "session required pam_env.so user_readenv=00\n"),
            ("junk", "session required pam_env.so user_readenv=x\n"),
            (
                "other-module",
                "session required pam_foo.so user_readenv=1\n",
            ),
        ] {
            w(name, line);
            assert!(!stack_reads_user_env(&dir, name), "{line}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn trusted_signals_make_a_login_graphical() {
        let d = dms();
        assert_eq!(
            detect(&view("gdm-password", "/dev/tty2", "", ""), &d),
            Some(Signal::DisplayManager("gdm-password".into()))
        );
        assert_eq!(
            detect(&view("xdm", ":0", "", ""), &d),
            Some(Signal::XDisplayTty(":0".into()))
        );
        assert!(detect(&view("xdm", "ws7:1.0", "", ""), &d).is_some());
        let mut v = view("kdm", "", "", "");
        v.xdisplay = ":1".into();
        assert_eq!(detect(&v, &d), Some(Signal::XDisplayItem(":1".into())));
        assert_eq!(
            detect(&view("greetd", "/dev/tty7", "", "wayland"), &d),
            Some(Signal::SessionType("wayland".into()))
        );
        let mut v = view("greetd", "tty1", "", "");
        v.session_class = "greeter".into();
        assert!(detect(&v, &d).is_some());
    }

    #[test]
    fn claims_from_the_environment_of_a_remote_or_pty_login_do_not_count() {
        let d = dms();
        for v in [
            view("sshd", "ssh", "192.0.2.1", "x11"),
            view("sshd", "/dev/pts/3", "192.0.2.1", "wayland"),
            view("su-l", "/dev/pts/3", "", "x11"),
            view("login", "/dev/tty1", "192.0.2.1", "x11"),
            view("cron", "cron", "", "wayland"),
            view("login", "", "", "x11"),
            view("login", "/dev/tty1", "", "tty"),
            view("sshd", "/dev/pts/:0", "192.0.2.1", ""),
            view("sshd", "ssh:x", "192.0.2.1", ""),
        ] {
            assert_eq!(detect(&v, &d), None, "{v:?}");
        }
    }

    #[test]
    fn the_display_manager_list_is_configurable() {
        assert_eq!(
            detect(&view("gdm-password", "/dev/tty2", "", ""), &[]),
            None
        );
        assert!(detect(&view("mydm", "/dev/tty2", "", ""), &["mydm".into()]).is_some());
    }

    #[test]
    fn policy_toml_graphical_keys_parse_and_bad_values_are_errors() {
        use crate::config::parse;
        use crate::vocab::Graphical;
        let c = parse(
            "display_managers = [\"mydm\"]\n[[rule]]\nname = \"a\"\nusers = [\"alice\"]\ngraphical = \"record-terminals\"\n[[rule]]\nname = \"b\"\nusers = [\"bob\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.display_managers, ["mydm"]);
        assert_eq!(c.rules[0].graphical, Graphical::RecordTerminals);
        assert_eq!(c.rules[1].graphical, Graphical::Skip);
        let c = parse("[[rule]]\nname = \"a\"\nusers = [\"a\"]\n", "t").unwrap();
        assert!(c.display_managers.iter().any(|s| s == "gdm-password"));
        let e = parse(
            "[[rule]]\nname = \"a\"\nusers = [\"a\"]\ngraphical = \"record\"\n",
            "t",
        )
        .unwrap_err();
        assert!(e[0].to_string().contains("record-terminals"), "{}", e[0]);
        let e = parse(
            "[[rule]]\nname = \"a\"\naction = \"exempt\"\nusers = [\"a\"]\ngraphical = \"skip\"\n",
            "t",
        )
        .unwrap_err();
        assert!(e[0].to_string().contains("record rules only"), "{}", e[0]);
    }
}
