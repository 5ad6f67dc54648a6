//! The result of a policy decision and the environment PAM exports from it.

use std::fmt;

use crate::settings::RecSettings;

/// Which source decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A rule in policy.toml.
    Toml,
    /// sssd.conf `[session_recording]`.
    Sssd,
    /// The FreeIPA rule cache.
    FreeIpa,
    /// No source had a verdict: the built-in default (not recorded).
    Default,
    /// The policy could not be loaded: fail-secure decision (recorded).
    Error,
}

impl Source {
    /// Short machine-friendly name, used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Toml => "policy.toml",
            Source::Sssd => "sssd.conf",
            Source::FreeIpa => "freeipa",
            Source::Default => "default",
            Source::Error => "error",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Toml => "the policy file (policy.toml)",
            Source::Sssd => "the SSSD configuration (sssd.conf [session_recording])",
            Source::FreeIpa => "the FreeIPA session-recording rules",
            Source::Default => "the built-in default (no source selected this login)",
            Source::Error => "the fail-secure rule (the policy could not be loaded)",
        })
    }
}

pub use crate::vocab::{AuditLevel, Graphical};

/// Environment variables carrying the recorder's settings.
pub const ENV_SHELL: &str = "TLOG_REC_SHELL";
pub const ENV_CONF_TEXT: &str = "TLOG_REC_CONF_TEXT";
pub const ENV_SESSION_SHELL: &str = "TLOG_REC_SESSION_SHELL";
pub const ENV_SESSION_CONF_TEXT: &str = "TLOG_REC_SESSION_CONF_TEXT";
pub const ENV_AUDIT_LEVEL: &str = "TLOG_RS_AUDIT_LEVEL";

/// Names of every env variable PAM must remove for users who are not recorded
/// (and before setting its own for recorded users), so nobody can inject them.
pub const CONTROLLED_ENV: &[&str] = &[
    ENV_SHELL,
    ENV_CONF_TEXT,
    ENV_SESSION_SHELL,
    ENV_SESSION_CONF_TEXT,
    ENV_AUDIT_LEVEL,
    "TLOG_REC_CONF_FILE",
    "TLOG_REC_SESSION_CONF_FILE",
    crate::handoff::TOKEN_ENV,
];

/// The shell login(1) runs when the passwd entry has none.
pub const FALLBACK_SHELL: &str = "/bin/sh";

/// The outcome for one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub record: bool,
    pub source: Source,
    /// Name of the deciding rule, e.g. "policy.toml rule 'dbas'".
    pub rule: String,
    /// One sentence in words.
    pub reason: String,
    pub settings: RecSettings,
    /// The real shell to exec; never empty.
    pub shell: String,
    pub audit_level: AuditLevel,
    /// The deciding rule's choice for terminals inside a graphical login.
    pub graphical: Graphical,
}

impl Decision {
    /// The variables PAM exports for this login; empty if not recorded.
    pub fn env(&self) -> Vec<(String, String)> {
        if !self.record {
            return Vec::new();
        }
        let conf = self.settings.to_conf_json();
        vec![
            (ENV_SHELL.into(), self.shell.clone()),
            (ENV_CONF_TEXT.into(), conf.clone()),
            (ENV_SESSION_SHELL.into(), self.shell.clone()),
            (ENV_SESSION_CONF_TEXT.into(), conf),
            (ENV_AUDIT_LEVEL.into(), self.audit_level.as_str().into()),
        ]
    }
}

/// The shell to exec for a passwd shell field: login(1) runs /bin/sh when the
/// field is empty. A recorder path in the field would make the recorder exec
/// itself, so it is treated as empty too.
pub fn real_shell(passwd_shell: &str, recorder: &str) -> String {
    let s = passwd_shell;
    if s.is_empty() || s == recorder || is_recorder_name(s) {
        FALLBACK_SHELL.to_string()
    } else {
        s.to_string()
    }
}

fn is_recorder_name(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base == "tlog-rec-session" || base == "tlog-rs-rec-session"
}
