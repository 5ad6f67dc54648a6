//! What the caller (PAM, NSS, CLI) knows about one login.

use crate::nss_passwd::PwEntry;

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

impl LoginFacts {
    /// The facts of passwd entry `pw` (its canonical name and its shell),
    /// with the groups the caller gathered, on `host`, for `service`.
    pub fn of_entry(
        pw: &PwEntry,
        (primary_group, groups): (Option<String>, Vec<String>),
        host: String,
        service: Option<String>,
    ) -> LoginFacts {
        LoginFacts {
            user: pw.name_lossy(),
            uid: pw.uid,
            gid: pw.gid,
            primary_group,
            groups,
            host,
            service,
            passwd_shell: pw.shell_lossy(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_of_an_entry_take_name_ids_and_shell_from_it() {
        let pw = PwEntry {
            name: b"al\xffce".to_vec(),
            passwd: b"x".to_vec(),
            uid: 1001,
            gid: 1002,
            gecos: vec![],
            dir: b"/home/alice".to_vec(),
            shell: b"/bin/zsh".to_vec(),
        };
        let f = LoginFacts::of_entry(
            &pw,
            (Some("staff".into()), vec!["dba".into()]),
            "h.example".into(),
            Some("sshd".into()),
        );
        assert_eq!(f.user, "al\u{fffd}ce");
        assert_eq!((f.uid, f.gid), (1001, 1002));
        assert_eq!(f.primary_group.as_deref(), Some("staff"));
        assert_eq!(f.groups, ["dba"]);
        assert_eq!(
            (f.host.as_str(), f.service.as_deref()),
            ("h.example", Some("sshd"))
        );
        assert_eq!(f.passwd_shell, "/bin/zsh");
    }
}
