//! What the caller (PAM, NSS, CLI) knows about one login.

/// Facts about one login, gathered by the caller from the system
/// (see [`crate::sys`] for the shared way to gather them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginFacts {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// Name of the group whose gid == `gid`, if such a group exists.
    pub primary_group: Option<String>,
    /// Supplementary group names (getgrouplist).
    pub groups: Vec<String>,
    /// This host's name (FQDN if known).
    pub host: String,
    /// PAM service; `None` = unknown (NSS): any service, see `Policy::may_record`.
    pub service: Option<String>,
    /// Shell from the UNDERLYING passwd entry (never our override); may be "".
    pub passwd_shell: String,
}
