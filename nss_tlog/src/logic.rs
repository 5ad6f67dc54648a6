//! What nss_tlog answers, independent of glibc: the testable core.
//!
//! For a user the policy MAY record (on any service: NSS cannot see the PAM
//! service) we return the user's real entry with the shell swapped for the
//! recorder; for everyone else NOTFOUND, so the rest of the chain answers
//! exactly as without us.

use crate::sys::{Key, LookupResult, PwEntry};
use tlog_policy::{ErrorKind, LoginFacts, Policy, PolicyError};

/// The system facts the answer depends on (real implementation in lib.rs,
/// fakes in the tests below).
pub trait System {
    /// The entry the chain AFTER us gives (never our own answer).
    fn underlying(&self, key: Key<'_>) -> LookupResult;
    /// (primary group name, supplementary group names).
    fn groups(&self, user: &[u8], gid: u32) -> (Option<String>, Vec<String>);
    fn host(&self) -> String;
    /// True in processes running with euid 0, where logins are decided.
    fn privileged(&self) -> bool;
}

#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Not ours: let the chain continue.
    NotFound,
    /// The real entry with the recorder as shell.
    Found(PwEntry),
    /// The underlying lookup failed with this errno.
    Unavail(i32),
}

/// The facts for `entry`, as NSS knows them (no service). Groups are looked
/// up only if the policy uses them (the group walk is the costly part).
pub fn facts_for(entry: &PwEntry, sys: &dyn System, with_groups: bool) -> LoginFacts {
    let (primary_group, groups) = if with_groups {
        sys.groups(&entry.name, entry.gid)
    } else {
        (None, Vec::new())
    };
    LoginFacts {
        user: entry.name_lossy(),
        uid: entry.uid,
        gid: entry.gid,
        primary_group,
        groups,
        host: sys.host(),
        service: None,
        passwd_shell: entry.shell_lossy(),
    }
}

/// Whether the shell must be swapped, and for which recorder. A policy that
/// cannot be loaded gives the policy crate's documented failsafe decision,
/// except where a source is merely unreadable to an unprivileged process
/// (sssd.conf is 0600): login programs resolve the shell as root, so that
/// process's answer never starts a login, and swapping every user's shell
/// there would only show (and, in tmux or screen, run) the recorder for
/// users the policy does not select. The chain after us answers instead.
pub fn swap_shell(
    policy: Result<&Policy, &PolicyError>,
    facts: &LoginFacts,
    privileged: bool,
) -> Option<String> {
    match policy {
        Ok(p) => p.may_record(facts).then(|| p.recorder().to_string()),
        Err(e) if e.kind == ErrorKind::Unreadable && !privileged => None,
        Err(e) => Policy::failsafe_decision(e, facts)
            .record
            .then(|| tlog_policy::DEFAULT_RECORDER.to_string()),
    }
}

/// What the policy needs before the (costly) underlying lookup.
pub type Needs = tlog_policy::LookupNeeds;

/// The cheap pre-check (precomputed by the policy at load; see
/// `Policy::lookup_needs`). A policy that cannot be loaded needs everything.
pub fn needs(policy: Result<&Policy, &PolicyError>, query: Option<&[u8]>) -> Needs {
    match policy {
        Ok(p) => p.lookup_needs(query),
        Err(_) => Needs {
            name_may_match: true,
            groups: true,
        },
    }
}

/// Runs a closure with the current policy (or the error loading it).
pub trait PolicyAccess {
    fn with(&self, f: &mut dyn FnMut(Result<&Policy, &PolicyError>));
}

/// The answer for `key`.
pub fn answer(key: Key<'_>, sys: &dyn System, policy: &dyn PolicyAccess) -> Answer {
    let query = match key {
        Key::Name(n) => Some(n.to_bytes()),
        Key::Uid(_) => None,
    };
    let mut need = Needs {
        name_may_match: true,
        groups: true,
    };
    policy.with(&mut |p| need = needs(p, query));
    if !need.name_may_match {
        return Answer::NotFound;
    }
    let entry = match sys.underlying(key) {
        Ok(Some(e)) => e,
        Ok(None) => return Answer::NotFound,
        Err(errno) => return Answer::Unavail(errno),
    };
    let facts = facts_for(&entry, sys, need.groups);
    let mut swap = None;
    let privileged = sys.privileged();
    policy.with(&mut |p| swap = swap_shell(p, &facts, privileged));
    match swap {
        Some(recorder) => {
            let mut e = entry;
            e.shell = recorder.into_bytes();
            Answer::Found(e)
        }
        None => Answer::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Vec<(PwEntry, Vec<&'static str>)>);

    fn user(name: &str, uid: u32, shell: &str) -> PwEntry {
        PwEntry {
            name: name.as_bytes().to_vec(),
            passwd: b"x".to_vec(),
            uid,
            gid: uid,
            gecos: b"".to_vec(),
            dir: format!("/home/{name}").into_bytes(),
            shell: shell.as_bytes().to_vec(),
        }
    }

    impl System for Fake {
        fn underlying(&self, key: Key<'_>) -> LookupResult {
            Ok(self
                .0
                .iter()
                .find(|(e, _)| match key {
                    Key::Name(n) => n.to_bytes() == e.name.as_slice(),
                    Key::Uid(u) => u == e.uid,
                })
                .map(|(e, _)| e.clone()))
        }
        fn groups(&self, user: &[u8], _gid: u32) -> (Option<String>, Vec<String>) {
            let g = self
                .0
                .iter()
                .find(|(e, _)| e.name == user)
                .map(|(_, g)| g.clone())
                .unwrap_or_default();
            (None, g.into_iter().map(String::from).collect())
        }
        fn host(&self) -> String {
            "host1".into()
        }
        fn privileged(&self) -> bool {
            true
        }
    }

    const POLICY: &str = r#"
recorder = "/usr/bin/tlog-rs-rec-session"
[[rule]]
name = "admins"
groups = ["wheel"]
action = "record"
[[rule]]
name = "carol"
users = ["carol"]
action = "record"
"#;

    struct Fixed<'a>(&'a Result<Policy, PolicyError>);
    impl PolicyAccess for Fixed<'_> {
        fn with(&self, f: &mut dyn FnMut(Result<&Policy, &PolicyError>)) {
            f(self.0.as_ref())
        }
    }

    fn run(policy: &Result<Policy, PolicyError>, sys: &Fake, key: Key<'_>) -> Answer {
        answer(key, sys, &Fixed(policy))
    }

    #[test]
    fn swaps_only_selected_users() {
        let policy = Policy::from_toml_str(POLICY, "test policy");
        if let Err(e) = &policy {
            // The policy syntax is the policy crate's; report rather than guess.
            panic!("test policy rejected: {e}");
        }
        let sys = Fake(vec![
            (user("alice", 2001, "/bin/zsh"), vec!["wheel"]),
            (user("bob", 2002, "/bin/bash"), vec!["users"]),
            (user("carol", 2003, ""), vec![]),
        ]);
        let alice = c"alice";
        match run(&policy, &sys, Key::Name(alice)) {
            Answer::Found(e) => {
                assert_eq!(e.shell, b"/usr/bin/tlog-rs-rec-session");
                assert_eq!((e.uid, e.dir.as_slice()), (2001, &b"/home/alice"[..]));
            }
            other => panic!("alice: {other:?}"),
        }
        assert!(matches!(
            run(&policy, &sys, Key::Uid(2003)),
            Answer::Found(_)
        ));
        assert_eq!(run(&policy, &sys, Key::Uid(2002)), Answer::NotFound);
        assert_eq!(run(&policy, &sys, Key::Uid(9999)), Answer::NotFound);
    }

    #[test]
    fn lookup_errors_are_passed_on() {
        struct Broken;
        impl System for Broken {
            fn underlying(&self, _: Key<'_>) -> LookupResult {
                Err(libc::EIO)
            }
            fn groups(&self, _: &[u8], _: u32) -> (Option<String>, Vec<String>) {
                unreachable!()
            }
            fn host(&self) -> String {
                unreachable!()
            }
            fn privileged(&self) -> bool {
                true
            }
        }
        let policy = Policy::from_toml_str(POLICY, "test policy");
        assert_eq!(
            answer(Key::Uid(1), &Broken, &Fixed(&policy)),
            Answer::Unavail(libc::EIO)
        );
    }

    #[test]
    fn unreadable_policy_fails_secure_only_where_logins_are_decided() {
        use tlog_policy::ErrorKind;
        let facts = LoginFacts {
            user: "bob".into(),
            uid: 2002,
            gid: 2002,
            primary_group: None,
            groups: vec![],
            host: "host1".into(),
            service: None,
            passwd_shell: "/bin/bash".into(),
        };
        let mut unreadable = PolicyError::new("/etc/sssd/sssd.conf", None, "Permission denied");
        unreadable.kind = ErrorKind::Unreadable;
        let invalid = PolicyError::new("/etc/tlog-rs/policy.toml", Some(3), "unknown key");
        let recorder = Some(tlog_policy::DEFAULT_RECORDER.to_string());
        // root (sshd, login, su): every user gets the recorder (fail secure)
        assert_eq!(swap_shell(Err(&unreadable), &facts, true), recorder);
        // an unprivileged process cannot read a root-only source: not ours
        assert_eq!(swap_shell(Err(&unreadable), &facts, false), None);
        // but a broken policy is broken for everyone
        assert_eq!(swap_shell(Err(&invalid), &facts, false), recorder);
    }

    fn need(policy: &str, q: &str) -> Needs {
        let p = Policy::from_toml_str(policy, "t").unwrap();
        needs(Ok(&p), Some(q.as_bytes()))
    }

    #[test]
    fn prefilter_skips_lookups_only_when_sound() {
        let by_user = "[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n";
        assert_eq!(
            need(by_user, "bob"),
            Needs {
                name_may_match: false,
                groups: false
            }
        );
        for q in ["alice", "ALICE", "Alice@EXAMPLE.com"] {
            assert!(need(by_user, q).name_may_match, "{q}");
        }
        // A group rule or all_users disables the shortcut; an exempt-by-group
        // rule only makes groups necessary.
        let by_group = "[[rule]]\nname = \"g\"\ngroups = [\"dba\"]\n";
        assert_eq!(
            need(by_group, "bob"),
            Needs {
                name_may_match: true,
                groups: true
            }
        );
        let all = "[[rule]]\nname = \"x\"\nall_users = true\n";
        assert!(need(all, "bob").name_may_match);
        let exempt_group =
            format!("[[rule]]\nname = \"e\"\naction = \"exempt\"\ngroups = [\"ops\"]\n{by_user}");
        assert_eq!(
            need(&exempt_group, "bob"),
            Needs {
                name_may_match: false,
                groups: true
            }
        );
        // A broken policy records everyone: no shortcut.
        let err = Policy::from_toml_str("[[rule]", "t").unwrap_err();
        assert_eq!(
            needs(Err(&err), Some(b"bob")),
            Needs {
                name_may_match: true,
                groups: true
            }
        );
    }
}
