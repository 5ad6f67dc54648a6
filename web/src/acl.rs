//! Who sees which recordings: everyone their own; members of
//! `[web] auditors_group` all; members of a `[[web.auditors]]` group their
//! own plus that scope (hosts of its host groups, users of its login
//! groups). Decided once at login from the canonical user's NSS groups.

use tlog_rs_index::config::Config;
use tlog_rs_index::store::{RecordingInfo, Scope};

/// A session's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Member of `auditors_group`: sees every recording and the access log.
    pub auditor: bool,
    /// What the user may see when not `auditor`: own recordings, plus the
    /// scopes of the `[[web.auditors]]` groups they are in.
    pub scope: Option<Scope>,
    /// May purge what they see.
    pub can_purge: bool,
}

impl Access {
    /// The rights of `user` with NSS groups `groups`.
    pub fn of(user: &str, groups: &[String], config: &Config) -> Access {
        let web = &config.web;
        if groups.contains(&web.auditors_group) {
            return Access {
                scope: None,
                auditor: true,
                can_purge: web.auditors_purge,
            };
        }
        let mut scope = Scope {
            user: Some(user.to_string()),
            ..Scope::default()
        };
        let mut can_purge = false;
        for a in web.auditors.iter().filter(|a| groups.contains(&a.group)) {
            can_purge |= a.purge;
            for hg in &a.hostgroups {
                // Checked to exist when the config was read.
                for h in config.hostgroup(hg).unwrap_or(&[]) {
                    if !scope.hosts.contains(h) {
                        scope.hosts.push(h.clone());
                    }
                }
            }
            for g in &a.usergroups {
                if !scope.groups.contains(g) {
                    scope.groups.push(g.clone());
                }
            }
        }
        Access {
            scope: Some(scope),
            auditor: false,
            can_purge,
        }
    }

    /// A scoped auditor: sees more than their own recordings, not all.
    pub fn scoped(&self) -> bool {
        self.scope
            .as_ref()
            .is_some_and(|s| !s.hosts.is_empty() || !s.groups.is_empty())
    }

    pub fn allows(&self, info: &RecordingInfo) -> bool {
        allows(self.scope.as_ref(), info)
    }
}

/// `scope` None: everything.
pub fn allows(scope: Option<&Scope>, info: &RecordingInfo) -> bool {
    scope.is_none_or(|s| s.allows(info))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tlog_rs_index::store::{Hit, State};

    use super::*;

    fn config() -> Config {
        Config::parse(
            r#"
[hostgroups]
nj-fileservers = ["fs1.nj", "fs2.nj"]
ny = ["db1.ny"]
[web]
auditors_group = "sec"
[[web.auditors]]
group = "nj-auditors"
hostgroups = ["nj-fileservers"]
usergroups = ["dba"]
[[web.auditors]]
group = "ny-purgers"
hostgroups = ["ny"]
purge = true
"#,
            Path::new("central.toml"),
        )
        .unwrap()
    }

    fn rec(user: &str, host: &str, fqdn: Option<&str>, groups: &[&str]) -> RecordingInfo {
        RecordingInfo {
            key: 1,
            hit: Hit {
                rec: "r".into(),
                host: host.into(),
                user: user.into(),
                service: None,
                start_ms: 0,
                end_ms: 0,
                state: State::Complete,
                matches: vec![],
            },
            uid: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            rhost: None,
            tty: None,
            term: None,
            fqdn: fqdn.map(String::from),
        }
    }

    fn g(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_user_sees_only_their_own() {
        let a = Access::of("alice", &g(&["alice", "dba"]), &config());
        assert!(!a.auditor && !a.can_purge && !a.scoped());
        assert!(a.allows(&rec("alice", "anywhere", None, &[])));
        // Being in a user group of a scope gives nothing by itself.
        assert!(!a.allows(&rec("bob", "fs1.nj", None, &["dba"])));
    }

    #[test]
    fn full_auditors_see_all() {
        let a = Access::of("carol", &g(&["carol", "sec", "nj-auditors"]), &config());
        assert!(a.auditor && a.scope.is_none() && !a.scoped() && !a.can_purge);
        assert!(a.allows(&rec("bob", "elsewhere", None, &[])));
    }

    #[test]
    fn scoped_auditors_see_own_hosts_and_user_groups() {
        let a = Access::of("dave", &g(&["dave", "nj-auditors"]), &config());
        assert!(!a.auditor && a.scoped() && !a.can_purge);
        assert!(a.allows(&rec("dave", "db1.ny", None, &[])));
        assert!(a.allows(&rec("bob", "fs2.nj", None, &[])));
        assert!(a.allows(&rec("bob", "fs2", Some("fs2.nj"), &[])));
        assert!(a.allows(&rec("bob", "db1.ny", None, &["staff", "dba"])));
        assert!(!a.allows(&rec("bob", "db1.ny", None, &["staff"])));
        assert!(!a.allows(&rec("bob", "fs3.nj", Some("fs3.nj"), &[])));
    }

    #[test]
    fn several_scopes_add_up_and_purge_comes_from_any() {
        let a = Access::of("erin", &g(&["nj-auditors", "ny-purgers"]), &config());
        assert!(a.can_purge);
        let s = a.scope.unwrap();
        assert_eq!(s.hosts, ["fs1.nj", "fs2.nj", "db1.ny"]);
        assert_eq!(s.groups, ["dba"]);
    }
}
