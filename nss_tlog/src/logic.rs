//! What nss_tlog answers, independent of glibc: the testable core.
//!
//! For a user the policy MAY record (on any service: NSS cannot see the PAM
//! service) we return the user's real entry with the shell swapped for the
//! recorder; for everyone else NOTFOUND, so the rest of the chain answers
//! exactly as without us.

use crate::sys::{Key, LookupResult, PwEntry};
use tlog_policy::{LoginFacts, Policy, PolicyError};

/// The system facts the answer depends on (real implementation in lib.rs,
/// fakes in the tests below).
pub trait System {
    /// The entry the chain AFTER us gives (never our own answer).
    fn underlying(&self, key: Key<'_>) -> LookupResult;
    /// (primary group name, supplementary group names).
    fn groups(&self, user: &[u8], gid: u32) -> (Option<String>, Vec<String>);
    fn host(&self) -> String;
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

/// The facts for `entry`, as NSS knows them (no service).
pub fn facts_for(entry: &PwEntry, sys: &dyn System) -> LoginFacts {
    let (primary_group, groups) = sys.groups(&entry.name, entry.gid);
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
/// cannot be loaded gives the policy crate's documented failsafe decision.
pub fn swap_shell(policy: Result<&Policy, &PolicyError>, facts: &LoginFacts) -> Option<String> {
    match policy {
        Ok(p) => p.may_record(facts).then(|| p.recorder().to_string()),
        Err(e) => Policy::failsafe_decision(e, facts)
            .record
            .then(|| tlog_policy::DEFAULT_RECORDER.to_string()),
    }
}

/// The answer for `key`. `with_policy` runs its argument with the current
/// policy (or the error loading it).
pub fn answer(
    key: Key<'_>,
    sys: &dyn System,
    with_policy: &dyn Fn(
        &dyn Fn(Result<&Policy, &PolicyError>) -> Option<String>,
    ) -> Option<String>,
) -> Answer {
    let entry = match sys.underlying(key) {
        Ok(Some(e)) => e,
        Ok(None) => return Answer::NotFound,
        Err(errno) => return Answer::Unavail(errno),
    };
    let facts = facts_for(&entry, sys);
    match with_policy(&|p| swap_shell(p, &facts)) {
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
    use std::ffi::CStr;

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

    fn run(policy: &Result<Policy, PolicyError>, sys: &Fake, key: Key<'_>) -> Answer {
        answer(key, sys, &|f| f(policy.as_ref()))
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
        let alice = CStr::from_bytes_with_nul(b"alice\0").unwrap();
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
        }
        let policy = Policy::from_toml_str(POLICY, "test policy");
        assert_eq!(
            answer(Key::Uid(1), &Broken, &|f| f(policy.as_ref())),
            Answer::Unavail(libc::EIO)
        );
    }
}
