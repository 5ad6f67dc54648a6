//! Selection by uid. The kernel knows uids, not names: an account that shares
//! its uid with a selected user (`useradd -o -u 2001 alias`) is that user, so
//! its logins are recorded like that user's, whatever the account is called.
//!
//! * PAM (once per login) calls [`decide_login`]: when the login's own name
//!   is not recorded, every account that could be a selected user with the
//!   same uid is looked up (behind our NSS module), and the first one the
//!   policy records decides, with its rule and settings.
//! * NSS (every process, must stay cheap) uses
//!   [`Policy::selects_uid_by_name`](crate::Policy::selects_uid_by_name):
//!   the users named by record rules, resolved to uids once per policy load.
//!   An alias that only a group rule catches keeps its shell there; pam_tlog
//!   then finds "selected but the shell is not the recorder" and refuses the
//!   session under `fail=closed`.
//!
//! An exemption of the alias's own name does not unrecord the uid of a
//! selected user: the uid is the identity every process of the login has.

use std::collections::HashSet;

use crate::decision::Decision;
use crate::engine::Policy;
use crate::facts::LoginFacts;
pub use crate::sys::LookupError;

/// The uids of the users a policy's record rules name, resolved once per
/// policy load (NSS's cheap selection by uid).
#[derive(Debug, Default)]
pub struct NamedUids(std::sync::OnceLock<Vec<u32>>);

impl NamedUids {
    /// Is `uid` one of `names`' uids? `resolve` (name -> uid, never through
    /// our own NSS module) runs for each name on the first call only.
    pub fn contains<'a>(
        &self,
        uid: u32,
        names: impl IntoIterator<Item = &'a String>,
        resolve: &mut dyn FnMut(&str) -> Option<u32>,
    ) -> bool {
        self.0
            .get_or_init(|| names.into_iter().filter_map(|n| resolve(n)).collect())
            .contains(&uid)
    }
}

/// One passwd account, as the services after our NSS module give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The lookups selection by uid needs. They must never go through our own
/// NSS module (it would answer for the alias with the recorder as shell).
/// `Err` is a lookup failure (not "not found").
pub trait Accounts {
    fn by_name(&self, name: &str) -> Result<Option<Account>, LookupError>;
    /// The account the passwd database gives first for `uid`.
    fn by_uid(&self, uid: u32) -> Result<Option<Account>, LookupError>;
    /// (name of the group with gid `gid`, supplementary group names).
    fn groups(&self, name: &str, gid: u32) -> (Option<String>, Vec<String>);
    /// The member names the group database lists for `group`.
    fn members(&self, group: &str) -> Result<Vec<String>, LookupError>;
}

/// What selection by uid was looking up when a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Uid(u32),
    User(String),
    GroupMembers(String),
}

/// A lookup that selection by uid needs failed, so the login cannot be
/// decided (the caller fails secure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionError {
    pub subject: Subject,
    pub error: LookupError,
}

impl std::fmt::Display for SelectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.subject {
            Subject::Uid(uid) => write!(f, "lookup of uid {uid}: {}", self.error),
            Subject::User(name) => write!(f, "lookup of user {name}: {}", self.error),
            Subject::GroupMembers(g) => write!(f, "members of group {g}: {}", self.error),
        }
    }
}

impl std::error::Error for SelectionError {}

fn failed(subject: Subject) -> impl FnOnce(LookupError) -> SelectionError {
    move |error| SelectionError { subject, error }
}

/// The users and groups named by the record rules of every source: whoever
/// shares a uid with one of these users (or with a listed member of one of
/// these groups) may be selected by uid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectingNames {
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

/// The decision for a login, with selection by uid: the login's own decision
/// if it records; otherwise the decision of the first other account with
/// the same uid that the policy records (its reason says so); otherwise the
/// login's own decision. Accounts tried: the one the passwd database gives
/// first for the uid (it may be selected by anything, e.g. by a primary
/// group), the users named by record rules, and the listed members of the
/// groups named by record rules.
pub fn decide_login(
    policy: &Policy,
    facts: &LoginFacts,
    accounts: &dyn Accounts,
) -> Result<Decision, SelectionError> {
    let own = policy.decide(facts);
    if own.record {
        return Ok(own);
    }
    let names = policy.selecting_names();
    let mut tried: HashSet<String> = HashSet::from([facts.user.clone()]);
    let first = accounts
        .by_uid(facts.uid)
        .map_err(failed(Subject::Uid(facts.uid)))?;
    if let Some(d) = try_account(policy, facts, accounts, first, &mut tried) {
        return Ok(d);
    }
    for name in &names.users {
        if let Some(d) = try_name(policy, facts, accounts, name, &mut tried)? {
            return Ok(d);
        }
    }
    for group in &names.groups {
        let members = accounts
            .members(group)
            .map_err(failed(Subject::GroupMembers(group.clone())))?;
        for name in &members {
            if let Some(d) = try_name(policy, facts, accounts, name, &mut tried)? {
                return Ok(d);
            }
        }
    }
    Ok(own)
}

fn try_name(
    policy: &Policy,
    facts: &LoginFacts,
    accounts: &dyn Accounts,
    name: &str,
    tried: &mut HashSet<String>,
) -> Result<Option<Decision>, SelectionError> {
    if tried.contains(name) {
        return Ok(None);
    }
    let acc = accounts
        .by_name(name)
        .map_err(failed(Subject::User(name.to_string())))?;
    // A name that does not resolve is not asked again.
    tried.insert(name.to_string());
    Ok(try_account(policy, facts, accounts, acc, tried))
}

/// The decision for `acc` at this login's host, service and shell, if it
/// has the login's uid and is recorded.
fn try_account(
    policy: &Policy,
    facts: &LoginFacts,
    accounts: &dyn Accounts,
    acc: Option<Account>,
    tried: &mut HashSet<String>,
) -> Option<Decision> {
    let acc = acc.filter(|a| a.uid == facts.uid && a.name != facts.user)?;
    tried.insert(acc.name.clone());
    let (primary_group, groups) = accounts.groups(&acc.name, acc.gid);
    let canonical = LoginFacts {
        user: acc.name.clone(),
        uid: acc.uid,
        gid: acc.gid,
        primary_group,
        groups,
        host: facts.host.clone(),
        service: facts.service.clone(),
        // The login runs its own shell, under the selected user's rule.
        passwd_shell: facts.passwd_shell.clone(),
    };
    let d = policy.decide(&canonical);
    d.record.then(|| Decision {
        reason: format!(
            "uid {} belongs to selected user {}: {}",
            facts.uid, acc.name, d.reason
        ),
        ..d
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// passwd in file order; group members by group name.
    #[derive(Default)]
    struct Fake {
        passwd: Vec<Account>,
        members: HashMap<&'static str, Vec<&'static str>>,
        fail: Option<&'static str>,
        asked: RefCell<Vec<String>>,
    }

    fn acc(name: &str, uid: u32) -> Account {
        Account {
            name: name.into(),
            uid,
            gid: uid,
        }
    }

    impl Accounts for Fake {
        fn by_name(&self, name: &str) -> Result<Option<Account>, LookupError> {
            self.asked.borrow_mut().push(name.into());
            if self.fail == Some(name) {
                return Err(LookupError::TryAgain {
                    service: "ldap".into(),
                    errno: libc::EAGAIN,
                });
            }
            Ok(self.passwd.iter().find(|a| a.name == name).cloned())
        }
        fn by_uid(&self, uid: u32) -> Result<Option<Account>, LookupError> {
            Ok(self.passwd.iter().find(|a| a.uid == uid).cloned())
        }
        fn groups(&self, name: &str, _gid: u32) -> (Option<String>, Vec<String>) {
            let gs = self
                .members
                .iter()
                .filter(|(_, m)| m.contains(&name))
                .map(|(g, _)| g.to_string())
                .collect();
            (Some(name.to_string()), gs)
        }
        fn members(&self, group: &str) -> Result<Vec<String>, LookupError> {
            Ok(self
                .members
                .get(group)
                .map(|m| m.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default())
        }
    }

    fn facts(user: &str, uid: u32, service: &str) -> LoginFacts {
        LoginFacts {
            user: user.into(),
            uid,
            gid: uid,
            primary_group: Some(user.into()),
            groups: vec![],
            host: "host1".into(),
            service: Some(service.into()),
            passwd_shell: "/bin/dash".into(),
        }
    }

    const POLICY: &str = r#"
[[rule]]
name = "no-cron"
action = "exempt"
users = ["alice"]
services = ["cron"]
[[rule]]
name = "alice"
users = ["alice"]
audit_level = "login"
[rule.settings]
log_input = true
[[rule]]
name = "dbas"
groups = ["dba"]
"#;

    fn policy(text: &str) -> Policy {
        Policy::from_toml_str(text, "test").unwrap()
    }

    fn world() -> Fake {
        Fake {
            // The alias is listed before alice: getpwuid(2001) finds it.
            passwd: vec![
                acc("alias", 2001),
                acc("alice", 2001),
                acc("dora", 2003),
                acc("dalias", 2003),
                acc("bob", 2002),
            ],
            members: HashMap::from([("dba", vec!["dora"])]),
            ..Default::default()
        }
    }

    #[test]
    fn alias_of_a_user_selected_by_name_gets_that_users_rule() {
        let p = policy(POLICY);
        let d = decide_login(&p, &facts("alias", 2001, "sshd"), &world()).unwrap();
        assert!(d.record);
        assert_eq!(d.rule, "policy.toml rule 'alice' (line 7)");
        assert!(
            d.reason
                .starts_with("uid 2001 belongs to selected user alice: user \"alice\" is listed"),
            "{}",
            d.reason
        );
        assert_eq!(d.settings.log_input, Some(true));
        assert_eq!(d.audit_level.as_str(), "login");
        // The alias's own shell runs under the recorder.
        assert_eq!(d.shell, "/bin/dash");
    }

    #[test]
    fn alias_of_a_group_member_is_selected() {
        let p = policy(POLICY);
        let d = decide_login(&p, &facts("dalias", 2003, "sshd"), &world()).unwrap();
        assert!(d.record, "{}", d.reason);
        assert!(
            d.reason
                .starts_with("uid 2003 belongs to selected user dora: group \"dba\" is listed"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn the_selected_users_exemptions_apply_to_its_aliases() {
        let p = policy(POLICY);
        let d = decide_login(&p, &facts("alias", 2001, "cron"), &world()).unwrap();
        assert!(!d.record, "{}", d.reason);
        // The login's own decision, not alice's.
        assert_eq!(d.source.as_str(), "default");
    }

    #[test]
    fn an_exemption_of_the_alias_name_does_not_unrecord_the_uid() {
        let text =
            format!("[[rule]]\nname = \"x\"\naction = \"exempt\"\nusers = [\"alias\"]\n{POLICY}");
        let d = decide_login(&policy(&text), &facts("alias", 2001, "sshd"), &world()).unwrap();
        assert!(d.record, "{}", d.reason);
    }

    #[test]
    fn other_uids_and_unselected_users_are_untouched() {
        let p = policy(POLICY);
        let w = world();
        let d = decide_login(&p, &facts("bob", 2002, "sshd"), &w).unwrap();
        assert!(!d.record);
        assert_eq!(d.reason, p.decide(&facts("bob", 2002, "sshd")).reason);
        // alice and dora resolved once each, bob itself never.
        let asked = w.asked.borrow().clone();
        assert_eq!(asked, ["alice", "dora"]);
        // Selected by name: no lookup at all.
        let w = world();
        let d = decide_login(&p, &facts("alice", 2001, "sshd"), &w).unwrap();
        assert!(d.record && !d.reason.starts_with("uid"));
        assert!(w.asked.borrow().is_empty());
    }

    #[test]
    fn the_first_account_of_the_uid_is_tried_whatever_selects_it() {
        // Selected by primary group (gid), which no member list shows.
        let p = policy("[[rule]]\nname = \"ops\"\ngroups = [\"opsgrp\"]\n");
        let mut w = world();
        w.passwd = vec![acc("root2", 0), acc("carol", 2005), acc("calias", 2005)];
        struct PrimaryOps(Fake);
        impl Accounts for PrimaryOps {
            fn by_name(&self, n: &str) -> Result<Option<Account>, LookupError> {
                self.0.by_name(n)
            }
            fn by_uid(&self, u: u32) -> Result<Option<Account>, LookupError> {
                self.0.by_uid(u)
            }
            fn groups(&self, name: &str, _: u32) -> (Option<String>, Vec<String>) {
                let primary = if name == "carol" { "opsgrp" } else { name };
                (Some(primary.into()), vec![])
            }
            fn members(&self, g: &str) -> Result<Vec<String>, LookupError> {
                self.0.members(g)
            }
        }
        let d = decide_login(&p, &facts("calias", 2005, "sshd"), &PrimaryOps(w)).unwrap();
        assert!(d.record, "{}", d.reason);
        assert!(d.reason.contains("selected user carol"), "{}", d.reason);
    }

    #[test]
    fn a_failed_lookup_is_an_error_not_a_miss() {
        let p = policy(POLICY);
        let mut w = world();
        w.fail = Some("alice");
        let e = decide_login(&p, &facts("bob", 2002, "sshd"), &w).unwrap_err();
        assert_eq!(e.subject, Subject::User("alice".into()));
        assert!(e.to_string().contains("lookup of user alice"), "{e}");
    }

    #[test]
    fn names_from_every_source_and_nss_uids_resolved_once() {
        let text = "[[rule]]\nname = \"a\"\nusers = [\"alice\", \"zed\"]\n\
                    [[rule]]\nname = \"e\"\naction = \"exempt\"\nusers = [\"bob\"]\ngroups = [\"ex\"]\n\
                    [[rule]]\nname = \"g\"\ngroups = [\"dba\"]\n";
        let p = policy(text);
        assert_eq!(
            p.selecting_names(),
            SelectingNames {
                users: vec!["alice".into(), "zed".into()],
                groups: vec!["dba".into()],
            }
        );
        let calls = RefCell::new(0);
        let mut resolve = |n: &str| {
            *calls.borrow_mut() += 1;
            (n == "alice").then_some(2001)
        };
        assert!(p.selects_uid_by_name(2001, &mut resolve));
        assert!(!p.selects_uid_by_name(2002, &mut resolve));
        assert!(p.selects_uid_by_name(2001, &mut resolve));
        assert_eq!(
            *calls.borrow(),
            2,
            "each name resolved once per policy load"
        );
    }
}
