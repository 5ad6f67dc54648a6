//! What nss_tlog answers, independent of glibc: the testable core.
//!
//! For a user the policy MAY record (on any service: NSS cannot see the PAM
//! service) we return the user's real entry with the shell swapped for the
//! recorder, and also for an account sharing the uid of a user a record rule
//! names; for everyone else the chain's own answer: NOTFOUND, or the entry
//! the nested lookup already got from the chain after us, passed on
//! unchanged so that glibc does not ask that chain a second time.

use crate::sys::{Key, LookupResult, PwEntry};
use tlog_rs_policy::{ErrorKind, LoginFacts, NssView, Policy, PolicyError};

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
    /// uid of `name` from the chain after us (selection by uid).
    fn uid_of(&self, name: &str) -> Option<u32>;
}

#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// No such entry, or not ours without a lookup: the chain continues.
    NotFound,
    /// The real entry with the recorder as shell.
    Found(PwEntry),
    /// Not ours, but the nested lookup already found the entry: it is what
    /// the chain after us answers, so it is passed on as it is.
    Unchanged(PwEntry),
    /// The underlying lookup failed with this errno.
    Unavail(i32),
}

/// The facts for `entry`, as NSS knows them (no service). Groups are looked
/// up only if the policy uses them (the group walk is the costly part).
pub fn facts_for(entry: &PwEntry, sys: &dyn System, with_groups: bool) -> LoginFacts {
    let groups = if with_groups {
        sys.groups(&entry.name, entry.gid)
    } else {
        (None, Vec::new())
    };
    LoginFacts::of_entry(entry, groups, sys.host(), None)
}

/// Whether the shell must be swapped, and for which recorder. A policy that
/// cannot be loaded gives the policy crate's documented failsafe decision,
/// except where a source is merely unreadable to an unprivileged process
/// (sssd.conf is 0600): login programs resolve the shell as root, so that
/// process's answer never starts a login, and swapping every user's shell
/// there would only show (and, in tmux or screen, run) the recorder for
/// users the policy does not select. The chain after us answers instead.
pub fn swap_shell(
    policy: Result<&dyn NssView, &PolicyError>,
    facts: &LoginFacts,
    privileged: bool,
) -> Option<String> {
    match policy {
        Ok(p) => p.may_record(facts).then(|| p.recorder().to_string()),
        Err(e) if e.kind == ErrorKind::Unreadable && !privileged => None,
        Err(e) => Policy::failsafe_decision(e, facts)
            .record
            .then(|| tlog_rs_policy::DEFAULT_RECORDER.to_string()),
    }
}

/// What the policy needs before the (costly) underlying lookup.
pub type Needs = tlog_rs_policy::LookupNeeds;

/// The cheap pre-check (precomputed by the policy at load; see
/// `Policy::lookup_needs`). A policy that cannot be loaded needs everything.
pub fn needs(policy: Result<&dyn NssView, &PolicyError>, query: Option<&[u8]>) -> Needs {
    match policy {
        Ok(p) => p.lookup_needs(query),
        Err(_) => Needs {
            name_may_match: true,
            uid_aliases: true,
            groups: true,
        },
    }
}

/// Runs a closure with the current policy or its snapshot (or the error
/// loading it).
pub trait PolicyAccess {
    fn with(&self, f: &mut dyn FnMut(Result<&dyn NssView, &PolicyError>));
}

/// The answer for `key`.
pub fn answer(key: Key<'_>, sys: &dyn System, policy: &dyn PolicyAccess) -> Answer {
    let query = match key {
        Key::Name(n) => Some(n.to_bytes()),
        Key::Uid(_) => None,
    };
    let mut need = Needs {
        name_may_match: true,
        uid_aliases: true,
        groups: true,
    };
    policy.with(&mut |p| need = needs(p, query));
    if !need.name_may_match && !need.uid_aliases {
        return Answer::NotFound;
    }
    let entry = match sys.underlying(key) {
        Ok(Some(e)) => e,
        Ok(None) => return Answer::NotFound,
        Err(errno) => return Answer::Unavail(errno),
    };
    let mut swap = None;
    if need.name_may_match {
        let facts = facts_for(&entry, sys, need.groups);
        let privileged = sys.privileged();
        policy.with(&mut |p| swap = swap_shell(p, &facts, privileged));
    }
    if swap.is_none() && need.uid_aliases {
        // An account sharing the uid of a user selected by name (issue 9,
        // attack 8); pam_tlog decides with that user's rule.
        policy.with(&mut |p| {
            if let Ok(p) = p {
                if p.selects_uid_by_name(entry.uid, &mut |n| sys.uid_of(n)) {
                    swap = Some(p.recorder().to_string());
                }
            }
        });
    }
    match swap {
        Some(recorder) => {
            let mut e = entry;
            e.shell = recorder.into_bytes();
            Answer::Found(e)
        }
        None => Answer::Unchanged(entry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accounts with their groups, and how often `uid_of` ran.
    struct Fake(Vec<(PwEntry, Vec<&'static str>)>, std::cell::Cell<u32>);

    fn fake(users: Vec<(PwEntry, Vec<&'static str>)>) -> Fake {
        Fake(users, Default::default())
    }

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
        fn uid_of(&self, name: &str) -> Option<u32> {
            self.1.set(self.1.get() + 1);
            self.underlying(Key::Name(&std::ffi::CString::new(name).ok()?))
                .ok()
                .flatten()
                .map(|e| e.uid)
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
        fn with(&self, f: &mut dyn FnMut(Result<&dyn NssView, &PolicyError>)) {
            f(self.0.as_ref().map(|p| p as &dyn NssView))
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
        let sys = fake(vec![
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
        // bob is not selected: his own entry, shell and all.
        assert_eq!(
            run(&policy, &sys, Key::Uid(2002)),
            Answer::Unchanged(user("bob", 2002, "/bin/bash"))
        );
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
            fn uid_of(&self, _: &str) -> Option<u32> {
                unreachable!()
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
        use tlog_rs_policy::ErrorKind;
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
        let recorder = Some(tlog_rs_policy::DEFAULT_RECORDER.to_string());
        // root (sshd, login, su): every user gets the recorder (fail secure)
        assert_eq!(swap_shell(Err(&unreadable), &facts, true), recorder);
        // an unprivileged process cannot read a root-only source: not ours
        assert_eq!(swap_shell(Err(&unreadable), &facts, false), None);
        // but a broken policy is broken for everyone
        assert_eq!(swap_shell(Err(&invalid), &facts, false), recorder);
    }

    #[test]
    fn aliases_of_users_selected_by_name_get_the_recorder() {
        let by_user = "[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n\
                       [[rule]]\nname = \"g\"\ngroups = [\"dba\"]\n";
        for text in [by_user, "[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n"] {
            let policy = Policy::from_toml_str(text, "t");
            // The alias comes first: getpwuid(2001) gives it.
            let sys = fake(vec![
                (user("alias", 2001, "/bin/sh"), vec![]),
                (user("alice", 2001, "/bin/zsh"), vec![]),
                (user("dora", 2004, "/bin/bash"), vec!["dba"]),
                (user("dalias", 2004, "/bin/bash"), vec![]),
                (user("bob", 2002, "/bin/bash"), vec![]),
            ]);
            // A name that matches costs no resolution.
            assert!(matches!(
                run(&policy, &sys, Key::Name(c"alice")),
                Answer::Found(_)
            ));
            assert_eq!(sys.1.get(), 0, "{text}");
            match run(&policy, &sys, Key::Name(c"alias")) {
                Answer::Found(e) => {
                    assert_eq!(e.name, b"alias");
                    assert_eq!(e.shell, b"/usr/bin/tlog-rs-rec-session");
                }
                other => panic!("alias: {other:?} ({text})"),
            }
            assert!(matches!(
                run(&policy, &sys, Key::Uid(2001)),
                Answer::Found(_)
            ));
            assert_eq!(
                run(&policy, &sys, Key::Name(c"bob")),
                Answer::Unchanged(user("bob", 2002, "/bin/bash"))
            );
            // Only a group rule selects dora: pam_tlog refuses her alias.
            assert_eq!(
                run(&policy, &sys, Key::Name(c"dalias")),
                Answer::Unchanged(user("dalias", 2004, "/bin/bash"))
            );
            // The rule's one name resolved once for all these lookups.
            assert_eq!(sys.1.get(), 1, "{text}");
        }
    }

    fn need(policy: &str, q: &str) -> Needs {
        let p = Policy::from_toml_str(policy, "t").unwrap();
        needs(Ok(&p as &dyn NssView), Some(q.as_bytes()))
    }

    #[test]
    fn prefilter_skips_lookups_only_when_sound() {
        let by_user = "[[rule]]\nname = \"a\"\nusers = [\"alice\"]\n";
        assert_eq!(
            need(by_user, "bob"),
            Needs {
                name_may_match: false,
                uid_aliases: true,
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
                uid_aliases: false,
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
                uid_aliases: true,
                groups: true
            }
        );
        // A broken policy records everyone: no shortcut.
        let err = Policy::from_toml_str("[[rule]", "t").unwrap_err();
        assert_eq!(
            needs(Err(&err), Some(b"bob")),
            Needs {
                name_may_match: true,
                uid_aliases: true,
                groups: true
            }
        );
    }
}
